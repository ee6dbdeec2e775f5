"""The macvtap mechanism driver: binds ``normal`` ports as macvtap devices on the interface a
macvtap agent maps the segment's physical network to.

vif_type ``macvtap``; flat and vlan segments only. vif_details: ``port_filter`` False,
``connectivity`` l2, ``physical_interface`` (the mapped interface), ``macvtap_source`` (the
interface on a flat segment, its VLAN device ``<interface>.<vlan id>`` on a vlan segment, the
interface name shortened as Neutron does so that the whole name fits 15 bytes),
``macvtap_mode`` ``bridge`` and, on a vlan segment only, ``vlan`` (the VLAN id as an integer, as
Neutron's macvtap driver sends it).

Live migration: a macvtap device cannot move to another source device. As Neutron's driver
does, a port is live-migrating when ``migrating_to`` (set by Nova) is in the profile of its
original binding (``BindingContext.original``: the binding before its inputs last changed) or in
its current profile; the ``macvtap_source`` of the original binding (on the migration source
host) is then compared with the device the port would use on the host asked about for the
segment's physical network, and a segment where they differ is declined with
MIGRATION_SOURCE_MISMATCH. A port whose original binding has no ``macvtap_source`` (bound by
another driver) is not compared.

Deprecated: a port without an original macvtap binding (bound before modular-l2 recorded
original bindings) may still carry the source device in its profile as
``migration_source_device`` beside ``migrating_to``; it is compared in the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ml2_contract import values, vocabulary
from ml2_driver_sdk import agent_based, base, discovery

MACVTAP_MODE_BRIDGE = "bridge"
MIGRATING_TO = "migrating_to"
"""Binding profile key: the host an instance is live-migrating to (set by Nova)."""
MIGRATION_SOURCE_DEVICE = "migration_source_device"
"""Deprecated binding profile key: the ``macvtap_source`` of the port's binding on the migration
source, for a port without an original macvtap binding."""

_IFNAME_MAX = 15
_VLAN_SUFFIX_MAX = 5  # ".4094"
_HASH_LEN = 6


def vlan_device_name(interface: str, vlan_id: int) -> str:
    """Returns the name of ``interface``'s VLAN device ``vlan_id``, as Neutron's macvtap agent
    names it: the interface part is kept to 10 characters (a longer name keeps its first 4 and
    adds 6 hex digits of its SHA-1) so that any VLAN id fits."""
    room = _IFNAME_MAX - _VLAN_SUFFIX_MAX
    if len(interface) > room:
        digest = hashlib.sha1(interface.encode(), usedforsecurity=False).hexdigest()
        interface = interface[: room - _HASH_LEN] + digest[:_HASH_LEN]
    return f"{interface}.{vlan_id}"


def macvtap_source(interface: str, segment: values.Segment) -> str:
    """Returns the device the port's macvtap sits on: the interface, or its VLAN device."""
    if segment.network_type == vocabulary.TYPE_VLAN:
        return vlan_device_name(interface, segment.segmentation_id)
    return interface


