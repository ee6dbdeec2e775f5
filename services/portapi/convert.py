"""Translation between generated protobuf messages and portapi's typed values.

Only this module, the clients and the servicers import ``ml2.v1``; the rest of portapi works with
``resources``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from google.protobuf import struct_pb2
from ml2.v1 import (
    binding_pb2,
    mechanism_manager_service_pb2,
    network_pb2,
    port_pb2,
    segment_pb2,
)

from services.portapi import resources as r
from services.rpc import errors, structs

VNIC_TYPES: dict[binding_pb2.VnicType, str] = {
    binding_pb2.VNIC_TYPE_NORMAL: "normal",
    binding_pb2.VNIC_TYPE_DIRECT: "direct",
    binding_pb2.VNIC_TYPE_MACVTAP: "macvtap",
    binding_pb2.VNIC_TYPE_BAREMETAL: "baremetal",
    binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL: "direct-physical",
    binding_pb2.VNIC_TYPE_VIRTIO_FORWARDER: "virtio-forwarder",
    binding_pb2.VNIC_TYPE_SMART_NIC: "smart-nic",
    binding_pb2.VNIC_TYPE_VDPA: "vdpa",
    binding_pb2.VNIC_TYPE_ACCELERATOR_DIRECT: "accelerator-direct",
    binding_pb2.VNIC_TYPE_ACCELERATOR_DIRECT_PHYSICAL: "accelerator-direct-physical",
    binding_pb2.VNIC_TYPE_REMOTE_MANAGED: "remote-managed",
}
"""Proto enum values to Neutron's vnic type strings, as stored."""
VNIC_ENUMS: dict[str, binding_pb2.VnicType] = {name: value for value, name in VNIC_TYPES.items()}

_STATES = {
    r.UNBOUND: binding_pb2.BINDING_STATE_UNBOUND,
    r.BOUND: binding_pb2.BINDING_STATE_BOUND,
    r.FAILED: binding_pb2.BINDING_STATE_FAILED,
}
_STATE_NAMES = {value: name for name, value in _STATES.items()}
_OUTCOMES = {
    "COMPLETE": binding_pb2.OUTCOME_COMPLETE,
    "CONTINUE": binding_pb2.OUTCOME_CONTINUE,
    "DECLINE": binding_pb2.OUTCOME_DECLINE,
}
_OUTCOME_NAMES = {value: name for name, value in _OUTCOMES.items()}
_PORT_STATUSES = {
    r.PORT_DOWN: port_pb2.PORT_STATUS_DOWN,
    r.PORT_BUILD: port_pb2.PORT_STATUS_BUILD,
    r.PORT_ACTIVE: port_pb2.PORT_STATUS_ACTIVE,
    r.PORT_ERROR: port_pb2.PORT_STATUS_ERROR,
}


# ------------------------------------------------------------------------------ proto -> domain


def vnic_type(field: str, value: int) -> str:
    """Returns the vnic type string of an enum value (UNSPECIFIED is normal); raises
    InvalidArgument naming ``field`` for a value this server does not know."""
    if value == binding_pb2.VNIC_TYPE_UNSPECIFIED:
        return r.VNIC_NORMAL
    try:
        return VNIC_TYPES[cast("binding_pb2.VnicType", value)]
    except KeyError:
        raise errors.InvalidArgument(field, f"unknown vnic type {value}") from None


def segment(msg: segment_pb2.Segment) -> r.Segment:
    """Returns the domain segment of a Segment message."""
    return r.Segment(
        id=msg.id,
        network_id=msg.network_id,
        network_type=msg.network_type,
        physical_network=msg.physical_network,
        segmentation_id=msg.segmentation_id,
        mtu=msg.mtu,
        is_dynamic=msg.is_dynamic,
        segment_index=msg.segment_index,
    )


def segment_spec(msg: segment_pb2.SegmentSpec) -> r.SegmentSpec:
    """Returns the domain spec of a SegmentSpec message."""
    return r.SegmentSpec(
        network_type=msg.network_type,
        physical_network=msg.physical_network,
        segmentation_id=msg.segmentation_id if msg.HasField("segmentation_id") else None,
    )


def binding_result(msg: mechanism_manager_service_pb2.ResolveBindingResponse) -> r.BindingResult:
    """Returns the domain result of a ResolveBinding response. Raises InvalidArgument naming
    ``vif_details`` if mechmgr sent vif_details ``structs.to_dict`` refuses."""
    state = _STATE_NAMES.get(msg.state, r.FAILED)
    return r.BindingResult(
        state=state,
        vif_type=msg.vif_type or (r.VIF_TYPE_BINDING_FAILED if state == r.FAILED else ""),
        vif_details=structs.to_dict("vif_details", msg.vif_details),
        levels=tuple(
            r.BindingLevel(level.level, level.driver, segment(level.segment))
            for level in msg.levels
        ),
        trace=tuple(_verdict(v) for v in msg.trace),
        failure_message=msg.failure_message,
    )


