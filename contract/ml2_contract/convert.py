"""Conversions between ``ml2_contract.values`` and the generated ``ml2.v1`` messages.

Every service, driver and agent reads and writes the wire through these functions, so that all
of them agree on it. Rules that hold throughout:

- Enums are mapped by their value names (``vocabulary.VNIC_ENUM_NAMES``, ``OUTCOME_<outcome>``,
  ``BINDING_STATE_<state>``), never by their numbers. A number this version of the contract does
  not define raises ``ValueError`` naming it, except where a function says otherwise.
- ``google.protobuf.Struct`` is JSON: see ``struct_to_dict`` (which refuses what JSON cannot
  carry, with a StructError naming the field) and ``dict_to_struct``.
- Times are ``Timestamp`` messages for aware datetimes or naive ones in UTC; they come back as
  aware UTC datetimes. Durations are seconds as floats, exact to the nanosecond.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from ml2.v1 import (
    agent_pb2,
    binding_pb2,
    mechanism_driver_service_pb2,
    mechanism_manager_service_pb2,
    port_pb2,
    segment_pb2,
    topology_pb2,
)
from ml2_contract import values, vocabulary

_VNIC_BY_NUMBER: dict[int, str] = {
    binding_pb2.VnicType.Value(enum_name): name
    for name, enum_name in vocabulary.VNIC_ENUM_NAMES.items()
}
_VNIC_BY_NAME: dict[str, binding_pb2.VnicType] = {
    name: cast("binding_pb2.VnicType", binding_pb2.VnicType.Value(enum_name))
    for name, enum_name in vocabulary.VNIC_ENUM_NAMES.items()
}
_OUTCOME_BY_NAME: dict[str, binding_pb2.Outcome] = {
    name: cast("binding_pb2.Outcome", binding_pb2.Outcome.Value(f"OUTCOME_{name}"))
    for name in vocabulary.OUTCOMES
}
_OUTCOME_BY_NUMBER: dict[int, str] = {number: name for name, number in _OUTCOME_BY_NAME.items()}
_STATE_BY_NAME: dict[str, binding_pb2.BindingState] = {
    name: cast("binding_pb2.BindingState", binding_pb2.BindingState.Value(f"BINDING_STATE_{name}"))
    for name in vocabulary.BINDING_STATES
}
_STATE_BY_NUMBER: dict[int, str] = {number: name for name, number in _STATE_BY_NAME.items()}

ResultMessage = mechanism_manager_service_pb2.ResolveBindingResponse | binding_pb2.PortBinding
"""The messages that carry a binding result in the same fields."""


# ----------------------------------------------------------------------------------- the enums


def port_status_value(status: str) -> port_pb2.PortStatus:
    """Returns the PortStatus of a driver-given status (``""``: UNSPECIFIED); raises ValueError
    for a status a driver may not give (``vocabulary.DRIVER_PORT_STATUSES``)."""
    if status not in vocabulary.DRIVER_PORT_STATUSES:
        raise ValueError(
            f"port status {status!r} is not one a driver may give: "
            f"{', '.join(repr(s) for s in vocabulary.DRIVER_PORT_STATUSES)}"
        )
    if not status:
        return port_pb2.PORT_STATUS_UNSPECIFIED
    return cast("port_pb2.PortStatus", port_pb2.PortStatus.Value(f"PORT_STATUS_{status}"))


def port_status_name(value: int) -> str:
    """Returns the driver-given status of a PortStatus number (UNSPECIFIED: ``""``); raises
    ValueError for any other than UNSPECIFIED and ACTIVE."""
    if value == port_pb2.PORT_STATUS_UNSPECIFIED:
        return ""
    if value == port_pb2.PORT_STATUS_ACTIVE:
        return vocabulary.PORT_STATUS_ACTIVE
    raise ValueError(
        f"port status {value} is not one a driver may give: PORT_STATUS_UNSPECIFIED or "
        "PORT_STATUS_ACTIVE"
    )


def vnic_type_name(value: int) -> str:
    """Returns the vnic type spelling (``normal``) of a ``VnicType`` number; UNSPECIFIED is
    normal. Raises ValueError for a number the contract does not define."""
    if value == binding_pb2.VNIC_TYPE_UNSPECIFIED:
        return vocabulary.VNIC_NORMAL
    try:
        return _VNIC_BY_NUMBER[value]
    except KeyError:
        raise ValueError(f"unknown vnic type {value}") from None


def vnic_type_value(name: str) -> binding_pb2.VnicType:
    """Returns the ``VnicType`` number of a vnic type spelling. Raises ValueError."""
    try:
        return _VNIC_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown vnic type {name!r}") from None


def outcome_value(outcome: str) -> binding_pb2.Outcome:
    """Returns the ``Outcome`` number of ``COMPLETE``, ``CONTINUE`` or ``DECLINE``. Raises
    ValueError for any other string."""
    try:
        return _OUTCOME_BY_NAME[outcome]
    except KeyError:
        raise ValueError(f"unknown outcome {outcome!r}") from None


def outcome_name(value: int) -> str:
    """Returns the outcome of an ``Outcome`` number. Raises ValueError for UNSPECIFIED and for a
    number the contract does not define."""
    try:
        return _OUTCOME_BY_NUMBER[value]
    except KeyError:
        raise ValueError(f"unknown outcome {value}") from None


def state_value(state: str) -> binding_pb2.BindingState:
    """Returns the ``BindingState`` number of ``UNBOUND``, ``BOUND`` or ``FAILED``. Raises
    ValueError for any other string."""
    try:
        return _STATE_BY_NAME[state]
    except KeyError:
        raise ValueError(f"unknown binding state {state!r}") from None


def state_name(value: int) -> str:
    """Returns the binding state of a ``BindingState`` number. Raises ValueError for
    UNSPECIFIED and for a number the contract does not define."""
    try:
        return _STATE_BY_NUMBER[value]
    except KeyError:
        raise ValueError(f"unknown binding state {value}") from None


# ---------------------------------------------------------------------- JSON, times, durations


STRUCT_MAX_DEPTH = 16
"""Most levels of objects and lists in one Struct; the Struct itself is level 1."""
STRUCT_MAX_JSON_CHARS = 4095
"""Most characters of a Struct as compact JSON (sorted keys, no spaces, ASCII escapes): Neutron's
limit of ``binding:profile`` and of the ``vif_details`` column."""


class StructError(ValueError):
    """A Struct JSON cannot carry, or too big. ``field`` is the path of the offending value
    (``profile.a.b``, ``profile.items[2]``) or of the whole Struct; ``str()`` is
    ``<field>: <rule>``."""

    def __init__(self, field: str, rule: str, limit: int | None = None) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
        self.limit = limit


class StructValueNotJson(StructError):
    """A number is NaN or ±Infinity, which JSON has no words for."""


class StructTooDeep(StructError):
    """Objects and lists nest deeper than the limit."""


class StructTooLarge(StructError):
    """The Struct is longer than the limit as compact JSON."""


def struct_to_dict(
    value: struct_pb2.Struct,
    field: str = "struct",
    *,
    max_depth: int = STRUCT_MAX_DEPTH,
    max_chars: int = STRUCT_MAX_JSON_CHARS,
) -> dict[str, Any]:
    """Returns a Struct as a plain dict of JSON values (str, bool, None, float, list, dict).

    A Struct holds every number as a double, so every number comes back as a float: ``1``
    written is ``1.0`` read, which compares equal to ``1``. Booleans stay booleans; a value
    without a kind reads as None. An empty Struct is ``{}``.

    A Struct is JSON on the wire, and protobuf lets it carry what JSON cannot, so this refuses,
    with a StructError naming ``field`` (or the path of the value inside it): a number that is
    NaN or ±Infinity (StructValueNotJson), objects and lists nested more than ``max_depth``
    levels (StructTooDeep), more than ``max_chars`` characters as compact JSON (StructTooLarge).
    """
    if not value.fields:
        return {}
    data = _object(field, value, 1, max_depth, field)
    size = json_chars(data)
    if size > max_chars:
        raise StructTooLarge(
            field, f"must be at most {max_chars} characters as JSON, got {size}", max_chars
        )
    return data


def json_chars(data: Any) -> int:
    """Returns the length of ``data`` as compact JSON (sorted keys), as portapi stores it."""
    return len(json.dumps(data, separators=(",", ":"), sort_keys=True))


def too_deep(field: str, max_depth: int = STRUCT_MAX_DEPTH) -> StructTooDeep:
    """Returns the error for a Struct at ``field`` that nests deeper than ``max_depth``."""
    return StructTooDeep(
        field, f"must nest objects and lists at most {max_depth} levels deep", max_depth
    )


def _object(
    path: str, msg: struct_pb2.Struct, depth: int, max_depth: int, root: str
) -> dict[str, Any]:
    if depth > max_depth:
        raise too_deep(root, max_depth)
    return {
        key: _value(key_path(path, key), item, depth, max_depth, root)
        for key, item in msg.fields.items()
    }


def _value(path: str, msg: struct_pb2.Value, depth: int, max_depth: int, root: str) -> Any:
    kind = msg.WhichOneof("kind")
    if kind == "number_value":
        number = msg.number_value
        if not math.isfinite(number):
            raise StructValueNotJson(
                path, f"must be a finite number (JSON has no NaN or Infinity), got {number}"
            )
        return number
    if kind == "string_value":
        return msg.string_value
    if kind == "bool_value":
        return msg.bool_value
    if kind == "struct_value":
        return _object(path, msg.struct_value, depth + 1, max_depth, root)
    if kind == "list_value":
        if depth + 1 > max_depth:
            raise too_deep(root, max_depth)
        return [
            _value(f"{path}[{i}]", item, depth + 1, max_depth, root)
            for i, item in enumerate(msg.list_value.values)
        ]
    return None  # null_value, or no kind at all (read as null, as protobuf's JSON does)


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_KEY_SHOWN = 64


def key_path(path: str, key: str) -> str:
    """Returns the path of ``key`` in the object at ``path``: ``path.key``, ``path["odd key"]``."""
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    shown = key if len(key) <= _MAX_KEY_SHOWN else key[:_MAX_KEY_SHOWN] + "..."
    return f"{path}[{json.dumps(shown)}]"


def dict_to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    """Returns a mapping of JSON values as a Struct; nested mappings become objects, lists and
    tuples become lists. Integers are stored as doubles, so integers beyond 2**53 lose
    precision. Raises ValueError for a value JSON cannot hold (a set, an object). It checks no
    limits: ``struct_to_dict`` does, on the receiving side."""
    result = struct_pb2.Struct()
    if value:
        result.update(_plain(value))
    return result


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in value.items()}


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """Returns a Timestamp for an aware or naive-UTC datetime, None for None."""
    if value is None:
        return None
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(value if value.tzinfo is None else value.astimezone(dt.UTC))
    return result


def datetime_of(msg: timestamp_pb2.Timestamp) -> dt.datetime:
    """Returns the aware UTC datetime of a Timestamp."""
    return msg.ToDatetime(dt.UTC)


def duration(seconds: float) -> duration_pb2.Duration:
    """Returns the Duration of ``seconds`` (rounded to the nanosecond)."""
    result = duration_pb2.Duration()
    result.FromNanoseconds(round(seconds * 1e9))
    return result


def seconds_of(msg: duration_pb2.Duration) -> float:
    """Returns a Duration in seconds."""
    return msg.ToNanoseconds() / 1e9


# ------------------------------------------------------------------------------------ segments


def segment_from_proto(msg: segment_pb2.Segment) -> values.Segment:
    """Returns the Segment a message carries."""
    return values.Segment(
        id=msg.id,
        network_type=msg.network_type,
        physical_network=msg.physical_network,
        segmentation_id=msg.segmentation_id,
        network_id=msg.network_id,
        mtu=msg.mtu,
        is_dynamic=msg.is_dynamic,
        segment_index=msg.segment_index,
    )


def segment_to_proto(seg: values.Segment) -> segment_pb2.Segment:
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


def spec_from_proto(msg: segment_pb2.SegmentSpec) -> values.SegmentSpec:
    """Returns the SegmentSpec a message carries (an unset segmentation_id is None)."""
    return values.SegmentSpec(
        network_type=msg.network_type,
        physical_network=msg.physical_network,
        segmentation_id=msg.segmentation_id if msg.HasField("segmentation_id") else None,
    )


def spec_to_proto(spec: values.SegmentSpec) -> segment_pb2.SegmentSpec:
    """Returns the message of a SegmentSpec (None leaves segmentation_id unset)."""
    msg = segment_pb2.SegmentSpec(
        network_type=spec.network_type, physical_network=spec.physical_network
    )
    if spec.segmentation_id is not None:
        msg.segmentation_id = spec.segmentation_id
    return msg


# ------------------------------------------------------------------------------------- agents


def capabilities_from_proto(msg: agent_pb2.HostCapabilities) -> values.HostCapabilities:
    """Returns the HostCapabilities a message carries."""
    return values.HostCapabilities(
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
        network_types=tuple(msg.network_types),
        vswitch_mappings=dict(msg.vswitch_mappings),
        device_mappings={k: tuple(v.devices) for k, v in msg.device_mappings.items()},
        baremetal_smartnic=msg.baremetal_smartnic,
        hw_offload=msg.hw_offload,
        extensions=tuple(msg.extensions),
    )


def capabilities_to_json(caps: values.HostCapabilities) -> dict[str, Any]:
    """Returns capabilities as a JSON object, as the services store them (mechmgr's agents,
    the agents in portapi's binding traces)."""
    return {
        "bridge_mappings": dict(caps.bridge_mappings),
        "interface_mappings": dict(caps.interface_mappings),
        "tunnel_types": list(caps.tunnel_types),
        "local_ip": caps.local_ip,
        "integration_bridge": caps.integration_bridge,
        "datapath_type": caps.datapath_type,
        "ovs_hybrid_plug": caps.ovs_hybrid_plug,
        "port_filter": caps.port_filter,
        "iface_types": list(caps.iface_types),
        "vhostuser_socket_dir": caps.vhostuser_socket_dir,
        "network_types": list(caps.network_types),
        "vswitch_mappings": dict(caps.vswitch_mappings),
        "device_mappings": {k: list(v) for k, v in caps.device_mappings.items()},
        "baremetal_smartnic": caps.baremetal_smartnic,
        "hw_offload": caps.hw_offload,
        "extensions": list(caps.extensions),
    }


def capabilities_from_json(data: Mapping[str, Any]) -> values.HostCapabilities:
    """Returns the capabilities stored as JSON; missing keys take their defaults."""
    return values.HostCapabilities(
        bridge_mappings=dict(data.get("bridge_mappings", {})),
        interface_mappings=dict(data.get("interface_mappings", {})),
        tunnel_types=tuple(data.get("tunnel_types", ())),
        local_ip=str(data.get("local_ip", "")),
        integration_bridge=str(data.get("integration_bridge", "")),
        datapath_type=str(data.get("datapath_type", "")),
        ovs_hybrid_plug=bool(data.get("ovs_hybrid_plug", False)),
        port_filter=bool(data.get("port_filter", False)),
        iface_types=tuple(data.get("iface_types", ())),
        vhostuser_socket_dir=str(data.get("vhostuser_socket_dir", "")),
        network_types=tuple(data.get("network_types", ())),
        vswitch_mappings=dict(data.get("vswitch_mappings", {})),
        device_mappings={
            str(k): tuple(str(d) for d in v) for k, v in data.get("device_mappings", {}).items()
        },
        baremetal_smartnic=bool(data.get("baremetal_smartnic", False)),
        hw_offload=bool(data.get("hw_offload", False)),
        extensions=tuple(data.get("extensions", ())),
    )


def capabilities_to_proto(caps: values.HostCapabilities) -> agent_pb2.HostCapabilities:
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
        network_types=list(caps.network_types),
        vswitch_mappings=dict(caps.vswitch_mappings),
        device_mappings={
            k: agent_pb2.DeviceList(devices=list(v)) for k, v in caps.device_mappings.items()
        },
        baremetal_smartnic=caps.baremetal_smartnic,
        hw_offload=caps.hw_offload,
        extensions=list(caps.extensions),
    )


