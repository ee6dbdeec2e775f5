"""Request validation for mechmgr's RPCs: every field checked, errors name the field and the rule.

Each function takes a request message and returns domain values, or raises ``InvalidArgument``
before anything is read or written.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    mechanism_manager_service_pb2,
    segment_pb2,
    topology_service_pb2,
)
from ml2_contract import convert, hosts, values, vocabulary
from ml2_driver_sdk.runtime import structs
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.mechmgr import agents, resolver

_AGENT_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_TOKEN = re.compile(r"^\S+$")
_DATAPATHS = ("", vocabulary.DATAPATH_SYSTEM, vocabulary.DATAPATH_NETDEV)
_MAX_ID = 255
_MAX_TUNNEL_ID = {
    vocabulary.TYPE_VXLAN: 2**24 - 1,
    vocabulary.TYPE_GENEVE: 2**24 - 1,
    vocabulary.TYPE_GRE: 2**32 - 1,
}


def required_id(field: str, value: str) -> str:
    """Returns ``value`` if it is a non-empty id of at most 255 characters."""
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > _MAX_ID or not _TOKEN.match(value):
        raise InvalidArgument(field, f"must be at most {_MAX_ID} characters without spaces")
    return value


def hostname(field: str, value: str) -> str:
    """Returns ``value`` if it is a host name (letters, digits, -, _ and dots; at most 255)."""
    if not value:
        raise InvalidArgument(field, "is required")
    if not hosts.is_host_name(value):
        raise InvalidArgument(
            field, f"must be a host name (letters, digits, '-', '_' and dots), got {value!r}"
        )
    return value


def registration(request: agent_service_pb2.RegisterAgentRequest) -> agents.AgentRegistration:
    """Returns the registration a RegisterAgentRequest carries."""
    if not request.HasField("agent"):
        raise InvalidArgument("agent", "is required")
    msg = request.agent
    if not msg.agent_type:
        raise InvalidArgument("agent.agent_type", "is required")
    if not _AGENT_TYPE.match(msg.agent_type):
        raise InvalidArgument(
            "agent.agent_type",
            f"must be a lower-case name (letters, digits, '-', '_'), e.g. openvswitch; "
            f"got {msg.agent_type!r}",
        )
    if len(msg.binary) > 255:
        raise InvalidArgument("agent.binary", "must be at most 255 characters")
    return agents.AgentRegistration(
        agent_type=msg.agent_type,
        host=hostname("agent.host", msg.host),
        capabilities=capabilities("agent.capabilities", msg.capabilities),
        binary=msg.binary,
    )


def capabilities(field: str, msg: agent_pb2.HostCapabilities) -> values.HostCapabilities:
    """Returns the host capabilities after checking mappings, tunnels, IP and bridge names."""
    for name in ("bridge_mappings", "interface_mappings"):
        for key, value in getattr(msg, name).items():
            if not _TOKEN.match(key) or not _TOKEN.match(value):
                raise InvalidArgument(
                    f"{field}.{name}",
                    f"physical network and device must be non-empty without spaces, "
                    f"got {key!r}: {value!r}",
                )
    _vswitch_mappings(f"{field}.vswitch_mappings", dict(msg.vswitch_mappings))
    for physnet, devices in msg.device_mappings.items():
        names = list(devices.devices)
        if not _TOKEN.match(physnet) or not names or not all(_TOKEN.match(d) for d in names):
            raise InvalidArgument(
                f"{field}.device_mappings",
                f"physical network and at least one device, each non-empty without spaces, "
                f"got {physnet!r}: {names!r}",
            )
        if len(set(names)) != len(names):
            raise InvalidArgument(
                f"{field}.device_mappings", f"physical network {physnet!r} repeats a device"
            )
    for extension in msg.extensions:
        if not _TOKEN.match(extension):
            raise InvalidArgument(
                f"{field}.extensions", f"must be names without spaces, got {extension!r}"
            )
    _tunnels(f"{field}.tunnel_types", list(msg.tunnel_types))
    _network_types(f"{field}.network_types", list(msg.network_types))
    if msg.local_ip:
        try:
            ipaddress.ip_address(msg.local_ip)
        except ValueError:
            raise InvalidArgument(
                f"{field}.local_ip", f"must be an IPv4 or IPv6 address, got {msg.local_ip!r}"
            ) from None
    elif msg.tunnel_types:
        raise InvalidArgument(f"{field}.local_ip", "is required when tunnel_types is set")
    if msg.integration_bridge and (
        len(msg.integration_bridge) > 15 or not _TOKEN.match(msg.integration_bridge)
    ):
        raise InvalidArgument(
            f"{field}.integration_bridge", "must be a device name of at most 15 characters"
        )
    if msg.datapath_type not in _DATAPATHS:
        raise InvalidArgument(
            f"{field}.datapath_type", f"must be system or netdev, got {msg.datapath_type!r}"
        )
    if msg.vhostuser_socket_dir and not msg.vhostuser_socket_dir.startswith("/"):
        raise InvalidArgument(f"{field}.vhostuser_socket_dir", "must be an absolute path")
    caps = convert.capabilities_from_proto(msg)
    # As Neutron bounds an agent's configurations (a 4095-character column).
    structs.check_size(field, convert.capabilities_to_json(caps))
    return caps


def _vswitch_mappings(field: str, mappings: dict[str, str]) -> None:
    """Hyper-V's keys are regular expressions over physical network names: each must compile."""
    for key, vswitch in mappings.items():
        if not key or not vswitch.strip() or len(key) > 255:
            raise InvalidArgument(
                field,
                f"physical network pattern and virtual switch must be non-empty, "
                f"got {key!r}: {vswitch!r}",
            )
        try:
            re.compile(key)
        except re.error as err:
            raise InvalidArgument(field, f"{key!r} is not a regular expression: {err}") from None


