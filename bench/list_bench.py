"""Listing benchmark: how long one ListPorts page takes as one network grows.

    python bench/list_bench.py [--sizes 1000,16000,100000] [--database sqlite,postgres]

For each database, migrates a fresh portapi database, starts the real portapi process on it,
and grows one network to each of ``--sizes`` ports in turn. The ports are inserted directly
into portapi's tables in bulk (as many rows as CreatePort would write: the port and its
binding), because 100k CreatePort calls would take most of an hour; only the reads go through
the API. At each size it times, through the real ListPorts RPC filtered by the network, the
first page, the page in the middle and the last page (``--page-size`` ports each): the median
wall time of ``--repeat`` calls, and the CPU time per call of the portapi process and (on
PostgreSQL) its database backends, from /proc, which depends less on what else the machine
runs. Reaching the middle and the last page takes the page tokens the RPC
returns, by walking the listing with pages of 1000 (not timed per page; the walk's total is
reported). See bench/README.md.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import json
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from cpu_time import cpu_seconds
from ml2.v1 import port_service_pb2, port_service_pb2_grpc
from sqlalchemy import MetaData, create_engine, insert

from services import launcher, migrations
from services.rpc import channels

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
WALK_PAGE = 1000
CHUNK = 5000


@dataclass(frozen=True)
class SizeResult:
    """The page times of one database at one network size, in milliseconds."""

    database: str
    ports: int
    first_ms: float
    middle_ms: float
    last_ms: float
    first_cpu_ms: float
    middle_cpu_ms: float
    last_cpu_ms: float
    walk_s: float
    walk_pages: int


class Filler:
    """Inserts ports of one network straight into portapi's tables, whatever their revision:
    only the columns the tables have are written (so the benchmark also runs on older code)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.meta = MetaData()
        self.meta.reflect(self.engine, only=["networks", "ports", "port_bindings"])
        self.network_id = str(uuid.uuid4())
        self.count = 0
        self.start = datetime(2026, 1, 1)
        row = {
            "id": self.network_id,
            "name": "bench",
            "project_id": "bench",
            "shared": False,
            "admin_state_up": True,
            "mtu": 1450,
            "segments": "[]",
            "status": "ACTIVE",
            "create_time": self.start,
            "request_id": None,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(self.meta.tables["networks"]), [self._only("networks", row)])

    def _only(self, table: str, row: dict[str, object]) -> dict[str, object]:
        columns = self.meta.tables[table].c
        return {name: value for name, value in row.items() if name in columns}

    def grow_to(self, total: int) -> None:
        """Adds ports until the network has ``total``."""
        while self.count < total:
            n = min(CHUNK, total - self.count)
            ports, bindings = [], []
            for i in range(self.count, self.count + n):
                port_id = str(uuid.UUID(int=i + 1))
                stamp = self.start + timedelta(milliseconds=i)
                ports.append(
                    self._only(
                        "ports",
                        {
                            "id": port_id,
                            "network_id": self.network_id,
                            "project_id": "bench",
                            "name": f"port-{i}",
                            "mac_address": f"fa:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:"
                            f"{i & 255:02x}",
                            "device_id": f"vm-{i}",
                            "device_owner": "compute:nova",
                            "admin_state_up": True,
                            "status": "DOWN",
                            "create_time": stamp,
                            "update_time": stamp,
                            "status_time": stamp,
                            "status_message": "unbound",
                            "status_agent_id": "",
                            "request_id": None,
                        },
                    )
                )
                bindings.append(
                    self._only(
                        "port_bindings",
                        {
                            "port_id": port_id,
                            "host_id": f"compute-{i % 100}",
                            "vnic_type": "normal",
                            "profile": "{}",
                            "vif_type": "unbound",
                            "vif_details": "{}",
                            "state": "UNBOUND",
                            "trace": "[]",
                            "failure_message": "",
                            "generation": 1,
                            "create_time": stamp,
                            "port_status": "",
                            "original": "",
                        },
                    )
                )
            with self.engine.begin() as conn:
                conn.execute(insert(self.meta.tables["ports"]), ports)
                conn.execute(insert(self.meta.tables["port_bindings"]), bindings)
            self.count += n
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")

    def close(self) -> None:
        self.engine.dispose()