def agent_from_proto(msg: agent_pb2.Agent) -> values.Agent:
    """Returns the Agent a message carries, liveness included."""
    return values.Agent(
        id=msg.id,
        agent_type=msg.agent_type,
        host=msg.host,
        binary=msg.binary,
        capabilities=capabilities_from_proto(msg.capabilities),
        admin_state_up=msg.admin_state_up,
        alive=msg.alive,
        heartbeat_at=datetime_of(msg.heartbeat_time) if msg.HasField("heartbeat_time") else None,
        created_at=datetime_of(msg.create_time) if msg.HasField("create_time") else None,
        revision=msg.revision,
    )


def agent_to_proto(agent: values.Agent) -> agent_pb2.Agent:
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
        revision=agent.revision,
    )


def host_link_from_proto(msg: topology_pb2.HostLink) -> values.HostLink:
    """Returns the HostLink a message carries."""
    return values.HostLink(
        host=msg.host,
        switch_id=msg.switch_id,
        port_id=msg.port_id,
        switch_info=msg.switch_info,
        physical_network=msg.physical_network,
        updated_at=datetime_of(msg.update_time) if msg.HasField("update_time") else None,
    )


def host_link_to_proto(link: values.HostLink) -> topology_pb2.HostLink:
    """Returns the message of a HostLink."""
    return topology_pb2.HostLink(
        host=link.host,
        switch_id=link.switch_id,
        port_id=link.port_id,
        switch_info=link.switch_info,
        physical_network=link.physical_network,
        update_time=timestamp(link.updated_at),
    )


