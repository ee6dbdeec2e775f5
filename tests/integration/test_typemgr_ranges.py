"""SegmentRangeService served by a real typemgr process, on a SQLite file and on PostgreSQL:
ranges managed at run time, their rules and errors, what changes report, and what survives a
restart with another configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ml2.v1 import segment_pb2, segment_range_pb2, segment_service_pb2, segment_service_pb2_grpc
from ml2.v1 import segment_range_service_pb2 as rs
from ml2.v1 import segment_range_service_pb2_grpc as rs_grpc
from prometheus_client.parser import text_string_to_metric_families

from services import launcher
from services.rpc import channels

CONFIG = {
    "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
    "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:109,physnet2",
    "TYPEMGR_VXLAN_VNI_RANGES": "1000:1000",
}
Range = segment_range_pb2.SegmentRange


@dataclass
class Typemgr:
    process: launcher.ServiceProcess
    ranges: rs_grpc.SegmentRangeServiceStub
    segments: segment_service_pb2_grpc.SegmentServiceStub

    def create(self, **fields: object) -> Range:
        request = rs.CreateSegmentRangeRequest(segment_range=Range(**fields))  # type: ignore[arg-type]
        return self.ranges.CreateSegmentRange(request, timeout=10).segment_range

    def tenant(self, project: str = "") -> tuple[str, int]:
        network_id = str(uuid.uuid4())
        reply = self.segments.CreateNetworkSegments(
            segment_service_pb2.CreateNetworkSegmentsRequest(
                network_id=network_id, project_id=project
            ),
            timeout=10,
        )
        return network_id, reply.segments[0].segmentation_id

    def listed(self, **filters: object) -> list[Range]:
        request = rs.ListSegmentRangesRequest(**filters)  # type: ignore[arg-type]
        return list(self.ranges.ListSegmentRanges(request, timeout=10).segment_ranges)


@pytest.fixture
def start_typemgr(database_url: str, log_dir: Path) -> Iterator[Callable[..., Typemgr]]:
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
        return Typemgr(
            process,
            rs_grpc.SegmentRangeServiceStub(channel),
            segment_service_pb2_grpc.SegmentServiceStub(channel),
        )

    yield start
    for process, channel in started:
        channel.close()
        process.stop()


def failure(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, str]:
    """Returns (code, reason, message) of a call that must fail."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    err = caught.value
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return err.code(), info.reason, str(err.details())


def test_ranges_are_created_used_listed_and_refused_when_they_overlap(
    start_typemgr: Callable[..., Typemgr],
) -> None:
    typemgr = start_typemgr()
    mine = typemgr.create(
        name="team-a", network_type="vxlan", minimum=5000, maximum=5001, project_id="p1"
    )
    assert (mine.shared, mine.default, mine.used, mine.available) == (False, False, 0, 2)
    assert mine.create_time.seconds > 0
    assert {typemgr.tenant("p1")[1], typemgr.tenant("p1")[1]} == {5000, 5001}
    assert typemgr.tenant("p1")[1] == 1000  # then the shared default range
    code, reason, message = failure(lambda: typemgr.tenant("p1"))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED

    got = typemgr.ranges.GetSegmentRange(rs.GetSegmentRangeRequest(segment_range_id=mine.id))
    assert (got.segment_range.used, got.segment_range.available) == (2, 0)
    code, reason, message = failure(
        lambda: typemgr.create(network_type="vxlan", minimum=4000, maximum=5000, shared=True)
    )
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "SEGMENT_RANGE_OVERLAP")
    assert f"overlaps range vxlan 5000:5001 (range {mine.id}, 'team-a')" in message

    code, reason, message = failure(
        lambda: typemgr.create(network_type="vlan", minimum=1, maximum=5, shared=True)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == "segment_range.physical_network: is required for a vlan range"
    code, reason, message = failure(
        lambda: typemgr.create(
            network_type="vxlan", minimum=7, maximum=8, shared=True, project_id="p1"
        )
    )
    assert message == "segment_range.project_id: must be empty for a shared range"

    vlan = typemgr.create(
        network_type="vlan", physical_network="physnet2", minimum=7, maximum=7, shared=True
    )
    assert [r.id for r in typemgr.listed(physical_network="physnet2")] == [vlan.id]
    first = typemgr.ranges.ListSegmentRanges(rs.ListSegmentRangesRequest(page_size=2))
    assert len(first.segment_ranges) == 2 and first.next_page_token
    rest = typemgr.ranges.ListSegmentRanges(
        rs.ListSegmentRangesRequest(page_size=2, page_token=first.next_page_token)
    )
    listed = [*first.segment_ranges, *rest.segment_ranges]
    assert [(r.network_type, r.minimum) for r in listed] == [
        ("vlan", 100),
        ("vlan", 7),
        ("vxlan", 1000),
        ("vxlan", 5000),
    ]
    code, _, message = failure(
        lambda: typemgr.ranges.ListSegmentRanges(
            rs.ListSegmentRangesRequest(page_token=first.next_page_token, network_type="vlan")
        )
    )
    assert (code, message) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token: was issued for a request with other filters; keep the filters fixed",
    )


