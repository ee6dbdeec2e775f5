"""Segment allocation benchmark: typemgr processes driven by concurrent gRPC clients.

    python bench/alloc_bench.py [--backends sqlite,postgres] [--clients 1,4,16] [--quick]

For each backend (a SQLite file, a new PostgreSQL database), pool (VLAN ids 1-4094 on
physnet1; VXLAN ids 1..--vxlan-pool, a million by default) and fill level (empty, half and 99%
full, pre-filled by bulk INSERT of uniformly random ids straight into typemgr's tables), starts
typemgr on a fresh database, warms it up with one unmeasured phase and, for each number of clients,
runs one phase: the clients, each
with its own long-lived channel and all starting together, allocate --allocations ids between
them (at most half the free ids of the pool) with ``CreateNetworkSegments`` of a partial
segment; then the phase's networks are released (not timed), so every phase starts at the same
fill. On PostgreSQL the largest client counts also run against --replicas typemgr processes
sharing the database, clients spread over them. After each phase the ids handed out must be
distinct and the stored allocations must be the pre-filled ones plus those ids.

Then it times an empty database to the first VXLAN allocation in 1:16777215: through the API of
a running typemgr (CreateSegmentRange, then CreateNetworkSegments), and from spawning a typemgr
process configured with that range on a database without tables to the answer of the first
allocation. See bench/README.md.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import json
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import grpc
from alloc_pools import (
    DEFAULT_POSTGRES,
    Database,
    Pool,
    prefill,
    spawn_typemgr,
    start_typemgr,
    stored_allocations,
)
from cpu_time import cpu_seconds, postgres_cpu_seconds
from ml2.v1 import (
    segment_pb2,
    segment_range_pb2,
    segment_range_service_pb2,
    segment_range_service_pb2_grpc,
    segment_service_pb2,
    segment_service_pb2_grpc,
)

from services.rpc import channels

Req = segment_service_pb2
FULL_VXLAN = 16777215
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 10),
]


@dataclass
class Row:
    """The figures of one phase."""

    backend: str
    pool: str
    fill: str
    replicas: int
    clients: int
    allocations: int
    per_second: float
    p50_ms: float
    p99_ms: float
    failures: int
    duplicates: int
    cpu_ms: dict[str, float]
    """CPU time per allocation (ms) of the typemgr processes together, of the benchmark's
    clients and of PostgreSQL, while the clients allocated."""


class Client:
    """One client thread's channel and its results."""

    def __init__(self, address: str, pool: Pool, count: int) -> None:
        self.channel = channels.make_channel(address)
        self.stub = segment_service_pb2_grpc.SegmentServiceStub(self.channel)
        self.spec = segment_pb2.SegmentSpec(
            network_type=pool.network_type, physical_network=pool.physical_network
        )
        self.count = count
        self.latencies: list[float] = []
        self.got: list[tuple[str, int]] = []
        self.failures: list[str] = []

    def allocate(self, barrier: threading.Barrier) -> None:
        # Connected before the clock starts: the figures are allocations, not connections.
        grpc.channel_ready_future(self.channel).result(timeout=30)
        barrier.wait()
        for _ in range(self.count):
            network_id = str(uuid.uuid4())
            request = Req.CreateNetworkSegmentsRequest(network_id=network_id, segments=[self.spec])
            started = time.perf_counter()
            try:
                reply = self.stub.CreateNetworkSegments(request, timeout=60)
            except grpc.RpcError as err:
                self.failures.append(f"{err.code().name}: {err.details()}")
                continue
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.got.append((network_id, reply.segments[0].segmentation_id))

    def release(self) -> None:
        for network_id, _ in self.got:
            self.stub.ReleaseNetworkSegments(
                Req.ReleaseNetworkSegmentsRequest(network_id=network_id), timeout=60
            )


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0-100) of an ascending list; 0 when empty."""
    if not ordered:
        return 0.0
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass
class Phase:
    """What the clients of a phase saw, and the CPU time spent meanwhile (seconds, by process
    kind: typemgr replicas together, the benchmark's clients, PostgreSQL)."""

    latencies: list[float] = field(default_factory=list)
    got: list[tuple[str, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, other: Phase) -> None:
        self.latencies += other.latencies
        self.got += other.got
        self.failures += other.failures
        self.wall += other.wall
        for kind, seconds in other.cpu.items():
            self.cpu[kind] = self.cpu.get(kind, 0.0) + seconds


def cpu_now(typemgr_pids: list[int]) -> dict[str, float]:
    """CPU seconds used so far by the typemgr processes, this process and PostgreSQL."""
    return {
        "typemgr": sum(cpu_seconds(pid) for pid in typemgr_pids),
        "client": cpu_seconds(os.getpid()),
        "postgres": postgres_cpu_seconds(),
    }


def run_phase(
    addresses: list[str], pool: Pool, clients: int, allocations: int, pids: list[int]
) -> Phase:
    """Runs one timed phase of the typemgr processes at ``addresses`` (process ids ``pids``)
    and releases what it allocated before returning."""
    workers = [
        Client(addresses[i % len(addresses)], pool, n)
        for i, n in enumerate(split(allocations, clients))
    ]
    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=w.allocate, args=(barrier,)) for w in workers]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, cpu_before = time.perf_counter(), cpu_now(pids)
    for thread in threads:
        thread.join()
    wall, cpu_after = time.perf_counter() - started, cpu_now(pids)
    phase = Phase(
        latencies=[x for w in workers for x in w.latencies],
        got=[g for w in workers for g in w.got],
        failures=[f for w in workers for f in w.failures],
        wall=wall,
        cpu={kind: cpu_after[kind] - cpu_before[kind] for kind in cpu_after},
    )
    releasers = [threading.Thread(target=w.release) for w in workers]
    for thread in releasers:
        thread.start()
    for thread in releasers:
        thread.join()
    for worker in workers:
        worker.channel.close()
    return phase