# ------------------------------------------------------------------------------------ binding


def level_from_proto(msg: binding_pb2.BindingLevel) -> values.BindingLevel:
    """Returns the BindingLevel a message carries."""
    return values.BindingLevel(msg.level, msg.driver, segment_from_proto(msg.segment))


def level_to_proto(level: values.BindingLevel) -> binding_pb2.BindingLevel:
    """Returns the message of a BindingLevel."""
    return binding_pb2.BindingLevel(
        level=level.level, driver=level.driver, segment=segment_to_proto(level.segment)
    )


def reason_from_proto(msg: binding_pb2.DeclineReason) -> values.DeclineReason:
    """Returns the DeclineReason a message carries, with its agent and segment when set."""
    return values.DeclineReason(
        msg.code,
        msg.message,
        msg.segment_id,
        dict(msg.details),
        agent=agent_from_proto(msg.agent) if msg.HasField("agent") else None,
        segment=segment_from_proto(msg.segment) if msg.HasField("segment") else None,
    )


def reason_to_proto(reason: values.DeclineReason) -> binding_pb2.DeclineReason:
    """Returns the message of a DeclineReason."""
    return binding_pb2.DeclineReason(
        code=reason.code,
        message=reason.message,
        segment_id=reason.segment_id,
        details=dict(reason.details),
        agent=agent_to_proto(reason.agent) if reason.agent is not None else None,
        segment=segment_to_proto(reason.segment) if reason.segment is not None else None,
    )