def test_updates_and_deletions_report_and_never_take_ids_away(
    start_typemgr: Callable[..., Typemgr],
) -> None:
    typemgr = start_typemgr(TYPEMGR_VXLAN_VNI_RANGES="")
    wide = typemgr.create(network_type="vxlan", minimum=1, maximum=3, shared=True)
    held = dict(typemgr.tenant() for _ in range(3))
    shrink = Range(id=wide.id, minimum=2, maximum=2)
    request = rs.UpdateSegmentRangeRequest(
        segment_range=shrink,
        update_mask=field_mask_pb2.FieldMask(paths=["minimum", "maximum"]),
        dry_run=True,
    )
    dry = typemgr.ranges.UpdateSegmentRange(request, timeout=10)
    assert (dry.change.dry_run, dry.change.orphaned_count) == (True, 2)
    assert list(dry.change.orphaned_ids) == [1, 3]
    assert (dry.change.pool_size_before, dry.change.pool_size_after) == (3, 1)
    assert typemgr.listed(network_type="vxlan")[0].maximum == 3

    request.dry_run = False
    done = typemgr.ranges.UpdateSegmentRange(request, timeout=10)
    assert (done.segment_range.minimum, done.segment_range.maximum) == (2, 2)
    assert done.segment_range.used == 1
    outside = typemgr.ranges.ListSegmentAllocations(
        rs.ListSegmentAllocationsRequest(network_type="vxlan", outside_ranges=True), timeout=10
    ).segment_allocations
    assert [(a.segmentation_id, a.segment_range_id) for a in outside] == [(1, ""), (3, "")]
    assert {a.network_id for a in outside} == {n for n, i in held.items() if i != 2}

    code, reason, message = failure(
        lambda: typemgr.ranges.UpdateSegmentRange(
            rs.UpdateSegmentRangeRequest(
                segment_range=Range(id=wide.id, network_type="vlan"),
                update_mask=field_mask_pb2.FieldMask(paths=["network_type"]),
            )
        )
    )
    assert message == (
        "update_mask: cannot change 'network_type'; only name, minimum, maximum can change"
    )
    deleted = typemgr.ranges.DeleteSegmentRange(
        rs.DeleteSegmentRangeRequest(segment_range_id=wide.id), timeout=10
    )
    assert (deleted.segment_range.id, list(deleted.change.orphaned_ids)) == (wide.id, [2])
    code, reason, _ = failure(
        lambda: typemgr.ranges.GetSegmentRange(rs.GetSegmentRangeRequest(segment_range_id=wide.id))
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "SEGMENT_RANGE_NOT_FOUND")
    for network_id in held:
        listed = typemgr.segments.ListNetworkSegments(
            segment_service_pb2.ListNetworkSegmentsRequest(network_id=network_id)
        )
        assert [s.segmentation_id for s in listed.segments] == [held[network_id]]