def measure_pool(args: argparse.Namespace, backend: str, pool: Pool, fill: float) -> list[Row]:
    """Starts typemgr on a fresh, pre-filled database and runs every client level on it."""
    database = Database(backend, args.postgres_url)
    log_dir = Path(tempfile.mkdtemp(prefix="ml2-alloc-bench-logs-"))
    processes = []
    rows: list[Row] = []
    try:
        replicas = args.replicas if backend == "postgresql" else 1
        processes = start_typemgr(database, pool.settings(), max(replicas, 1), log_dir)
        prefilled = prefill(database, pool, fill)
        free = pool.size - prefilled
        # A phase allocates at most half the free ids, then releases them; a pool with few free
        # ids repeats that in rounds until the phase has --allocations samples.
        count = max(1, min(args.allocations, free // 2))
        rounds = math.ceil(args.allocations / count)
        levels = [(1, c) for c in args.clients]
        if replicas > 1:
            levels += [(replicas, c) for c in args.clients if c >= replicas]
        # Unmeasured: opens every replica's database connections and warms its caches.
        addresses, pids = [p.address for p in processes], [p.process.pid for p in processes]
        run_phase(addresses, pool, max(args.clients), min(count, 200), pids)
        for replica_count, clients in levels:
            phase, duplicates = Phase(), 0
            for _ in range(rounds):
                one = run_phase(
                    addresses[:replica_count], pool, clients, count, pids[:replica_count]
                )
                duplicates += _duplicates(database, one.got, prefilled)
                phase.add(one)
            rows.append(_row(backend, pool, prefilled, replica_count, clients, phase, duplicates))
            _print_row(rows[-1], args.json)
    finally:
        for process in processes:
            process.stop()
        database.drop()
        shutil.rmtree(log_dir, ignore_errors=True)
    return rows


def _duplicates(database: Database, got: list[tuple[str, int]], prefilled: int) -> int:
    """Ids handed out twice in the phase, plus any mismatch between the stored allocations
    (after the phase's releases) and the pre-filled ones."""
    ids = [seg_id for _, seg_id in got]
    rows, distinct = stored_allocations(database)
    return (len(ids) - len(set(ids))) + abs(rows - prefilled) + (rows - distinct)


def _row(
    backend: str,
    pool: Pool,
    prefilled: int,
    replicas: int,
    clients: int,
    phase: Phase,
    duplicates: int,
) -> Row:
    if phase.failures:
        print(f"  {len(phase.failures)} failures, first: {phase.failures[0]}", file=sys.stderr)
    latencies = sorted(phase.latencies)
    per_call = 1000 / max(1, len(phase.got))
    return Row(
        backend=backend,
        pool=f"{pool.network_type} {pool.size}",
        fill=f"{100 * prefilled / pool.size:.1f}%",
        replicas=replicas,
        clients=clients,
        allocations=len(phase.got),
        per_second=len(phase.got) / phase.wall if phase.wall else 0.0,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        failures=len(phase.failures),
        duplicates=duplicates,
        cpu_ms={kind: seconds * per_call for kind, seconds in phase.cpu.items()},
    )


HEADER = (
    f"{'backend':<10} {'pool':<14} {'fill':>6} {'replicas':>8} {'clients':>7} {'allocs':>6} "
    f"{'allocs/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>6} {'dup':>4}   "
    f"CPU ms/alloc: {'typemgr':>7} {'client':>6} {'pg':>5}"
)


def _print_row(row: Row, as_json: bool) -> None:
    if as_json:
        return
    print(
        f"{row.backend:<10} {row.pool:<14} {row.fill:>6} {row.replicas:>8} {row.clients:>7} "
        f"{row.allocations:>6} {row.per_second:>9.0f} {row.p50_ms:>8.2f} {row.p99_ms:>8.2f} "
        f"{row.failures:>6} {row.duplicates:>4}   "
        f"{'':13} {row.cpu_ms['typemgr']:>7.2f} {row.cpu_ms['client']:>6.2f} "
        f"{row.cpu_ms['postgres']:>5.2f}",
        flush=True,
    )


def first_allocation_via_api(backend: str, admin_url: str) -> float:
    """Seconds from CreateSegmentRange(vxlan 1:16777215) on a running typemgr whose database
    has no VXLAN range, to the answer of the first allocation from it."""
    database = Database(backend, admin_url)
    log_dir = Path(tempfile.mkdtemp(prefix="ml2-alloc-bench-logs-"))
    settings = {**Pool("vxlan", 1).settings(), "TYPEMGR_VXLAN_VNI_RANGES": ""}
    [process] = start_typemgr(database, settings, 1, log_dir)
    channel = channels.make_channel(process.address)
    try:
        ranges = segment_range_service_pb2_grpc.SegmentRangeServiceStub(channel)
        segments = segment_service_pb2_grpc.SegmentServiceStub(channel)
        wanted = segment_range_pb2.SegmentRange(
            network_type="vxlan", minimum=1, maximum=FULL_VXLAN, shared=True
        )
        started = time.perf_counter()
        ranges.CreateSegmentRange(
            segment_range_service_pb2.CreateSegmentRangeRequest(segment_range=wanted), timeout=30
        )
        segments.CreateNetworkSegments(
            Req.CreateNetworkSegmentsRequest(network_id=str(uuid.uuid4())), timeout=30
        )
        return time.perf_counter() - started
    finally:
        channel.close()
        process.stop()
        database.drop()
        shutil.rmtree(log_dir, ignore_errors=True)


def first_allocation_cold(backend: str, admin_url: str) -> float:
    """Seconds from spawning typemgr (configured with vxlan 1:16777215) on a database without
    tables to the answer of the first allocation: interpreter start, imports, schema creation,
    range seeding and the allocation."""
    database = Database(backend, admin_url)
    log = Path(tempfile.mkstemp(prefix="ml2-alloc-bench-", suffix=".log")[1])
    settings = {**Pool("vxlan", FULL_VXLAN).settings()}
    started = time.perf_counter()
    process, address = spawn_typemgr(database, settings, log)
    # Retry the connection every 10 ms while the process starts, so that the figure is the
    # server's, not the client's reconnect back-off.
    channel = grpc.insecure_channel(address, options=FAST_RECONNECT)
    try:
        segments = segment_service_pb2_grpc.SegmentServiceStub(channel)
        segments.CreateNetworkSegments(
            Req.CreateNetworkSegmentsRequest(network_id=str(uuid.uuid4())),
            timeout=60,
            wait_for_ready=True,
        )
        return time.perf_counter() - started
    finally:
        channel.close()
        process.terminate()
        process.wait(timeout=30)
        database.drop()
        os.unlink(log)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES,
        help="server to create the benchmark's databases on (dropped after)",
    )
    parser.add_argument("--types", default="vlan,vxlan")
    parser.add_argument("--fills", default="0,50,99", help="fill levels in percent")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--allocations", type=int, default=2000, help="allocations per phase")
    parser.add_argument("--vxlan-pool", type=int, default=1_000_000)
    parser.add_argument("--replicas", type=int, default=4, help="typemgr replicas on PostgreSQL")
    parser.add_argument(
        "--quick", action="store_true", help="a few seconds: SQLite, small pools, 1 and 4 clients"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.backends, args.fills, args.clients = "sqlite", "0,99", "1,4"
        args.allocations, args.vxlan_pool, args.replicas = 40, 20_000, 1
    names = {"sqlite": "sqlite", "postgres": "postgresql", "postgresql": "postgresql"}
    unknown = [b for b in args.backends.split(",") if b.strip() not in names]
    if unknown:
        parser.error(f"--backends: unknown {', '.join(unknown)}; use sqlite and postgres")
    args.backends = [names[b.strip()] for b in args.backends.split(",")]
    args.clients = [int(c) for c in args.clients.split(",")]
    args.fills = [float(f) / 100 for f in args.fills.split(",")]
    args.types = args.types.split(",")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.json:
        print(f"typemgr allocation benchmark on {os.cpu_count()} CPUs", flush=True)
        print(HEADER, flush=True)
    rows: list[Row] = []
    for backend in args.backends:
        for network_type in args.types:
            pool = Pool(network_type, 4094 if network_type == "vlan" else args.vxlan_pool)
            for fill in args.fills:
                rows += measure_pool(args, backend, pool, fill)
    firsts = {
        backend: {
            "api_seconds": first_allocation_via_api(backend, args.postgres_url),
            "cold_start_seconds": first_allocation_cold(backend, args.postgres_url),
        }
        for backend in args.backends
    }
    if args.json:
        print(json.dumps({"phases": [asdict(r) for r in rows], "first_allocation": firsts}))
    else:
        print("\nempty database to the first vxlan allocation in 1:16777215:")
        for backend, times in firsts.items():
            print(
                f"  {backend:<10} range created through the API, then allocated: "
                f"{times['api_seconds'] * 1000:7.1f} ms;  typemgr process spawned on a database "
                f"without tables: {times['cold_start_seconds'] * 1000:7.1f} ms"
            )
    bad = [r for r in rows if r.failures or r.duplicates]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
