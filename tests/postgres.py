"""A PostgreSQL server for the tests: the machine's own on 127.0.0.1:5432, or a throwaway cluster.

Each test that asks for a database gets a new one, dropped afterwards, so tests never share rows.
The server is ``ML2_TEST_POSTGRES`` (a libpq URL, default the machine's). When it does not answer,
a throwaway cluster is started from the installed PostgreSQL binaries, on a free loopback port
with its data and socket in a temporary directory, and removed when the run ends. Only when
neither is possible are the PostgreSQL tests skipped, with the reason; under ``CI=true`` they
fail instead (see tests/conftest.py), so coverage cannot quietly drop.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
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
        """Stops and removes a throwaway cluster; leaves the machine's server alone."""
        if self.cluster_dir:
            try:
                _pg_ctl(self.cluster_dir, "-m", "fast", "-w", "stop")
            finally:
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


def _free_port() -> int:
    """A loopback port nothing listens on now (so parallel runs do not share a cluster port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_postgres() -> PostgresServer:
    """Returns the server of ``ML2_TEST_POSTGRES`` if it answers, else starts a throwaway cluster.

    Raises RuntimeError (or OSError) when there is no server and no cluster can start."""
    if _reachable(DEFAULT_DSN):
        info = psycopg.conninfo.conninfo_to_dict(DEFAULT_DSN)
        return PostgresServer(str(info["host"]), int(info.get("port", 5432)), str(info["user"]))
    bindir = _bindir()
    cluster_dir = tempfile.mkdtemp(prefix="ml2-pg-")
    try:
        return _start_cluster(bindir, cluster_dir)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(cluster_dir, ignore_errors=True)
        output = (exc.stderr or b"").decode(errors="replace").strip()
        raise RuntimeError(f"no throwaway PostgreSQL cluster: {exc}: {output}") from exc
    except OSError:
        shutil.rmtree(cluster_dir, ignore_errors=True)
        raise


def _start_cluster(bindir: str, cluster_dir: str) -> PostgresServer:
    if os.geteuid() == 0:
        shutil.chown(cluster_dir, "postgres", "postgres")
    _as_postgres(
        os.path.join(bindir, "initdb"),
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
    port = _free_port()
    opts = (
        f"-p {port} -k {cluster_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c max_connections=300"
    )
    _pg_ctl(cluster_dir, "-o", opts, "-l", os.path.join(cluster_dir, "log"), "-w", "start")
    return PostgresServer("127.0.0.1", port, "postgres", cluster_dir)