def _tunnels(field: str, tunnel_types: list[str]) -> None:
    for tunnel in tunnel_types:
        if tunnel not in vocabulary.TUNNEL_TYPES:
            raise InvalidArgument(
                field,
                f"must be among {', '.join(sorted(vocabulary.TUNNEL_TYPES))}, got {tunnel!r}",
            )
    if len(set(tunnel_types)) != len(tunnel_types):
        raise InvalidArgument(field, "must not repeat a tunnel type")


def _network_types(field: str, network_types: list[str]) -> None:
    for network_type in network_types:
        if network_type not in vocabulary.NETWORK_TYPES:
            raise InvalidArgument(
                field,
                f"must be among {', '.join(vocabulary.NETWORK_TYPES)}, got {network_type!r}",
            )
    if len(set(network_types)) != len(network_types):
        raise InvalidArgument(field, "must not repeat a network type")


def resolve_request(
    request: mechanism_manager_service_pb2.ResolveBindingRequest,
) -> resolver.BindingRequest:
    """Returns the binding request a ResolveBindingRequest carries (without host agents)."""
    port_id = required_id("port_id", request.port_id)
    network_id = required_id("network_id", request.network_id)
    host = hostname("host", request.host)
    try:
        vnic_type = convert.vnic_type_name(request.vnic_type)
    except ValueError:
        raise InvalidArgument("vnic_type", f"unknown vnic type {request.vnic_type}") from None
    segments = _segments(request.segments, network_id)
    if request.binding_generation < 0:
        raise InvalidArgument(
            "binding_generation", f"must not be negative, got {request.binding_generation}"
        )
    return resolver.BindingRequest(
        port_id=port_id,
        network_id=network_id,
        host=host,
        segments=segments,
        vnic_type=vnic_type,
        profile=structs.to_dict("profile", request.profile),
        binding_generation=request.binding_generation,
        original=original("original", request) if request.HasField("original") else None,
    )


def original(
    field: str, request: mechanism_manager_service_pb2.ResolveBindingRequest
) -> values.OriginalBinding:
    """Returns the original binding a ResolveBindingRequest carries: its host must be a host
    name, its vnic type known, its vif_type set and its segment, if any, have an id."""
    msg = request.original
    host = hostname(f"{field}.host_id", msg.host_id)
    if not msg.vif_type:
        raise InvalidArgument(f"{field}.vif_type", "is required")
    if msg.HasField("segment") and not msg.segment.id:
        raise InvalidArgument(f"{field}.segment.id", "is required when a segment is given")
    try:
        vnic_type = convert.vnic_type_name(msg.vnic_type)
    except ValueError:
        raise InvalidArgument(f"{field}.vnic_type", f"unknown vnic type {msg.vnic_type}") from None
    return values.OriginalBinding(
        host=host,
        vif_type=msg.vif_type,
        vnic_type=vnic_type,
        profile=structs.to_dict(f"{field}.profile", msg.profile),
        vif_details=structs.to_dict(f"{field}.vif_details", msg.vif_details),
        segment=convert.segment_from_proto(msg.segment) if msg.HasField("segment") else None,
    )


MAX_CHECKED_HOSTS = 5000
"""The most hosts one ResolveBindability (or CheckBindable) may name."""


