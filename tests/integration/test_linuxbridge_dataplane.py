"""The Linux bridge dataplane on real kernel bridges, veths and VXLAN devices.

Every test builds its own hosts as network namespaces named with a per-test prefix: an underlay
namespace whose bridge joins the hosts' ``ul0`` interfaces (the tunnel endpoints), and per port
an "instance" namespace whose ``eth0`` is the peer of the host's ``tap<port id[:11]>`` (what the
compute node's VIF driver creates). Traffic is ping between instances; the namespaces are
removed after each test, pass or fail.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pyroute2 import NetNS, netns

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
from services.mechmgr.drivers.linuxbridge import driver as lb_driver

NETWORK_A = "0d6e4a3c-6a2b-4b43-9f44-0123456789ab"
NETWORK_B = "7c1f00aa-2b3c-4d5e-8f90-abcdefabcdef"
VXLAN = values.Segment("seg-vx", "vxlan", segmentation_id=1001, network_id=NETWORK_A, mtu=1450)
FLAT = values.Segment("seg-flat", "flat", "physnet1", network_id=NETWORK_B)
VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101, network_id=NETWORK_B)


@dataclass
class Lab:
    """Namespaces of one test, all removed by ``cleanup``."""

    prefix: str
    namespaces: list[str] = field(default_factory=list)
    handles: dict[str, Any] = field(default_factory=dict)
    dataplanes: list[LinuxBridgeDataplane] = field(default_factory=list)

    def ns(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        netns.create(full)
        self.namespaces.append(full)
        self.handles[full] = NetNS(full, flags=0)
        self.up(full, "lo")
        return full

    def ip(self, ns: str) -> Any:
        return self.handles[ns]

    def index(self, ns: str, name: str) -> int:
        return int(self.ip(ns).link_lookup(ifname=name)[0])

    def link(self, ns: str, name: str) -> Any:
        found = self.ip(ns).link_lookup(ifname=name)
        return self.ip(ns).get_links(found[0])[0] if found else None

    def up(self, ns: str, name: str) -> None:
        self.ip(ns).link("set", index=self.index(ns, name), state="up")

    def veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
        peer = {"ifname": name_b, "net_ns_fd": ns_b}
        self.ip(ns_a).link("add", ifname=name_a, kind="veth", peer=peer)
        self.up(ns_a, name_a)
        self.up(ns_b, name_b)

    def address(self, ns: str, name: str, cidr: str) -> None:
        address, prefixlen = cidr.split("/")
        self.ip(ns).addr(
            "add", index=self.index(ns, name), address=address, prefixlen=int(prefixlen)
        )

    def underlay(self, *hosts: str) -> dict[str, str]:
        """Joins the hosts' ``ul0`` through a bridge; returns each host's tunnel address."""
        under = self.ns("under")
        self.ip(under).link("add", ifname="ul", kind="bridge")
        self.up(under, "ul")
        ips = {}
        for n, host in enumerate(hosts, start=1):
            self.veth(host, "ul0", under, f"ul{n}")
            self.ip(under).link(
                "set", index=self.index(under, f"ul{n}"), master=self.index(under, "ul")
            )
            ips[host] = f"10.77.0.{n}"
            self.address(host, "ul0", f"{ips[host]}/24")
        return ips

    def instance(self, host: str, port_id: str, cidr: str) -> str:
        """An instance namespace plugged into ``host`` as the VIF driver plugs one."""
        inst = self.ns(f"i{len(self.namespaces)}")
        self.veth(host, tap_name(port_id), inst, "eth0")
        self.address(inst, "eth0", cidr)
        return inst

    def dataplane(self, host: str, **config: Any) -> LinuxBridgeDataplane:
        dp = LinuxBridgeDataplane(LinuxBridgeConfig(netns=host, **config), vlan_supported=False)
        self.dataplanes.append(dp)
        dp.setup()
        return dp

    def cleanup(self) -> None:
        """Closes every socket and removes every namespace, whatever fails on the way."""
        try:
            for dp in self.dataplanes:
                dp.close()
            for handle in self.handles.values():
                handle.close()
        finally:
            for name in self.namespaces:
                netns.remove(name)


def pings(ns: str, address: str, timeout: float = 10.0) -> bool:
    """Whether ``ns`` reaches ``address`` before ``timeout`` (one echo a second, until one
    answers: a new bridge port and VXLAN path take a moment to pass traffic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", "-q", address],
            capture_output=True,
            check=False,
        )
        if done.returncode == 0:
            return True
    return False