class MacvtapDriver(agent_based.AgentMechanismDriver):
    """Binds ports as macvtap devices through the host's macvtap agent."""

    name = "macvtap"
    agent_type = vocabulary.AGENT_TYPE_MACVTAP
    vif_types = (vocabulary.VIF_TYPE_MACVTAP,)
    mapping_option = "interface_mappings"
    tunnel_types = frozenset()

    @property
    def supported_network_types(self) -> tuple[str, ...]:
        """flat and vlan: a macvtap sits on a physical interface."""
        return tuple(sorted(vocabulary.PHYSICAL_TYPES))

    def allowed_network_types(self, agent: values.Agent) -> frozenset[str]:
        """flat and vlan, whatever tunnel types the agent reports."""
        return vocabulary.PHYSICAL_TYPES

    def mappings(self, agent: values.Agent) -> Mapping[str, str]:
        """Returns the agent's interface mappings (physnet -> interface)."""
        return agent.capabilities.interface_mappings

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        """The agent-based binding, where a segment whose source device differs from the one
        the port uses on its migration source host is declined."""
        if ctx.vnic_type not in self.supported_vnic_types:
            return values.Decline(
                (base.vnic_unsupported(self.name, ctx.vnic_type, self.supported_vnic_types),)
            )
        agents = ctx.agents_of_type(self.agent_type)
        if not agents:
            return values.Decline((self._no_agent(ctx.host),))
        found: list[values.DeclineReason] = []
        for agent in agents:
            unusable = self.check_agent(agent, ctx.agent_down_time)
            if unusable is not None:
                found.append(unusable)
                continue
            for segment in ctx.segments_to_bind:
                reason = self.check_segment_for_agent(segment, agent)
                if reason is None:
                    reason = self.check_migration(ctx, segment, agent)
                if reason is None:
                    return self.complete(ctx, segment, agent)
                found.append(reason)
        return values.Decline(tuple(found))

    def check_migration(
        self, ctx: values.BindingContext, segment: values.Segment, agent: values.Agent
    ) -> values.DeclineReason | None:
        """Returns why a live-migrating port cannot keep its device on ``agent``'s host."""
        migration = _migration(ctx)
        if migration is None:
            return None
        target, source_host, source = migration
        device = macvtap_source(self.mappings(agent)[segment.physical_network], segment)
        if device == source:
            return None
        where = f"on host {source_host}" if source_host else "on the migration source"
        return values.DeclineReason(
            vocabulary.MIGRATION_SOURCE_MISMATCH,
            f"the port is live-migrating (migrating_to {target}) and its macvtap source device "
            f"{source} {where} differs from {device} on host {agent.host} for physical "
            f"network {segment.physical_network} of segment {segment.id}: map it to the same "
            "interface in the macvtap agents' interface_mappings on both hosts",
            segment_id=segment.id,
            details={
                "agent_id": agent.id,
                "host": agent.host,
                "physical_network": segment.physical_network,
                "migrating_to": target,
                "source_host": source_host,
                "source_device": source,
                "target_device": device,
            },
        )

    def complete(
        self, ctx: values.BindingContext, segment: values.Segment, agent: values.Agent
    ) -> values.Complete:
        """Returns a ``macvtap`` binding on the mapped interface (or its VLAN device)."""
        interface = self.mappings(agent)[segment.physical_network]
        details: dict[str, Any] = {
            vocabulary.CAP_PORT_FILTER: False,
            vocabulary.VIF_DETAILS_CONNECTIVITY: vocabulary.CONNECTIVITY_L2,
            vocabulary.VIF_DETAILS_PHYSICAL_INTERFACE: interface,
            vocabulary.VIF_DETAILS_MACVTAP_SOURCE: macvtap_source(interface, segment),
            vocabulary.VIF_DETAILS_MACVTAP_MODE: MACVTAP_MODE_BRIDGE,
        }
        if segment.network_type == vocabulary.TYPE_VLAN:
            details[vocabulary.VIF_DETAILS_VLAN] = segment.segmentation_id
        return values.Complete(segment.id, vocabulary.VIF_TYPE_MACVTAP, details)


def _migration(ctx: values.BindingContext) -> tuple[str, str, str] | None:
    """Returns ``(migrating_to, source host, source device)`` of a live-migrating port whose
    source device is known, else None."""
    original = ctx.original
    current = str(ctx.profile.get(MIGRATING_TO) or "")
    if original is not None:
        source = original.vif_details.get(vocabulary.VIF_DETAILS_MACVTAP_SOURCE)
        target = str(original.profile.get(MIGRATING_TO) or "") or current
        if isinstance(source, str) and source:
            return (target, original.host, source) if target else None
    legacy = str(ctx.profile.get(MIGRATION_SOURCE_DEVICE) or "")
    if current and legacy:
        return current, "", legacy
    return None


SPEC = discovery.DriverSpec(
    factory=lambda _env: MacvtapDriver(),
    default_port=50065,
    default_metrics_port=9115,
    summary="Macvtap agents (Neutron's macvtap mechanism driver)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``macvtap``."""
