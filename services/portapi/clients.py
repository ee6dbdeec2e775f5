"""Typed clients of the services portapi depends on: typemgr's SegmentService and mechmgr's
MechanismManagerService and AgentService.

Each client wraps one long-lived channel created by the composition root, calls with a deadline
and never waits for a peer that is down. The deadline of a call is the configured timeout, cut
to what is left of the caller's deadline when a request runs (``deadline.call_timeout``). A
failed call raises the ServiceError it carried (``errors.from_rpc_error``), so typemgr's
INVALID_ARGUMENT reaches portapi's caller with the same code, reason, message and field; a call
the caller's deadline cut short raises DeadlineExceeded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import grpc
from ml2.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    mechanism_manager_service_pb2,
    mechanism_manager_service_pb2_grpc,
    segment_service_pb2,
    segment_service_pb2_grpc,
)
from ml2_contract import convert as contract
from ml2_contract import values
from ml2_driver_sdk.runtime import errors

from services.portapi import convert, deadline
from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.rpc import channels


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

    def network_mtu(self, network_id: str) -> int:
        """Returns the largest MTU the static segments of a network allow: the smallest of
        their MTUs, else the global physical network MTU (0: unknown)."""
        ...

    def static_segments(self, network_id: str) -> tuple[tuple[values.Segment, ...], int]:
        """Returns the static segments of a network and the largest MTU they allow."""
        ...

    def update_segmentation_id(self, segment_id: str, segmentation_id: int) -> values.Segment:
        """Gives a static segment a new segmentation id (errors name ``segmentation_id``)."""
        ...

    def add_static_segment(
        self,
        network_id: str,
        segment_id: str,
        spec: values.SegmentSpec,
        project_id: str,
        minimum_mtu: int,
    ) -> tuple[tuple[values.Segment, ...], int]:
        """Adds a static segment with that id (again: returns it), refused if its MTU is below
        ``minimum_mtu``; returns the network's static segments and their largest MTU after
        the change."""
        ...

    def remove_static_segment(
        self, network_id: str, segment_id: str
    ) -> tuple[tuple[values.Segment, ...], int]:
        """Removes a static segment (gone already: nothing); returns the network's static
        segments and their largest MTU after the change."""
        ...


class HoldSyncer(Protocol):
    """What portapi tells typemgr about the dynamic segments a port's binding uses."""

    def sync_dynamic_segment_holds(
        self, holder: str, segment_ids: Sequence[str], generation: int
    ) -> Sequence[str] | None:
        """Makes ``segment_ids`` exactly the dynamic segments ``holder`` (a port id) uses, as of
        binding ``generation`` (0: unconditionally); returns the ids of the segments typemgr
        released because their last hold went (None: not said). Raises ServiceError when
        typemgr cannot be reached or refuses."""
        ...


class BindingResolver(Protocol):
    """What portapi needs from mechmgr."""

    def resolve(self, ticket: r.BindTicket) -> values.BindingResult:
        """Returns the BOUND or FAILED result for the ticket's inputs; raises ServiceError when
        mechmgr cannot be asked (Unavailable) or refuses the request."""
        ...


class BindabilityResolver(Protocol):
    """What portapi needs from mechmgr to answer CheckBindable."""

    def check_bindable(
        self,
        network_id: str,
        host_ids: Sequence[str],
        vnic_type: str,
        profile: Mapping[str, Any],
        segments: Sequence[values.Segment],
    ) -> bytes:
        """Returns mechmgr's ResolveBindabilityResponse for the hosts, serialized, as mechmgr
        sent it; raises ServiceError when mechmgr cannot be asked or refuses the request."""
        ...


class MechanismManager(BindingResolver, BindabilityResolver, Protocol):
    """Everything portapi asks of mechmgr's MechanismManagerService."""


class AgentDirectory(Protocol):
    """What portapi needs to know of the L2 agents: which are alive."""

    def agent_liveness(self) -> dict[str, bool]:
        """Returns every registered agent's id and whether it is alive. Raises ServiceError when
        mechmgr cannot be asked."""
        ...


AgentState = values.AgentState
"""What the rebinder needs of one registered agent."""


class AgentStates(Protocol):
    """Every registered agent with its liveness, admin state and revision."""

    def agent_states(self) -> list[AgentState]:
        """Returns every registered agent. Raises ServiceError when mechmgr cannot be asked."""
        ...


