"""SegmentService served by a real typemgr process, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ml2.v1 import segment_pb2, segment_service_pb2, segment_service_pb2_grpc

from services import launcher
from services.rpc import channels
from tests.integration.stacks import databases

# Small pools, so that exhaustion is quick to reach; physnet2 is provider-only. The tests that
# share one typemgr per backend (``typemgr``) each use pools, provider ids and flat physical
# networks no other of them keeps: physnet1's two ids are enough for the one a test keeps and
# the one a test takes and gives back, physnet3's and the VXLAN pool's one id are taken by one
# test each. Tests that exhaust a pool, read absolute counts or restart typemgr start their own.
CONFIG = {
    "TYPEMGR_TENANT_NETWORK_TYPES": "vlan,vxlan",
    "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:101,physnet2,physnet3:200:200",
    "TYPEMGR_VXLAN_VNI_RANGES": "1000:1000",
    "TYPEMGR_FLAT_NETWORKS": "physnet1,physnet2",
    "TYPEMGR_PHYSICAL_NETWORK_MTUS": "physnet2:9000,physnet3:1400",
}

Spec = segment_pb2.SegmentSpec
Req = segment_service_pb2


@dataclass
class Typemgr:
    process: launcher.ServiceProcess
    stub: segment_service_pb2_grpc.SegmentServiceStub

    def create(self, network_id: str, *specs: segment_pb2.SegmentSpec) -> Any:
        return self.stub.CreateNetworkSegments(
            Req.CreateNetworkSegmentsRequest(network_id=network_id, segments=list(specs)),
            timeout=10,
        )

    def list(self, network_id: str, include_dynamic: bool = True) -> list[Any]:
        reply = self.stub.ListNetworkSegments(
            Req.ListNetworkSegmentsRequest(network_id=network_id, include_dynamic=include_dynamic),
            timeout=10,
        )
        return list(reply.segments)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.process.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())


def starter(database_url: str, log_dir: Path) -> Iterator[Callable[..., Typemgr]]:
    started: list[tuple[launcher.ServiceProcess, grpc.Channel]] = []

    def start(**overrides: str) -> Typemgr:
        env = {
            **CONFIG,
            "TYPEMGR_LISTEN": "127.0.0.1:0",
            "TYPEMGR_METRICS_PORT": "0",
            "TYPEMGR_DATABASE_URL": database_url,
            **overrides,
        }
        process = launcher.start(f"typemgr{len(started)}", "services.typemgr", env, log_dir=log_dir)
        channel = channels.make_channel(process.address)
        started.append((process, channel))
        return Typemgr(process, segment_service_pb2_grpc.SegmentServiceStub(channel))

    yield start
    for process, channel in started:
        channel.close()
        assert process.stop() == 0, process.log_tail()


@pytest.fixture
def start_typemgr(database_url: str, log_dir: Path) -> Iterator[Callable[..., Typemgr]]:
    """Starts typemgr processes on the test's own (empty) database."""
    yield from starter(database_url, log_dir)


@pytest.fixture
def fresh_typemgr(start_typemgr: Callable[..., Typemgr]) -> Typemgr:
    """A typemgr of the test's own, on an empty database."""
    return start_typemgr()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def typemgr(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Typemgr]:
    """One typemgr per backend shared by the module's tests that keep to their own ids."""
    tmp = tmp_path_factory.mktemp(request.param)
    database = databases(request.param, tmp, request, ("typemgr",))
    db = next(database)
    starting = starter(db["typemgr"], tmp / "logs")
    try:
        yield next(starting)()
    finally:
        try:
            next(starting, None)
        finally:
            next(database, None)


def net() -> str:
    return str(uuid.uuid4())


