"""Databases and typemgr processes for the allocation benchmark (``bench/alloc_bench.py``).

``Pool`` describes one pool under test; ``Database`` is a fresh SQLite file or PostgreSQL
database; ``prefill`` bulk-inserts allocated ids (with their segments) directly into typemgr's
tables, a uniformly random ``fill`` share of the pool, which is the state allocation by random
probes produces; ``start_typemgr`` starts typemgr processes on a database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services import launcher

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Pool:
    """A pool under test: ids ``1..size`` of ``network_type`` (on ``physnet1`` for vlan)."""

    network_type: str
    size: int

    @property
    def physical_network(self) -> str:
        return "physnet1" if self.network_type == "vlan" else ""

    def settings(self) -> dict[str, str]:
        """typemgr settings making this pool the only default range of its type."""
        ranges = {"vlan": "TYPEMGR_NETWORK_VLAN_RANGES", "vxlan": "TYPEMGR_VXLAN_VNI_RANGES"}
        other = "vxlan" if self.network_type == "vlan" else "vlan"
        prefix = f"{self.physical_network}:" if self.physical_network else ""
        own = f"{prefix}1:{self.size}"
        return {
            ranges[self.network_type]: own,
            ranges[other]: "physnet1" if other == "vlan" else "",
            "TYPEMGR_TENANT_NETWORK_TYPES": self.network_type,
        }


class Database:
    """A new empty database: a SQLite file in a temporary directory, or a PostgreSQL database
    created on the server of ``admin_url`` and dropped by ``drop``."""

    def __init__(self, backend: str, admin_url: str = DEFAULT_POSTGRES) -> None:
        self.backend = backend
        self._admin = admin_url
        self._tmp = ""
        if backend == "sqlite":
            self._tmp = tempfile.mkdtemp(prefix="ml2-alloc-bench-")
            self.url = f"sqlite:///{Path(self._tmp) / 'typemgr.db'}"
            return
        self.name = f"ml2_alloc_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        url = make_url(admin_url).set(drivername="postgresql+psycopg", database=self.name)
        self.url = url.render_as_string(hide_password=False)

    def drop(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


_FILL_SQLITE = """
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :size)
INSERT INTO network_segments (id, network_id, network_type, physical_network,
    segmentation_id, mtu, is_dynamic, segment_index, created_at)
SELECT 'fill-' || i, 'fill-' || i, :type, :physnet, i, 0, :no, 0, CURRENT_TIMESTAMP
FROM s WHERE abs(random()) % 1000000 < :ppm
"""
_FILL_POSTGRES = """
INSERT INTO network_segments (id, network_id, network_type, physical_network,
    segmentation_id, mtu, is_dynamic, segment_index, created_at)
SELECT 'fill-' || i, 'fill-' || i, :type, :physnet, i, 0, :no, 0, CURRENT_TIMESTAMP
FROM generate_series(1, :size) AS s(i) WHERE random() * 1000000 < :ppm
"""
_ALLOCATE_FILLED = """
INSERT INTO segment_allocations (network_type, physical_network, segmentation_id, segment_id,
    allocated_at)
SELECT network_type, physical_network, segmentation_id, id, CURRENT_TIMESTAMP
FROM network_segments WHERE id LIKE 'fill-%'
"""


def prefill(database: Database, pool: Pool, fill: float) -> int:
    """Allocates about ``fill`` (0..1) of the pool's ids, chosen uniformly at random, each to
    a segment of its own, by bulk INSERT ... SELECT; returns how many. On PostgreSQL the tables
    are then vacuumed and analysed, as autovacuum would after such a load, and a checkpoint
    writes the load out, so that it does not stall the measured phases."""
    engine = create_engine(database.url)
    params = {
        "size": pool.size,
        "type": pool.network_type,
        "physnet": pool.physical_network,
        "no": False,
        "ppm": int(fill * 1_000_000),
    }
    fill_sql = _FILL_SQLITE if database.backend == "sqlite" else _FILL_POSTGRES
    with engine.begin() as conn:
        if fill > 0:
            conn.execute(text(fill_sql), params)
            conn.execute(text(_ALLOCATE_FILLED))
        count = int(conn.execute(text("SELECT count(*) FROM segment_allocations")).scalar_one())
    if database.backend == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE network_segments, segment_allocations"))
            conn.execute(text("CHECKPOINT"))
    engine.dispose()
    return count


def stored_allocations(database: Database) -> tuple[int, int]:
    """Returns (allocated rows, distinct (type, physical network, id))."""
    engine = create_engine(database.url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM segment_allocations")).scalar_one()
        distinct = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT DISTINCT network_type, physical_network, "
                "segmentation_id FROM segment_allocations) d"
            )
        ).scalar_one()
    engine.dispose()
    return int(rows), int(distinct)


def typemgr_env(database: Database, settings: dict[str, str], port: int = 0) -> dict[str, str]:
    """The environment of a benchmark typemgr process."""
    return {
        "TYPEMGR_LISTEN": f"127.0.0.1:{port}",
        "TYPEMGR_METRICS_PORT": "0",
        "TYPEMGR_DATABASE_URL": database.url,
        "ML2_LOG_LEVEL": "WARNING",
        "ML2_AUTH_DISABLED": "1",
        **settings,
    }


def start_typemgr(
    database: Database, settings: dict[str, str], replicas: int, log_dir: Path
) -> list[launcher.ServiceProcess]:
    """Starts ``replicas`` typemgr processes on the database, one after the other."""
    return [
        launcher.start(
            f"typemgr{i}",
            "services.typemgr",
            typemgr_env(database, settings),
            log_dir=log_dir,
            timeout=60,
        )
        for i in range(replicas)
    ]


def spawn_typemgr(
    database: Database, settings: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Spawns one typemgr process on a free port without waiting for it; returns it and its
    address (for timing a cold start from the first instant)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = launcher.python_path_env(
        {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TYPEMGR_", "ML2_"))},
            **typemgr_env(database, settings, port),
        }
    )
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.typemgr"], env=env, stdout=out, stderr=out
        )
    return process, f"127.0.0.1:{port}"
