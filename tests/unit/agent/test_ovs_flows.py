"""The Open vSwitch agent's flow tables, computed from what is wired."""

from __future__ import annotations

from services.agent.ovs import flows
from services.agent.ovs.dataplane import patch_names, tunnel_port_name

RED = flows.LocalNetwork("red", 1, "vlan", "physnet1", 101)
FLAT = flows.LocalNetwork("flat", 2, "flat", "physnet1", 0)
VX = flows.LocalNetwork("vx", 3, "vxlan", "", 1001)
GRE = flows.LocalNetwork("gre", 4, "gre", "", 1001)


def _layout(**kw: object) -> flows.Layout:
    base: dict[str, object] = {
        "networks": (RED, FLAT, VX, GRE),
        "int_patch": {"physnet1": 7},
        "phys_patch": {"physnet1": 8},
        "tun_patch": 9,
        "tunnels": (
            flows.TunnelPort("vxlan", "10.0.0.2", 20),
            flows.TunnelPort("vxlan", "10.0.0.3", 21),
            flows.TunnelPort("gre", "10.0.0.2", 22),
        ),
        "peers": {("vxlan", 1001): frozenset({"10.0.0.2", "10.0.0.3"}), ("gre", 1001): frozenset()},
    }
    base.update(kw)
    return flows.Layout(**base)  # type: ignore[arg-type]


def _strip(table: list[str]) -> list[str]:
    prefix = f"cookie={flows.COOKIE},"
    assert all(f.startswith(prefix) for f in table)
    return [f.removeprefix(prefix) for f in table]


def test_integration_bridge_translates_provider_ids_and_drops_dead_ports() -> None:
    table = _strip(flows.integration_flows(_layout(dead_ofports=frozenset({5}))))
    assert "table=0,priority=0,actions=NORMAL" in table
    assert "table=0,priority=10,in_port=5,actions=drop" in table
    assert "table=0,priority=2,in_port=7,actions=drop" in table
    assert "table=0,priority=3,in_port=7,dl_vlan=101,actions=mod_vlan_vid:1,NORMAL" in table
    assert (
        "table=0,priority=3,in_port=7,vlan_tci=0x0000/0x1fff,actions=mod_vlan_vid:2,NORMAL" in table
    )
    assert not any("mod_vlan_vid:3" in f for f in table)  # tunnelled: br-tun's business


def test_physical_bridge_translates_local_tags_back() -> None:
    table = _strip(flows.physical_flows(_layout(), "physnet1"))
    assert "table=0,priority=4,in_port=8,dl_vlan=1,actions=mod_vlan_vid:101,NORMAL" in table
    assert "table=0,priority=4,in_port=8,dl_vlan=2,actions=strip_vlan,NORMAL" in table
    assert "table=0,priority=2,in_port=8,actions=drop" in table


def test_tunnel_bridge_floods_to_the_segments_peers_of_its_type_only() -> None:
    table = _strip(flows.tunnel_flows(_layout()))
    assert "table=0,priority=1,in_port=9,actions=resubmit(,2)" in table
    assert "table=0,priority=1,in_port=20,actions=resubmit(,4)" in table
    assert "table=0,priority=1,in_port=22,actions=resubmit(,3)" in table
    assert (
        "table=2,priority=1,dl_vlan=3,actions=strip_vlan,set_tunnel:0x3e9,output:20,output:21"
        in table
    )
    assert "table=4,priority=1,tun_id=0x3e9,actions=mod_vlan_vid:3,output:9" in table
    assert "table=3,priority=1,tun_id=0x3e9,actions=mod_vlan_vid:4,output:9" in table
    # No peers for the GRE network: nothing floods it out.
    assert not any(f.startswith("table=2,priority=1,dl_vlan=4") for f in table)


def test_render_is_one_flow_a_line() -> None:
    assert flows.render(["a", "b"]) == "a\nb\n"


def test_port_names_fit_the_kernels_limit() -> None:
    assert patch_names("br-eth1") == ("int-br-eth1", "phy-br-eth1")
    long = patch_names("br-a-very-long-bridge")
    assert all(len(n) <= 15 for n in long) and long[0] != long[1]
    assert tunnel_port_name("vxlan", "10.250.0.2") == "vxlan-0afa0002"
    assert len(tunnel_port_name("geneve", "2001:db8::1")) <= 15
