"""MechanismManagerService: proto <-> domain translation and validation only."""

from __future__ import annotations

import time

import grpc
from google.protobuf import duration_pb2
from ml2.v1 import binding_pb2
from ml2.v1 import mechanism_manager_service_pb2 as pb
from ml2.v1 import mechanism_manager_service_pb2_grpc as pb_grpc

from services.mechmgr import driver_client, manager, resolver, validation
from services.mechmgr.drivers import codec

_OUTCOMES = {
    resolver.COMPLETE: binding_pb2.OUTCOME_COMPLETE,
    resolver.CONTINUE: binding_pb2.OUTCOME_CONTINUE,
    resolver.DECLINE: binding_pb2.OUTCOME_DECLINE,
}


class MechanismManagerServicer(pb_grpc.MechanismManagerServiceServicer):
    """Serves ResolveBinding and ListMechanismDrivers."""

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
        return result_to_proto(self._manager.resolve(binding_request, deadline))

    def ListMechanismDrivers(
        self, request: pb.ListMechanismDriversRequest, context: grpc.ServicerContext
    ) -> pb.ListMechanismDriversResponse:
        """Lists the configured drivers in binding order, each asked to describe itself."""
        infos = self._manager.describe_drivers(self._describe_timeout)
        return pb.ListMechanismDriversResponse(drivers=[driver_info_to_proto(i) for i in infos])


def result_to_proto(result: resolver.BindingResult) -> pb.ResolveBindingResponse:
    """Returns the ResolveBindingResponse of a resolution."""
    return pb.ResolveBindingResponse(
        state=binding_pb2.BINDING_STATE_BOUND if result.bound else binding_pb2.BINDING_STATE_FAILED,
        vif_type=result.vif_type,
        vif_details=codec.dict_to_struct(result.vif_details),
        levels=[codec.level_to_proto(lvl) for lvl in result.levels],
        trace=[verdict_to_proto(v) for v in result.trace],
        failure_message=result.failure_message,
    )


def verdict_to_proto(verdict: resolver.Verdict) -> binding_pb2.DriverVerdict:
    """Returns the DriverVerdict message of a verdict."""
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(verdict.duration * 1e9))
    return binding_pb2.DriverVerdict(
        level=verdict.level,
        driver=verdict.driver,
        outcome=_OUTCOMES[verdict.outcome],
        segment_id=verdict.segment_id,
        reasons=[codec.reason_to_proto(r) for r in verdict.reasons],
        duration=duration,
    )


def driver_info_to_proto(info: driver_client.DriverInfo) -> pb.MechanismDriverInfo:
    """Returns the MechanismDriverInfo message of a configured driver."""
    msg = pb.MechanismDriverInfo(
        name=info.name,
        address=info.address,
        reachable=info.description is not None,
        error=info.error,
    )
    desc = info.description
    if desc is not None:
        msg.supported_network_types.extend(desc.supported_network_types)
        msg.agent_type = desc.agent_type
        msg.vif_types.extend(desc.vif_types)
        msg.supported_vnic_types.extend(codec.vnic_type_value(v) for v in desc.supported_vnic_types)  # type: ignore[misc]
        msg.connectivity = desc.connectivity
    return msg
