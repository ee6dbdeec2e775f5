"""The Hyper-V mechanism driver: binds where a hyperv agent maps the segment to a virtual switch.

It follows networking-hyperv's ``hyperv`` mechanism driver rule for rule:

- vnic types ``normal`` and ``direct``;
- network types local, flat and vlan, and every tunnel type the agent reports (the Hyper-V
  agent's own NVGRE reports ``gre``; the driver believes whatever the agent lists);
- the agent's ``vswitch_mappings`` map physical networks to virtual switches, and their keys
  are regular expressions: a segment's physical network is mapped when a key matches at the
  start of its name (Python's ``re.match``, as networking-hyperv matches; the Hyper-V agent
  itself reports each configured name with ``*`` turned into ``.*`` and anchored with ``$``, so
  that its keys match whole names). A key that is not a regular expression matches nothing;
- vif_type ``hyperv`` with the vif_details ``port_filter`` false and ``connectivity`` l2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ml2_contract import values, vocabulary
from ml2_driver_sdk import agent_based, discovery


def pattern_matches(pattern: str, physical_network: str) -> bool:
    """Whether the mapping key ``pattern`` matches ``physical_network`` from its start."""
    try:
        return re.match(pattern, physical_network) is not None
    except re.error:
        return False


class HypervDriver(agent_based.AgentMechanismDriver):
    """Binds ports to Hyper-V virtual switches through the host's hyperv agent."""

    name = "hyperv"
    agent_type = vocabulary.AGENT_TYPE_HYPERV
    vif_types = (vocabulary.VIF_TYPE_HYPERV,)
    supported_vnic_types = (vocabulary.VNIC_NORMAL, vocabulary.VNIC_DIRECT)
    tunnel_types = vocabulary.TUNNEL_TYPES
    mapping_option = "vswitch_mappings"

    def mappings(self, agent: values.Agent) -> Mapping[str, str]:
        """Returns the agent's virtual switch mappings (physnet pattern -> virtual switch)."""
        return agent.capabilities.vswitch_mappings

    def physnet_in_mappings(self, physical_network: str, mappings: Mapping[str, str]) -> bool:
        """Whether some mapping key, a regular expression, matches the physical network."""
        return any(pattern_matches(pattern, physical_network) for pattern in mappings)

    def complete(
        self, ctx: values.BindingContext, segment: values.Segment, agent: values.Agent
    ) -> values.Complete:
        """Returns a ``hyperv`` binding."""
        return values.Complete(
            segment.id,
            vocabulary.VIF_TYPE_HYPERV,
            {
                vocabulary.CAP_PORT_FILTER: False,
                vocabulary.VIF_DETAILS_CONNECTIVITY: vocabulary.CONNECTIVITY_L2,
            },
        )


SPEC = discovery.DriverSpec(
    factory=lambda _env: HypervDriver(),
    default_port=50063,
    default_metrics_port=9113,
    summary="Hyper-V agents (networking-hyperv's hyperv mechanism driver)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``hyperv``."""
