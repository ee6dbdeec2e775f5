"""The OpenFlow tables of the agent's bridges, computed from what is wired: pure functions.

The model is the Open vSwitch agent's of Neutron. On the integration bridge every network has a
*local* VLAN tag; its ports are access ports of that tag and the bridge forwards by MAC learning
(``NORMAL``). Traffic leaves the host over a patch port pair to a physical bridge (flat and VLAN
networks) or to the tunnel bridge (VXLAN, GRE, Geneve), where flows translate the local tag:

- integration bridge, from a physical bridge's patch port: the provider VLAN id (or no tag, for
  flat) becomes the local tag; anything else from there is dropped. Ports left isolated (the
  dead VLAN 4095) have their input dropped.
- physical bridge, from its patch port: the local tag becomes the provider VLAN id (or is
  stripped, for flat); anything else from the patch port is dropped; the uplink's traffic is
  learnt and forwarded normally.
- tunnel bridge: from the patch port (table 2), a local tag is stripped, the segment's id set as
  the tunnel key and the frame flooded to that network's peers (no unicast learning: every
  peer's integration bridge discards what is not for its ports); from a tunnel (tables 3 GRE,
  4 VXLAN, 6 Geneve, as in Neutron), a known key gets its network's local tag and goes to the
  integration bridge; anything else is dropped.

The agent recomputes a bridge's whole table after each change and hands it to ``ovs-ofctl
replace-flows``, which changes only the flows that differ: no traffic is disturbed by rewiring
what did not change, and flows nobody wants any more disappear (after a restart too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ml2_contract import vocabulary

DEAD_VLAN = 4095
"""The tag of isolated ports: no network has it, and their input is dropped."""
COOKIE = "0x6d6c32"
"""Every flow the agent installs carries this cookie (``ml2`` in ASCII)."""

TABLE_FROM_PATCH = 2
TUNNEL_TABLES = {vocabulary.TYPE_GRE: 3, vocabulary.TYPE_VXLAN: 4, vocabulary.TYPE_GENEVE: 6}


@dataclass(frozen=True)
class LocalNetwork:
    """One network as this host carries it: its local tag and segment."""

    network_id: str
    vlan: int
    network_type: str
    physical_network: str = ""
    segmentation_id: int = 0


@dataclass(frozen=True)
class TunnelPort:
    """A tunnel port of the tunnel bridge: its type, remote endpoint and OpenFlow port."""

    network_type: str
    remote_ip: str
    ofport: int


@dataclass(frozen=True)
class Layout:
    """What the flows depend on: networks, patch and tunnel ports, isolated ports."""

    networks: tuple[LocalNetwork, ...] = ()
    dead_ofports: frozenset[int] = frozenset()
    """Integration bridge ports of isolated devices."""
    int_patch: Mapping[str, int] = field(default_factory=dict)
    """Physical network -> the integration bridge's end of its patch pair."""
    phys_patch: Mapping[str, int] = field(default_factory=dict)
    """Physical network -> the physical bridge's end of its patch pair."""
    tun_patch: int = 0
    """The tunnel bridge's end of its patch pair to the integration bridge (0: no tunnels)."""
    tunnels: tuple[TunnelPort, ...] = ()
    peers: Mapping[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    """(network type, segmentation id) -> the remote IPs of that segment's peers."""


def _flow(text: str) -> str:
    return f"cookie={COOKIE},{text}"


def integration_flows(layout: Layout) -> list[str]:
    """The integration bridge's flows."""
    flows = [_flow("table=0,priority=0,actions=NORMAL")]
    for ofport in sorted(layout.dead_ofports):
        flows.append(_flow(f"table=0,priority=10,in_port={ofport},actions=drop"))
    for physnet, ofport in sorted(layout.int_patch.items()):
        flows.append(_flow(f"table=0,priority=2,in_port={ofport},actions=drop"))
        for net in layout.networks:
            if net.physical_network != physnet:
                continue
            if net.network_type == vocabulary.TYPE_VLAN:
                match = f"dl_vlan={net.segmentation_id}"
            elif net.network_type == vocabulary.TYPE_FLAT:
                match = "vlan_tci=0x0000/0x1fff"
            else:
                continue
            flows.append(
                _flow(
                    f"table=0,priority=3,in_port={ofport},{match},"
                    f"actions=mod_vlan_vid:{net.vlan},NORMAL"
                )
            )
    return flows


def physical_flows(layout: Layout, physnet: str) -> list[str]:
    """The flows of ``physnet``'s bridge."""
    ofport = layout.phys_patch[physnet]
    flows = [
        _flow("table=0,priority=0,actions=NORMAL"),
        _flow(f"table=0,priority=2,in_port={ofport},actions=drop"),
    ]
    for net in layout.networks:
        if net.physical_network != physnet:
            continue
        if net.network_type == vocabulary.TYPE_VLAN:
            action = f"mod_vlan_vid:{net.segmentation_id}"
        elif net.network_type == vocabulary.TYPE_FLAT:
            action = "strip_vlan"
        else:
            continue
        flows.append(
            _flow(f"table=0,priority=4,in_port={ofport},dl_vlan={net.vlan},actions={action},NORMAL")
        )
    return flows


def tunnel_flows(layout: Layout) -> list[str]:
    """The tunnel bridge's flows."""
    flows = [
        _flow("table=0,priority=0,actions=drop"),
        _flow(
            f"table=0,priority=1,in_port={layout.tun_patch},actions=resubmit(,{TABLE_FROM_PATCH})"
        ),
        _flow(f"table={TABLE_FROM_PATCH},priority=0,actions=drop"),
    ]
    for table in sorted(set(TUNNEL_TABLES.values())):
        flows.append(_flow(f"table={table},priority=0,actions=drop"))
    by_type: dict[str, list[TunnelPort]] = {}
    for tunnel in sorted(layout.tunnels, key=lambda t: t.ofport):
        by_type.setdefault(tunnel.network_type, []).append(tunnel)
        table = TUNNEL_TABLES[tunnel.network_type]
        flows.append(
            _flow(f"table=0,priority=1,in_port={tunnel.ofport},actions=resubmit(,{table})")
        )
    for net in layout.networks:
        if net.network_type not in TUNNEL_TABLES:
            continue
        key = net.segmentation_id
        table = TUNNEL_TABLES[net.network_type]
        flows.append(
            _flow(
                f"table={table},priority=1,tun_id={key:#x},"
                f"actions=mod_vlan_vid:{net.vlan},output:{layout.tun_patch}"
            )
        )
        remotes = layout.peers.get((net.network_type, key), frozenset())
        outputs = [
            f"output:{t.ofport}"
            for t in by_type.get(net.network_type, [])
            if t.remote_ip in remotes
        ]
        if outputs:
            flows.append(
                _flow(
                    f"table={TABLE_FROM_PATCH},priority=1,dl_vlan={net.vlan},"
                    f"actions=strip_vlan,set_tunnel:{key:#x},{','.join(outputs)}"
                )
            )
    return flows


def render(flows: Iterable[str]) -> str:
    """The flows as ``ovs-ofctl replace-flows`` reads them, one a line."""
    return "".join(f"{flow}\n" for flow in flows)