def verdict_from_proto(msg: binding_pb2.DriverVerdict) -> values.Verdict:
    """Returns the Verdict a message carries. An outcome this version does not know (UNSPECIFIED,
    or a newer one) reads as DECLINE: whatever it was, it did not bind."""
    try:
        outcome = outcome_name(msg.outcome)
    except ValueError:
        outcome = vocabulary.DECLINE
    return values.Verdict(
        level=msg.level,
        driver=msg.driver,
        outcome=outcome,
        segment_id=msg.segment_id,
        reasons=tuple(reason_from_proto(r) for r in msg.reasons),
        duration=seconds_of(msg.duration),
        offered_segments=tuple(segment_from_proto(s) for s in msg.offered_segments),
    )


def verdict_to_proto(verdict: values.Verdict) -> binding_pb2.DriverVerdict:
    """Returns the message of a Verdict. Raises ValueError for an unknown outcome."""
    return binding_pb2.DriverVerdict(
        level=verdict.level,
        driver=verdict.driver,
        outcome=outcome_value(verdict.outcome),
        segment_id=verdict.segment_id,
        reasons=[reason_to_proto(r) for r in verdict.reasons],
        duration=duration(verdict.duration),
        offered_segments=[segment_to_proto(s) for s in verdict.offered_segments],
    )


