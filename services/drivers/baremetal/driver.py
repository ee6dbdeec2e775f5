"""The bare-metal driver: binds the ports of hardware nodes wired to a switch port.

What it binds is networking-baremetal's: ports of vnic_type ``baremetal`` on flat and vlan
segments, with vif_type ``other`` (nothing for a compute node to plug: the node's NIC is cabled
to the switch) and vif_details ``{"connectivity": "l2"}``. It needs no agent: the node is named
by its switch port links, from the port's binding profile ``local_link_information`` (a list of
``{switch_id, port_id, switch_info}``, as Ironic sends it) or, when the profile has none, from
the host's link in the operator's topology (``ml2 topology set``). When the host's link names a
physical network, only segments of that physical network are bound.

No L2 agent wires or reports a bare-metal port, so a bound port is ACTIVE as soon as its binding
is committed (``base.active_at_once``), unless it is administratively down. networking-baremetal
reaches the same state another way: its binding adds a provisioning block that its
``update_port_postcommit`` completes once the port is bound with its vif_type, with no device
report from any agent.

It declines, with a reason naming the host:

- a port with neither link information nor a link in the topology (HOST_NOT_LINKED);
- ``local_link_information`` that is not a list of links, or a link without a switch
  (``switch_id`` or ``switch_info``) or without a ``port_id`` (LINK_INFORMATION_INVALID);
- segments of another physical network than the link's (PHYSNET_NOT_LINKED);
- other vnic types and network types (the SDK's agentless rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ml2_contract import values, vocabulary
from ml2_driver_sdk import base, discovery

NAME = "baremetal"
_SWITCH_KEYS = (vocabulary.LINK_SWITCH_ID, vocabulary.LINK_SWITCH_INFO)


class BaremetalDriver(base.AgentlessDriver):
    """Completes flat and vlan segments of bare-metal ports with vif_type ``other``."""

    name = NAME
    vif_types = (vocabulary.VIF_TYPE_OTHER,)
    supported_vnic_types = (vocabulary.VNIC_BAREMETAL,)
    supported_network_types = (vocabulary.TYPE_FLAT, vocabulary.TYPE_VLAN)

    def bind(
        self, ctx: values.BindingContext, segments: Sequence[values.Segment]
    ) -> values.Proposal:
        """Completes the first offered segment the node's link reaches."""
        invalid = _invalid_link_information(ctx)
        if invalid is not None:
            return values.Decline((invalid,))
        links = _link_information(ctx)
        if not links and not ctx.host_links:
            return values.Decline(
                (
                    values.DeclineReason(
                        vocabulary.HOST_NOT_LINKED,
                        f"bare-metal port on host {ctx.host} has no local_link_information in "
                        f"its binding profile and the host has no link in the topology: record "
                        f"it with `ml2 topology set {ctx.host} --switch-id SWITCH --port-id PORT`",
                        details={"host": ctx.host},
                    ),
                )
            )
        physnets = tuple(
            dict.fromkeys(x.physical_network for x in ctx.host_links if x.physical_network)
        )
        for segment in segments:
            if not physnets or segment.physical_network in physnets:
                details = {vocabulary.VIF_DETAILS_CONNECTIVITY: vocabulary.CONNECTIVITY_L2}
                return base.active_at_once(
                    values.Complete(segment.id, vocabulary.VIF_TYPE_OTHER, details)
                )
        link = next(x for x in ctx.host_links if x.physical_network)
        return values.Decline(
            tuple(
                values.DeclineReason(
                    vocabulary.PHYSNET_NOT_LINKED,
                    f"host {ctx.host} is wired to switch {link.switch_id} port {link.port_id}, "
                    f"which carries {', '.join(physnets)}, not segment {s.id}'s "
                    f"{s.physical_network}",
                    segment_id=s.id,
                    details={
                        "host": ctx.host,
                        "physical_network": s.physical_network,
                        "link_physical_network": ",".join(physnets),
                        "switch_id": link.switch_id,
                        "port_id": link.port_id,
                    },
                )
                for s in segments
            )
        )


def _link_information(ctx: values.BindingContext) -> list[Mapping[str, Any]]:
    """The links of the profile's ``local_link_information`` (checked already)."""
    found = ctx.profile.get(vocabulary.PROFILE_LOCAL_LINK_INFORMATION)
    return list(found) if isinstance(found, list) else []


def _invalid_link_information(ctx: values.BindingContext) -> values.DeclineReason | None:
    """A LINK_INFORMATION_INVALID reason for malformed ``local_link_information``, or None."""
    key = vocabulary.PROFILE_LOCAL_LINK_INFORMATION
    found = ctx.profile.get(key)
    if found is None:
        return None
    if not isinstance(found, list):
        return _invalid(ctx, f"{key} must be a list of links, got {type(found).__name__}", "")
    for i, link in enumerate(found):
        where = f"{key}[{i}]"
        if not isinstance(link, dict):
            return _invalid(ctx, f"{where} must be an object, got {type(link).__name__}", where)
        if not any(_text(link.get(k)) for k in _SWITCH_KEYS):
            return _invalid(ctx, f"{where} names no switch (switch_id or switch_info)", where)
        if not _text(link.get(vocabulary.LINK_PORT_ID)):
            return _invalid(ctx, f"{where} names no switch port (port_id)", where)
    return None


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _invalid(ctx: values.BindingContext, what: str, where: str) -> values.DeclineReason:
    return values.DeclineReason(
        vocabulary.LINK_INFORMATION_INVALID,
        f"bare-metal port on host {ctx.host}: {what}",
        details={"host": ctx.host, "link": where},
    )


SPEC = discovery.DriverSpec(
    factory=lambda _env: BaremetalDriver(),
    default_port=50067,
    default_metrics_port=9117,
    summary="bare-metal nodes by their switch port links (networking-baremetal's vnic type "
    "baremetal, vif_type other)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``baremetal``."""
