"""The Open vSwitch mechanism driver: binds where an openvswitch agent maps the segment.

vif_type ``ovs`` with the vif_details Neutron's driver sends (``port_filter``, ``ovs_hybrid_plug``,
``datapath_type``, ``bridge_name``, ``connectivity``), or ``vhostuser`` when the agent runs the
userspace (netdev) datapath and its switch supports vhost-user ports (OVS-DPDK).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.mechmgr.drivers import agent_based, base, context, portbindings

DEFAULT_BRIDGE = "br-int"
DEFAULT_SOCKET_DIR = "/var/run/openvswitch"
_VHOSTUSER_CLIENT = "dpdkvhostuserclient"
_VHOSTUSER = "dpdkvhostuser"


class OpenvswitchDriver(agent_based.AgentMechanismDriver):
    """Binds ports to Open vSwitch through the host's openvswitch agent."""

    name = "openvswitch"
    agent_type = "openvswitch"
    vif_types = (portbindings.VIF_TYPE_OVS, portbindings.VIF_TYPE_VHOST_USER)

    def mappings(self, agent: context.Agent) -> Mapping[str, str]:
        """Returns the agent's bridge mappings (physnet -> provider bridge)."""
        return agent.capabilities.bridge_mappings

    def complete(
        self, ctx: context.BindingContext, segment: context.Segment, agent: context.Agent
    ) -> base.Complete:
        """Returns an ``ovs`` binding, or ``vhostuser`` on a vhost-user capable netdev datapath."""
        caps = agent.capabilities
        datapath = caps.datapath_type or portbindings.DATAPATH_SYSTEM
        details: dict[str, Any] = {
            portbindings.CAP_PORT_FILTER: caps.port_filter,
            portbindings.OVS_HYBRID_PLUG: caps.ovs_hybrid_plug,
            portbindings.OVS_DATAPATH_TYPE: datapath,
            portbindings.VIF_DETAILS_BRIDGE_NAME: caps.integration_bridge or DEFAULT_BRIDGE,
            portbindings.VIF_DETAILS_CONNECTIVITY: portbindings.CONNECTIVITY_L2,
        }
        if not _uses_vhostuser(caps):
            return base.Complete(segment.id, portbindings.VIF_TYPE_OVS, details)
        socket_dir = (caps.vhostuser_socket_dir or DEFAULT_SOCKET_DIR).rstrip("/")
        # The socket is named like the port's device: vhu + port id, cut to 14 characters.
        socket_name = f"vhu{ctx.port_id}"[: portbindings.DEVICE_NAME_LENGTH]
        details.update(
            {
                portbindings.CAP_PORT_FILTER: False,
                portbindings.OVS_HYBRID_PLUG: False,
                portbindings.VHOST_USER_OVS_PLUG: True,
                # With dpdkvhostuserclient ports, OVS is the client and QEMU the server.
                portbindings.VHOST_USER_MODE: (
                    "server" if _VHOSTUSER_CLIENT in caps.iface_types else "client"
                ),
                portbindings.VHOST_USER_SOCKET: f"{socket_dir}/{socket_name}",
            }
        )
        return base.Complete(segment.id, portbindings.VIF_TYPE_VHOST_USER, details)


def _uses_vhostuser(caps: context.HostCapabilities) -> bool:
    return caps.datapath_type == portbindings.DATAPATH_NETDEV and bool(
        {_VHOSTUSER, _VHOSTUSER_CLIENT} & set(caps.iface_types)
    )
