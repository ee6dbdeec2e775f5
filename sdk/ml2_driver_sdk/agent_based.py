"""Drivers that bind where an L2 agent of their kind runs (Neutron's
``SimpleAgentMechanismDriverBase``), declining with structured reasons instead of DEBUG logs.

For each live, enabled agent of ``agent_type`` on the host, the first offered segment the agent
can reach wins: its network type is local, flat, vlan or one of the agent's tunnel types that the
driver's kind of agent can terminate, it is among the network types the agent reports it can
realise (when it reports any: a host may lack what a type needs, such as VLAN devices), and a
flat or vlan segment's physical network is in the agent's mappings. Otherwise every reason found
is returned, so that the operator sees all of them at once: a segment the agent cannot realise
fails the binding now, with the reason, instead of the agent failing to wire it later.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Mapping
from typing import ClassVar

from ml2_contract import values, vocabulary
from ml2_driver_sdk import base


class AgentMechanismDriver(base.MechanismDriver):
    """Binds a port level to the first segment a live agent of ``agent_type`` on the host maps.

    Subclasses set the class variables and implement ``mappings`` and ``complete``.
    """

    name: ClassVar[str]
    agent_type: ClassVar[str]
    vif_types: ClassVar[tuple[str, ...]]
    supported_vnic_types: tuple[str, ...] = (vocabulary.VNIC_NORMAL,)
    """The vnic types it binds; a driver may narrow them per instance (a prohibit list)."""
    mapping_option: ClassVar[str] = "bridge_mappings"
    """The agent option that maps physical networks, named in PHYSNET_NOT_MAPPED reasons."""
    tunnel_types: ClassVar[frozenset[str]] = vocabulary.TUNNEL_TYPES
    """The tunnel types this kind of agent can terminate; an agent reporting others is not
    believed (Neutron's Linux bridge agent, for one, tunnels only VXLAN)."""
    provider_network_attribute_updates: ClassVar[frozenset[str]] = frozenset()
    """The provider attributes of a network (``segmentation_id``) this kind of agent follows
    on ports already bound, as Neutron's ``provider_network_attribute_updates_supported``;
    portapi reads it from ``vocabulary.PROVIDER_ATTRIBUTE_UPDATES``, keyed by vif type."""

    @property
    def supported_network_types(self) -> tuple[str, ...]:
        """Local, flat, vlan and the tunnel types of this kind of agent, sorted."""
        return tuple(sorted(vocabulary.NON_TUNNEL_TYPES | self.tunnel_types))

    @abc.abstractmethod
    def mappings(self, agent: values.Agent) -> Mapping[str, str]:
        """Returns the agent's physical network mappings (physnet -> bridge or interface)."""

    @abc.abstractmethod
    def complete(
        self, ctx: values.BindingContext, segment: values.Segment, agent: values.Agent
    ) -> values.Complete:
        """Returns the binding of ``segment`` through ``agent``: vif_type and vif_details."""

    def describe(self) -> values.DriverDescription:
        """Returns the driver's name, agent type, vnic types, network types and vif types."""
        return values.DriverDescription(
            name=self.name,
            supported_vnic_types=self.supported_vnic_types,
            supported_network_types=self.supported_network_types,
            agent_type=self.agent_type,
            connectivity=vocabulary.CONNECTIVITY_L2,
            vif_types=self.vif_types,
        )

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        """Completes on the first segment a usable agent reaches, else declines with all reasons."""
        if ctx.vnic_type not in self.supported_vnic_types:
            return values.Decline(
                (base.vnic_unsupported(self.name, ctx.vnic_type, self.supported_vnic_types),)
            )
        agents = ctx.agents_of_type(self.agent_type)
        if not agents:
            return values.Decline((self._no_agent(ctx.host),))
        found: list[values.DeclineReason] = []
        for agent in agents:
            unusable = self.check_agent(agent, ctx.agent_down_time) or self.check_agent_for_port(
                ctx, agent
            )
            if unusable is not None:
                found.append(unusable)
                continue
            for segment in ctx.segments_to_bind:
                unreachable = self.check_segment_for_agent(segment, agent)
                if unreachable is None:
                    return self.complete(ctx, segment, agent)
                found.append(unreachable)
        return values.Decline(tuple(found))

    def allowed_network_types(self, agent: values.Agent) -> frozenset[str]:
        """Returns what the agent can carry: local, flat, vlan and those of its tunnel types
        that its kind of agent terminates."""
        tunnels = frozenset(agent.capabilities.tunnel_types) & self.tunnel_types
        return vocabulary.NON_TUNNEL_TYPES | tunnels

    def check_agent(self, agent: values.Agent, down_time: float) -> values.DeclineReason | None:
        """Returns why ``agent`` cannot bind anything (dead, disabled), or None."""
        label = f"{self.agent_type} agent {agent.id} on host {agent.host}"
        if not agent.alive:
            last = _timestamp(agent.heartbeat_at)
            return values.DeclineReason(
                vocabulary.AGENT_DEAD,
                f"{label} is dead: last heartbeat {last}, agent down time {down_time:g}s",
                details={
                    "agent_id": agent.id,
                    "host": agent.host,
                    "last_heartbeat": last,
                    "agent_down_time_seconds": f"{down_time:g}",
                },
            )
        if not agent.admin_state_up:
            return values.DeclineReason(
                vocabulary.AGENT_ADMIN_DOWN,
                f"{label} is administratively down",
                details={"agent_id": agent.id, "host": agent.host},
            )
        return None

    def check_agent_for_port(
        self, ctx: values.BindingContext, agent: values.Agent
    ) -> values.DeclineReason | None:
        """Returns why ``agent``, alive and enabled, cannot bind this port at all (whatever the
        segment: its vnic type needs something of the agent, say), or None. By default, None."""
        return None

    def physnet_in_mappings(self, physical_network: str, mappings: Mapping[str, str]) -> bool:
        """Whether ``mappings`` reach ``physical_network``: by default, it is one of their keys
        (Neutron's ``physnet_in_mappings``, which a driver may override)."""
        return physical_network in mappings

    def check_segment_for_agent(
        self, segment: values.Segment, agent: values.Agent
    ) -> values.DeclineReason | None:
        """Returns why ``agent`` cannot reach ``segment``, or None if it can."""
        allowed = self.allowed_network_types(agent)
        where = f"the {self.agent_type} agent on host {agent.host}"
        if segment.network_type not in allowed:
            return values.DeclineReason(
                vocabulary.NETWORK_TYPE_UNSUPPORTED,
                f"segment {segment.id} ({segment.describe()}) cannot be carried by {where}: "
                f"it carries {', '.join(sorted(allowed))}",
                segment_id=segment.id,
                details={
                    "agent_id": agent.id,
                    "host": agent.host,
                    "agent_type": self.agent_type,
                    "network_type": segment.network_type,
                    "allowed_network_types": ",".join(sorted(allowed)),
                },
            )
        realised = agent.capabilities.network_types
        if realised and segment.network_type not in realised:
            return values.DeclineReason(
                vocabulary.NETWORK_TYPE_UNSUPPORTED_BY_AGENT,
                f"segment {segment.id} ({segment.describe()}) cannot be realised by the "
                f"{self.agent_type} agent {agent.id} on host {agent.host}: it reports "
                f"{segment.network_type} unsupported, realising only {', '.join(realised)}",
                segment_id=segment.id,
                details={
                    "agent_id": agent.id,
                    "host": agent.host,
                    "network_type": segment.network_type,
                    "agent_network_types": ",".join(realised),
                },
            )
        mappings = self.mappings(agent)
        if segment.network_type in vocabulary.PHYSICAL_TYPES and not self.physnet_in_mappings(
            segment.physical_network, mappings
        ):
            shown = ", ".join(f"{k}:{v}" for k, v in sorted(mappings.items())) or "none"
            return values.DeclineReason(
                vocabulary.PHYSNET_NOT_MAPPED,
                f"physical network {segment.physical_network} of segment {segment.id} is not "
                f"mapped by {where} (mappings: {shown})",
                segment_id=segment.id,
                details={
                    "agent_id": agent.id,
                    "host": agent.host,
                    "agent_type": self.agent_type,
                    "physical_network": segment.physical_network,
                    "mappings": ",".join(f"{k}:{v}" for k, v in sorted(mappings.items())),
                    "mapping_option": self.mapping_option,
                },
            )
        return None

    def _no_agent(self, host: str) -> values.DeclineReason:
        return values.DeclineReason(
            vocabulary.NO_AGENT,
            f"no {self.agent_type} agent on host {host}",
            details={"host": host, "agent_type": self.agent_type},
        )


def _timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
