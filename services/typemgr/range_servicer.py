"""SegmentRangeService: checks the request's fields, turns messages into domain values and back.

Decisions belong to ``range_manager``; errors are raised, never passed to ``context.abort``.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import grpc
from google.protobuf import timestamp_pb2
from ml2.v1 import segment_range_pb2 as pb
from ml2.v1 import segment_range_service_pb2 as svc
from ml2.v1 import segment_range_service_pb2_grpc as svc_grpc
from ml2_contract import convert
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.rpc import paging
from services.typemgr.range_manager import RangeManager
from services.typemgr.ranges import (
    Allocation,
    RangeChange,
    RangeFilters,
    RangeSpec,
    RangeUpdate,
    SegmentRange,
)
from services.typemgr.servicer import parse_uuid

UPDATABLE = ("name", "minimum", "maximum")

LIST_RANGES = paging.Listing("ml2.v1.SegmentRangeService/ListSegmentRanges", (str, str, int))
"""Page tokens of ListSegmentRanges: the (network_type, physical_network, minimum) of a page's
last range."""
LIST_ALLOCATIONS = paging.Listing(
    "ml2.v1.SegmentRangeService/ListSegmentAllocations", (str, str, int)
)
"""Page tokens of ListSegmentAllocations: the (network_type, physical_network, segmentation_id)
of a page's last allocation."""


class SegmentRangeServicer(svc_grpc.SegmentRangeServiceServicer):
    """Serves ml2.v1.SegmentRangeService from a RangeManager."""

    def __init__(self, manager: RangeManager) -> None:
        self.manager = manager

    def CreateSegmentRange(
        self, request: svc.CreateSegmentRangeRequest, context: grpc.ServicerContext
    ) -> svc.CreateSegmentRangeResponse:
        if not request.HasField("segment_range"):
            raise InvalidArgument("segment_range", "is required")
        created = self.manager.create(spec_from_proto(request.segment_range))
        return svc.CreateSegmentRangeResponse(segment_range=range_to_proto(created))

    def GetSegmentRange(
        self, request: svc.GetSegmentRangeRequest, context: grpc.ServicerContext
    ) -> svc.GetSegmentRangeResponse:
        range_id = parse_uuid(request.segment_range_id, "segment_range_id")
        return svc.GetSegmentRangeResponse(segment_range=range_to_proto(self.manager.get(range_id)))

    def ListSegmentRanges(
        self, request: svc.ListSegmentRangesRequest, context: grpc.ServicerContext
    ) -> svc.ListSegmentRangesResponse:
        filters = RangeFilters(
            network_type=request.network_type,
            physical_network=request.physical_network,
            project_id=request.project_id,
            shared=request.shared if request.HasField("shared") else None,
            default=request.default if request.HasField("default") else None,
        )
        position = LIST_RANGES.decode(request.page_token, vars(filters))
        size = LIST_RANGES.size(request.page_size)
        found = self.manager.list_page(filters, _pool_position(position), size + 1)
        page, token = LIST_RANGES.page(
            found, size, lambda r: (r.network_type, r.physical_network, r.minimum), vars(filters)
        )
        return svc.ListSegmentRangesResponse(
            segment_ranges=[range_to_proto(r) for r in page], next_page_token=token
        )

    def UpdateSegmentRange(
        self, request: svc.UpdateSegmentRangeRequest, context: grpc.ServicerContext
    ) -> svc.UpdateSegmentRangeResponse:
        if not request.HasField("segment_range"):
            raise InvalidArgument("segment_range", "is required")
        range_id = parse_uuid(request.segment_range.id, "segment_range.id")
        change = update_from_proto(request.segment_range, list(request.update_mask.paths))
        updated, report = self.manager.update(range_id, change, request.dry_run)
        return svc.UpdateSegmentRangeResponse(
            segment_range=range_to_proto(updated), change=change_to_proto(report)
        )

    def DeleteSegmentRange(
        self, request: svc.DeleteSegmentRangeRequest, context: grpc.ServicerContext
    ) -> svc.DeleteSegmentRangeResponse:
        range_id = parse_uuid(request.segment_range_id, "segment_range_id")
        deleted, report = self.manager.delete(range_id, request.dry_run)
        return svc.DeleteSegmentRangeResponse(
            segment_range=range_to_proto(deleted), change=change_to_proto(report)
        )

    def ListSegmentAllocations(
        self, request: svc.ListSegmentAllocationsRequest, context: grpc.ServicerContext
    ) -> svc.ListSegmentAllocationsResponse:
        filters = {
            "network_type": request.network_type,
            "physical_network": request.physical_network,
            "outside_ranges": request.outside_ranges,
        }
        position = LIST_ALLOCATIONS.decode(request.page_token, filters)
        size = LIST_ALLOCATIONS.size(request.page_size)
        found = self.manager.list_allocations(
            request.network_type,
            request.physical_network,
            request.outside_ranges,
            _pool_position(position),
            size + 1,
        )
        page, token = LIST_ALLOCATIONS.page(
            found, size, lambda a: (a.network_type, a.physical_network, a.segmentation_id), filters
        )
        return svc.ListSegmentAllocationsResponse(
            segment_allocations=[allocation_to_proto(a) for a in page], next_page_token=token
        )