def failure(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


def test_tenant_network_lifecycle(typemgr: Typemgr) -> None:
    network_id = net()
    created = typemgr.create(network_id)
    [segment] = created.segments
    assert (segment.network_type, segment.physical_network) == ("vlan", "physnet1")
    assert segment.segmentation_id in (100, 101)
    assert (segment.network_id, segment.mtu, created.mtu, segment.is_dynamic) == (
        network_id,
        1500,
        1500,
        False,
    )
    assert typemgr.create(network_id) == created
    assert typemgr.list(network_id) == [segment]
    released = typemgr.stub.ReleaseNetworkSegments(
        Req.ReleaseNetworkSegmentsRequest(network_id=network_id), timeout=10
    )
    assert list(released.segments) == [segment]
    assert typemgr.list(network_id) == []
    again = typemgr.stub.ReleaseNetworkSegments(
        Req.ReleaseNetworkSegmentsRequest(network_id=network_id), timeout=10
    )
    assert list(again.segments) == []


def test_multi_provider_network_keeps_order_and_takes_the_smallest_mtu(typemgr: Typemgr) -> None:
    network_id = net()
    reply = typemgr.create(
        network_id,
        Spec(network_type="flat", physical_network="physnet2"),
        Spec(network_type="vlan", physical_network="physnet2", segmentation_id=4094),
        Spec(network_type="vxlan", segmentation_id=16777215),
        Spec(network_type="vlan", physical_network="physnet3"),
    )
    got = [
        (s.network_type, s.physical_network, s.segmentation_id, s.mtu, s.segment_index)
        for s in reply.segments
    ]
    assert got == [
        ("flat", "physnet2", 0, 1500, 0),
        ("vlan", "physnet2", 4094, 1500, 1),
        ("vxlan", "", 16777215, 1450, 2),
        ("vlan", "physnet3", 200, 1400, 3),
    ]
    assert reply.mtu == 1400
    listed = typemgr.stub.ListNetworkSegments(
        Req.ListNetworkSegmentsRequest(network_id=network_id), timeout=10
    )
    assert list(listed.segments) == list(reply.segments)
    assert listed.mtu == 1400


def test_tenant_types_are_used_in_order_then_exhaustion_names_them(
    fresh_typemgr: Typemgr,
) -> None:
    typemgr = fresh_typemgr
    got = [typemgr.create(net()).segments[0] for _ in range(4)]
    assert [(s.network_type, s.physical_network) for s in got] == [
        ("vlan", "physnet1"),
        ("vlan", "physnet1"),
        ("vlan", "physnet3"),
        ("vxlan", ""),
    ]
    network_id = net()
    err = failure(lambda: typemgr.create(network_id))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details() == "no tenant network is available: every pool of vlan, vxlan is exhausted"
    assert error_info(err).reason == "NO_TENANT_NETWORK_AVAILABLE"
    assert typemgr.list(network_id) == []


def test_pool_exhaustion_names_type_and_physical_network(fresh_typemgr: Typemgr) -> None:
    typemgr = fresh_typemgr
    typemgr.create(net(), Spec(network_type="vlan", physical_network="physnet3"))
    err = failure(
        lambda: typemgr.create(net(), Spec(network_type="vlan", physical_network="physnet3"))
    )
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details() == "no vlan segmentation id is available on physical network physnet3"
    info = error_info(err)
    assert info.reason == "NO_SEGMENT_AVAILABLE"
    assert dict(info.metadata) == {"network_type": "vlan", "physical_network": "physnet3"}


def test_taken_ids_and_flat_physnets_are_already_exists_and_write_nothing(typemgr: Typemgr) -> None:
    typemgr.create(net(), Spec(network_type="vlan", physical_network="physnet1", segmentation_id=7))
    typemgr.create(net(), Spec(network_type="flat", physical_network="physnet1"))
    loser = net()
    err = failure(
        lambda: typemgr.create(
            loser,
            Spec(network_type="vxlan", segmentation_id=5),
            Spec(network_type="vlan", physical_network="physnet1", segmentation_id=7),
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert err.details() == "segmentation id 7 of vlan on physnet1 is in use"
    info = error_info(err)
    assert info.reason == "SEGMENTATION_ID_IN_USE"
    assert dict(info.metadata) == {
        "network_type": "vlan",
        "physical_network": "physnet1",
        "segmentation_id": "7",
    }
    err = failure(
        lambda: typemgr.create(loser, Spec(network_type="flat", physical_network="physnet1"))
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(err).reason == "FLAT_NETWORK_IN_USE"
    assert typemgr.list(loser) == []
    # The vxlan id of the failed request was not kept.
    typemgr.create(net(), Spec(network_type="vxlan", segmentation_id=5))


def test_creating_different_segments_for_an_existing_network_is_refused(typemgr: Typemgr) -> None:
    network_id = net()
    typemgr.create(network_id, Spec(network_type="vxlan", segmentation_id=42))
    err = failure(
        lambda: typemgr.create(network_id, Spec(network_type="vxlan", segmentation_id=43))
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(err).reason == "NETWORK_SEGMENTS_DIFFER"
    assert [s.segmentation_id for s in typemgr.list(network_id)] == [42]


BAD_CREATES = [
    ("", [], "network_id: is required"),
    ("not-a-uuid", [], "network_id: must be a UUID, got 'not-a-uuid'"),
    (None, [Spec()], "segments[0].network_type: is required"),
    (
        None,
        [Spec(network_type="ethernet")],
        "segments[0].network_type: unknown network type 'ethernet'",
    ),
    (
        None,
        [Spec(network_type="gre")],
        "segments[0].segmentation_id: is required on gre: it has no range to allocate from",
    ),
    (
        None,
        [
            Spec(network_type="gre", segmentation_id=2**32 - 1),
            Spec(network_type="local", physical_network="physnet1"),
        ],
        "segments[1].physical_network: must not be set for a local segment",
    ),
    (
        None,
        [
            Spec(network_type="vxlan"),
            Spec(network_type="vlan", physical_network="physnet1", segmentation_id=0),
        ],
        "segments[1].segmentation_id: VLAN id must be between 1 and 4094, got 0",
    ),
    (
        None,
        [Spec(network_type="vlan", physical_network="physnet1", segmentation_id=4095)],
        "segments[0].segmentation_id: VLAN id must be between 1 and 4094, got 4095",
    ),
    (
        None,
        [Spec(network_type="vlan", physical_network="physnet9", segmentation_id=10)],
        "segments[0].physical_network: unknown physical network 'physnet9' for vlan",
    ),
    (
        None,
        [Spec(network_type="vlan", segmentation_id=10)],
        "segments[0].physical_network: is required when a vlan segment has a segmentation_id",
    ),
    (
        None,
        [Spec(network_type="vlan", physical_network="physnet2")],
        "segments[0].segmentation_id: is required on physical network 'physnet2'",
    ),
    (
        None,
        [Spec(network_type="flat", physical_network="physnet1", segmentation_id=3)],
        "segments[0].segmentation_id: must not be set for a flat segment",
    ),
    (
        None,
        [Spec(network_type="flat")],
        "segments[0].physical_network: is required for a flat segment",
    ),
    (
        None,
        [Spec(network_type="flat", physical_network="physnet3")],
        "segments[0].physical_network: physical network 'physnet3' is not allowed for flat",
    ),
    (
        None,
        [Spec(network_type="vxlan", physical_network="physnet1")],
        "segments[0].physical_network: must not be set for a vxlan segment",
    ),
    (
        None,
        [Spec(network_type="vxlan", segmentation_id=2**24)],
        "segments[0].segmentation_id: VXLAN id must be between 1 and 16777215, got 16777216",
    ),
    (
        None,
        [
            Spec(network_type="vxlan", segmentation_id=9),
            Spec(network_type="vxlan", segmentation_id=9),
        ],
        "segments[1]: duplicates segments[0] (vxlan 9)",
    ),
]


def allocated_ids(typemgr: Typemgr) -> list[str]:
    return [
        line
        for line in typemgr.metrics().splitlines()
        if line.startswith("ml2_typemgr_allocated_ids{")
    ]


def test_bad_create_requests_are_invalid_argument_naming_the_field(typemgr: Typemgr) -> None:
    before = allocated_ids(typemgr)
    for network_id, specs, message in BAD_CREATES:
        target = net() if network_id is None else network_id
        err = failure(lambda t=target, s=specs: typemgr.create(t, *s))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, message
        assert str(err.details()).startswith(message), (err.details(), message)
        assert error_info(err).metadata["field"] == message.split(":")[0]
        if network_id is None:
            assert typemgr.list(target) == []
    allocated = allocated_ids(typemgr)
    assert allocated and allocated == before, (before, allocated)


def test_other_bad_requests_are_invalid_argument_naming_the_field(typemgr: Typemgr) -> None:
    stub = typemgr.stub
    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: stub.ListNetworkSegments(Req.ListNetworkSegmentsRequest()),
            "network_id: is required",
        ),
        (
            lambda: stub.ReleaseNetworkSegments(Req.ReleaseNetworkSegmentsRequest(network_id="x")),
            "network_id: must be a UUID",
        ),
        (
            lambda: stub.AllocateDynamicSegment(
                Req.AllocateDynamicSegmentRequest(network_id=net())
            ),
            "segment: is required",
        ),
        (
            lambda: stub.AllocateDynamicSegment(
                Req.AllocateDynamicSegmentRequest(
                    segment=Spec(network_type="vlan", physical_network="physnet1")
                )
            ),
            "network_id: is required",
        ),
        (
            lambda: stub.AllocateDynamicSegment(
                Req.AllocateDynamicSegmentRequest(
                    network_id=net(), segment=Spec(network_type="vlan")
                )
            ),
            "segment.physical_network: is required for a dynamic segment",
        ),
        (
            lambda: stub.AllocateDynamicSegment(
                Req.AllocateDynamicSegmentRequest(
                    network_id=net(),
                    segment=Spec(network_type="vlan", physical_network="physnet1"),
                    holder="port-1",
                    holder_generation=-1,
                )
            ),
            "holder_generation: must not be negative, got -1",
        ),
        (
            lambda: stub.AllocateDynamicSegment(
                Req.AllocateDynamicSegmentRequest(
                    network_id=net(),
                    segment=Spec(network_type="vlan", physical_network="physnet1"),
                    holder_generation=3,
                )
            ),
            "holder_generation: needs a holder",
        ),
        (
            lambda: stub.ReleaseDynamicSegment(Req.ReleaseDynamicSegmentRequest()),
            "segment_id: is required",
        ),
        (
            lambda: stub.ReleaseDynamicSegment(Req.ReleaseDynamicSegmentRequest(segment_id="42")),
            "segment_id: must be a UUID",
        ),
        (
            lambda: stub.AllocateDynamicSegment(
                Req.AllocateDynamicSegmentRequest(
                    network_id=net(),
                    segment=Spec(network_type="vlan", physical_network="physnet1"),
                    holder="h" * 256,
                )
            ),
            "holder: must be at most 255 characters",
        ),
        (
            lambda: stub.SyncDynamicSegmentHolds(Req.SyncDynamicSegmentHoldsRequest()),
            "holder: is required",
        ),
        (
            lambda: stub.SyncDynamicSegmentHolds(
                Req.SyncDynamicSegmentHoldsRequest(holder="p", segment_ids=[net(), "x"])
            ),
            "segment_ids[1]: must be a UUID",
        ),
        (
            lambda: stub.SyncDynamicSegmentHolds(
                Req.SyncDynamicSegmentHoldsRequest(holder="p", generation=-1)
            ),
            "generation: must not be negative, got -1",
        ),
        (
            lambda: stub.ListDynamicSegmentHolds(Req.ListDynamicSegmentHoldsRequest()),
            "segment_id: segment_id or holder is required",
        ),
        (lambda: stub.ValidateSegment(Req.ValidateSegmentRequest()), "segment: is required"),
        (
            lambda: stub.ValidateSegment(
                Req.ValidateSegmentRequest(
                    segment=Spec(
                        network_type="vlan", physical_network="physnet1", segmentation_id=0
                    )
                )
            ),
            "segment.segmentation_id: VLAN id must be between 1 and 4094, got 0",
        ),
    ]
    for call, message in cases:
        err = failure(call)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, message
        assert str(err.details()).startswith(message), (err.details(), message)


def test_dynamic_segments_converge_and_release(typemgr: Typemgr) -> None:
    stub = typemgr.stub
    network_id = net()
    [static] = typemgr.create(network_id, Spec(network_type="vxlan", segmentation_id=77)).segments
    want = Spec(network_type="vlan", physical_network="physnet1")
    request = Req.AllocateDynamicSegmentRequest(network_id=network_id, segment=want)
    dynamic = stub.AllocateDynamicSegment(request, timeout=10).segment
    assert dynamic.is_dynamic and dynamic.segmentation_id in (100, 101)
    assert stub.AllocateDynamicSegment(request, timeout=10).segment == dynamic
    assert typemgr.list(network_id) == [static, dynamic]
    assert typemgr.list(network_id, include_dynamic=False) == [static]

    err = failure(
        lambda: stub.ReleaseDynamicSegment(Req.ReleaseDynamicSegmentRequest(segment_id=static.id))
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    unknown = net()
    err = failure(
        lambda: stub.ReleaseDynamicSegment(Req.ReleaseDynamicSegmentRequest(segment_id=unknown))
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == f"segment {unknown} not found"
    err = failure(
        lambda: stub.AllocateDynamicSegment(
            Req.AllocateDynamicSegmentRequest(network_id=unknown, segment=want)
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert typemgr.list(unknown) == []

    released = stub.ReleaseDynamicSegment(
        Req.ReleaseDynamicSegmentRequest(segment_id=dynamic.id), timeout=10
    )
    assert released.segment == dynamic
    assert typemgr.list(network_id) == [static]


def test_the_holds_of_a_segment_are_paged_past_a_thousand(typemgr: Typemgr) -> None:
    """A dynamic segment held by 1001 ports lists all of them, in pages by holder, with tokens
    bound to their filters (it used to stop at 1000 without saying so)."""
    stub = typemgr.stub
    network_id = net()
    typemgr.create(network_id, Spec(network_type="vxlan", segmentation_id=78))
    want = Spec(network_type="vlan", physical_network="physnet1")
    holders = sorted(f"port-{i:04d}" for i in range(1001))
    for holder in holders:
        request = Req.AllocateDynamicSegmentRequest(
            network_id=network_id, segment=want, holder=holder
        )
        segment = stub.AllocateDynamicSegment(request, timeout=10).segment
    listed, token, pages = [], "", 0
    while True:
        request = Req.ListDynamicSegmentHoldsRequest(
            segment_id=segment.id, page_size=1000, page_token=token
        )
        reply = stub.ListDynamicSegmentHolds(request, timeout=10)
        listed += [h.holder for h in reply.holds]
        pages += 1
        if not (token := reply.next_page_token):
            break
        err = failure(
            lambda t=token: stub.ListDynamicSegmentHolds(
                Req.ListDynamicSegmentHoldsRequest(holder="port-0000", page_token=t), timeout=10
            )
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert str(err.details()).startswith("page_token: was issued for a request with other")
    assert listed == holders and pages == 2
    default = stub.ListDynamicSegmentHolds(
        Req.ListDynamicSegmentHoldsRequest(segment_id=segment.id), timeout=10
    )
    assert len(default.holds) == 100 and default.next_page_token
    mine = stub.ListDynamicSegmentHolds(
        Req.ListDynamicSegmentHoldsRequest(holder="port-0007"), timeout=10
    )
    assert [(h.segment_id, h.holder) for h in mine.holds] == [(segment.id, "port-0007")]
    assert mine.next_page_token == ""


def test_validate_segment_reserves_nothing(typemgr: Typemgr) -> None:
    spec = Spec(network_type="vlan", physical_network="physnet3", segmentation_id=3000)
    assert (
        typemgr.stub.ValidateSegment(Req.ValidateSegmentRequest(segment=spec), timeout=10).mtu
        == 1400
    )
    vxlan = Spec(network_type="vxlan")
    assert (
        typemgr.stub.ValidateSegment(Req.ValidateSegmentRequest(segment=vxlan), timeout=10).mtu
        == 1450
    )
    [segment] = typemgr.create(net(), spec).segments
    assert segment.segmentation_id == 3000


def test_allocations_survive_a_restart_and_metrics_count_them(
    start_typemgr: Callable[..., Typemgr],
) -> None:
    first = start_typemgr()
    network_id = net()
    created = first.create(network_id, Spec(network_type="vlan", physical_network="physnet3"))
    first.create(net(), Spec(network_type="vlan", physical_network="physnet1", segmentation_id=5))
    text = first.metrics()
    assert 'ml2_typemgr_allocated_ids{network_type="vlan",physical_network="physnet3"} 1.0' in text
    assert 'ml2_typemgr_allocated_ids{network_type="vlan",physical_network="physnet1"} 1.0' in text
    assert (
        'ml2_typemgr_pool_allocated_ids{network_type="vlan",physical_network="physnet1"} 0.0'
        in text
    )
    assert 'ml2_typemgr_pool_ids{network_type="vlan",physical_network="physnet1"} 2.0' in text
    assert 'ml2_typemgr_allocations_total{network_type="vlan",result="allocated"} 2.0' in text
    first.process.stop()

    second = start_typemgr()
    assert second.list(network_id) == list(created.segments)
    err = failure(
        lambda: second.create(net(), Spec(network_type="vlan", physical_network="physnet3"))
    )
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 'result="exhausted"} 1.0' in second.metrics()


def test_static_segment_changes_over_grpc_and_their_bad_requests(typemgr: Typemgr) -> None:
    stub = typemgr.stub
    network_id = net()
    [segment] = typemgr.create(
        network_id, Spec(network_type="vlan", physical_network="physnet2", segmentation_id=5)
    ).segments
    reply = stub.UpdateSegmentationId(
        Req.UpdateSegmentationIdRequest(segment_id=segment.id, segmentation_id=6), timeout=10
    )
    assert (reply.segment.id, reply.segment.segmentation_id) == (segment.id, 6)
    added_id = net()
    added = stub.AddStaticSegment(
        Req.AddStaticSegmentRequest(
            network_id=network_id, segment_id=added_id, segment=Spec(network_type="vxlan")
        ),
        timeout=10,
    )
    assert added.segment.id == added_id and [s.segment_index for s in added.segments] == [0, 1]
    assert added.mtu == 1450  # the smaller of the vlan segment's 1500 and vxlan's 1450
    removed = stub.RemoveStaticSegment(
        Req.RemoveStaticSegmentRequest(network_id=network_id, segment_id=added_id), timeout=10
    )
    assert removed.segment.id == added_id and removed.mtu == 1500
    last = failure(
        lambda: stub.RemoveStaticSegment(
            Req.RemoveStaticSegmentRequest(network_id=network_id, segment_id=segment.id)
        )
    )
    assert last.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(last).reason == "LAST_STATIC_SEGMENT"
    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: stub.UpdateSegmentationId(
                Req.UpdateSegmentationIdRequest(segment_id=segment.id)
            ),
            "segmentation_id: is required",
        ),
        (
            lambda: stub.UpdateSegmentationId(
                Req.UpdateSegmentationIdRequest(segment_id="x", segmentation_id=7)
            ),
            "segment_id: must be a UUID",
        ),
        (
            lambda: stub.AddStaticSegment(
                Req.AddStaticSegmentRequest(network_id=network_id, segment_id=net())
            ),
            "segment: is required",
        ),
        (
            lambda: stub.AddStaticSegment(
                Req.AddStaticSegmentRequest(
                    network_id=network_id, segment=Spec(network_type="vxlan")
                )
            ),
            "segment_id: is required",
        ),
        (
            lambda: stub.RemoveStaticSegment(Req.RemoveStaticSegmentRequest(network_id=network_id)),
            "segment_id: is required",
        ),
    ]
    for call, message in cases:
        err = failure(call)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, message
        assert err.details().startswith(message), err.details()
    assert [s.segmentation_id for s in typemgr.list(network_id)] == [6]