def silent(ns: str, address: str) -> bool:
    """Whether three echoes from ``ns`` to ``address`` all go unanswered."""
    done = subprocess.run(
        ["ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-q", address],
        capture_output=True,
        check=False,
    )
    return done.returncode != 0


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(f"lb{uuid.uuid4().hex[:6]}")
    try:
        yield lab
    finally:
        lab.cleanup()


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


@dataclass
class TwoHosts:
    lab: Lab
    hosts: list[str]
    ips: dict[str, str]
    dps: list[LinuxBridgeDataplane]
    ports: list[str]
    instances: list[str]


def vxlan_hosts(lab: Lab, count: int = 2) -> TwoHosts:
    hosts = [lab.ns(f"h{n}") for n in range(1, count + 1)]
    ips = lab.underlay(*hosts)
    dps = [lab.dataplane(h, local_ip=ips[h]) for h in hosts]
    ports = [port(n) for n in range(1, count + 1)]
    instances = [
        lab.instance(h, p, f"192.168.77.{n}/24")
        for n, (h, p) in enumerate(zip(hosts, ports, strict=True), start=1)
    ]
    return TwoHosts(lab, hosts, ips, dps, ports, instances)


def peers_of(setup: TwoHosts, *hosts: str) -> frozenset[TunnelPeer]:
    return frozenset(TunnelPeer(h, setup.ips[h]) for h in hosts)


# --------------------------------------------------------------------------------------- vxlan