def test_api_ranges_survive_a_restart_and_configuration_seeds_only_defaults(
    start_typemgr: Callable[..., Typemgr],
) -> None:
    first = start_typemgr()
    mine = first.create(network_type="vxlan", minimum=7000, maximum=7999, shared=True)
    [default] = first.listed(network_type="vxlan", default=True)
    code, reason, _ = failure(
        lambda: first.ranges.DeleteSegmentRange(
            rs.DeleteSegmentRangeRequest(segment_range_id=default.id, dry_run=True)
        )
    )
    assert (code, reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "DEFAULT_SEGMENT_RANGE_READ_ONLY",
    )
    first.process.stop()

    second = start_typemgr(TYPEMGR_VXLAN_VNI_RANGES="1:10,20:30")
    vxlan = second.listed(network_type="vxlan")
    assert [(r.minimum, r.maximum, r.default) for r in vxlan] == [
        (1, 10, True),
        (20, 30, True),
        (7000, 7999, False),
    ]
    assert vxlan[2].id == mine.id


def test_a_default_range_overlapping_an_api_range_stops_the_start(
    start_typemgr: Callable[..., Typemgr], database_url: str
) -> None:
    first = start_typemgr()
    mine = first.create(network_type="vxlan", minimum=7000, maximum=7999, shared=True)
    first.process.stop()
    env = launcher.python_path_env(
        {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TYPEMGR_", "ML2_"))},
            "ML2_AUTH_DISABLED": "1",
            **CONFIG,
            "TYPEMGR_DATABASE_URL": database_url,
            "TYPEMGR_LISTEN": "127.0.0.1:0",
            "TYPEMGR_METRICS_PORT": "0",
            "TYPEMGR_VXLAN_VNI_RANGES": "7500:8000",
            "ML2_LOG_LEVEL": "ERROR",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "services.typemgr"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "typemgr: configuration conflicts with the database: TYPEMGR_VXLAN_VNI_RANGES: vxlan "
        f"range 7500:8000 overlaps vxlan 7000:7999 (range {mine.id}) created through the API; "
        "delete or shrink that range, or change the setting"
    ]


def test_dynamic_segments_come_from_shared_ranges_created_at_run_time(
    start_typemgr: Callable[..., Typemgr],
) -> None:
    typemgr = start_typemgr()
    network_id, _ = typemgr.tenant()
    spec = segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet2")
    request = segment_service_pb2.AllocateDynamicSegmentRequest(network_id=network_id, segment=spec)
    code, reason, _ = failure(lambda: typemgr.segments.AllocateDynamicSegment(request))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "NO_SEGMENT_RANGE")
    typemgr.create(
        network_type="vlan", physical_network="physnet2", minimum=42, maximum=42, shared=True
    )
    reply = typemgr.segments.AllocateDynamicSegment(request, timeout=10)
    assert (reply.segment.physical_network, reply.segment.segmentation_id) == ("physnet2", 42)


def test_pool_and_range_gauges_follow_the_ranges_in_the_database(
    start_typemgr: Callable[..., Typemgr],
) -> None:
    typemgr = start_typemgr(TYPEMGR_VXLAN_VNI_RANGES="1000:1009")
    team = typemgr.create(
        name="team", network_type="vxlan", minimum=1, maximum=3, shared=False, project_id="p1"
    )
    for _ in range(3):
        typemgr.tenant("p1")
    typemgr.tenant("")
    shrink = rs.UpdateSegmentRangeRequest(
        segment_range=Range(id=team.id, maximum=2),
        update_mask=field_mask_pb2.FieldMask(paths=["maximum"]),
    )
    typemgr.ranges.UpdateSegmentRange(shrink, timeout=10)
    url = f"http://127.0.0.1:{typemgr.process.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(reply.read().decode())
            for sample in family.samples
        }
    pool = {"network_type": "vxlan", "physical_network": ""}
    team_range = {**pool, "range_id": team.id, "range_name": "team", "project_id": "p1"}
    expected = [
        ("ml2_typemgr_allocated_ids", pool, 4),
        ("ml2_typemgr_pool_ids", pool, 12),
        ("ml2_typemgr_pool_allocated_ids", pool, 3),
        ("ml2_typemgr_pool_available_ids", pool, 9),
        ("ml2_typemgr_outside_range_ids", pool, 1),
        ("ml2_typemgr_range_ids", team_range, 2),
        ("ml2_typemgr_range_allocated_ids", team_range, 2),
        ("ml2_typemgr_range_available_ids", team_range, 0),
        ("ml2_typemgr_allocation_attempts_bucket", {"network_type": "vxlan", "le": "1.0"}, 4),
    ]
    for name, labels, value in expected:
        assert samples[(name, tuple(sorted(labels.items())))] == value, name
