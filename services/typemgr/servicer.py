"""SegmentService: checks the request's fields, turns messages into domain values and back.

Nothing here decides anything about segments; that is ``segment_manager``'s job. Errors are
raised, never passed to ``context.abort`` (the server's interceptor maps them).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import grpc
from ml2.v1 import segment_pb2, segment_service_pb2, segment_service_pb2_grpc
from ml2_contract import convert
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.rpc import paging
from services.typemgr.holds import HoldManager
from services.typemgr.segment_manager import SegmentManager

MAX_SEGMENTS = 64
"""The most static segments one network may be created with."""
MAX_PROJECT_ID_LENGTH = 255
MAX_HOLDER_LENGTH = 255
LIST_HOLDS = paging.Listing("ml2.v1.SegmentService/ListDynamicSegmentHolds", (str, str))
"""Page tokens of ListDynamicSegmentHolds: the (segment_id, holder) of a page's last hold."""


class SegmentServicer(segment_service_pb2_grpc.SegmentServiceServicer):
    """Serves ml2.v1.SegmentService from a SegmentManager."""

    def __init__(self, manager: SegmentManager, holds: HoldManager) -> None:
        self.manager = manager
        self.holds = holds

    def CreateNetworkSegments(
        self,
        request: segment_service_pb2.CreateNetworkSegmentsRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.CreateNetworkSegmentsResponse:
        network_id = parse_uuid(request.network_id, "network_id")
        if len(request.project_id) > MAX_PROJECT_ID_LENGTH:
            raise InvalidArgument(
                "project_id", f"must be at most {MAX_PROJECT_ID_LENGTH} characters"
            )
        if len(request.segments) > MAX_SEGMENTS:
            raise InvalidArgument(
                "segments", f"at most {MAX_SEGMENTS} segments, got {len(request.segments)}"
            )
        specs = [requested_spec(s) for s in request.segments]
        created = self.manager.create_network_segments(network_id, specs, request.project_id)
        return segment_service_pb2.CreateNetworkSegmentsResponse(
            segments=[convert.segment_to_proto(s) for s in created],
            mtu=self.manager.types.network_mtu(created),
        )

    def ListNetworkSegments(
        self, request: segment_service_pb2.ListNetworkSegmentsRequest, context: grpc.ServicerContext
    ) -> segment_service_pb2.ListNetworkSegmentsResponse:
        network_id = parse_uuid(request.network_id, "network_id")
        found = self.manager.list_network_segments(network_id, request.include_dynamic)
        return segment_service_pb2.ListNetworkSegmentsResponse(
            segments=[convert.segment_to_proto(s) for s in found],
            mtu=self.manager.types.network_mtu([s for s in found if not s.is_dynamic]),
        )

    def ReleaseNetworkSegments(
        self,
        request: segment_service_pb2.ReleaseNetworkSegmentsRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.ReleaseNetworkSegmentsResponse:
        network_id = parse_uuid(request.network_id, "network_id")
        released = self.manager.release_network_segments(network_id)
        return segment_service_pb2.ReleaseNetworkSegmentsResponse(
            segments=[convert.segment_to_proto(s) for s in released]
        )

    def AllocateDynamicSegment(
        self,
        request: segment_service_pb2.AllocateDynamicSegmentRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.AllocateDynamicSegmentResponse:
        network_id = parse_uuid(request.network_id, "network_id")
        if not request.HasField("segment"):
            raise InvalidArgument("segment", "is required")
        holder = check_holder(request.holder, required=False)
        generation = check_generation("holder_generation", request.holder_generation)
        if generation and not holder:
            raise InvalidArgument("holder_generation", "needs a holder")
        segment = self.manager.allocate_dynamic_segment(
            network_id, requested_spec(request.segment), holder, generation
        )
        return segment_service_pb2.AllocateDynamicSegmentResponse(
            segment=convert.segment_to_proto(segment)
        )

    def ReleaseDynamicSegment(
        self,
        request: segment_service_pb2.ReleaseDynamicSegmentRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.ReleaseDynamicSegmentResponse:
        segment_id = parse_uuid(request.segment_id, "segment_id")
        segment = self.manager.release_dynamic_segment(segment_id)
        return segment_service_pb2.ReleaseDynamicSegmentResponse(
            segment=convert.segment_to_proto(segment)
        )

    def SyncDynamicSegmentHolds(
        self,
        request: segment_service_pb2.SyncDynamicSegmentHoldsRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.SyncDynamicSegmentHoldsResponse:
        holder = check_holder(request.holder, required=True)
        if len(request.segment_ids) > MAX_SEGMENTS:
            raise InvalidArgument(
                "segment_ids", f"at most {MAX_SEGMENTS} ids, got {len(request.segment_ids)}"
            )
        ids = [parse_uuid(v, f"segment_ids[{i}]") for i, v in enumerate(request.segment_ids)]
        generation = check_generation("generation", request.generation)
        result = self.holds.sync(holder, ids, generation)
        return segment_service_pb2.SyncDynamicSegmentHoldsResponse(
            held_segment_ids=list(result.held),
            released_segments=[convert.segment_to_proto(s) for s in result.released],
            not_held_segment_ids=list(result.not_held),
            stale=result.stale,
        )

    def ListDynamicSegmentHolds(
        self,
        request: segment_service_pb2.ListDynamicSegmentHoldsRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.ListDynamicSegmentHoldsResponse:
        segment_id = request.segment_id and parse_uuid(request.segment_id, "segment_id")
        holder = check_holder(request.holder, required=False)
        if not segment_id and not holder:
            raise InvalidArgument("segment_id", "segment_id or holder is required")
        filters = {"segment_id": segment_id, "holder": holder}
        position = LIST_HOLDS.decode(request.page_token, filters)
        size = LIST_HOLDS.size(request.page_size)
        after = None if position is None else (str(position[0]), str(position[1]))
        found = self.holds.list(segment_id, holder, after, size + 1)
        page, token = LIST_HOLDS.page(found, size, lambda h: (h.segment_id, h.holder), filters)
        return segment_service_pb2.ListDynamicSegmentHoldsResponse(
            holds=[
                segment_pb2.DynamicSegmentHold(
                    segment_id=h.segment_id, holder=h.holder, generation=h.generation
                )
                for h in page
            ],
            next_page_token=token,
        )

    def UpdateSegmentationId(
        self,
        request: segment_service_pb2.UpdateSegmentationIdRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.UpdateSegmentationIdResponse:
        segment_id = parse_uuid(request.segment_id, "segment_id")
        if not request.HasField("segmentation_id"):
            raise InvalidArgument("segmentation_id", "is required")
        segment = self.manager.update_segmentation_id(segment_id, request.segmentation_id)
        return segment_service_pb2.UpdateSegmentationIdResponse(
            segment=convert.segment_to_proto(segment)
        )

    def AddStaticSegment(
        self,
        request: segment_service_pb2.AddStaticSegmentRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.AddStaticSegmentResponse:
        network_id = parse_uuid(request.network_id, "network_id")
        segment_id = parse_uuid(request.segment_id, "segment_id")
        if len(request.project_id) > MAX_PROJECT_ID_LENGTH:
            raise InvalidArgument(
                "project_id", f"must be at most {MAX_PROJECT_ID_LENGTH} characters"
            )
        if not request.HasField("segment"):
            raise InvalidArgument("segment", "is required")
        added, after = self.manager.add_static_segment(
            network_id,
            segment_id,
            requested_spec(request.segment),
            request.project_id,
            request.minimum_mtu,
        )
        return segment_service_pb2.AddStaticSegmentResponse(
            segment=convert.segment_to_proto(added),
            segments=[convert.segment_to_proto(s) for s in after],
            mtu=self.manager.types.network_mtu(after),
        )

    def RemoveStaticSegment(
        self,
        request: segment_service_pb2.RemoveStaticSegmentRequest,
        context: grpc.ServicerContext,
    ) -> segment_service_pb2.RemoveStaticSegmentResponse:
        network_id = parse_uuid(request.network_id, "network_id")
        segment_id = parse_uuid(request.segment_id, "segment_id")
        removed, after = self.manager.remove_static_segment(network_id, segment_id)
        return segment_service_pb2.RemoveStaticSegmentResponse(
            segment=convert.segment_to_proto(removed) if removed is not None else None,
            segments=[convert.segment_to_proto(s) for s in after],
            mtu=self.manager.types.network_mtu(after),
        )

    def ValidateSegment(
        self, request: segment_service_pb2.ValidateSegmentRequest, context: grpc.ServicerContext
    ) -> segment_service_pb2.ValidateSegmentResponse:
        if not request.HasField("segment"):
            raise InvalidArgument("segment", "is required")
        mtu = self.manager.validate_segment(requested_spec(request.segment))
        return segment_service_pb2.ValidateSegmentResponse(mtu=mtu)


def check_holder(value: str, *, required: bool) -> str:
    """Returns the holder; raises InvalidArgument on ``holder`` if it is missing (when
    required) or too long."""
    if required and not value:
        raise InvalidArgument("holder", "is required")
    if len(value) > MAX_HOLDER_LENGTH:
        raise InvalidArgument("holder", f"must be at most {MAX_HOLDER_LENGTH} characters")
    return value


def check_generation(field: str, value: int) -> int:
    """Returns a holder generation; raises InvalidArgument on ``field`` if it is negative."""
    if value < 0:
        raise InvalidArgument(field, f"must not be negative, got {value}")
    return value


def parse_uuid(value: str, field: str) -> str:
    """Returns ``value`` in canonical UUID form; raises InvalidArgument naming ``field`` if it is
    empty or not a UUID."""
    if not value:
        raise InvalidArgument(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, f"must be a UUID, got {value[:64]!r}") from None


def requested_spec(message: segment_pb2.SegmentSpec) -> SegmentSpec:
    """Returns the spec a request carries (unset id → None), its names stripped of surrounding
    spaces."""
    spec = convert.spec_from_proto(message)
    return replace(
        spec,
        network_type=spec.network_type.strip(),
        physical_network=spec.physical_network.strip(),
    )