def test_instances_on_two_hosts_ping_over_a_vxlan_network(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1, h2 = s.hosts
    for dp, p in zip(s.dps, s.ports, strict=True):
        dp.wire(attach(p, VXLAN))
    s.dps[0].set_tunnel_peers(VXLAN, peers_of(s, h2))
    s.dps[1].set_tunnel_peers(VXLAN, peers_of(s, h1))

    assert pings(s.instances[0], "192.168.77.2")

    bridge = lab.link(h1, bridge_name(NETWORK_A))
    vxlan = lab.link(h1, vxlan_name(1001))
    tap = lab.link(h1, tap_name(s.ports[0]))
    assert bridge_name(NETWORK_A) == lb_driver.bridge_name(NETWORK_A) == "brq0d6e4a3c-6a"
    assert vxlan.get("IFLA_MASTER") == tap.get("IFLA_MASTER") == bridge["index"]
    assert tap.get("IFLA_MTU") == 1450
    data = vxlan.get("IFLA_LINKINFO").get("IFLA_INFO_DATA")
    assert data.get("IFLA_VXLAN_ID") == 1001
    assert data.get("IFLA_VXLAN_PORT") == 4789
    assert data.get("IFLA_VXLAN_LEARNING") == 0
    assert data.get("IFLA_VXLAN_LOCAL") == s.ips[h1]
    assert s.dps[0].tunnel_peers(1001) == {s.ips[h2]}


def test_unwiring_stops_traffic_removes_the_bridge_and_leaves_the_tap(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1, h2 = s.hosts
    for dp, p in zip(s.dps, s.ports, strict=True):
        dp.wire(attach(p, VXLAN))
    s.dps[0].set_tunnel_peers(VXLAN, peers_of(s, h2))
    s.dps[1].set_tunnel_peers(VXLAN, peers_of(s, h1))
    assert pings(s.instances[0], "192.168.77.2")

    s.dps[0].unwire(s.ports[0])

    assert silent(s.instances[0], "192.168.77.2")
    assert lab.link(h1, tap_name(s.ports[0])).get("IFLA_MASTER") is None
    assert lab.link(h1, bridge_name(NETWORK_A)) is None
    assert lab.link(h1, vxlan_name(1001)) is None
    s.dps[0].unwire(s.ports[0])  # unwiring what is not wired is no error

    s.dps[0].wire(attach(s.ports[0], VXLAN))  # the remembered peers come back with the device
    assert s.dps[0].tunnel_peers(1001) == {s.ips[h2]}
    assert pings(s.instances[0], "192.168.77.2")


def test_the_bridge_stays_while_another_port_of_its_network_remains(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1 = s.hosts[0]
    other = port(9)
    lab.instance(h1, other, "192.168.77.9/24")
    s.dps[0].wire(attach(s.ports[0], VXLAN))
    s.dps[0].wire(attach(other, VXLAN))

    s.dps[0].unwire(s.ports[0])
    assert lab.link(h1, bridge_name(NETWORK_A)) is not None
    assert lab.link(h1, vxlan_name(1001)) is not None

    s.dps[0].unwire(other)
    assert lab.link(h1, bridge_name(NETWORK_A)) is None


def test_tunnel_peers_are_added_and_removed_exactly(lab: Lab) -> None:
    s = vxlan_hosts(lab, 3)
    h1, h2, h3 = s.hosts
    s.dps[0].set_tunnel_peers(VXLAN, peers_of(s, h2, h3, h1))  # its own address is skipped
    for dp, p in zip(s.dps, s.ports, strict=True):
        dp.wire(attach(p, VXLAN))
    s.dps[1].set_tunnel_peers(VXLAN, peers_of(s, h1))
    s.dps[2].set_tunnel_peers(VXLAN, peers_of(s, h1))
    assert s.dps[0].tunnel_peers(1001) == {s.ips[h2], s.ips[h3]}
    assert pings(s.instances[0], "192.168.77.2")
    assert pings(s.instances[0], "192.168.77.3")

    s.dps[0].set_tunnel_peers(VXLAN, peers_of(s, h3))

    assert s.dps[0].tunnel_peers(1001) == {s.ips[h3]}
    assert pings(s.instances[0], "192.168.77.3")
    assert silent(s.instances[0], "192.168.77.2")

    s.dps[0].set_tunnel_peers(VXLAN, frozenset())
    assert s.dps[0].tunnel_peers(1001) == frozenset()
    assert silent(s.instances[0], "192.168.77.3")


def test_rewiring_what_is_wired_changes_nothing(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1, h2 = s.hosts
    dp = s.dps[0]
    dp.wire(attach(s.ports[0], VXLAN))
    dp.set_tunnel_peers(VXLAN, peers_of(s, h2))

    def state() -> list[tuple[Any, ...]]:
        return sorted(
            (
                link.get("IFLA_IFNAME"),
                link["index"],
                link.get("IFLA_MASTER"),
                link.get("IFLA_MTU"),
                link["flags"] & 1,
            )
            for link in lab.ip(h1).get_links()
        )

    before = state()
    dp.wire(attach(s.ports[0], VXLAN))
    dp.set_tunnel_peers(VXLAN, peers_of(s, h2))
    again = LinuxBridgeDataplane(LinuxBridgeConfig(netns=h1, local_ip=s.ips[h1]))
    lab.dataplanes.append(again)
    again.setup()
    again.wire(attach(s.ports[0], VXLAN))  # a restarted agent replaying its ports

    assert state() == before
    assert dp.tunnel_peers(1001) == {s.ips[h2]}


def test_an_administratively_down_port_is_isolated(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1 = s.hosts[0]
    s.dps[0].wire(attach(s.ports[0], VXLAN))

    s.dps[0].wire(attach(s.ports[0], VXLAN, admin_up=False))

    assert lab.link(h1, tap_name(s.ports[0])).get("IFLA_MASTER") is None
    assert lab.link(h1, bridge_name(NETWORK_A)) is None


def test_a_port_moving_to_another_network_leaves_the_old_bridge(lab: Lab) -> None:
    s = vxlan_hosts(lab)
    h1 = s.hosts[0]
    s.dps[0].wire(attach(s.ports[0], VXLAN))
    other = values.Segment("seg-vx2", "vxlan", segmentation_id=1002, network_id=NETWORK_B)

    s.dps[0].wire(attach(s.ports[0], other))

    assert lab.link(h1, bridge_name(NETWORK_A)) is None
    assert lab.link(h1, vxlan_name(1001)) is None
    tap = lab.link(h1, tap_name(s.ports[0]))
    assert tap.get("IFLA_MASTER") == lab.index(h1, bridge_name(NETWORK_B))


# ---------------------------------------------------------------------------------------- flat


def test_instances_ping_over_a_flat_network_through_the_mapped_interface(lab: Lab) -> None:
    h1, h2 = lab.ns("h1"), lab.ns("h2")
    lab.veth(h1, "ph0", h2, "ph0")
    dps = [lab.dataplane(h, interface_mappings={"physnet1": "ph0"}) for h in (h1, h2)]
    ports = [port(1), port(2)]
    inst1 = lab.instance(h1, ports[0], "192.168.78.1/24")
    lab.instance(h2, ports[1], "192.168.78.2/24")
    for dp, p in zip(dps, ports, strict=True):
        dp.wire(attach(p, FLAT))

    assert pings(inst1, "192.168.78.2")
    assert lab.link(h1, "ph0").get("IFLA_MASTER") == lab.index(h1, bridge_name(NETWORK_B))

    dps[0].unwire(ports[0])

    assert silent(inst1, "192.168.78.2")
    assert lab.link(h1, bridge_name(NETWORK_B)) is None
    released = lab.link(h1, "ph0")
    assert released is not None and released.get("IFLA_MASTER") is None


def test_a_segment_the_host_cannot_carry_fails_wiring_with_the_reason(lab: Lab) -> None:
    h1 = lab.ns("h1")
    lab.veth(h1, "ph0", lab.ns("peer"), "ph0")
    dp = lab.dataplane(h1, interface_mappings={"physnet1": "ph0"})
    p = port(1)
    lab.instance(h1, p, "192.168.79.1/24")
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
    with pytest.raises(WiringError, match=f"device {tap_name(port(7))[:6]}.* is not plugged"):
        dp.wire(attach(port(7), FLAT))
    assert lab.link(h1, bridge_name(NETWORK_B)) is None


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


def test_devices_lists_the_taps_by_port_id_once_known(lab: Lab) -> None:
    h1 = lab.ns("h1")
    dp = lab.dataplane(h1)
    known, unknown = port(1), port(2)
    lab.instance(h1, known, "192.168.80.1/24")
    lab.instance(h1, unknown, "192.168.80.2/24")
    lab.veth(h1, "eth5", lab.ns("x"), "eth0")  # not a port device

    found = dp.devices()
    assert set(found) == {known[:11], unknown[:11]}
    assert device_for(found, known).name == tap_name(known)  # type: ignore[union-attr]
    dp.expect([unknown])
    dp.wire(attach(known, values.Segment("seg-l", "local", network_id=NETWORK_A)))
    found = dp.devices()
    assert set(found) == {known, unknown}
    assert found[known].mac_address == lab.link(h1, tap_name(known)).get("IFLA_ADDRESS")

    restarted = lab.dataplane(h1)  # the alias set at wiring names the full id
    assert set(restarted.devices()) == {known, unknown[:11]}


def test_wait_for_change_sees_taps_plugged_and_unplugged(lab: Lab) -> None:
    h1 = lab.ns("h1")
    dp = lab.dataplane(h1)
    dp.devices()
    assert dp.wait_for_change(0.2) is False

    p = port(1)
    lab.instance(h1, p, "192.168.81.1/24")
    assert dp.wait_for_change(5.0) is True
    dp.devices()
    dp.wire(attach(p, values.Segment("seg-l", "local", network_id=NETWORK_A)))
    assert dp.wait_for_change(0.3) is False  # its own wiring is not a change

    lab.ip(h1).link("del", index=lab.index(h1, tap_name(p)))
    assert dp.wait_for_change(5.0) is True


def test_setup_names_what_is_missing(lab: Lab) -> None:
    h1 = lab.ns("h1")
    cases = [
        ({"interface_mappings": {"physnet1": "eth9"}}, "mapped interfaces not found.*eth9"),
        ({"local_ip": "10.1.2.3"}, "local_ip 10.1.2.3 is on no interface"),
    ]
    for config, message in cases:
        dp = LinuxBridgeDataplane(LinuxBridgeConfig(netns=h1, **config), vlan_supported=False)
        with pytest.raises(WiringError, match=message):
            dp.setup()
        dp.close()
    missing = LinuxBridgeDataplane(LinuxBridgeConfig(netns=f"{lab.prefix}-none"))
    with pytest.raises(WiringError, match="cannot open netlink in network namespace"):
        missing.setup()
    with pytest.raises(ValueError, match="local_ip: 'ten' is not an IP address"):
        LinuxBridgeDataplane(LinuxBridgeConfig(local_ip="ten"))
