"""Translation between the driver contract's values and ``ml2.v1`` messages.

Used on both sides of ``MechanismDriverService``: by ``serve.py`` in driver processes and by the
manager's ``driver_client.py``, so both read and write the wire the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from ml2.v1 import agent_pb2, binding_pb2, mechanism_driver_service_pb2, segment_pb2

from services.mechmgr.drivers import base, context, portbindings
from services.rpc import structs


def vnic_type_name(value: int) -> str:
    """Returns the vnic type spelling (``normal``) of a ``VnicType`` enum value.

    Raises ValueError for a value the contract does not define.
    """
    if value == binding_pb2.VNIC_TYPE_UNSPECIFIED:
        return portbindings.VNIC_NORMAL
    if 1 <= value <= len(portbindings.VNIC_TYPES):
        return portbindings.VNIC_TYPES[value - 1]
    raise ValueError(f"unknown vnic type {value}")


def vnic_type_value(name: str) -> int:
    """Returns the ``VnicType`` enum value of a vnic type spelling. Raises ValueError."""
    return portbindings.VNIC_TYPES.index(name) + 1


def dict_to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    """Returns a dict as a Struct."""
    result = struct_pb2.Struct()
    if value:
        result.update(dict(value))
    return result


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """Returns a Timestamp for an aware or naive-UTC datetime, None for None."""
    if value is None:
        return None
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(value if value.tzinfo is None else value.astimezone(dt.UTC))
    return result


def segment_from_proto(msg: segment_pb2.Segment) -> context.Segment:
    """Returns the Segment a message carries."""
    return context.Segment(
        id=msg.id,
        network_type=msg.network_type,
        physical_network=msg.physical_network,
        segmentation_id=msg.segmentation_id,
        network_id=msg.network_id,
        mtu=msg.mtu,
        is_dynamic=msg.is_dynamic,
        segment_index=msg.segment_index,
    )


def segment_to_proto(seg: context.Segment) -> segment_pb2.Segment:
    """Returns the message of a Segment."""
    return segment_pb2.Segment(
        id=seg.id,
        network_id=seg.network_id,
        network_type=seg.network_type,
        physical_network=seg.physical_network,
        segmentation_id=seg.segmentation_id,
        mtu=seg.mtu,
        is_dynamic=seg.is_dynamic,
        segment_index=seg.segment_index,
    )


def spec_from_proto(msg: segment_pb2.SegmentSpec) -> context.SegmentSpec:
    """Returns the SegmentSpec a message carries."""
    return context.SegmentSpec(
        network_type=msg.network_type,
        physical_network=msg.physical_network,
        segmentation_id=msg.segmentation_id if msg.HasField("segmentation_id") else None,
    )


def spec_to_proto(spec: context.SegmentSpec) -> segment_pb2.SegmentSpec:
    """Returns the message of a SegmentSpec."""
    msg = segment_pb2.SegmentSpec(
        network_type=spec.network_type, physical_network=spec.physical_network
    )
    if spec.segmentation_id is not None:
        msg.segmentation_id = spec.segmentation_id
    return msg


def capabilities_from_proto(msg: agent_pb2.HostCapabilities) -> context.HostCapabilities:
    """Returns the HostCapabilities a message carries."""
    return context.HostCapabilities(
        bridge_mappings=dict(msg.bridge_mappings),
        interface_mappings=dict(msg.interface_mappings),
        tunnel_types=tuple(msg.tunnel_types),
        local_ip=msg.local_ip,
        integration_bridge=msg.integration_bridge,
        datapath_type=msg.datapath_type,
        ovs_hybrid_plug=msg.ovs_hybrid_plug,
        port_filter=msg.port_filter,
        iface_types=tuple(msg.iface_types),
        vhostuser_socket_dir=msg.vhostuser_socket_dir,
    )


def capabilities_to_proto(caps: context.HostCapabilities) -> agent_pb2.HostCapabilities:
    """Returns the message of HostCapabilities."""
    return agent_pb2.HostCapabilities(
        bridge_mappings=dict(caps.bridge_mappings),
        interface_mappings=dict(caps.interface_mappings),
        tunnel_types=list(caps.tunnel_types),
        local_ip=caps.local_ip,
        integration_bridge=caps.integration_bridge,
        datapath_type=caps.datapath_type,
        ovs_hybrid_plug=caps.ovs_hybrid_plug,
        port_filter=caps.port_filter,
        iface_types=list(caps.iface_types),
        vhostuser_socket_dir=caps.vhostuser_socket_dir,
    )


def agent_from_proto(msg: agent_pb2.Agent) -> context.Agent:
    """Returns the Agent a message carries, liveness included."""
    return context.Agent(
        id=msg.id,
        agent_type=msg.agent_type,
        host=msg.host,
        binary=msg.binary,
        capabilities=capabilities_from_proto(msg.capabilities),
        admin_state_up=msg.admin_state_up,
        alive=msg.alive,
        heartbeat_at=(
            msg.heartbeat_time.ToDatetime(dt.UTC) if msg.HasField("heartbeat_time") else None
        ),
        created_at=msg.create_time.ToDatetime(dt.UTC) if msg.HasField("create_time") else None,
    )


def agent_to_proto(agent: context.Agent) -> agent_pb2.Agent:
    """Returns the message of an Agent, liveness included."""
    return agent_pb2.Agent(
        id=agent.id,
        agent_type=agent.agent_type,
        host=agent.host,
        binary=agent.binary,
        capabilities=capabilities_to_proto(agent.capabilities),
        admin_state_up=agent.admin_state_up,
        alive=agent.alive,
        heartbeat_time=timestamp(agent.heartbeat_at),
        create_time=timestamp(agent.created_at),
    )


def level_to_proto(level: context.BindingLevel) -> binding_pb2.BindingLevel:
    """Returns the message of a BindingLevel."""
    return binding_pb2.BindingLevel(
        level=level.level, driver=level.driver, segment=segment_to_proto(level.segment)
    )


def level_from_proto(msg: binding_pb2.BindingLevel) -> context.BindingLevel:
    """Returns the BindingLevel a message carries."""
    return context.BindingLevel(msg.level, msg.driver, segment_from_proto(msg.segment))


def context_to_proto(
    ctx: context.BindingContext,
    agents: list[agent_pb2.Agent] | None = None,
) -> mechanism_driver_service_pb2.ProposeBindingRequest:
    """Returns the ProposeBindingRequest for ``ctx``; ``agents`` may pass the host agents'
    messages already built (the manager builds them once per resolution)."""
    down_time = duration_pb2.Duration()
    down_time.FromNanoseconds(int(ctx.agent_down_time * 1e9))
    return mechanism_driver_service_pb2.ProposeBindingRequest(
        port_id=ctx.port_id,
        network_id=ctx.network_id,
        host=ctx.host,
        vnic_type=vnic_type_value(ctx.vnic_type),  # type: ignore[arg-type]
        profile=dict_to_struct(ctx.profile),
        level=ctx.level,
        segments_to_bind=[segment_to_proto(s) for s in ctx.segments_to_bind],
        bound_levels=[level_to_proto(lvl) for lvl in ctx.bound_levels],
        host_agents=agents if agents is not None else [agent_to_proto(a) for a in ctx.host_agents],
        agent_down_time=down_time,
    )


def context_from_proto(
    msg: mechanism_driver_service_pb2.ProposeBindingRequest,
) -> context.BindingContext:
    """Returns the BindingContext a ProposeBindingRequest carries. Raises ValueError for an
    unknown vnic type, InvalidArgument for a profile ``structs.to_dict`` refuses."""
    return context.BindingContext(
        port_id=msg.port_id,
        network_id=msg.network_id,
        host=msg.host,
        level=msg.level,
        segments_to_bind=tuple(segment_from_proto(s) for s in msg.segments_to_bind),
        vnic_type=vnic_type_name(msg.vnic_type),
        profile=structs.to_dict("profile", msg.profile),
        bound_levels=tuple(level_from_proto(lvl) for lvl in msg.bound_levels),
        host_agents=tuple(agent_from_proto(a) for a in msg.host_agents),
        agent_down_time=msg.agent_down_time.ToNanoseconds() / 1e9,
    )


def reason_to_proto(reason: base.DeclineReason) -> binding_pb2.DeclineReason:
    """Returns the message of a DeclineReason."""
    return binding_pb2.DeclineReason(
        code=reason.code,
        message=reason.message,
        segment_id=reason.segment_id,
        details=dict(reason.details),
    )


def reason_from_proto(msg: binding_pb2.DeclineReason) -> base.DeclineReason:
    """Returns the DeclineReason a message carries."""
    return base.DeclineReason(msg.code, msg.message, msg.segment_id, dict(msg.details))


def proposal_to_proto(
    proposal: base.Proposal,
) -> mechanism_driver_service_pb2.ProposeBindingResponse:
    """Returns the ProposeBindingResponse of a proposal."""
    pb = mechanism_driver_service_pb2
    if isinstance(proposal, base.Complete):
        return pb.ProposeBindingResponse(
            complete=pb.CompleteBinding(
                segment_id=proposal.segment_id,
                vif_type=proposal.vif_type,
                vif_details=dict_to_struct(proposal.vif_details),
            )
        )
    if isinstance(proposal, base.Continue):
        return pb.ProposeBindingResponse(
            continued=pb.ContinueBinding(
                segment_id=proposal.segment_id,
                next_segments=[segment_to_proto(s) for s in proposal.next_segments],
                dynamic_segments=[spec_to_proto(s) for s in proposal.dynamic_segments],
            )
        )
    return pb.ProposeBindingResponse(
        declined=pb.DeclineBinding(reasons=[reason_to_proto(r) for r in proposal.reasons])
    )


def proposal_from_proto(
    msg: mechanism_driver_service_pb2.ProposeBindingResponse,
) -> base.Proposal | None:
    """Returns the proposal a response carries, or None if it carries none."""
    kind = msg.WhichOneof("outcome")
    if kind == "complete":
        return base.Complete(
            msg.complete.segment_id,
            msg.complete.vif_type,
            structs.to_dict("complete.vif_details", msg.complete.vif_details),
        )
    if kind == "continued":
        return base.Continue(
            msg.continued.segment_id,
            tuple(segment_from_proto(s) for s in msg.continued.next_segments),
            tuple(spec_from_proto(s) for s in msg.continued.dynamic_segments),
        )
    if kind == "declined":
        return base.Decline(tuple(reason_from_proto(r) for r in msg.declined.reasons))
    return None


def description_to_proto(
    desc: base.DriverDescription,
) -> mechanism_driver_service_pb2.DescribeDriverResponse:
    """Returns the DescribeDriverResponse of a driver description."""
    return mechanism_driver_service_pb2.DescribeDriverResponse(
        name=desc.name,
        supported_vnic_types=[vnic_type_value(v) for v in desc.supported_vnic_types],  # type: ignore[misc]
        supported_network_types=list(desc.supported_network_types),
        agent_type=desc.agent_type,
        connectivity=desc.connectivity,
        vif_types=list(desc.vif_types),
    )


def description_from_proto(
    msg: mechanism_driver_service_pb2.DescribeDriverResponse,
) -> base.DriverDescription:
    """Returns the driver description a DescribeDriverResponse carries (unknown vnic types are
    left out)."""
    vnics = tuple(
        portbindings.VNIC_TYPES[v - 1]
        for v in msg.supported_vnic_types
        if 1 <= v <= len(portbindings.VNIC_TYPES)
    )
    return base.DriverDescription(
        name=msg.name,
        supported_vnic_types=vnics,
        supported_network_types=tuple(msg.supported_network_types),
        agent_type=msg.agent_type,
        connectivity=msg.connectivity,
        vif_types=tuple(msg.vif_types),
    )
