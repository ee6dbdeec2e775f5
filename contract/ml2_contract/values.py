"""The value types of ``ml2.v1``: what services, drivers and agents pass around instead of
generated messages.

All are frozen dataclasses; mappings default to read-only empty ones. Strings follow
``vocabulary``: vnic types are Neutron's spellings (``normal``, ``direct``, ...), outcomes and
binding states the enum value names without their prefix (``COMPLETE``, ``BOUND``).
``ml2_contract.convert`` turns each into its message and back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ml2_contract import vocabulary

_NO_STRINGS: Mapping[str, str] = MappingProxyType({})
_NO_VALUES: Mapping[str, Any] = MappingProxyType({})


# ------------------------------------------------------------------------------------ segments


@dataclass(frozen=True)
class SegmentSpec:
    """A segment asked for: a provider segment of a new network, or a dynamic segment a driver
    asks the manager to allocate for the next level.

    ``physical_network`` is ``""`` when not given; ``segmentation_id`` None lets typemgr pick a
    free id from its pool.
    """

    network_type: str
    physical_network: str = ""
    segmentation_id: int | None = None

    def describe(self) -> str:
        """Returns a short human form such as ``vlan physnet1 100`` or ``vxlan (any id)``."""
        parts = [self.network_type]
        if self.physical_network:
            parts.append(self.physical_network)
        parts.append("(any id)" if self.segmentation_id is None else str(self.segmentation_id))
        return " ".join(parts)


@dataclass(frozen=True)
class Segment:
    """A segment of a network: one L2 domain, static or dynamic.

    ``physical_network`` is ``""`` for tunnelled and local segments; ``segmentation_id`` is 0 for
    flat and local ones; ``mtu`` is 0 when unknown.
    """

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

    def satisfies(self, spec: SegmentSpec) -> bool:
        """Returns True if this segment is what ``spec`` asks for (unset spec fields match any)."""
        if spec.network_type != self.network_type:
            return False
        if spec.physical_network and spec.physical_network != self.physical_network:
            return False
        return spec.segmentation_id is None or spec.segmentation_id == self.segmentation_id


# ------------------------------------------------------------------------------------- agents


@dataclass(frozen=True)
class HostCapabilities:
    """What an L2 agent can do on its host (Neutron's agent ``configurations``, typed)."""

    bridge_mappings: Mapping[str, str] = field(default_factory=lambda: _NO_STRINGS)
    interface_mappings: Mapping[str, str] = field(default_factory=lambda: _NO_STRINGS)
    tunnel_types: tuple[str, ...] = ()
    local_ip: str = ""
    integration_bridge: str = ""
    datapath_type: str = ""
    ovs_hybrid_plug: bool = False
    port_filter: bool = False
    iface_types: tuple[str, ...] = ()
    vhostuser_socket_dir: str = ""
    network_types: tuple[str, ...] = ()
    """The network types the agent can realise on its host; empty: every type its mechanism
    supports."""
    vswitch_mappings: Mapping[str, str] = field(default_factory=lambda: _NO_STRINGS)
    """Physical network (or a regular expression over its name) -> Hyper-V virtual switch."""
    device_mappings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Physical network -> the physical functions reaching it (SR-IOV)."""
    baremetal_smartnic: bool = False
    hw_offload: bool = False
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentState:
    """A registered agent without its capabilities: what ``ListAgents`` answers with
    ``states_only``, and what periodic checks of every agent need."""

    id: str
    agent_type: str
    host: str
    alive: bool
    admin_state_up: bool
    revision: int
    """mechmgr's ``Agent.revision`` (0 from a mechmgr that does not count them)."""


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
    revision: int = 0
    """Moves forward whenever the agent may bind ports it could not before (0: not known)."""


@dataclass(frozen=True)
class HostLink:
    """Where a host is cabled into the physical network, as the operator's topology records it:
    the switch (``switch_id``, ``switch_info``) and switch port (``port_id``) the host is wired
    to, and the physical network the switch carries to it (``""`` when unknown)."""

    host: str
    switch_id: str
    port_id: str
    switch_info: str = ""
    physical_network: str = ""
    updated_at: dt.datetime | None = None


# ------------------------------------------------------------------------------------ binding


@dataclass(frozen=True)
class BindingLevel:
    """One bound level: which driver bound which segment."""

    level: int
    driver: str
    segment: Segment


@dataclass(frozen=True)
class DeclineReason:
    """Why a driver declined. ``code`` is stable UPPER_SNAKE_CASE (e.g. ``PHYSNET_NOT_MAPPED``),
    ``message`` is one sentence for people, ``details`` the facts behind it.

    ``agent`` and ``segment`` are the agent (``details["agent_id"]``) and the segment
    (``segment_id``) the reason is about, in full, as the manager saw them: the manager fills
    them in, a driver leaves them None."""

    code: str
    message: str
    segment_id: str = ""
    details: Mapping[str, str] = field(default_factory=lambda: _NO_STRINGS)
    agent: Agent | None = None
    segment: Segment | None = None


@dataclass(frozen=True)
class Verdict:
    """One driver's answer at one binding level, and how long it took."""

    level: int
    driver: str
    outcome: str
    """``vocabulary.COMPLETE``, ``CONTINUE`` or ``DECLINE``."""
    segment_id: str = ""
    reasons: tuple[DeclineReason, ...] = ()
    duration: float = 0.0
    """Seconds the driver took, as the manager measured it."""
    offered_segments: tuple[Segment, ...] = ()
    """The segments the driver was offered at this level, in preference order."""


@dataclass(frozen=True)
class BindingResult:
    """The result of resolving a binding: BOUND with levels and the bottom level's vif, FAILED
    with ``failure_message``, or UNBOUND. ``trace`` holds every verdict in the order given."""

    state: str
    """``vocabulary.UNBOUND``, ``BOUND`` or ``FAILED``."""
    vif_type: str
    vif_details: Mapping[str, Any] = field(default_factory=lambda: _NO_VALUES)
    levels: tuple[BindingLevel, ...] = ()
    trace: tuple[Verdict, ...] = ()
    failure_message: str = ""
    port_status: str = ""
    """The status the completing driver gave the port: ``vocabulary.PORT_STATUS_ACTIVE`` when
    the port is ACTIVE once bound, without a device report; ``""`` when its host's agent
    reports it (and for every result that is not BOUND)."""

    @property
    def bound(self) -> bool:
        """True if every level is bound."""
        return self.state == vocabulary.BOUND

    def primary_reason(self) -> str:
        """Returns the code of the first decline reason (for metrics); empty unless FAILED."""
        if self.state != vocabulary.FAILED:
            return ""
        for verdict in self.trace:
            for reason in verdict.reasons:
                return reason.code
        return vocabulary.NO_REASON


UNBOUND_RESULT = BindingResult(state=vocabulary.UNBOUND, vif_type=vocabulary.VIF_TYPE_UNBOUND)
"""The result of a port without a host."""


@dataclass(frozen=True)
class OriginalBinding:
    """A port's binding as it was before its binding inputs last changed (Neutron's
    ``PortContext.original``, ``original_host`` and original binding), when it was bound:
    the host, vnic type and profile it was bound with, the vif it got and the segment its
    bottom level bound."""

    host: str
    vif_type: str
    vnic_type: str = vocabulary.VNIC_NORMAL
    profile: Mapping[str, Any] = field(default_factory=lambda: _NO_VALUES)
    vif_details: Mapping[str, Any] = field(default_factory=lambda: _NO_VALUES)
    segment: Segment | None = None


# ---------------------------------------------------------------------- the driver's question


@dataclass(frozen=True)
class BindingContext:
    """Everything a driver knows when it is asked to bind one level of a port.

    ``segments_to_bind`` are the only segments the driver may bind at this level, in preference
    order. ``host_agents`` are the agents of every type registered from ``host``, dead ones too;
    ``host_links`` the switch ports the operator's topology says ``host`` is wired to.
    """

    port_id: str
    network_id: str
    host: str
    level: int
    segments_to_bind: tuple[Segment, ...]
    vnic_type: str = vocabulary.VNIC_NORMAL
    profile: Mapping[str, Any] = field(default_factory=lambda: _NO_VALUES)
    bound_levels: tuple[BindingLevel, ...] = ()
    host_agents: tuple[Agent, ...] = ()
    agent_down_time: float = 0.0
    host_links: tuple[HostLink, ...] = ()
    original: OriginalBinding | None = None
    """The port's binding before its inputs last changed, when it was bound; None for a port
    never bound (or unbound since). When ``original.host`` differs from ``host`` the port is
    moving; Nova's live migration marks it with ``migrating_to`` in ``original.profile``."""

    def agents_of_type(self, agent_type: str) -> tuple[Agent, ...]:
        """Returns the host's agents of ``agent_type`` (Neutron's ``host_agents``)."""
        return tuple(a for a in self.host_agents if a.agent_type == agent_type)


# ------------------------------------------------------------------------ the driver's answer


@dataclass(frozen=True)
class Complete:
    """The driver binds ``segment_id`` and the binding is complete."""

    segment_id: str
    vif_type: str
    vif_details: Mapping[str, Any] = field(default_factory=lambda: _NO_VALUES)
    port_status: str = ""
    """``vocabulary.PORT_STATUS_ACTIVE`` when nothing on the host wires the port, so that it is
    ACTIVE as soon as the binding is committed (unless administratively down); ``""`` (the
    default) when the host's agent reports the device."""


@dataclass(frozen=True)
class Continue:
    """The driver binds ``segment_id`` at this level; the next level binds one of
    ``next_segments`` or of the segments allocated for ``dynamic_segments``."""

    segment_id: str
    next_segments: tuple[Segment, ...] = ()
    dynamic_segments: tuple[SegmentSpec, ...] = ()


@dataclass(frozen=True)
class Decline:
    """The driver cannot bind; the manager tries the next driver."""

    reasons: tuple[DeclineReason, ...]


Proposal = Complete | Continue | Decline


def manager_failure(code: str, message: str) -> BindingResult:
    """A FAILED result whose trace holds one verdict of the mechanism manager, declining with
    ``code`` and ``message``: a failure no driver's verdict explains (a peer that did not
    answer, a hold typemgr would not record)."""
    reason = DeclineReason(code=code, message=message)
    verdict = Verdict(
        level=0, driver=vocabulary.MECHANISM_MANAGER, outcome=vocabulary.DECLINE, reasons=(reason,)
    )
    return BindingResult(
        state=vocabulary.FAILED,
        vif_type=vocabulary.VIF_TYPE_BINDING_FAILED,
        trace=(verdict,),
        failure_message=message,
    )


def outcome_of(proposal: Proposal) -> str:
    """Returns the outcome a proposal stands for (``COMPLETE``, ``CONTINUE`` or ``DECLINE``)."""
    if isinstance(proposal, Complete):
        return vocabulary.COMPLETE
    if isinstance(proposal, Continue):
        return vocabulary.CONTINUE
    return vocabulary.DECLINE


@dataclass(frozen=True)
class DriverDescription:
    """What a driver binds, as ``DescribeDriver`` reports it."""

    name: str
    supported_vnic_types: tuple[str, ...] = (vocabulary.VNIC_NORMAL,)
    supported_network_types: tuple[str, ...] = ()
    agent_type: str = ""
    connectivity: str = vocabulary.CONNECTIVITY_L2
    vif_types: tuple[str, ...] = ()
