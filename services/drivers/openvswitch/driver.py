"""The Open vSwitch mechanism driver: binds where an openvswitch agent maps the segment.

It follows Neutron's ``openvswitch`` mechanism driver rule for rule:

- vnic types ``normal``, ``direct``, ``smart-nic`` and ``vdpa``, less a prohibit list. A
  ``direct`` port binds only when its binding profile's ``capabilities`` hold ``switchdev``
  (a VF whose flows Open vSwitch offloads to the NIC), and a ``smart-nic`` port only through an
  agent on a bare-metal SmartNIC (``baremetal_smartnic``); any other agent is passed over.
- vif_type ``vhostuser`` when the agent runs the userspace (netdev) datapath and its switch
  has vhost-user ports (OVS-DPDK), except for ``direct`` ports, which are always ``ovs``.
- vif_details of an ``ovs`` binding: ``port_filter``, ``connectivity``, ``ovs_hybrid_plug``
  and ``datapath_type`` as the agent reports them, ``bridge_name`` when the agent names its
  integration bridge (else none: the compute node plugs into its own default), and, with
  ``MECHDRIVER_OPENVSWITCH_CREATE_TAP``, ``ovs_create_tap`` on a kernel datapath port that is
  neither ``direct`` nor hybrid-plugged. Of a ``vhostuser`` binding: no filtering, no hybrid
  plug, the vhost-user mode, plug and socket, the datapath type and the bridge name.

Environment (``MECHDRIVER_OPENVSWITCH_*``, read at start; a bad value exits with status 2):

- ``VNIC_TYPE_PROHIBIT_LIST``: vnic types not to bind, comma-separated (default none); each must
  be one the driver binds, and one must be left.
- ``CREATE_TAP``: ``true`` to tell the compute node to create the tap devices of kernel datapath
  ports itself (``ovs_create_tap``; default ``false``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml2_contract import values, vocabulary
from ml2_driver_sdk import agent_based, discovery
from ml2_driver_sdk.runtime import config

DEFAULT_SOCKET_DIR = "/var/run/openvswitch"
"""Where vhost-user sockets are when the agent does not say (Neutron's and OVS's default)."""
VHOSTUSER_PREFIX = "vhu"
SWITCHDEV = "switchdev"
"""The binding profile capability of a VF in switchdev mode, whose flows OVS offloads."""
VNIC_TYPES: tuple[str, ...] = (
    vocabulary.VNIC_NORMAL,
    vocabulary.VNIC_DIRECT,
    vocabulary.VNIC_SMARTNIC,
    vocabulary.VNIC_VHOST_VDPA,
)
"""The vnic types the driver can bind, before the prohibit list."""
_VHOSTUSER_CLIENT = "dpdkvhostuserclient"
_VHOSTUSER = "dpdkvhostuser"
_PREFIX = "MECHDRIVER_OPENVSWITCH_"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class OpenvswitchSettings:
    """How the driver is configured."""

    vnic_types: tuple[str, ...] = VNIC_TYPES
    """The vnic types it binds: ``VNIC_TYPES`` less the prohibit list."""
    create_tap: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OpenvswitchSettings:
        """Reads ``MECHDRIVER_OPENVSWITCH_*``; raises ConfigError naming the variable."""
        name = _PREFIX + "VNIC_TYPE_PROHIBIT_LIST"
        prohibited = config.get_list(environ, name)
        unknown = [v for v in prohibited if v not in VNIC_TYPES]
        if unknown:
            raise config.ConfigError(
                f"{name}: {', '.join(unknown)} is not a vnic type this driver binds "
                f"({', '.join(VNIC_TYPES)})"
            )
        left = tuple(v for v in VNIC_TYPES if v not in prohibited)
        if not left:
            raise config.ConfigError(f"{name}: prohibits every vnic type the driver binds")
        tap_name = _PREFIX + "CREATE_TAP"
        raw = config.get_str(environ, tap_name, "false").lower()
        if raw not in _TRUE + _FALSE:
            raise config.ConfigError(f"{tap_name}={raw!r}: must be true or false")
        return cls(vnic_types=left, create_tap=raw in _TRUE)


class OpenvswitchDriver(agent_based.AgentMechanismDriver):
    """Binds ports to Open vSwitch through the host's openvswitch agent."""

    name = "openvswitch"
    agent_type = "openvswitch"
    vif_types = (vocabulary.VIF_TYPE_OVS, vocabulary.VIF_TYPE_VHOST_USER)
    supported_vnic_types = VNIC_TYPES
    provider_network_attribute_updates = frozenset({"segmentation_id"})
    """The agent retags a port's VLAN when its network's segmentation id changes."""
    settings = OpenvswitchSettings()

    def __init__(self, settings: OpenvswitchSettings | None = None) -> None:
        self.settings = settings or OpenvswitchSettings()
        self.supported_vnic_types = self.settings.vnic_types

    def mappings(self, agent: values.Agent) -> Mapping[str, str]:
        """Returns the agent's bridge mappings (physnet -> provider bridge)."""
        return agent.capabilities.bridge_mappings

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        """Declines a ``direct`` port that is not a switchdev VF, else binds as agents allow."""
        if (
            ctx.vnic_type == vocabulary.VNIC_DIRECT
            and ctx.vnic_type in self.supported_vnic_types
            and not _offloaded(ctx.profile)
        ):
            shown = _capabilities(ctx.profile)
            return values.Decline(
                (
                    values.DeclineReason(
                        vocabulary.VNIC_TYPE_UNSUPPORTED,
                        f"{self.name} binds vnic_type direct only for hardware-offloaded ports: "
                        f"the binding profile's capabilities must include {SWITCHDEV} "
                        f"(capabilities: {shown or 'none'})",
                        details={
                            "vnic_type": ctx.vnic_type,
                            "supported": ",".join(self.supported_vnic_types),
                            "required_capability": SWITCHDEV,
                            "capabilities": shown,
                        },
                    ),
                )
            )
        return super().propose_binding(ctx)

    def check_agent_for_port(
        self, ctx: values.BindingContext, agent: values.Agent
    ) -> values.DeclineReason | None:
        """A ``smart-nic`` port binds only through an agent on a bare-metal SmartNIC."""
        if ctx.vnic_type != vocabulary.VNIC_SMARTNIC or agent.capabilities.baremetal_smartnic:
            return None
        return values.DeclineReason(
            vocabulary.VNIC_TYPE_UNSUPPORTED,
            f"{self.agent_type} agent {agent.id} on host {agent.host} does not bind vnic_type "
            "smart-nic: it does not run on a bare-metal SmartNIC (baremetal_smartnic)",
            details={
                "agent_id": agent.id,
                "host": agent.host,
                "vnic_type": ctx.vnic_type,
                "baremetal_smartnic": "false",
            },
        )

    def complete(
        self, ctx: values.BindingContext, segment: values.Segment, agent: values.Agent
    ) -> values.Complete:
        """Returns an ``ovs`` binding, or ``vhostuser`` on a vhost-user capable netdev datapath."""
        caps = agent.capabilities
        datapath = caps.datapath_type or vocabulary.DATAPATH_SYSTEM
        details: dict[str, Any]
        if ctx.vnic_type != vocabulary.VNIC_DIRECT and _uses_vhostuser(caps):
            vif_type = vocabulary.VIF_TYPE_VHOST_USER
            socket_dir = (caps.vhostuser_socket_dir or DEFAULT_SOCKET_DIR).rstrip("/")
            # The socket is named like the port's device: vhu + port id, cut to 14 characters.
            socket_name = f"{VHOSTUSER_PREFIX}{ctx.port_id}"[: vocabulary.DEVICE_NAME_LENGTH]
            details = {
                vocabulary.CAP_PORT_FILTER: False,
                vocabulary.OVS_HYBRID_PLUG: False,
                # With dpdkvhostuserclient ports, OVS is the client and QEMU the server.
                vocabulary.VHOST_USER_MODE: (
                    "server" if _VHOSTUSER_CLIENT in caps.iface_types else "client"
                ),
                vocabulary.VHOST_USER_OVS_PLUG: True,
                vocabulary.VHOST_USER_SOCKET: f"{socket_dir}/{socket_name}",
            }
        else:
            vif_type = vocabulary.VIF_TYPE_OVS
            details = {
                vocabulary.CAP_PORT_FILTER: caps.port_filter,
                vocabulary.VIF_DETAILS_CONNECTIVITY: vocabulary.CONNECTIVITY_L2,
                vocabulary.OVS_HYBRID_PLUG: caps.ovs_hybrid_plug,
            }
            if (
                self.settings.create_tap
                and datapath == vocabulary.DATAPATH_SYSTEM
                and ctx.vnic_type != vocabulary.VNIC_DIRECT
                and not caps.ovs_hybrid_plug
            ):
                details[vocabulary.OVS_CREATE_TAP] = True
        details[vocabulary.OVS_DATAPATH_TYPE] = datapath
        if caps.integration_bridge:
            details[vocabulary.VIF_DETAILS_BRIDGE_NAME] = caps.integration_bridge
        return values.Complete(segment.id, vif_type, details)


def _uses_vhostuser(caps: values.HostCapabilities) -> bool:
    return caps.datapath_type == vocabulary.DATAPATH_NETDEV and bool(
        {_VHOSTUSER, _VHOSTUSER_CLIENT} & set(caps.iface_types)
    )


def _offloaded(profile: Mapping[str, Any]) -> bool:
    """Whether the binding profile's ``capabilities`` hold ``switchdev``."""
    caps = profile.get("capabilities") if profile else None
    if isinstance(caps, str | list | tuple):
        return SWITCHDEV in caps
    return False


def _capabilities(profile: Mapping[str, Any]) -> str:
    caps = profile.get("capabilities") if profile else None
    if isinstance(caps, list | tuple):
        return ",".join(str(c) for c in caps)
    return "" if caps is None else str(caps)


SPEC = discovery.DriverSpec(
    factory=lambda env: OpenvswitchDriver(OpenvswitchSettings.from_env(env)),
    default_port=50061,
    default_metrics_port=9111,
    summary="Open vSwitch agents (Neutron's openvswitch mechanism driver)",
)
"""Declared under the ``ml2.mechanism_drivers`` entry point ``openvswitch``."""
