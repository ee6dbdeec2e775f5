"""The SDN controller driver: the top of a hierarchical binding, as top-of-rack drivers play it.

The network's tunnel segment (vxlan, gre, geneve) is carried by the fabric up to the top-of-rack
switch; from the switch down to the host it becomes a VLAN. The driver binds no agent: at level
0 it binds the first offered tunnel segment of a host whose link the operator recorded
(``ml2 topology set``) and continues with a dynamic VLAN segment on the physical network of that
link. mechmgr allocates the VLAN from typemgr and offers it to level 1, where the host's agent
driver (openvswitch, linuxbridge, ...) or, for a bare-metal node, the baremetal driver binds it.

It declines, with a reason naming the host:

- a host without a link in the topology (HOST_NOT_LINKED): with an empty topology, the default,
  it declines every port, so it can run in any stack and binds nothing until links are set;
- a host whose link names no physical network (PHYSNET_NOT_LINKED): the VLAN needs one;
- a level below 0 (NETWORK_TYPE_UNSUPPORTED): it is the top of a hierarchy only;
- segments other than tunnels and vnic types it does not list (the SDK's agentless rules).
"""

from __future__ import annotations

from collections.abc import Sequence

from ml2_contract import values, vocabulary
from ml2_driver_sdk import base, discovery

NAME = "sdn-controller"


class SdnControllerDriver(base.AgentlessDriver):
    """Continues a tunnel segment with a dynamic VLAN on the physical network of the host's link."""

    name = NAME
    vif_types = ()
    supported_vnic_types = (
        vocabulary.VNIC_NORMAL,
        vocabulary.VNIC_DIRECT,
        vocabulary.VNIC_MACVTAP,
        vocabulary.VNIC_DIRECT_PHYSICAL,
        vocabulary.VNIC_BAREMETAL,
    )
    supported_network_types = tuple(sorted(vocabulary.TUNNEL_TYPES))

    def bind(
        self, ctx: values.BindingContext, segments: Sequence[values.Segment]
    ) -> values.Proposal:
        """Continues the first tunnel segment with a VLAN on the host link's physical network."""
        if ctx.level != 0:
            return values.Decline(
                tuple(
                    values.DeclineReason(
                        vocabulary.NETWORK_TYPE_UNSUPPORTED,
                        f"{NAME} binds tunnel segments at level 0 only (the top of the "
                        f"hierarchy), not segment {s.id} ({s.describe()}) at level {ctx.level}",
                        segment_id=s.id,
                        details={"network_type": s.network_type, "level": str(ctx.level)},
                    )
                    for s in segments
                )
            )
        if not ctx.host_links:
            return values.Decline(
                (
                    values.DeclineReason(
                        vocabulary.HOST_NOT_LINKED,
                        f"host {ctx.host} has no link in the topology: record the switch port "
                        f"it is wired to with `ml2 topology set {ctx.host} --switch-id SWITCH "
                        f"--port-id PORT --physical-network PHYSNET`",
                        details={"host": ctx.host},
                    ),
                )
            )
        link = next((x for x in ctx.host_links if x.physical_network), None)
        if link is None:
            first = ctx.host_links[0]
            return values.Decline(
                (
                    values.DeclineReason(
                        vocabulary.PHYSNET_NOT_LINKED,
                        f"the link of host {ctx.host} (switch {first.switch_id} port "
                        f"{first.port_id}) names no physical network to allocate a VLAN on: "
                        f"set one with `ml2 topology set {ctx.host} --switch-id "
                        f"{first.switch_id} --port-id {first.port_id} --physical-network PHYSNET`",
                        details={
                            "host": ctx.host,
                            "switch_id": first.switch_id,
                            "port_id": first.port_id,
                            "link_physical_network": "",
                        },
                    ),
                )
            )
        spec = values.SegmentSpec(vocabulary.TYPE_VLAN, link.physical_network)
        return values.Continue(segments[0].id, dynamic_segments=(spec,))


SPEC = discovery.DriverSpec(
    factory=lambda _env: SdnControllerDriver(),
    default_port=50066,
    default_metrics_port=9116,
    summary="top-of-rack SDN controller: continues tunnel segments with a VLAN on the host's "
    "switch link (ml2 topology)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``sdn-controller``."""
