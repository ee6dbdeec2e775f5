"""The SR-IOV mechanism driver (Neutron's ``sriovnicswitch``): binds virtual functions, and whole
physical functions, of SR-IOV NICs on flat and vlan segments.

- vnic types ``direct``, ``macvtap`` and ``accelerator-direct`` (a virtual function) bind where a
  live, enabled ``sriov`` agent on the host maps the segment's physical network in its
  ``device_mappings`` (physical network -> physical functions); vif_type ``hw_veb``.
- vnic type ``direct-physical`` (a whole physical function) binds without any agent, as Neutron
  does: the SR-IOV agent manages virtual functions only. Any flat or vlan segment offered is
  bound; vif_type ``hostdev_physical``. No agent reports the device, so the port is ACTIVE as
  soon as the binding is committed (``base.active_at_once``; Neutron sets it ACTIVE in
  ``set_binding``), unless it is administratively down.
- ``direct`` with ``switchdev`` among the binding profile's ``capabilities`` is a port for Open
  vSwitch hardware offload, which the openvswitch driver binds: this driver declines it.

vif_details: ``port_filter`` False (the NIC does not filter), ``connectivity`` l2 and ``vlan``,
the segment's VLAN id as a string (``"0"`` on a flat segment) for the VF's VLAN tag.

The PCI details of the binding profile (``pci_slot``, ``pci_vendor_info``,
``physical_network``) are the compute node's choice of device and are not checked, as in
Neutron since its ``supported_pci_vendor_devs`` option was removed: the scheduler already picked
a device on the port's physical network.

Environment: ``MECHDRIVER_SRIOV_VNIC_TYPE_PROHIBIT_LIST``, vnic types this deployment does not
bind with SR-IOV (Neutron's ``[SRIOV_DRIVER] vnic_type_prohibit_list``): each must be one the
driver binds, and at least one must be left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ml2_contract import values, vocabulary
from ml2_driver_sdk import agent_based, base, discovery
from ml2_driver_sdk.runtime import config

SWITCHDEV = "switchdev"
"""The binding profile capability of a port for Open vSwitch hardware offload."""
FLAT_VLAN = "0"
"""The ``vlan`` vif_details value of a flat segment: the VF is not tagged."""
PROHIBIT_LIST = "MECHDRIVER_SRIOV_VNIC_TYPE_PROHIBIT_LIST"


class SriovDriver(agent_based.AgentMechanismDriver):
    """Binds SR-IOV virtual functions through the host's sriov agent, physical functions
    without one."""

    name = "sriov"
    agent_type = vocabulary.AGENT_TYPE_SRIOV
    vif_types = (vocabulary.VIF_TYPE_HW_VEB, vocabulary.VIF_TYPE_HOSTDEV_PHYSICAL)
    # ``direct`` first: it is the vnic type an SR-IOV port asks for most.
    supported_vnic_types = (
        vocabulary.VNIC_DIRECT,
        vocabulary.VNIC_MACVTAP,
        vocabulary.VNIC_DIRECT_PHYSICAL,
        vocabulary.VNIC_ACCELERATOR_DIRECT,
    )
    mapping_option = "device_mappings"
    tunnel_types = frozenset()

    def __init__(self, prohibited: Sequence[str] = ()) -> None:
        unknown = [v for v in prohibited if v not in self.supported_vnic_types]
        if unknown:
            raise config.ConfigError(
                f"{PROHIBIT_LIST}: {', '.join(unknown)} not a vnic type the sriov driver binds "
                f"({', '.join(self.supported_vnic_types)})"
            )
        self.vnic_types = tuple(v for v in self.supported_vnic_types if v not in prohibited)
        """The vnic types bound: the supported ones less the prohibited ones."""
        if not self.vnic_types:
            raise config.ConfigError(f"{PROHIBIT_LIST}: every vnic type is prohibited")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SriovDriver:
        """Reads ``MECHDRIVER_SRIOV_VNIC_TYPE_PROHIBIT_LIST``; raises ConfigError naming it."""
        return cls(tuple(config.get_list(environ, PROHIBIT_LIST)))

    def describe(self) -> values.DriverDescription:
        """The agent-based description, with the vnic types left after the prohibit list."""
        return dataclasses.replace(super().describe(), supported_vnic_types=self.vnic_types)

    @property
    def supported_network_types(self) -> tuple[str, ...]:
        """flat and vlan: a VF reaches only physical networks."""
        return tuple(sorted(vocabulary.PHYSICAL_TYPES))

    def allowed_network_types(self, agent: values.Agent) -> frozenset[str]:
        """flat and vlan, whatever tunnel types the agent reports."""
        return vocabulary.PHYSICAL_TYPES

    def mappings(self, agent: values.Agent) -> Mapping[str, str]:
        """Returns the agent's device mappings, each physical network's PFs joined by commas."""
        return {net: ",".join(pfs) for net, pfs in agent.capabilities.device_mappings.items()}

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        """Declines switchdev ``direct`` ports, binds ``direct-physical`` without an agent and
        the other vnic types through the host's sriov agent."""
        capabilities = _capabilities(ctx.profile)
        if ctx.vnic_type == vocabulary.VNIC_DIRECT and SWITCHDEV in capabilities:
            return values.Decline((self._switchdev(capabilities),))
        if ctx.vnic_type not in self.vnic_types:
            return values.Decline(
                (
                    values.DeclineReason(
                        vocabulary.VNIC_TYPE_UNSUPPORTED,
                        f"{self.name} does not bind vnic_type {ctx.vnic_type} "
                        f"(binds {', '.join(self.vnic_types)})",
                        details={
                            "vnic_type": ctx.vnic_type,
                            "supported": ",".join(self.vnic_types),
                        },
                    ),
                )
            )
        if ctx.vnic_type == vocabulary.VNIC_DIRECT_PHYSICAL:
            return self._bind_physical_function(ctx)
        return super().propose_binding(ctx)

    def check_segment_for_agent(
        self, segment: values.Segment, agent: values.Agent
    ) -> values.DeclineReason | None:
        """The agent-based checks; an unmapped physical network's reason lists the mappings as
        the agent's ``device_mappings`` option spells them (``physnet:pf`` per PF)."""
        reason = super().check_segment_for_agent(segment, agent)
        if reason is None or reason.code != vocabulary.PHYSNET_NOT_MAPPED:
            return reason
        pairs = [
            f"{net}:{pf}"
            for net, pfs in sorted(agent.capabilities.device_mappings.items())
            for pf in pfs
        ]
        return dataclasses.replace(
            reason,
            message=(
                f"physical network {segment.physical_network} of segment {segment.id} is not "
                f"mapped by the {self.agent_type} agent on host {agent.host} "
                f"(device_mappings: {', '.join(pairs) or 'none'})"
            ),
            details={**reason.details, "mappings": ",".join(pairs)},
        )

    def complete(
        self, ctx: values.BindingContext, segment: values.Segment, agent: values.Agent
    ) -> values.Complete:
        """Returns an ``hw_veb`` binding of a virtual function on ``segment``."""
        return values.Complete(segment.id, vocabulary.VIF_TYPE_HW_VEB, vif_details(segment))

    def _bind_physical_function(self, ctx: values.BindingContext) -> values.Proposal:
        for segment in ctx.segments_to_bind:
            if segment.network_type in vocabulary.PHYSICAL_TYPES:
                return base.active_at_once(
                    values.Complete(
                        segment.id, vocabulary.VIF_TYPE_HOSTDEV_PHYSICAL, vif_details(segment)
                    )
                )
        allowed = ",".join(self.supported_network_types)
        return values.Decline(
            tuple(
                values.DeclineReason(
                    vocabulary.NETWORK_TYPE_UNSUPPORTED,
                    f"{self.name} does not bind segment {s.id} ({s.describe()}) to a physical "
                    f"function: it binds {', '.join(self.supported_network_types)}",
                    segment_id=s.id,
                    details={
                        "vnic_type": ctx.vnic_type,
                        "network_type": s.network_type,
                        "allowed_network_types": allowed,
                    },
                )
                for s in ctx.segments_to_bind
            )
        )

    def _switchdev(self, capabilities: Sequence[str]) -> values.DeclineReason:
        return values.DeclineReason(
            vocabulary.VNIC_TYPE_UNSUPPORTED,
            f"{self.name} does not bind vnic_type {vocabulary.VNIC_DIRECT} with the "
            f"{SWITCHDEV} capability: the port is for Open vSwitch hardware offload, which the "
            "openvswitch driver binds",
            details={
                "vnic_type": vocabulary.VNIC_DIRECT,
                "capabilities": ",".join(capabilities),
                "supported": ",".join(self.vnic_types),
            },
        )


def vif_details(segment: values.Segment) -> dict[str, Any]:
    """Returns the vif_details of an SR-IOV binding on a flat or vlan ``segment``."""
    vlan = (
        str(segment.segmentation_id) if segment.network_type == vocabulary.TYPE_VLAN else FLAT_VLAN
    )
    return {
        vocabulary.CAP_PORT_FILTER: False,
        vocabulary.VIF_DETAILS_CONNECTIVITY: vocabulary.CONNECTIVITY_L2,
        vocabulary.VIF_DETAILS_VLAN: vlan,
    }


def _capabilities(profile: Mapping[str, Any]) -> tuple[str, ...]:
    """The binding profile's ``capabilities``: a list of strings (a lone string is one)."""
    raw = profile.get("capabilities") or ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, (list, tuple)):
        return tuple(str(c) for c in raw)
    return ()


SPEC = discovery.DriverSpec(
    factory=SriovDriver.from_env,
    default_port=50064,
    default_metrics_port=9114,
    summary="SR-IOV NICs: sriov agents, and PF passthrough (Neutron's sriovnicswitch driver)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``sriov``."""
