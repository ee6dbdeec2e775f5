"""MechanismManagerService: proto <-> domain translation and validation only."""

from __future__ import annotations

import time

import grpc
from ml2.v1 import binding_pb2
from ml2.v1 import mechanism_manager_service_pb2 as pb
from ml2.v1 import mechanism_manager_service_pb2_grpc as pb_grpc

from ml2_contract import convert
from services.mechmgr import breaker, driver_client, manager, resolver, validation

_BREAKER_STATES = {
    breaker.State.CLOSED: pb.BREAKER_STATE_CLOSED,
    breaker.State.OPEN: pb.BREAKER_STATE_OPEN,
    breaker.State.HALF_OPEN: pb.BREAKER_STATE_HALF_OPEN,
}


class MechanismManagerServicer(pb_grpc.MechanismManagerServiceServicer):
    """Serves ResolveBinding, ResolveBindability and ListMechanismDrivers."""

    def __init__(self, mechanisms: manager.MechanismManager, describe_timeout: float) -> None:
        self._manager = mechanisms
        self._describe_timeout = describe_timeout

    def ResolveBinding(
        self, request: pb.ResolveBindingRequest, context: grpc.ServicerContext
    ) -> pb.ResolveBindingResponse:
        """Resolves a binding; a port no driver can bind is a FAILED response, not an error."""
        binding_request = validation.resolve_request(request)
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        return convert.binding_result_to_proto(self._manager.resolve(binding_request, deadline))

    def ResolveBindability(
        self, request: pb.ResolveBindabilityRequest, context: grpc.ServicerContext
    ) -> pb.ResolveBindabilityResponse:
        """Answers whether a port could bind on each host; writes and allocates nothing."""
        requests = validation.bindability_requests(request)
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        answers = self._manager.check(requests, deadline)
        return pb.ResolveBindabilityResponse(hosts=[bindability_to_proto(a) for a in answers])

    def ListMechanismDrivers(
        self, request: pb.ListMechanismDriversRequest, context: grpc.ServicerContext
    ) -> pb.ListMechanismDriversResponse:
        """Lists the configured drivers in binding order, each asked to describe itself."""
        infos = self._manager.describe_drivers(self._describe_timeout)
        return pb.ListMechanismDriversResponse(drivers=[driver_info_to_proto(i) for i in infos])


def bindability_to_proto(answer: resolver.Bindability) -> binding_pb2.HostBindability:
    """Returns the HostBindability message of one host's answer."""
    result = answer.result
    return binding_pb2.HostBindability(
        host_id=answer.host,
        bindable=answer.bindable,
        vif_type=result.vif_type if answer.bindable else "",
        levels=[convert.level_to_proto(lvl) for lvl in result.levels],
        trace=[convert.verdict_to_proto(v) for v in result.trace],
        reason=answer.reason,
        dynamic_segments=[
            binding_pb2.DynamicSegmentNeed(
                level=n.level, driver=n.driver, segment=convert.spec_to_proto(n.spec)
            )
            for n in answer.needs
        ],
    )


def driver_info_to_proto(info: driver_client.DriverInfo) -> pb.MechanismDriverInfo:
    """Returns the MechanismDriverInfo message of a configured driver."""
    msg = pb.MechanismDriverInfo(
        name=info.name,
        address=info.address,
        reachable=info.description is not None,
        error=info.error,
        breaker_state=_BREAKER_STATES[info.breaker.state],
    )
    if info.breaker.state is not breaker.State.CLOSED:
        msg.breaker_open_time.FromNanoseconds(int(info.breaker.opened_at * 1e9))
        msg.breaker_retry_time.FromNanoseconds(int(info.breaker.retry_at * 1e9))
    desc = info.description
    if desc is not None:
        msg.supported_network_types.extend(desc.supported_network_types)
        msg.agent_type = desc.agent_type
        msg.vif_types.extend(desc.vif_types)
        msg.supported_vnic_types.extend(
            convert.vnic_type_value(v) for v in desc.supported_vnic_types
        )
        msg.connectivity = desc.connectivity
    return msg
