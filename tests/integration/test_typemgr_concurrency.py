"""Four typemgr processes on ONE PostgreSQL database, each called by several client threads.

They start at the same moment (so they seed the ranges concurrently), then race for the ids of a
small tenant VLAN pool until it is exhausted: every id must be handed out exactly once, none
lost. Then everything is released and allocated again, and concurrent callers asking for the
same network or the same dynamic segment must converge on one answer.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from ml2.v1 import segment_pb2, segment_service_pb2, segment_service_pb2_grpc

from services import launcher
from services.rpc import channels

PROCESSES = 4
THREADS_PER_PROCESS = 4
POOL = range(1, 21)

Req = segment_service_pb2
Stub = segment_service_pb2_grpc.SegmentServiceStub
T = TypeVar("T")


@pytest.fixture
def stubs(postgres_url: str, log_dir: Path) -> Iterator[list[Stub]]:
    env = {
        "TYPEMGR_LISTEN": "127.0.0.1:0",
        "TYPEMGR_METRICS_PORT": "0",
        "TYPEMGR_DATABASE_URL": postgres_url,
        "TYPEMGR_TENANT_NETWORK_TYPES": "vlan",
        "TYPEMGR_NETWORK_VLAN_RANGES": f"physnet1:{POOL.start}:{POOL.stop - 1}",
        "ML2_LOG_LEVEL": "WARNING",
    }
    with futures.ThreadPoolExecutor(PROCESSES) as pool:
        starting = [
            pool.submit(launcher.start, f"typemgr{i}", "services.typemgr", env, log_dir=log_dir)
            for i in range(PROCESSES)
        ]
        processes = [f.result() for f in starting]
    chans = [channels.make_channel(p.address) for p in processes]
    yield [segment_service_pb2_grpc.SegmentServiceStub(c) for c in chans]
    for chan in chans:
        chan.close()
    for process in processes:
        assert process.stop() == 0, process.log_tail()


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


def test_replicas_hand_out_every_id_exactly_once(stubs: list[Stub]) -> None:
    first = allocate_all(stubs)
    assert sorted(seg_id for _, seg_id in first) == list(POOL)

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