def bindability_requests(
    request: mechanism_manager_service_pb2.ResolveBindabilityRequest,
) -> list[resolver.BindingRequest]:
    """Returns one binding request per host a ResolveBindabilityRequest names (without host
    agents and without a port)."""
    network_id = required_id("network_id", request.network_id)
    if not request.hosts:
        raise InvalidArgument("hosts", "at least one host is required")
    if len(request.hosts) > MAX_CHECKED_HOSTS:
        raise InvalidArgument(
            "hosts", f"must name at most {MAX_CHECKED_HOSTS} hosts, got {len(request.hosts)}"
        )
    hosts = [hostname(f"hosts[{i}]", h) for i, h in enumerate(request.hosts)]
    if len(set(hosts)) != len(hosts):
        seen: set[str] = set()
        for i, host in enumerate(hosts):
            if host in seen:
                raise InvalidArgument(f"hosts[{i}]", f"host {host} is listed twice")
            seen.add(host)
    try:
        vnic_type = convert.vnic_type_name(request.vnic_type)
    except ValueError:
        raise InvalidArgument("vnic_type", f"unknown vnic type {request.vnic_type}") from None
    segments = _segments(request.segments, network_id)
    profile = structs.to_dict("profile", request.profile)
    return [
        resolver.BindingRequest(
            port_id="",
            network_id=network_id,
            host=host,
            segments=segments,
            vnic_type=vnic_type,
            profile=profile,
        )
        for host in hosts
    ]


def _segments(
    messages: Sequence[segment_pb2.Segment], network_id: str
) -> tuple[values.Segment, ...]:
    if not messages:
        raise InvalidArgument("segments", "at least one segment is required")
    seen: set[str] = set()
    for i, seg in enumerate(messages):
        _segment(f"segments[{i}]", seg, network_id)
        if seg.id in seen:
            raise InvalidArgument(f"segments[{i}].id", f"segment {seg.id} is listed twice")
        seen.add(seg.id)
    return tuple(convert.segment_from_proto(s) for s in messages)


def _segment(field: str, seg: segment_pb2.Segment, network_id: str) -> None:
    required_id(f"{field}.id", seg.id)
    if not _AGENT_TYPE.match(seg.network_type):
        raise InvalidArgument(f"{field}.network_type", "is required (e.g. vlan, vxlan)")
    if seg.network_id and seg.network_id != network_id:
        raise InvalidArgument(
            f"{field}.network_id", f"must be the port's network {network_id}, got {seg.network_id}"
        )
    kind, physnet, seg_id = seg.network_type, seg.physical_network, seg.segmentation_id
    if kind in vocabulary.PHYSICAL_TYPES and not physnet:
        raise InvalidArgument(f"{field}.physical_network", f"is required for a {kind} segment")
    if kind in vocabulary.TUNNEL_TYPES | {vocabulary.TYPE_LOCAL} and physnet:
        raise InvalidArgument(f"{field}.physical_network", f"must be empty for a {kind} segment")
    if kind in (vocabulary.TYPE_FLAT, vocabulary.TYPE_LOCAL) and seg_id:
        raise InvalidArgument(f"{field}.segmentation_id", f"must be 0 for a {kind} segment")
    if kind == vocabulary.TYPE_VLAN and not 1 <= seg_id <= 4094:
        raise InvalidArgument(
            f"{field}.segmentation_id", f"VLAN id must be between 1 and 4094, got {seg_id}"
        )
    if kind in _MAX_TUNNEL_ID and not 1 <= seg_id <= _MAX_TUNNEL_ID[kind]:
        raise InvalidArgument(
            f"{field}.segmentation_id",
            f"{kind} id must be between 1 and {_MAX_TUNNEL_ID[kind]}, got {seg_id}",
        )


_PHYSNET = re.compile(r"^\S{1,64}$")
_LINK_TEXT_MAX = 255


def _link_text(field: str, value: str, *, required: bool) -> str:
    """A switch id, port id or switch info: printable, at most 255 characters, no leading or
    trailing space (a port name may have inner spaces, e.g. ``GigabitEthernet 1/0/1``)."""
    if not value:
        if required:
            raise InvalidArgument(field, "is required")
        return value
    if len(value) > _LINK_TEXT_MAX:
        raise InvalidArgument(field, f"must be at most {_LINK_TEXT_MAX} characters")
    if not value.isprintable() or value != value.strip():
        raise InvalidArgument(
            field,
            f"must be printable characters without leading or trailing spaces, got {value!r}",
        )
    return value


def host_link(request: topology_service_pb2.SetHostLinkRequest) -> values.HostLink:
    """Returns the link a SetHostLinkRequest carries."""
    if not request.HasField("link"):
        raise InvalidArgument("link", "is required")
    msg = request.link
    host = hostname("link.host", msg.host)
    switch_id = _link_text("link.switch_id", msg.switch_id, required=True)
    if not _TOKEN.match(switch_id):
        raise InvalidArgument("link.switch_id", f"must not contain spaces, got {switch_id!r}")
    port_id = _link_text("link.port_id", msg.port_id, required=True)
    switch_info = _link_text("link.switch_info", msg.switch_info, required=False)
    if msg.physical_network and not _PHYSNET.match(msg.physical_network):
        raise InvalidArgument(
            "link.physical_network",
            f"must be a physical network name of at most 64 characters without spaces, "
            f"got {msg.physical_network!r}",
        )
    return values.HostLink(
        host=host,
        switch_id=switch_id,
        port_id=port_id,
        switch_info=switch_info,
        physical_network=msg.physical_network,
    )
