"""The Linux bridge dataplane on real kernel bridges, veths and VXLAN devices.

Every test builds its hosts in a ``services.lab.Lab``: hosts are network namespaces on an
underlay switch (their ``eth0`` carries the tunnel endpoint) or linked to a provider switch;
instances are namespaces whose ``eth0`` is the peer of the host's ``tap<port id[:11]>``, as the
compute node's VIF driver plugs them. Traffic is ping between instances; the lab removes every
namespace after each test, pass or fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from ml2_contract import values

from services.agent.dataplane import Attachment, TunnelPeer, WiringError
from services.agent.linuxbridge import probe
from services.agent.linuxbridge.dataplane import (
    LinuxBridgeConfig,
    LinuxBridgeDataplane,
    bridge_name,
    device_for,
    tap_name,
    vxlan_name,
)
from services.compute import vif
from services.lab import Host, Lab, Namespace, Vm

NETWORK_A = "0d6e4a3c-6a2b-4b43-9f44-0123456789ab"
NETWORK_B = "7c1f00aa-2b3c-4d5e-8f90-abcdefabcdef"
VXLAN = values.Segment("seg-vx", "vxlan", segmentation_id=1001, network_id=NETWORK_A, mtu=1450)
FLAT = values.Segment("seg-flat", "flat", "physnet1", network_id=NETWORK_B)
VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101, network_id=NETWORK_B)


def link(ns: Namespace, name: str) -> Any:
    """The link ``name`` in ``ns`` as netlink describes it, or None."""
    with ns.ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        return ipr.get_links(found[0])[0] if found else None


def links(ns: Namespace) -> list[Any]:
    with ns.ipr() as ipr:
        return list(ipr.get_links())


def dataplane(
    lab: Lab, host: Host, *, vlan_supported: bool | None = False, **config: Any
) -> LinuxBridgeDataplane:
    """A set-up dataplane managing ``host``'s namespace, closed with the lab."""
    dp = LinuxBridgeDataplane(
        LinuxBridgeConfig(netns=host.namespace.name, **config), vlan_supported=vlan_supported
    )
    lab.defer(dp.close)
    dp.setup()
    return dp


def silent(vm: Vm, address: str) -> bool:
    """Whether three echoes from ``vm`` to ``address`` all go unanswered."""
    return not vm.ping(address, count=3)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


def port(n: int) -> str:
    return f"{n:08x}-aaaa-4bbb-8ccc-{uuid.uuid4().hex[:12]}"


def attach(port_id: str, segment: values.Segment, **kw: Any) -> Attachment:
    return Attachment(
        port_id=port_id,
        network_id=segment.network_id,
        mac_address="",
        segment=segment,
        vif_type="bridge",
        **kw,
    )


def vm(lab: Lab, host: Host, port_id: str, cidr: str) -> Vm:
    """An instance of ``port_id`` on ``host``, its tap named as Nova names it."""
    return lab.vm(host, f"vm{len(lab.vms) + 1}", cidr, tap=tap_name(port_id))


@dataclass
class Tunnelled:
    hosts: list[Host]
    dps: list[LinuxBridgeDataplane]
    ports: list[str]
    vms: list[Vm]

    def peers(self, *hosts: Host) -> frozenset[TunnelPeer]:
        return frozenset(TunnelPeer(h.name, h.ip) for h in hosts)


def vxlan_hosts(lab: Lab, count: int = 2) -> Tunnelled:
    """``count`` hosts on one underlay, each with a dataplane and one instance (not wired)."""
    underlay = lab.underlay()
    hosts = [lab.host(f"h{n}", underlay=underlay, ovs=False) for n in range(1, count + 1)]
    dps = [dataplane(lab, h, local_ip=h.ip) for h in hosts]
    ports = [port(n) for n in range(1, count + 1)]
    vms = [
        vm(lab, h, p, f"192.168.77.{n}/24")
        for n, (h, p) in enumerate(zip(hosts, ports, strict=True), start=1)
    ]
    return Tunnelled(hosts, dps, ports, vms)


def wire_all(s: Tunnelled) -> None:
    """Wires every instance into the VXLAN network, every host the others' peer."""
    for dp, p in zip(s.dps, s.ports, strict=True):
        dp.wire(attach(p, VXLAN))
    for dp, host in zip(s.dps, s.hosts, strict=True):
        dp.set_tunnel_peers(VXLAN, s.peers(*(h for h in s.hosts if h is not host)))


