"""The Open vSwitch mechanism driver: binds where an openvswitch agent maps the segment.

vif_type ``ovs`` with the vif_details Neutron's driver sends (``port_filter``, ``ovs_hybrid_plug``,
``datapath_type``, ``bridge_name``, ``connectivity``), or ``vhostuser`` when the agent runs the
userspace (netdev) datapath and its switch supports vhost-user ports (OVS-DPDK).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml2_contract import values, vocabulary
from ml2_driver_sdk import agent_based, discovery

DEFAULT_BRIDGE = "br-int"
DEFAULT_SOCKET_DIR = "/var/run/openvswitch"
_VHOSTUSER_CLIENT = "dpdkvhostuserclient"
_VHOSTUSER = "dpdkvhostuser"


class OpenvswitchDriver(agent_based.AgentMechanismDriver):
    """Binds ports to Open vSwitch through the host's openvswitch agent."""

    name = "openvswitch"
    agent_type = "openvswitch"
    vif_types = (vocabulary.VIF_TYPE_OVS, vocabulary.VIF_TYPE_VHOST_USER)

    def mappings(self, agent: values.Agent) -> Mapping[str, str]:
        """Returns the agent's bridge mappings (physnet -> provider bridge)."""
        return agent.capabilities.bridge_mappings

    def complete(
        self, ctx: values.BindingContext, segment: values.Segment, agent: values.Agent
    ) -> values.Complete:
        """Returns an ``ovs`` binding, or ``vhostuser`` on a vhost-user capable netdev datapath."""
        caps = agent.capabilities
        datapath = caps.datapath_type or vocabulary.DATAPATH_SYSTEM
        details: dict[str, Any] = {
            vocabulary.CAP_PORT_FILTER: caps.port_filter,
            vocabulary.OVS_HYBRID_PLUG: caps.ovs_hybrid_plug,
            vocabulary.OVS_DATAPATH_TYPE: datapath,
            vocabulary.VIF_DETAILS_BRIDGE_NAME: caps.integration_bridge or DEFAULT_BRIDGE,
            vocabulary.VIF_DETAILS_CONNECTIVITY: vocabulary.CONNECTIVITY_L2,
        }
        if not _uses_vhostuser(caps):
            return values.Complete(segment.id, vocabulary.VIF_TYPE_OVS, details)
        socket_dir = (caps.vhostuser_socket_dir or DEFAULT_SOCKET_DIR).rstrip("/")
        # The socket is named like the port's device: vhu + port id, cut to 14 characters.
        socket_name = f"vhu{ctx.port_id}"[: vocabulary.DEVICE_NAME_LENGTH]
        details.update(
            {
                vocabulary.CAP_PORT_FILTER: False,
                vocabulary.OVS_HYBRID_PLUG: False,
                vocabulary.VHOST_USER_OVS_PLUG: True,
                # With dpdkvhostuserclient ports, OVS is the client and QEMU the server.
                vocabulary.VHOST_USER_MODE: (
                    "server" if _VHOSTUSER_CLIENT in caps.iface_types else "client"
                ),
                vocabulary.VHOST_USER_SOCKET: f"{socket_dir}/{socket_name}",
            }
        )
        return values.Complete(segment.id, vocabulary.VIF_TYPE_VHOST_USER, details)


def _uses_vhostuser(caps: values.HostCapabilities) -> bool:
    return caps.datapath_type == vocabulary.DATAPATH_NETDEV and bool(
        {_VHOSTUSER, _VHOSTUSER_CLIENT} & set(caps.iface_types)
    )


SPEC = discovery.DriverSpec(
    factory=lambda _env: OpenvswitchDriver(),
    default_port=50061,
    default_metrics_port=9111,
    summary="Open vSwitch agents (Neutron's openvswitch mechanism driver)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``openvswitch``."""