def binding_result_from_proto(msg: ResultMessage) -> values.BindingResult:
    """Returns the BindingResult a ResolveBindingResponse (or a PortBinding) carries. A state
    this version does not know reads as FAILED, and a FAILED result without a vif_type as
    ``binding_failed``. Raises StructError for vif_details ``struct_to_dict`` refuses."""
    try:
        state = state_name(msg.state)
    except ValueError:
        state = vocabulary.FAILED
    failed = state == vocabulary.FAILED
    return values.BindingResult(
        state=state,
        vif_type=msg.vif_type or (vocabulary.VIF_TYPE_BINDING_FAILED if failed else ""),
        vif_details=struct_to_dict(msg.vif_details, "vif_details"),
        levels=tuple(level_from_proto(lvl) for lvl in msg.levels),
        trace=tuple(verdict_from_proto(v) for v in msg.trace),
        failure_message=msg.failure_message,
        port_status=_result_port_status(msg, state),
    )


def _result_port_status(msg: ResultMessage, state: str) -> str:
    """The driver-given status a ResolveBindingResponse carries for a BOUND result; ``""`` for
    a PortBinding (which has none), another state or a status this version cannot honour."""
    if state != vocabulary.BOUND or not isinstance(
        msg, mechanism_manager_service_pb2.ResolveBindingResponse
    ):
        return ""
    try:
        return port_status_name(msg.port_status)
    except ValueError:
        return ""


