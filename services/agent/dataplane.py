"""What an L2 agent's dataplane does on its host, independent of how the agent learns the ports.

The agent runtime (watching portapi, reporting device status, keeping alive with mechmgr) drives
one ``Dataplane``: Open vSwitch (``services.agent.ovs``) or Linux bridge
(``services.agent.linuxbridge``). The runtime owns *what* should be wired; a dataplane owns *how*
it is wired on this host, and what is there now.

The division of labour is the one of Neutron and os-vif: the compute node's VIF driver creates a
port's device (an Open vSwitch port whose ``external_ids:iface-id`` is the port id, or a tap
device named after the port), and the agent finds that device and wires it into the port's
network (a local VLAN tag and flows; a bridge per network, tunnels to the other hosts). The agent
never creates or deletes the device itself: unwiring leaves it isolated, and the VIF driver's
unplug removes it.

Every method is idempotent, so the runtime can replay everything after a restart (a resync):
wiring what is already wired changes nothing, unwiring what is not wired is not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ml2_contract import values


class WiringError(RuntimeError):
    """Wiring a port failed; the message, for people, is reported as the port's ERROR reason."""


@dataclass(frozen=True)
class Attachment:
    """One port bound to this host, as the agent must wire it."""

    port_id: str
    network_id: str
    mac_address: str
    segment: values.Segment
    """The segment this agent's mechanism bound (the binding's last level)."""
    vif_type: str
    vif_details: Mapping[str, Any] = field(default_factory=dict)
    admin_up: bool = True
    """False: keep the device isolated (Neutron's dead VLAN), report it DOWN."""
    generation: int = 0
    """The binding generation; reports carry it so a stale one changes nothing."""
    device_id: str = ""


@dataclass(frozen=True)
class Device:
    """A port's device found on this host (plugged by the compute node's VIF driver)."""

    port_id: str
    name: str
    """The device's name on the host, e.g. tap0123456789a or an OVS interface name."""
    mac_address: str = ""


@dataclass(frozen=True)
class TunnelPeer:
    """Another host with ports on a tunnelled network: where to send its traffic."""

    host: str
    ip: str
    """The peer agent's ``local_ip`` (HostCapabilities), the tunnel's remote endpoint."""


class Dataplane(Protocol):
    """A host's dataplane as an agent drives it."""

    agent_type: str
    """``openvswitch`` or ``linuxbridge`` (ml2_contract.vocabulary's agent types)."""

    def capabilities(self) -> values.HostCapabilities:
        """What the agent registers: mappings, tunnel types, local_ip, the network types this
        host can realise (``network_types``)."""
        ...

    def setup(self) -> None:
        """Prepares the host (bridges, patch ports); called once at start. Raises WiringError
        (with what is missing) when the host cannot serve at all."""
        ...

    def devices(self) -> dict[str, Device]:
        """The ports' devices present on this host now, by port id."""
        ...

    def wire(self, attachment: Attachment) -> None:
        """Wires the attachment's device into its network. Raises WiringError."""
        ...

    def unwire(self, port_id: str) -> None:
        """Isolates the port's device (unbound, deleted, admin down, or bound elsewhere)."""
        ...

    def set_tunnel_peers(self, segment: values.Segment, peers: frozenset[TunnelPeer]) -> None:
        """Makes the tunnelled ``segment`` reach exactly ``peers`` (l2-population style):
        tunnels or forwarding entries to new peers are added, those to gone peers removed. An
        empty set removes them all."""
        ...

    def wait_for_change(self, timeout: float) -> bool:
        """Blocks until the devices may have changed (a device plugged or unplugged) or
        ``timeout`` seconds pass; returns whether a change was seen. A dataplane without change
        notification returns False after ``timeout``, and the runtime then polls."""
        ...

    def close(self) -> None:
        """Releases connections (OVSDB, netlink); wiring stays in place."""
        ...