# --------------------------------------------------------------------------------------- vxlan


def test_instances_on_two_hosts_ping_over_a_vxlan_network(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1, h2 = s.hosts
    wire_all(s)

    s.vms[0].wait_ping(s.vms[1])

    ns = h1.namespace
    bridge = link(ns, bridge_name(NETWORK_A))
    vxlan = link(ns, vxlan_name(1001))
    tap = link(ns, tap_name(s.ports[0]))
    assert bridge_name(NETWORK_A) == vif.network_bridge_name(NETWORK_A) == "brq0d6e4a3c-6a"
    assert vxlan.get("IFLA_MASTER") == tap.get("IFLA_MASTER") == bridge["index"]
    assert tap.get("IFLA_MTU") == 1450
    data = vxlan.get("IFLA_LINKINFO").get("IFLA_INFO_DATA")
    assert data.get("IFLA_VXLAN_ID") == 1001
    assert data.get("IFLA_VXLAN_PORT") == 4789
    assert data.get("IFLA_VXLAN_LEARNING") == 0
    assert data.get("IFLA_VXLAN_LOCAL") == h1.ip
    assert s.dps[0].tunnel_peers(1001) == {h2.ip}


def test_unwiring_stops_traffic_removes_the_bridge_and_leaves_the_tap(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1, h2 = s.hosts
    wire_all(s)
    s.vms[0].wait_ping(s.vms[1])

    s.dps[0].unwire(s.ports[0])

    assert silent(s.vms[0], s.vms[1].ip)
    ns = h1.namespace
    assert link(ns, tap_name(s.ports[0])).get("IFLA_MASTER") is None
    assert link(ns, bridge_name(NETWORK_A)) is None
    assert link(ns, vxlan_name(1001)) is None
    s.dps[0].unwire(s.ports[0])  # unwiring what is not wired is no error

    s.dps[0].wire(attach(s.ports[0], VXLAN))  # the remembered peers come back with the device
    assert s.dps[0].tunnel_peers(1001) == {h2.ip}
    s.vms[0].wait_ping(s.vms[1])


def test_the_bridge_stays_while_another_port_of_its_network_remains(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    ns = s.hosts[0].namespace
    other = port(9)
    vm(lab, s.hosts[0], other, "192.168.77.9/24")
    s.dps[0].wire(attach(s.ports[0], VXLAN))
    s.dps[0].wire(attach(other, VXLAN))

    s.dps[0].unwire(s.ports[0])
    assert link(ns, bridge_name(NETWORK_A)) is not None
    assert link(ns, vxlan_name(1001)) is not None

    s.dps[0].unwire(other)
    assert link(ns, bridge_name(NETWORK_A)) is None


def test_unwiring_a_port_whose_tap_is_unplugged_already_removes_its_bridge(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    ns = s.hosts[0].namespace
    s.dps[0].wire(attach(s.ports[0], VXLAN))
    fresh = port(8)  # a VIF driver plugging another port: its bridge has no uplink yet
    vm(lab, s.hosts[0], fresh, "192.168.77.8/24")
    with ns.ipr() as ipr:
        ipr.link("add", ifname=bridge_name(NETWORK_B), kind="bridge")
        ipr.link("del", index=ns.index(tap_name(s.ports[0])))  # the VIF driver's unplug

    s.dps[0].unwire(s.ports[0])

    assert link(ns, bridge_name(NETWORK_A)) is None
    assert link(ns, vxlan_name(1001)) is None
    assert link(ns, bridge_name(NETWORK_B)) is not None


def test_tunnel_peers_are_added_and_removed_exactly(lab: Lab) -> None:
    s = vxlan_hosts(lab, 3)
    h1, h2, h3 = s.hosts
    s.dps[0].set_tunnel_peers(VXLAN, s.peers(h2, h3, h1))  # before the device; itself skipped
    wire_all(s)
    assert s.dps[0].tunnel_peers(1001) == {h2.ip, h3.ip}
    s.vms[0].wait_ping(s.vms[1])
    s.vms[0].wait_ping(s.vms[2])

    s.dps[0].set_tunnel_peers(VXLAN, s.peers(h3))

    assert s.dps[0].tunnel_peers(1001) == {h3.ip}
    s.vms[0].wait_ping(s.vms[2])
    assert silent(s.vms[0], s.vms[1].ip)

    s.dps[0].set_tunnel_peers(VXLAN, frozenset())
    assert s.dps[0].tunnel_peers(1001) == frozenset()
    assert silent(s.vms[0], s.vms[2].ip)


def test_rewiring_what_is_wired_changes_nothing(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1, h2 = s.hosts
    dp = s.dps[0]
    dp.wire(attach(s.ports[0], VXLAN))
    dp.set_tunnel_peers(VXLAN, s.peers(h2))

    def state() -> list[tuple[Any, ...]]:
        return sorted(
            (
                item.get("IFLA_IFNAME"),
                item["index"],
                item.get("IFLA_MASTER"),
                item.get("IFLA_MTU"),
                item["flags"] & 1,
            )
            for item in links(h1.namespace)
        )

    before = state()
    dp.wire(attach(s.ports[0], VXLAN))
    dp.set_tunnel_peers(VXLAN, s.peers(h2))
    again = dataplane(lab, h1, local_ip=h1.ip)  # a restarted agent replaying its ports
    again.wire(attach(s.ports[0], VXLAN))

    assert state() == before
    assert dp.tunnel_peers(1001) == {h2.ip}


def test_an_administratively_down_port_is_isolated(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    ns = s.hosts[0].namespace
    s.dps[0].wire(attach(s.ports[0], VXLAN))

    s.dps[0].wire(attach(s.ports[0], VXLAN, admin_up=False))

    assert link(ns, tap_name(s.ports[0])).get("IFLA_MASTER") is None
    assert link(ns, bridge_name(NETWORK_A)) is None


def test_a_port_moving_to_another_network_leaves_the_old_bridge(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    ns = s.hosts[0].namespace
    s.dps[0].wire(attach(s.ports[0], VXLAN))
    other = values.Segment("seg-vx2", "vxlan", segmentation_id=1002, network_id=NETWORK_B)

    s.dps[0].wire(attach(s.ports[0], other))

    assert link(ns, bridge_name(NETWORK_A)) is None
    assert link(ns, vxlan_name(1001)) is None
    tap = link(ns, tap_name(s.ports[0]))
    assert tap.get("IFLA_MASTER") == ns.index(bridge_name(NETWORK_B))


# ---------------------------------------------------------------------------------------- flat


def test_instances_ping_over_a_flat_network_through_the_mapped_interface(lab: Lab) -> None:
    physnet = lab.switch("p1")
    hosts = [lab.host(f"h{n}", ovs=False) for n in (1, 2)]
    nics = [h.uplink(physnet) for h in hosts]
    dps = [
        dataplane(lab, h, interface_mappings={"physnet1": nic})
        for h, nic in zip(hosts, nics, strict=True)
    ]
    ports = [port(1), port(2)]
    vms = [
        vm(lab, h, p, f"192.168.78.{n}/24")
        for n, (h, p) in enumerate(zip(hosts, ports, strict=True), start=1)
    ]
    for dp, p in zip(dps, ports, strict=True):
        dp.wire(attach(p, FLAT))

    vms[0].wait_ping(vms[1])
    ns = hosts[0].namespace
    assert link(ns, nics[0]).get("IFLA_MASTER") == ns.index(bridge_name(NETWORK_B))

    dps[0].unwire(ports[0])

    assert silent(vms[0], vms[1].ip)
    assert link(ns, bridge_name(NETWORK_B)) is None
    released = link(ns, nics[0])
    assert released is not None and released.get("IFLA_MASTER") is None


def test_a_segment_the_host_cannot_carry_fails_wiring_with_the_reason(lab: Lab) -> None:
    host = lab.host("h1", ovs=False)
    nic = host.uplink(lab.switch("p1"))
    dp = dataplane(lab, host, interface_mappings={"physnet1": nic})
    p = port(1)
    vm(lab, host, p, "192.168.79.1/24")
    unmapped = values.Segment("seg-f2", "flat", "physnet2", network_id=NETWORK_B)
    gre = values.Segment("seg-gre", "gre", segmentation_id=5, network_id=NETWORK_B)

    with pytest.raises(WiringError, match="physical network physnet2 of segment seg-f2"):
        dp.wire(attach(p, unmapped))
    with pytest.raises(WiringError, match="do not carry gre"):
        dp.wire(attach(p, gre))
    with pytest.raises(WiringError, match="the agent has no local_ip"):
        dp.wire(attach(p, VXLAN))
    with pytest.raises(WiringError, match="no VLAN devices"):
        dp.wire(attach(p, VLAN))
    with pytest.raises(
        WiringError, match=r"device tap00000007-aa of port 00000007-.* is not plugged"
    ):
        dp.wire(attach(port(7), FLAT))
    assert link(host.namespace, bridge_name(NETWORK_B)) is None


# ------------------------------------------------------------------------- devices and probing


def test_this_kernel_has_no_vlan_devices_so_vlan_is_not_offered() -> None:
    assert probe.vlan_devices_supported() is False
    dp = LinuxBridgeDataplane(
        LinuxBridgeConfig(interface_mappings={"physnet1": "eth1"}, local_ip="192.0.2.1")
    )
    caps = dp.capabilities()
    assert caps.network_types == ("local", "flat", "vxlan")
    assert caps.tunnel_types == ("vxlan",) and caps.local_ip == "192.0.2.1"
    assert caps.interface_mappings == {"physnet1": "eth1"}
    no_tunnel = LinuxBridgeDataplane(LinuxBridgeConfig(), vlan_supported=True)
    assert no_tunnel.capabilities().network_types == ("local", "flat", "vlan")
    fewer = LinuxBridgeDataplane(
        LinuxBridgeConfig(local_ip="192.0.2.1", network_types=("flat",)), vlan_supported=False
    )
    assert fewer.capabilities().network_types == ("flat",)
    assert fewer.capabilities().tunnel_types == () and fewer.capabilities().local_ip == ""


def test_devices_lists_the_taps_by_port_id_once_known(lab: Lab) -> None:
    host = lab.host("h1", ovs=False)
    dp = dataplane(lab, host)
    known, unknown = port(1), port(2)
    vm(lab, host, known, "192.168.80.1/24")
    vm(lab, host, unknown, "192.168.80.2/24")
    host.uplink(lab.switch("p1"))  # not a port's device

    found = dp.devices()
    assert set(found) == {known[:11], unknown[:11]}
    assert device_for(found, known).name == tap_name(known)  # type: ignore[union-attr]
    dp.expect([unknown])
    dp.wire(attach(known, values.Segment("seg-l", "local", network_id=NETWORK_A)))
    found = dp.devices()
    assert set(found) == {known, unknown}
    assert found[known].mac_address == link(host.namespace, tap_name(known)).get("IFLA_ADDRESS")

    restarted = dataplane(lab, host)  # the alias set at wiring names the full id
    assert set(restarted.devices()) == {known, unknown[:11]}


def test_wait_for_change_sees_taps_plugged_and_unplugged(lab: Lab) -> None:
    host = lab.host("h1", ovs=False)
    dp = dataplane(lab, host)
    dp.devices()
    assert dp.wait_for_change(0.2) is False

    p = port(1)
    vm(lab, host, p, "192.168.81.1/24")
    assert dp.wait_for_change(5.0) is True
    dp.devices()
    dp.wire(attach(p, values.Segment("seg-l", "local", network_id=NETWORK_A)))
    assert dp.wait_for_change(0.3) is False  # its own wiring is not a change

    with host.namespace.ipr() as ipr:
        ipr.link("del", index=host.namespace.index(tap_name(p)))
    assert dp.wait_for_change(5.0) is True


def test_setup_names_what_is_missing(lab: Lab) -> None:
    host = lab.host("h1", ovs=False)
    cases = [
        ({"interface_mappings": {"physnet1": "eth9"}}, "mapped interfaces not found.*eth9"),
        ({"local_ip": "10.1.2.3"}, "local_ip 10.1.2.3 is on no interface"),
        ({"network_types": ("flat", "vlan")}, "network types vlan cannot be realised"),
        ({"network_types": ("vxlan",)}, "network types vxlan cannot be realised"),
    ]
    for config, message in cases:
        dp = LinuxBridgeDataplane(
            LinuxBridgeConfig(netns=host.namespace.name, **config), vlan_supported=False
        )
        with pytest.raises(WiringError, match=message):
            dp.setup()
    missing = LinuxBridgeDataplane(LinuxBridgeConfig(netns=f"{lab.prefix}-none"))
    with pytest.raises(WiringError, match="cannot open netlink in network namespace"):
        missing.setup()
    with pytest.raises(ValueError, match="local_ip: 'ten' is not an IP address"):
        LinuxBridgeDataplane(LinuxBridgeConfig(local_ip="ten"))
