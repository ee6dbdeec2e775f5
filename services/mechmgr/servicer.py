"""MechanismManagerService: proto <-> domain translation and validation only."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from ml2.v1 import agent_pb2, binding_pb2, segment_pb2
from ml2.v1 import mechanism_manager_service_pb2 as pb
from ml2.v1 import mechanism_manager_service_pb2_grpc as pb_grpc
from ml2_contract import convert, values

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

    async def ResolveBinding(
        self, request: pb.ResolveBindingRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ResolveBindingResponse:
        """Resolves a binding; a port no driver can bind is a FAILED response, not an error.

        A coroutine on the asyncio server's event loop, so that a bind crosses no thread:
        ``MechanismManager.resolve_async``. A caller that goes away does not cut the
        resolution short (as a handler in a thread ran to its end): it finishes within its
        deadline, its metrics and log recorded, and its answer is dropped."""
        binding_request = validation.resolve_request(request)
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        resolution = asyncio.ensure_future(self._manager.resolve_async(binding_request, deadline))
        result = await asyncio.shield(resolution)
        return convert.binding_result_to_proto(result)

    def ResolveBindability(  # type: ignore[override]
        self, request: pb.ResolveBindabilityRequest, context: grpc.ServicerContext
    ) -> bytes:
        """Answers whether a port could bind on each host; writes and allocates nothing.
        Returns the ResolveBindabilityResponse serialized: each host's answer is encoded once
        and may come from the cache (``bindability_cache``)."""
        requests = validation.bindability_requests(request)
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        return b"".join(self._manager.check(requests, encode_answers, deadline))

    def ListMechanismDrivers(
        self, request: pb.ListMechanismDriversRequest, context: grpc.ServicerContext
    ) -> pb.ListMechanismDriversResponse:
        """Lists the configured drivers in binding order, each asked to describe itself."""
        infos = self._manager.describe_drivers(self._describe_timeout)
        return pb.ListMechanismDriversResponse(drivers=[driver_info_to_proto(i) for i in infos])


class _Protos:
    """The messages of one check's agents and segments, each built once: thousands of answers
    name the same few segments, and each agent's message was built for the drivers already."""

    def __init__(self, agents: dict[str, agent_pb2.Agent]) -> None:
        self._agents = agents
        self._segments: dict[values.Segment, segment_pb2.Segment] = {}

    def segment(self, seg: values.Segment) -> segment_pb2.Segment:
        found = self._segments.get(seg)
        if found is None:
            found = self._segments[seg] = convert.segment_to_proto(seg)
        return found

    def reason(self, reason: values.DeclineReason) -> binding_pb2.DeclineReason:
        msg = binding_pb2.DeclineReason(
            code=reason.code,
            message=reason.message,
            segment_id=reason.segment_id,
            details=dict(reason.details),
        )
        if reason.agent is not None:
            known = self._agents.get(reason.agent.id)
            msg.agent.CopyFrom(known if known is not None else convert.agent_to_proto(reason.agent))
        if reason.segment is not None:
            msg.segment.CopyFrom(self.segment(reason.segment))
        return msg

    def verdict(self, verdict: values.Verdict) -> binding_pb2.DriverVerdict:
        return binding_pb2.DriverVerdict(
            level=verdict.level,
            driver=verdict.driver,
            outcome=convert.outcome_value(verdict.outcome),
            segment_id=verdict.segment_id,
            reasons=[self.reason(r) for r in verdict.reasons],
            duration=convert.duration(verdict.duration),
            offered_segments=[self.segment(s) for s in verdict.offered_segments],
        )


_HOSTS_TAG = b"\x0a"
"""The tag of ResolveBindabilityResponse.hosts (field 1, length-delimited)."""


def encode_answers(checked: manager.CheckResult) -> list[bytes]:
    """Returns each answer of ``checked`` as one encoded ``hosts`` entry of a
    ResolveBindabilityResponse (tag, length, HostBindability): the response is their
    concatenation."""
    protos = _Protos(checked.agent_messages)
    encoded = []
    for answer in checked.answers:
        data = bindability_to_proto(answer, protos).SerializeToString()
        encoded.append(_HOSTS_TAG + _varint(len(data)) + data)
    return encoded


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def bindability_to_proto(
    answer: resolver.Bindability, protos: _Protos | None = None
) -> binding_pb2.HostBindability:
    """Returns the HostBindability message of one host's answer (``protos`` reuses the
    messages of the check's agents and segments)."""
    protos = protos or _Protos({})
    result = answer.result
    return binding_pb2.HostBindability(
        host_id=answer.host,
        bindable=answer.bindable,
        vif_type=result.vif_type if answer.bindable else "",
        levels=[
            binding_pb2.BindingLevel(
                level=lvl.level, driver=lvl.driver, segment=protos.segment(lvl.segment)
            )
            for lvl in result.levels
        ],
        trace=[protos.verdict(v) for v in result.trace],
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
