"""A PostgreSQL server for the tests: the machine's own on 127.0.0.1:5432, or a throwaway cluster.

Each test that asks for a database gets a new one, dropped afterwards, so tests never share rows.
A throwaway cluster is started from the installed PostgreSQL binaries when no server answers;
only when neither is possible are the PostgreSQL tests skipped, with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass

import psycopg

DEFAULT_DSN = os.environ.get("ML2_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class PostgresServer:
    """A reachable server and how to create and drop databases on it."""

    host: str
    port: int
    user: str
    cluster_dir: str = ""

    def admin_dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/postgres"

    def create_database(self) -> str:
        """Creates a fresh database and returns its SQLAlchemy URL."""
        name = f"ml2_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{name}"

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.cluster_dir:
            _pg_ctl(self.cluster_dir, "-m", "fast", "-w", "stop")
            shutil.rmtree(self.cluster_dir, ignore_errors=True)


def _reachable(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server on 127.0.0.1:5432 and no initdb installed")
    return os.path.dirname(found[-1])


def _as_postgres(*cmd: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *cmd], check=True, capture_output=True)


def _pg_ctl(cluster_dir: str, *args: str) -> None:
    _as_postgres(os.path.join(_bindir(), "pg_ctl"), "-D", cluster_dir, *args)


def start_postgres() -> PostgresServer:
    """Returns the machine's server if it answers, else starts a throwaway cluster on port 55432."""
    if _reachable(DEFAULT_DSN):
        info = psycopg.conninfo.conninfo_to_dict(DEFAULT_DSN)
        return PostgresServer(str(info["host"]), int(info.get("port", 5432)), str(info["user"]))
    cluster_dir = tempfile.mkdtemp(prefix="ml2-pg-")
    if os.geteuid() == 0:
        shutil.chown(cluster_dir, "postgres", "postgres")
    _as_postgres(
        os.path.join(_bindir(), "initdb"),
        "-D",
        cluster_dir,
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
        "-E",
        "UTF8",
    )
    opts = (
        f"-p 55432 -k {cluster_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c max_connections=300"
    )
    _pg_ctl(cluster_dir, "-o", opts, "-l", os.path.join(cluster_dir, "log"), "-w", "start")
    return PostgresServer("127.0.0.1", 55432, "postgres", cluster_dir)