def binding_result_to_proto(
    result: values.BindingResult,
) -> mechanism_manager_service_pb2.ResolveBindingResponse:
    """Returns the ResolveBindingResponse of a BindingResult."""
    return mechanism_manager_service_pb2.ResolveBindingResponse(
        state=state_value(result.state),
        vif_type=result.vif_type,
        vif_details=dict_to_struct(result.vif_details),
        levels=[level_to_proto(lvl) for lvl in result.levels],
        trace=[verdict_to_proto(v) for v in result.trace],
        failure_message=result.failure_message,
        port_status=port_status_value(result.port_status),
    )


def original_to_proto(original: values.OriginalBinding) -> binding_pb2.OriginalBinding:
    """Returns the OriginalBinding message of an original binding."""
    return binding_pb2.OriginalBinding(
        host_id=original.host,
        vnic_type=vnic_type_value(original.vnic_type),
        profile=dict_to_struct(original.profile),
        vif_type=original.vif_type,
        vif_details=dict_to_struct(original.vif_details),
        segment=segment_to_proto(original.segment) if original.segment is not None else None,
    )


def original_from_proto(
    msg: binding_pb2.OriginalBinding, field: str = "original"
) -> values.OriginalBinding:
    """Returns the original binding an OriginalBinding message carries. Raises ValueError for
    an unknown vnic type, StructError for a profile or vif_details ``struct_to_dict`` refuses."""
    return values.OriginalBinding(
        host=msg.host_id,
        vif_type=msg.vif_type,
        vnic_type=vnic_type_name(msg.vnic_type),
        profile=struct_to_dict(msg.profile, f"{field}.profile"),
        vif_details=struct_to_dict(msg.vif_details, f"{field}.vif_details"),
        segment=segment_from_proto(msg.segment) if msg.HasField("segment") else None,
    )


# ---------------------------------------------------------------------- the driver's question


def context_to_proto(
    ctx: values.BindingContext,
    agents: list[agent_pb2.Agent] | None = None,
) -> mechanism_driver_service_pb2.ProposeBindingRequest:
    """Returns the ProposeBindingRequest for ``ctx``; ``agents`` may pass the host agents'
    messages already built (the manager builds them once per resolution)."""
    return mechanism_driver_service_pb2.ProposeBindingRequest(
        port_id=ctx.port_id,
        network_id=ctx.network_id,
        host=ctx.host,
        vnic_type=vnic_type_value(ctx.vnic_type),
        # Left unset when empty: a request without zero bytes skips the server's NUL walk.
        profile=dict_to_struct(ctx.profile) if ctx.profile else None,
        level=ctx.level,
        segments_to_bind=[segment_to_proto(s) for s in ctx.segments_to_bind],
        bound_levels=[level_to_proto(lvl) for lvl in ctx.bound_levels],
        host_agents=agents if agents is not None else [agent_to_proto(a) for a in ctx.host_agents],
        agent_down_time=duration(ctx.agent_down_time) if ctx.agent_down_time else None,
        host_links=[host_link_to_proto(link) for link in ctx.host_links],
        original=original_to_proto(ctx.original) if ctx.original is not None else None,
    )


