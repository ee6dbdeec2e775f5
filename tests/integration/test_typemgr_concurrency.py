"""Four typemgr processes on ONE PostgreSQL database, each called by several client threads.

They start at the same moment (so they seed the ranges concurrently), then race for the ids of a
small tenant VLAN pool until it is exhausted: every id must be handed out exactly once, none
lost. Then everything is released and allocated again, and concurrent callers asking for the
same network or the same dynamic segment must converge on one answer. Finally all clients
allocate and release at random on small VLAN and VXLAN pools at once; no id is ever held twice,
and afterwards the stored allocations are exactly the ids the clients hold, each with its live
segment, and every id of both pools can be allocated again.

The first two tests share their four processes (each gives back every id it took); the last
starts four of its own, with other pools.
"""

from __future__ import annotations

import random
import threading
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from ml2.v1 import segment_pb2, segment_service_pb2, segment_service_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from services import launcher
from services.rpc import channels
from tests import postgres
from tests.integration import shared_b

PROCESSES = 4
THREADS_PER_PROCESS = 4
POOL = range(1, 21)

Req = segment_service_pb2
Stub = segment_service_pb2_grpc.SegmentServiceStub
T = TypeVar("T")


@pytest.fixture(scope="module")
def shared_postgres_url(postgres_server: postgres.PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="module")
def typemgrs(
    shared_postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[launcher.ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("typemgr-logs")
    postgres_url = shared_postgres_url
    env = {
        "TYPEMGR_LISTEN": "127.0.0.1:0",
        "TYPEMGR_METRICS_PORT": "0",
        "TYPEMGR_DATABASE_URL": postgres_url,
        "TYPEMGR_TENANT_NETWORK_TYPES": "vlan",
        "TYPEMGR_NETWORK_VLAN_RANGES": f"physnet1:{POOL.start}:{POOL.stop - 1}",
        "ML2_LOG_LEVEL": "WARNING",
    }
    # The replicas start at once and create the schema together: on a loaded machine that takes
    # longer than one process's start, so wait for health up to 90 s instead of 20 s.
    with futures.ThreadPoolExecutor(PROCESSES) as pool:
        starting = [
            pool.submit(
                launcher.start, f"typemgr{i}", "services.typemgr", env, log_dir=log_dir, timeout=90
            )
            for i in range(PROCESSES)
        ]
        processes = [f.result() for f in starting]
    yield processes
    shared_b.stop_all(processes)


@pytest.fixture(scope="module")
def stubs(typemgrs: list[launcher.ServiceProcess]) -> Iterator[list[Stub]]:
    chans = [channels.make_channel(p.address) for p in typemgrs]
    yield [segment_service_pb2_grpc.SegmentServiceStub(c) for c in chans]
    for chan in chans:
        chan.close()


def single_statement_results(processes: list[launcher.ServiceProcess]) -> Counter[str]:
    """How the one-statement path ended in every process, summed: allocated or general."""
    results: Counter[str] = Counter()
    for process in processes:
        url = f"http://127.0.0.1:{process.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            families = text_string_to_metric_families(reply.read().decode())
            for family in families:
                if family.name == "ml2_typemgr_single_statement_allocations":
                    for sample in family.samples:
                        if sample.name.endswith("_total"):
                            results[sample.labels["result"]] += int(sample.value)
    return results


def on_every_client(stubs: list[Stub], work: Callable[[Stub], T]) -> list[T]:
    """Runs ``work`` on THREADS_PER_PROCESS threads per process, all starting at once."""
    clients = [stub for stub in stubs for _ in range(THREADS_PER_PROCESS)]
    barrier = threading.Barrier(len(clients))

    def run(stub: Stub) -> T:
        barrier.wait()
        return work(stub)

    with futures.ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(run, clients))


def allocate_until_exhausted(stub: Stub) -> list[tuple[str, int]]:
    got = []
    while True:
        network_id = str(uuid.uuid4())
        try:
            reply = stub.CreateNetworkSegments(
                Req.CreateNetworkSegmentsRequest(network_id=network_id), timeout=30
            )
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
            return got
        got.append((network_id, reply.segments[0].segmentation_id))


def allocate_all(stubs: list[Stub]) -> list[tuple[str, int]]:
    return [item for items in on_every_client(stubs, allocate_until_exhausted) for item in items]


def test_replicas_hand_out_every_id_exactly_once(
    stubs: list[Stub], typemgrs: list[launcher.ServiceProcess]
) -> None:
    before = single_statement_results(typemgrs)
    first = allocate_all(stubs)
    assert sorted(seg_id for _, seg_id in first) == list(POOL)
    # Both ways of allocating raced: the one-statement path, and the general path it hands
    # over to (ids taken concurrently, dense windows, the exhausted pool).
    paths = single_statement_results(typemgrs)
    paths.subtract(before)
    assert paths["allocated"] > 0 and paths["general"] > 0, paths

    # Release everything, spread over every process, then allocate the pool again.
    def release(item: tuple[int, tuple[str, int]]) -> int:
        index, (network_id, _) = item
        reply = stubs[index % PROCESSES].ReleaseNetworkSegments(
            Req.ReleaseNetworkSegmentsRequest(network_id=network_id), timeout=30
        )
        return len(reply.segments)

    with futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(release, enumerate(first))) == [1] * len(POOL)
    second = allocate_all(stubs)
    assert sorted(seg_id for _, seg_id in second) == list(POOL)
    for network_id, seg_id in second:
        listed = stubs[0].ListNetworkSegments(Req.ListNetworkSegmentsRequest(network_id=network_id))
        assert [s.segmentation_id for s in listed.segments] == [seg_id]
    # The pool goes back whole to the module's next test.
    with futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(release, enumerate(second))) == [1] * len(POOL)


