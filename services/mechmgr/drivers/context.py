"""The values a mechanism driver is given: the port context of one binding level.

All are frozen dataclasses: a driver reads them and never changes them. Neutron passes a mutable
``PortContext`` dict tree instead; here everything a driver may look at is named and typed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from services.mechmgr.drivers import portbindings

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Segment:
    """A segment of a network: one L2 domain, static or dynamic."""

    id: str
    network_type: str
    physical_network: str = ""
    segmentation_id: int = 0
    network_id: str = ""
    mtu: int = 0
    is_dynamic: bool = False
    segment_index: int = 0

    def describe(self) -> str:
        """Returns the segment in operator words, e.g. ``vlan 101 on physnet1``."""
        text = self.network_type
        if self.segmentation_id:
            text += f" {self.segmentation_id}"
        if self.physical_network:
            text += f" on {self.physical_network}"
        return text


@dataclass(frozen=True)
class SegmentSpec:
    """A segment a driver asks the manager to allocate for the next level (a dynamic segment).

    ``segmentation_id`` None lets typemgr pick a free id from its pool.
    """

    network_type: str
    physical_network: str = ""
    segmentation_id: int | None = None


@dataclass(frozen=True)
class HostCapabilities:
    """What an L2 agent can do on its host (Neutron's agent ``configurations``, typed)."""

    bridge_mappings: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    interface_mappings: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    tunnel_types: tuple[str, ...] = ()
    local_ip: str = ""
    integration_bridge: str = ""
    datapath_type: str = ""
    ovs_hybrid_plug: bool = False
    port_filter: bool = False
    iface_types: tuple[str, ...] = ()
    vhostuser_socket_dir: str = ""


@dataclass(frozen=True)
class Agent:
    """A registered L2 agent, as the manager saw it when the binding started.

    ``alive`` is the manager's judgement: a sign of life within the agent down time.
    """

    id: str
    agent_type: str
    host: str
    binary: str = ""
    capabilities: HostCapabilities = field(default_factory=HostCapabilities)
    admin_state_up: bool = True
    alive: bool = True
    heartbeat_at: dt.datetime | None = None
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class BindingLevel:
    """One bound level: which driver bound which segment."""

    level: int
    driver: str
    segment: Segment


@dataclass(frozen=True)
class BindingContext:
    """Everything a driver knows when it is asked to bind one level of a port.

    ``segments_to_bind`` are the only segments the driver may bind at this level, in preference
    order. ``host_agents`` are the agents of every type registered from ``host``, dead ones too.
    """

    port_id: str
    network_id: str
    host: str
    level: int
    segments_to_bind: tuple[Segment, ...]
    vnic_type: str = portbindings.VNIC_NORMAL
    profile: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    bound_levels: tuple[BindingLevel, ...] = ()
    host_agents: tuple[Agent, ...] = ()
    agent_down_time: float = 0.0

    def agents_of_type(self, agent_type: str) -> tuple[Agent, ...]:
        """Returns the host's agents of ``agent_type`` (Neutron's ``host_agents``)."""
        return tuple(a for a in self.host_agents if a.agent_type == agent_type)
