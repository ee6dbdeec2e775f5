"""The Linux bridge mechanism driver: binds where a linuxbridge agent maps the segment.

vif_type ``bridge`` with the vif_details Neutron's driver sends, ``port_filter`` and
``connectivity``, and no bridge name: the compute node plugs the port into the network's bridge
``brq<network id>``, cut to 14 characters, as Nova and the Linux bridge agent name it. Like
Neutron's Linux bridge agent, it carries local, flat, vlan and vxlan segments: the Linux bridge
agent has no GRE or Geneve.
"""

from __future__ import annotations

from collections.abc import Mapping

from ml2_contract import values, vocabulary
from ml2_driver_sdk import agent_based, discovery


class LinuxbridgeDriver(agent_based.AgentMechanismDriver):
    """Binds ports to Linux bridges through the host's linuxbridge agent."""

    name = "linuxbridge"
    agent_type = "linuxbridge"
    vif_types = (vocabulary.VIF_TYPE_BRIDGE,)
    tunnel_types = frozenset({vocabulary.TYPE_VXLAN})
    mapping_option = "interface_mappings"

    def mappings(self, agent: values.Agent) -> Mapping[str, str]:
        """Returns interface mappings and bridge mappings together (an interface wins)."""
        return {**agent.capabilities.bridge_mappings, **agent.capabilities.interface_mappings}

    def complete(
        self, ctx: values.BindingContext, segment: values.Segment, agent: values.Agent
    ) -> values.Complete:
        """Returns a ``bridge`` binding; ``port_filter`` is the agent's (whether it filters)."""
        return values.Complete(
            segment.id,
            vocabulary.VIF_TYPE_BRIDGE,
            {
                vocabulary.CAP_PORT_FILTER: agent.capabilities.port_filter,
                vocabulary.VIF_DETAILS_CONNECTIVITY: vocabulary.CONNECTIVITY_L2,
            },
        )


SPEC = discovery.DriverSpec(
    factory=lambda _env: LinuxbridgeDriver(),
    default_port=50062,
    default_metrics_port=9112,
    summary="Linux bridge agents (Neutron's linuxbridge mechanism driver)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``linuxbridge``."""