def test_concurrent_callers_converge_on_one_network_and_one_dynamic_segment(
    stubs: list[Stub],
) -> None:
    network_id = str(uuid.uuid4())
    request = Req.CreateNetworkSegmentsRequest(
        network_id=network_id, segments=[segment_pb2.SegmentSpec(network_type="vxlan")]
    )
    created = on_every_client(stubs, lambda stub: stub.CreateNetworkSegments(request, timeout=30))
    assert all(reply == created[0] for reply in created)

    dynamic = Req.AllocateDynamicSegmentRequest(
        network_id=network_id,
        segment=segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1"),
    )
    allocated = on_every_client(
        stubs, lambda stub: stub.AllocateDynamicSegment(dynamic, timeout=30)
    )
    assert all(reply.segment == allocated[0].segment for reply in allocated)
    listed = stubs[1].ListNetworkSegments(
        Req.ListNetworkSegmentsRequest(network_id=network_id, include_dynamic=True)
    )
    assert list(listed.segments) == [created[0].segments[0], allocated[0].segment]
    # Its VLAN id goes back to the pool the module's other test exhausts.
    released = stubs[2].ReleaseNetworkSegments(
        Req.ReleaseNetworkSegmentsRequest(network_id=network_id), timeout=30
    )
    assert sorted(s.id for s in released.segments) == sorted(s.id for s in listed.segments)


MIXED_POOL = range(1, 13)
OPERATIONS_PER_CLIENT = 60


@dataclass
class Ledger:
    """What the clients hold, shared by all of them. An id leaves the ledger before the release
    call and enters it after the allocation call returns, so an allocation returning an id the
    ledger still holds is a double allocation, never a timing artefact."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    held: dict[tuple[str, int], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def take(self, network_type: str, seg_id: int, network_id: str) -> None:
        with self.lock:
            key = (network_type, seg_id)
            if key in self.held:
                self.problems.append(
                    f"{key} handed to {network_id} while {self.held[key]} holds it"
                )
            self.held[key] = network_id
            self.counts["allocated"] += 1

    def give_back(self, network_type: str, seg_id: int) -> None:
        with self.lock:
            del self.held[(network_type, seg_id)]
            self.counts["released"] += 1


def churn(stub: Stub, ledger: Ledger, seed: int) -> None:
    """Allocates and releases at random on both small pools, OPERATIONS_PER_CLIENT times."""
    rng = random.Random(seed)
    mine: list[tuple[str, str, int]] = []
    for _ in range(OPERATIONS_PER_CLIENT):
        if mine and rng.random() < 0.45:
            network_id, network_type, seg_id = mine.pop(rng.randrange(len(mine)))
            ledger.give_back(network_type, seg_id)
            stub.ReleaseNetworkSegments(
                Req.ReleaseNetworkSegmentsRequest(network_id=network_id), timeout=30
            )
            continue
        network_type = rng.choice(["vlan", "vxlan"])
        spec = segment_pb2.SegmentSpec(
            network_type=network_type, physical_network="physnet1" if network_type == "vlan" else ""
        )
        network_id = str(uuid.uuid4())
        try:
            reply = stub.CreateNetworkSegments(
                Req.CreateNetworkSegmentsRequest(network_id=network_id, segments=[spec]), timeout=30
            )
        except grpc.RpcError as err:
            with ledger.lock:
                if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    ledger.problems.append(f"{err.code().name}: {err.details()}")
                ledger.counts["exhausted"] += 1
            continue
        seg_id = reply.segments[0].segmentation_id
        ledger.take(network_type, seg_id, network_id)
        mine.append((network_id, network_type, seg_id))


def stored_state(url: str) -> tuple[list[tuple[str, int, str]], int, int]:
    """Returns the allocated (type, id, network) rows, the number of segments and the number of
    allocations whose segment is missing, read directly from the database."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.network_type, a.segmentation_id, s.network_id "
                "FROM segment_allocations a JOIN network_segments s ON s.id = a.segment_id"
            )
        ).all()
        segments = conn.execute(text("SELECT count(*) FROM network_segments")).scalar_one()
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM segment_allocations a WHERE NOT EXISTS "
                "(SELECT 1 FROM network_segments s WHERE s.id = a.segment_id)"
            )
        ).scalar_one()
    engine.dispose()
    return [(t, int(i), n) for t, i, n in rows], int(segments), int(orphans)