def _verdict(msg: binding_pb2.DriverVerdict) -> r.Verdict:
    return r.Verdict(
        level=msg.level,
        driver=msg.driver,
        outcome=_OUTCOME_NAMES.get(msg.outcome, "DECLINE"),
        segment_id=msg.segment_id,
        reasons=tuple(
            r.DeclineReason(x.code, x.message, x.segment_id, dict(x.details)) for x in msg.reasons
        ),
        duration=msg.duration.ToNanoseconds() / 1e9,
    )


# ------------------------------------------------------------------------------ domain -> proto


def dict_to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    """Returns a plain dict as a Struct."""
    msg = struct_pb2.Struct()
    msg.update(dict(value))
    return msg


def segment_msg(seg: r.Segment) -> segment_pb2.Segment:
    """Returns the Segment message of a domain segment."""
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


def segment_spec_msg(spec: r.SegmentSpec) -> segment_pb2.SegmentSpec:
    """Returns the SegmentSpec message of a domain spec."""
    msg = segment_pb2.SegmentSpec(
        network_type=spec.network_type, physical_network=spec.physical_network
    )
    if spec.segmentation_id is not None:
        msg.segmentation_id = spec.segmentation_id
    return msg


def resolve_request(
    ticket: r.BindTicket,
) -> mechanism_manager_service_pb2.ResolveBindingRequest:
    """Returns the ResolveBinding request for one generation of a port's inputs."""
    return mechanism_manager_service_pb2.ResolveBindingRequest(
        port_id=ticket.port_id,
        network_id=ticket.network_id,
        host=ticket.inputs.host_id,
        vnic_type=VNIC_ENUMS.get(ticket.inputs.vnic_type, binding_pb2.VNIC_TYPE_NORMAL),
        profile=dict_to_struct(ticket.inputs.profile),
        segments=[segment_msg(s) for s in ticket.segments],
        binding_generation=ticket.generation,
    )


def network_msg(net: r.Network) -> network_pb2.Network:
    """Returns the Network message of a stored network."""
    msg = network_pb2.Network(
        id=net.id,
        name=net.name,
        project_id=net.project_id,
        shared=net.shared,
        admin_state_up=net.admin_state_up,
        segments=[segment_msg(s) for s in net.segments],
        mtu=net.mtu,
    )
    _stamp(msg.create_time, net.create_time)
    return msg


def port_msg(port: r.Port) -> port_pb2.Port:
    """Returns the Port message of a stored port, with its binding, levels and trace."""
    msg = port_pb2.Port(
        id=port.id,
        network_id=port.network_id,
        project_id=port.project_id,
        name=port.name,
        mac_address=port.mac_address,
        device_id=port.device_id,
        device_owner=port.device_owner,
        admin_state_up=port.admin_state_up,
        status=_PORT_STATUSES.get(port.status, port_pb2.PORT_STATUS_UNSPECIFIED),
        binding=binding_msg(port.binding),
    )
    _stamp(msg.create_time, port.create_time)
    _stamp(msg.update_time, port.update_time)
    return msg


def binding_msg(binding: r.Binding) -> binding_pb2.PortBinding:
    """Returns the PortBinding message of a binding."""
    result = binding.result
    return binding_pb2.PortBinding(
        host_id=binding.inputs.host_id,
        vnic_type=VNIC_ENUMS.get(binding.inputs.vnic_type, binding_pb2.VNIC_TYPE_NORMAL),
        profile=dict_to_struct(binding.inputs.profile),
        vif_type=result.vif_type,
        vif_details=dict_to_struct(result.vif_details),
        state=_STATES.get(result.state, binding_pb2.BINDING_STATE_UNSPECIFIED),
        levels=[
            binding_pb2.BindingLevel(
                level=level.level, driver=level.driver, segment=segment_msg(level.segment)
            )
            for level in result.levels
        ],
        trace=[_verdict_msg(v) for v in result.trace],
        failure_message=result.failure_message,
        generation=binding.generation,
    )


def _verdict_msg(verdict: r.Verdict) -> binding_pb2.DriverVerdict:
    msg = binding_pb2.DriverVerdict(
        level=verdict.level,
        driver=verdict.driver,
        outcome=_OUTCOMES.get(verdict.outcome, binding_pb2.OUTCOME_UNSPECIFIED),
        segment_id=verdict.segment_id,
        reasons=[
            binding_pb2.DeclineReason(
                code=x.code, message=x.message, segment_id=x.segment_id, details=dict(x.details)
            )
            for x in verdict.reasons
        ],
    )
    msg.duration.FromNanoseconds(round(verdict.duration * 1e9))
    return msg


def _stamp(field: Any, when: datetime) -> None:
    field.FromDatetime(when)
