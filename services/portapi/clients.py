"""Typed clients of the services portapi depends on: typemgr's SegmentService and mechmgr's
MechanismManagerService.

Each client wraps one long-lived channel created by the composition root, calls with a deadline
and never waits for a peer that is down. A failed call raises the ServiceError it carried
(``errors.from_rpc_error``), so typemgr's INVALID_ARGUMENT reaches portapi's caller with the same
code, reason, message and field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import grpc
from ml2.v1 import (
    mechanism_manager_service_pb2_grpc,
    segment_service_pb2,
    segment_service_pb2_grpc,
)

from ml2_contract import convert as contract
from ml2_contract import values
from services.portapi import convert
from services.portapi import resources as r
from services.rpc import channels, errors


def open_channel(address: str) -> grpc.Channel:
    """Returns the long-lived channel to ``address``; created once per peer per process."""
    return channels.make_channel(address)


class SegmentAllocator(Protocol):
    """What portapi needs from typemgr."""

    def create_network_segments(
        self, network_id: str, project_id: str, specs: Sequence[values.SegmentSpec]
    ) -> tuple[tuple[values.Segment, ...], int]:
        """Creates (or returns the existing) static segments of a network and its MTU."""
        ...

    def release_network_segments(self, network_id: str) -> None:
        """Releases every segment of a network; a network typemgr does not know is released."""
        ...


class HoldSyncer(Protocol):
    """What portapi tells typemgr about the dynamic segments a port's binding uses."""

    def sync_dynamic_segment_holds(
        self, holder: str, segment_ids: Sequence[str], generation: int
    ) -> None:
        """Makes ``segment_ids`` exactly the dynamic segments ``holder`` (a port id) uses, as of
        binding ``generation`` (0: unconditionally). Raises ServiceError when typemgr cannot
        be reached or refuses."""
        ...


class BindingResolver(Protocol):
    """What portapi needs from mechmgr."""

    def resolve(self, ticket: r.BindTicket) -> values.BindingResult:
        """Returns the BOUND or FAILED result for the ticket's inputs; raises ServiceError when
        mechmgr cannot be asked (Unavailable) or refuses the request."""
        ...


class SegmentClient:
    """SegmentAllocator over gRPC."""

    def __init__(self, channel: grpc.Channel, timeout: float, peer: str = "typemgr") -> None:
        self._stub = segment_service_pb2_grpc.SegmentServiceStub(channel)
        self._timeout = timeout
        self._peer = peer

    def create_network_segments(
        self, network_id: str, project_id: str, specs: Sequence[values.SegmentSpec]
    ) -> tuple[tuple[values.Segment, ...], int]:
        request = segment_service_pb2.CreateNetworkSegmentsRequest(
            network_id=network_id,
            project_id=project_id,
            segments=[contract.spec_to_proto(s) for s in specs],
        )
        try:
            reply = self._stub.CreateNetworkSegments(request, timeout=self._timeout)
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err, peer=self._peer) from None
        return tuple(contract.segment_from_proto(s) for s in reply.segments), reply.mtu

    def release_network_segments(self, network_id: str) -> None:
        request = segment_service_pb2.ReleaseNetworkSegmentsRequest(network_id=network_id)
        try:
            self._stub.ReleaseNetworkSegments(request, timeout=self._timeout)
        except grpc.RpcError as err:
            exc = errors.from_rpc_error(err, peer=self._peer)
            if not isinstance(exc, errors.NotFound):
                raise exc from None

    def sync_dynamic_segment_holds(
        self, holder: str, segment_ids: Sequence[str], generation: int
    ) -> None:
        request = segment_service_pb2.SyncDynamicSegmentHoldsRequest(
            holder=holder, segment_ids=list(segment_ids), generation=generation
        )
        try:
            self._stub.SyncDynamicSegmentHolds(request, timeout=self._timeout)
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err, peer=self._peer) from None


class MechanismManagerClient:
    """BindingResolver over gRPC."""

    def __init__(self, channel: grpc.Channel, timeout: float, peer: str = "mechmgr") -> None:
        self._stub = mechanism_manager_service_pb2_grpc.MechanismManagerServiceStub(channel)
        self._timeout = timeout
        self._peer = peer

    def resolve(self, ticket: r.BindTicket) -> values.BindingResult:
        try:
            request = convert.resolve_request(ticket)
            reply = self._stub.ResolveBinding(request, timeout=self._timeout)
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err, peer=self._peer) from None
        try:
            return contract.binding_result_from_proto(reply)
        except contract.StructError as exc:
            raise errors.ServiceError(
                f"{self._peer} answered a malformed binding: {exc}", reason="MALFORMED_RESPONSE"
            ) from None