class AgentClient:
    """AgentDirectory and AgentStates over mechmgr's AgentService."""

    PAGE_SIZE = 1000

    def __init__(self, channel: grpc.Channel, timeout: float, peer: str = "mechmgr") -> None:
        self._stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        self._timeout = timeout
        self._peer = peer

    def agent_liveness(self) -> dict[str, bool]:
        alive: dict[str, bool] = {}
        token = ""
        while True:
            request = agent_service_pb2.ListAgentsRequest(
                page_size=self.PAGE_SIZE, page_token=token, states_only=True
            )
            reply = call(self._stub.ListAgents, request, self._timeout, self._peer)
            alive.update((agent.id, agent.alive) for agent in reply.agents)
            token = reply.next_page_token
            if not token:
                return alive

    def agent_states(self) -> list[AgentState]:
        found: list[AgentState] = []
        token = ""
        while True:
            request = agent_service_pb2.ListAgentsRequest(
                page_size=self.PAGE_SIZE, page_token=token, states_only=True
            )
            reply = call(self._stub.ListAgents, request, self._timeout, self._peer)
            found.extend(
                AgentState(a.id, a.agent_type, a.host, a.alive, a.admin_state_up, a.revision)
                for a in reply.agents
            )
            token = reply.next_page_token
            if not token:
                return found


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
        reply = call(self._stub.CreateNetworkSegments, request, self._timeout, self._peer)
        return tuple(contract.segment_from_proto(s) for s in reply.segments), reply.mtu

    def release_network_segments(self, network_id: str) -> None:
        request = segment_service_pb2.ReleaseNetworkSegmentsRequest(network_id=network_id)
        with contextlib.suppress(errors.NotFound):
            call(self._stub.ReleaseNetworkSegments, request, self._timeout, self._peer)

    def network_mtu(self, network_id: str) -> int:
        request = segment_service_pb2.ListNetworkSegmentsRequest(network_id=network_id)
        reply = call(self._stub.ListNetworkSegments, request, self._timeout, self._peer)
        return int(reply.mtu)

    def static_segments(self, network_id: str) -> tuple[tuple[values.Segment, ...], int]:
        request = segment_service_pb2.ListNetworkSegmentsRequest(network_id=network_id)
        reply = call(self._stub.ListNetworkSegments, request, self._timeout, self._peer)
        return tuple(contract.segment_from_proto(s) for s in reply.segments), int(reply.mtu)

    def update_segmentation_id(self, segment_id: str, segmentation_id: int) -> values.Segment:
        request = segment_service_pb2.UpdateSegmentationIdRequest(
            segment_id=segment_id, segmentation_id=segmentation_id
        )
        reply = call(self._stub.UpdateSegmentationId, request, self._timeout, self._peer)
        return contract.segment_from_proto(reply.segment)

    def add_static_segment(
        self,
        network_id: str,
        segment_id: str,
        spec: values.SegmentSpec,
        project_id: str,
        minimum_mtu: int,
    ) -> tuple[tuple[values.Segment, ...], int]:
        request = segment_service_pb2.AddStaticSegmentRequest(
            network_id=network_id,
            segment=contract.spec_to_proto(spec),
            segment_id=segment_id,
            project_id=project_id,
            minimum_mtu=minimum_mtu,
        )
        reply = call(self._stub.AddStaticSegment, request, self._timeout, self._peer)
        return tuple(contract.segment_from_proto(s) for s in reply.segments), int(reply.mtu)

    def remove_static_segment(
        self, network_id: str, segment_id: str
    ) -> tuple[tuple[values.Segment, ...], int]:
        request = segment_service_pb2.RemoveStaticSegmentRequest(
            network_id=network_id, segment_id=segment_id
        )
        reply = call(self._stub.RemoveStaticSegment, request, self._timeout, self._peer)
        return tuple(contract.segment_from_proto(s) for s in reply.segments), int(reply.mtu)

    def sync_dynamic_segment_holds(
        self, holder: str, segment_ids: Sequence[str], generation: int
    ) -> Sequence[str] | None:
        request = segment_service_pb2.SyncDynamicSegmentHoldsRequest(
            holder=holder, segment_ids=list(segment_ids), generation=generation
        )
        reply = call(self._stub.SyncDynamicSegmentHolds, request, self._timeout, self._peer)
        return [s.id for s in reply.released_segments]


class MechanismManagerClient:
    """MechanismManager over gRPC."""

    def __init__(self, channel: grpc.Channel, timeout: float, peer: str = "mechmgr") -> None:
        self._stub = mechanism_manager_service_pb2_grpc.MechanismManagerServiceStub(channel)
        # The answer stays serialized: portapi passes it on as it is (see check_bindable).
        self._check: grpc.UnaryUnaryMultiCallable[
            mechanism_manager_service_pb2.ResolveBindabilityRequest, bytes
        ] = channel.unary_unary(
            "/ml2.v1.MechanismManagerService/ResolveBindability",
            request_serializer=mechanism_manager_service_pb2.ResolveBindabilityRequest.SerializeToString,
            response_deserializer=None,
        )
        self._timeout = timeout
        self._peer = peer

    def resolve(self, ticket: r.BindTicket) -> values.BindingResult:
        request = convert.resolve_request(ticket)
        reply = call(self._stub.ResolveBinding, request, self._timeout, self._peer)
        try:
            return contract.binding_result_from_proto(reply)
        except contract.StructError as exc:
            raise errors.ServiceError(
                f"{self._peer} answered a malformed binding: {exc}", reason="MALFORMED_RESPONSE"
            ) from None

    def check_bindable(
        self,
        network_id: str,
        host_ids: Sequence[str],
        vnic_type: str,
        profile: Mapping[str, Any],
        segments: Sequence[values.Segment],
    ) -> bytes:
        request = mechanism_manager_service_pb2.ResolveBindabilityRequest(
            network_id=network_id,
            hosts=list(host_ids),
            vnic_type=contract.vnic_type_value(vnic_type),
            profile=contract.dict_to_struct(profile) if profile else None,
            segments=[contract.segment_to_proto(s) for s in segments],
        )
        answer: bytes = call(self._check, request, self._timeout, self._peer)
        return answer


def call(method: Callable[..., Any], request: Any, configured: float, peer: str) -> Any:
    """Calls a unary ``method`` within ``configured`` seconds or what is left of the caller's
    deadline, whichever is shorter. Raises DeadlineExceeded when the caller's deadline cut the
    call short (or left no time to make it), else the ServiceError the call failed with."""
    timeout, cut = deadline.call_timeout(configured, peer)
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as err:
        code = err.code() if isinstance(err, grpc.Call) else None
        if cut and code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise portapi_errors.DeadlineExceeded(
                f"{peer} did not answer within the {timeout:.3g}s left of the caller's deadline",
                peer,
            ) from None
        raise errors.from_rpc_error(err, peer=peer) from None