@pytest.fixture
def mixed_stubs(postgres_url: str, log_dir: Path) -> Iterator[tuple[list[Stub], str]]:
    env = {
        "TYPEMGR_LISTEN": "127.0.0.1:0",
        "TYPEMGR_METRICS_PORT": "0",
        "TYPEMGR_DATABASE_URL": postgres_url,
        "TYPEMGR_NETWORK_VLAN_RANGES": f"physnet1:{MIXED_POOL.start}:{MIXED_POOL.stop - 1}",
        "TYPEMGR_VXLAN_VNI_RANGES": f"{MIXED_POOL.start}:{MIXED_POOL.stop - 1}",
        "ML2_LOG_LEVEL": "WARNING",
    }
    with futures.ThreadPoolExecutor(PROCESSES) as pool:
        starting = [
            pool.submit(launcher.start, f"mixed{i}", "services.typemgr", env, log_dir=log_dir)
            for i in range(PROCESSES)
        ]
        processes = [f.result() for f in starting]
    chans = [channels.make_channel(p.address) for p in processes]
    yield [segment_service_pb2_grpc.SegmentServiceStub(c) for c in chans], postgres_url
    for chan in chans:
        chan.close()
    shared_b.stop_all(processes)


def test_replicas_allocating_and_releasing_at_once_never_duplicate_nor_lose_an_id(
    mixed_stubs: tuple[list[Stub], str],
) -> None:
    stubs, url = mixed_stubs
    ledger = Ledger()
    seeds = iter(range(1000))
    on_every_client(stubs, lambda stub: churn(stub, ledger, next(seeds)))

    assert ledger.problems == []
    # The pools were exhausted again and again, and both paths ran many times.
    assert min(ledger.counts["allocated"], ledger.counts["released"]) > 200, ledger.counts
    assert ledger.counts["exhausted"] > 0, ledger.counts
    rows, segments, orphans = stored_state(url)
    assert sorted((t, i) for t, i, _ in rows) == sorted(ledger.held)
    assert {(t, i): n for t, i, n in rows} == ledger.held
    assert (segments, orphans) == (len(rows), 0)

    # Nothing was lost: release everything, and every id of both pools comes back once.
    for (_network_type, _seg_id), network_id in list(ledger.held.items()):
        stubs[0].ReleaseNetworkSegments(
            Req.ReleaseNetworkSegmentsRequest(network_id=network_id), timeout=30
        )
    for network_type, physnet in (("vlan", "physnet1"), ("vxlan", "")):
        spec = segment_pb2.SegmentSpec(network_type=network_type, physical_network=physnet)
        got = sorted(
            stubs[n % PROCESSES]
            .CreateNetworkSegments(
                Req.CreateNetworkSegmentsRequest(network_id=str(uuid.uuid4()), segments=[spec]),
                timeout=30,
            )
            .segments[0]
            .segmentation_id
            for n in range(len(MIXED_POOL))
        )
        assert got == list(MIXED_POOL), network_type