def _pool_position(position: paging.Position | None) -> tuple[str, str, int] | None:
    if position is None:
        return None
    network_type, physical_network, number = position
    return str(network_type), str(physical_network), cast(int, number)


def spec_from_proto(message: pb.SegmentRange) -> RangeSpec:
    """Returns the domain form of a range to create (output-only fields ignored)."""
    return RangeSpec(
        network_type=message.network_type.strip(),
        physical_network=message.physical_network.strip(),
        minimum=message.minimum,
        maximum=message.maximum,
        name=message.name,
        shared=message.shared,
        project_id=message.project_id.strip(),
    )


def update_from_proto(message: pb.SegmentRange, paths: list[str]) -> RangeUpdate:
    """Returns the fields an update changes: those of ``paths``, or with no paths every
    updatable field that is set. Raises InvalidArgument for another path."""
    for path in paths:
        if path not in UPDATABLE:
            raise InvalidArgument(
                "update_mask",
                f"cannot change {path[:64]!r}; only {', '.join(UPDATABLE)} can change",
            )
    if not paths:
        paths = [p for p in UPDATABLE if getattr(message, p)]
    return RangeUpdate(
        name=message.name if "name" in paths else None,
        minimum=message.minimum if "minimum" in paths else None,
        maximum=message.maximum if "maximum" in paths else None,
    )


def range_to_proto(found: SegmentRange) -> pb.SegmentRange:
    """Returns the message form of a range with its usage."""
    message = pb.SegmentRange(
        id=found.id,
        name=found.name,
        network_type=found.network_type,
        physical_network=found.physical_network,
        minimum=found.minimum,
        maximum=found.maximum,
        shared=found.shared,
        project_id=found.project_id,
        default=found.default,
        used=found.used,
        available=found.available,
    )
    _stamp(message.create_time, found.created_at)
    _stamp(message.update_time, found.updated_at)
    return message


def change_to_proto(report: RangeChange) -> pb.SegmentRangeChange:
    """Returns the message form of a change report."""
    return pb.SegmentRangeChange(
        dry_run=report.dry_run,
        pool_size_before=report.pool_size_before,
        pool_size_after=report.pool_size_after,
        orphaned_count=report.orphaned_count,
        orphaned_ids=list(report.orphaned_ids),
        adopted_count=report.adopted_count,
    )


def allocation_to_proto(found: Allocation) -> pb.SegmentAllocation:
    """Returns the message form of an allocated id."""
    message = pb.SegmentAllocation(
        network_type=found.network_type,
        physical_network=found.physical_network,
        segmentation_id=found.segmentation_id,
        segment_id=found.segment_id,
        network_id=found.network_id,
        segment_range_id=found.segment_range_id,
    )
    _stamp(message.allocate_time, found.allocated_at)
    return message


def _stamp(field: timestamp_pb2.Timestamp, when: datetime | None) -> None:
    stamp = convert.timestamp(when)
    if stamp is not None:
        field.CopyFrom(stamp)