def context_from_proto(
    msg: mechanism_driver_service_pb2.ProposeBindingRequest,
    agent_of: Callable[[agent_pb2.Agent], values.Agent] | None = None,
) -> values.BindingContext:
    """Returns the BindingContext a ProposeBindingRequest carries; ``agent_of`` may convert the
    host agents (by default ``agent_from_proto``). Raises ValueError for an unknown vnic type,
    StructError for a profile ``struct_to_dict`` refuses."""
    agent_of = agent_of or agent_from_proto
    return values.BindingContext(
        port_id=msg.port_id,
        network_id=msg.network_id,
        host=msg.host,
        level=msg.level,
        segments_to_bind=tuple(segment_from_proto(s) for s in msg.segments_to_bind),
        vnic_type=vnic_type_name(msg.vnic_type),
        profile=struct_to_dict(msg.profile, "profile"),
        bound_levels=tuple(level_from_proto(lvl) for lvl in msg.bound_levels),
        host_agents=tuple(agent_of(a) for a in msg.host_agents),
        agent_down_time=seconds_of(msg.agent_down_time),
        host_links=tuple(host_link_from_proto(link) for link in msg.host_links),
        original=original_from_proto(msg.original) if msg.HasField("original") else None,
    )


# ------------------------------------------------------------------------ the driver's answer


def proposal_to_proto(
    proposal: values.Proposal,
) -> mechanism_driver_service_pb2.ProposeBindingResponse:
    """Returns the ProposeBindingResponse of a proposal."""
    pb = mechanism_driver_service_pb2
    if isinstance(proposal, values.Complete):
        return pb.ProposeBindingResponse(
            complete=pb.CompleteBinding(
                segment_id=proposal.segment_id,
                vif_type=proposal.vif_type,
                vif_details=dict_to_struct(proposal.vif_details),
                port_status=port_status_value(proposal.port_status),
            )
        )
    if isinstance(proposal, values.Continue):
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
) -> values.Proposal | None:
    """Returns the proposal a response carries, or None if it carries none. Raises StructError
    for vif_details ``struct_to_dict`` refuses, ValueError for a ``complete.port_status`` a
    driver may not give."""
    kind = msg.WhichOneof("outcome")
    if kind == "complete":
        try:
            port_status = port_status_name(msg.complete.port_status)
        except ValueError as exc:
            raise ValueError(f"complete.port_status: {exc}") from None
        return values.Complete(
            msg.complete.segment_id,
            msg.complete.vif_type,
            struct_to_dict(msg.complete.vif_details, "complete.vif_details"),
            port_status,
        )
    if kind == "continued":
        return values.Continue(
            msg.continued.segment_id,
            tuple(segment_from_proto(s) for s in msg.continued.next_segments),
            tuple(spec_from_proto(s) for s in msg.continued.dynamic_segments),
        )
    if kind == "declined":
        return values.Decline(tuple(reason_from_proto(r) for r in msg.declined.reasons))
    return None


def description_to_proto(
    desc: values.DriverDescription,
) -> mechanism_driver_service_pb2.DescribeDriverResponse:
    """Returns the DescribeDriverResponse of a driver description. Raises ValueError for an
    unknown vnic type."""
    return mechanism_driver_service_pb2.DescribeDriverResponse(
        name=desc.name,
        supported_vnic_types=[vnic_type_value(v) for v in desc.supported_vnic_types],
        supported_network_types=list(desc.supported_network_types),
        agent_type=desc.agent_type,
        connectivity=desc.connectivity,
        vif_types=list(desc.vif_types),
    )


def description_from_proto(
    msg: mechanism_driver_service_pb2.DescribeDriverResponse,
) -> values.DriverDescription:
    """Returns the driver description a DescribeDriverResponse carries. Vnic types this version
    does not know (a newer driver's) and UNSPECIFIED are left out."""
    return values.DriverDescription(
        name=msg.name,
        supported_vnic_types=tuple(
            _VNIC_BY_NUMBER[v] for v in msg.supported_vnic_types if v in _VNIC_BY_NUMBER
        ),
        supported_network_types=tuple(msg.supported_network_types),
        agent_type=msg.agent_type,
        connectivity=msg.connectivity,
        vif_types=tuple(msg.vif_types),
    )