class Lister:
    """ListPorts of one network through a channel to portapi; ``cpu_pids`` returns the
    processes whose CPU time a page costs (portapi, and its PostgreSQL backends)."""

    def __init__(
        self, address: str, network_id: str, cpu_pids: Callable[[], Sequence[int]]
    ) -> None:
        self.channel = channels.make_channel(address)
        self.stub = port_service_pb2_grpc.PortServiceStub(self.channel)
        self.network_id = network_id
        self.cpu_pids = cpu_pids

    def page(self, token: str, size: int) -> port_service_pb2.ListPortsResponse:
        request = port_service_pb2.ListPortsRequest(
            network_id=self.network_id, page_size=size, page_token=token
        )
        reply: port_service_pb2.ListPortsResponse = self.stub.ListPorts(request, timeout=600)
        return reply

    def timed(self, token: str, size: int, repeat: int, expect: int) -> tuple[float, float]:
        """The median wall milliseconds of ``repeat`` calls for the page of ``token``, and the
        CPU milliseconds per call of portapi and its database backends."""
        self.page(token, size)  # warm: the backends of the pool exist before the snapshot
        pids = self.cpu_pids()
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            reply = self.page(token, size)
            times.append((time.perf_counter() - started) * 1000)
            if len(reply.ports) != expect:
                raise RuntimeError(f"expected {expect} ports on the page, got {len(reply.ports)}")
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        return statistics.median(times), cpu * 1000 / repeat

    def tokens_at(self, offsets: Sequence[int]) -> tuple[dict[int, str], float, int]:
        """Walks the listing from the start and returns the token of the page starting at each
        offset (pages of WALK_PAGE, shorter where an offset falls inside one), the walk's wall
        time and its number of calls."""
        found, token, at, calls = {0: ""}, "", 0, 0
        started = time.perf_counter()
        for target in sorted(set(offsets)):
            while at < target:
                size = min(WALK_PAGE, target - at)
                reply = self.page(token, size)
                calls += 1
                token, at = reply.next_page_token, at + len(reply.ports)
                if not token:
                    raise RuntimeError(f"the listing ended at {at}, before {target}")
            found[target] = token
        return found, time.perf_counter() - started, calls

    def close(self) -> None:
        self.channel.close()


def run_database(
    database: str, sizes: Sequence[int], args: argparse.Namespace, workdir: Path
) -> list[SizeResult]:
    """Every size on one database, with its own portapi process."""
    admin = args.postgres_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"ml2_bench_list_{uuid.uuid4().hex[:8]}"
    if database == "sqlite":
        url = f"sqlite:///{workdir / 'portapi.db'}"
    else:
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    results = []
    process = None
    try:
        migrations.upgrade(url, "portapi")
        filler = Filler(url)
        env = {
            "PORTAPI_LISTEN": "127.0.0.1:0",
            "PORTAPI_METRICS_PORT": "0",
            "PORTAPI_DATABASE_URL": url,
            # ListPorts asks neither; nothing here creates networks or binds ports.
            "PORTAPI_TYPEMGR_ADDRESS": "127.0.0.1:9",
            "PORTAPI_MECHMGR_ADDRESS": "127.0.0.1:9",
            "ML2_LOG_LEVEL": "WARNING",
            "ML2_AUTH_DISABLED": "1",
        }
        process = launcher.start(
            "portapi", "services.portapi", env, log_dir=workdir / "logs", timeout=60
        )
        pid = process.process.pid

        def cpu_pids() -> list[int]:
            if database == "sqlite":
                return [pid]
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
                ).fetchall()
            return [pid, *(int(row[0]) for row in rows)]

        lister = Lister(process.address, filler.network_id, cpu_pids)
        try:
            for size in sizes:
                filler.grow_to(size)
                filler.close()  # its connection is not portapi's: out of the CPU figures
                page = min(args.page_size, size)
                middle, last = (size // 2 // page) * page, size - page
                tokens, walk_s, calls = lister.tokens_at([middle, last])
                first = lister.timed(tokens[0], page, args.repeat, page)
                mid = lister.timed(tokens[middle], page, args.repeat, page)
                end = lister.timed(tokens[last], page, args.repeat, page)
                results.append(
                    SizeResult(
                        database=database,
                        ports=size,
                        first_ms=first[0],
                        middle_ms=mid[0],
                        last_ms=end[0],
                        first_cpu_ms=first[1],
                        middle_cpu_ms=mid[1],
                        last_cpu_ms=end[1],
                        walk_s=walk_s,
                        walk_pages=calls,
                    )
                )
                if not args.json:
                    print(_row(results[-1]), flush=True)
        finally:
            lister.close()
            filler.close()
    finally:
        if process is not None:
            process.stop()
        if database == "postgres":
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


HEADER = (
    f"{'':17} {'wall time (median)':^34}   {'CPU of portapi + database':^34}\n"
    f"{'database':<9} {'ports':>7} {'first':>10} {'middle':>11} {'last':>11}  "
    f" {'first':>10} {'middle':>11} {'last':>11}   walk to last (pages of 1000)"
)


def _row(r: SizeResult) -> str:
    return (
        f"{r.database:<9} {r.ports:>7} {r.first_ms:>7.1f} ms {r.middle_ms:>8.1f} ms"
        f" {r.last_ms:>8.1f} ms   {r.first_cpu_ms:>7.1f} ms {r.middle_cpu_ms:>8.1f} ms"
        f" {r.last_cpu_ms:>8.1f} ms   {r.walk_s:.2f} s / {r.walk_pages} calls"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,16000,100000", help="network sizes, ascending")
    parser.add_argument("--database", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20, help="calls per timed page")
    parser.add_argument("--json", action="store_true", help="results as JSON on stdout")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.database = args.database.split(",")
    if args.sizes != sorted(args.sizes) or min(args.sizes) < 1:
        parser.error("--sizes must be positive and ascending")
    if not set(args.database) <= {"sqlite", "postgres"}:
        parser.error("--database takes sqlite, postgres or both, comma-separated")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[SizeResult] = []
    if not args.json:
        print(f"ListPorts by network_id, pages of {args.page_size}, {args.repeat} calls each")
        print(HEADER, flush=True)
    for database in args.database:
        workdir = Path(tempfile.mkdtemp(prefix="ml2-list-bench-"))
        try:
            results += run_database(database, args.sizes, args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
