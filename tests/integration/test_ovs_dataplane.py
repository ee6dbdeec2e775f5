"""The Open vSwitch dataplane on real Open vSwitch (userspace datapath) in lab namespaces."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from ml2_contract import values

from services.agent.dataplane import Attachment, TunnelPeer, WiringError
from services.agent.ovs import OvsConfig, OvsDataplane
from services.agent.ovs import flows as ovs_flows
from services.lab import Host, Lab, Vm


@pytest.fixture
def dataplanes() -> Iterator[list[OvsDataplane]]:
    made: list[OvsDataplane] = []
    yield made
    for dp in made:
        dp.close()


def _dataplane(made: list[OvsDataplane], host: Host, **kw: object) -> OvsDataplane:
    assert host.ovs is not None
    cfg = OvsConfig(
        ovsdb=str(host.ovs.db_socket),
        datapath_type="netdev",
        netns=host.namespace.name,
        local_ip=host.ip,
        **kw,  # type: ignore[arg-type]
    )
    dp = OvsDataplane(cfg)
    made.append(dp)
    dp.setup()
    return dp


def _plug(vm: Vm, port_id: str) -> None:
    assert vm.host.ovs is not None
    vm.host.ovs.plug("br-int", vm.tap, iface_id=port_id, mac=vm.mac)


def _attach(port_id: str, network_id: str, vm: Vm, segment: values.Segment) -> Attachment:
    return Attachment(
        port_id=port_id,
        network_id=network_id,
        mac_address=vm.mac,
        segment=segment,
        vif_type="ovs",
    )


def _wait_device(dp: OvsDataplane, port_id: str) -> None:
    for _ in range(200):
        if port_id in dp.devices():
            return
        dp.wait_for_change(0.05)
    raise AssertionError(f"device of {port_id} never appeared")


def _vxlan(segid: int, network_type: str = "vxlan") -> values.Segment:
    return values.Segment(id=str(uuid.uuid4()), network_type=network_type, segmentation_id=segid)


@pytest.mark.parametrize("tunnel", ["vxlan", "gre", "geneve"])
def test_tunnel_between_two_hosts_and_unwire_stops_it(
    lab: Lab, dataplanes: list[OvsDataplane], tunnel: str
) -> None:
    underlay = lab.underlay()
    a = lab.host("a", underlay=underlay)
    b = lab.host("b", underlay=underlay)
    dpa = _dataplane(dataplanes, a, tunnel_types=("vxlan", "gre", "geneve"))
    dpb = _dataplane(dataplanes, b, tunnel_types=("vxlan", "gre", "geneve"))
    vm1 = lab.vm(a, "vm1", "192.168.60.1/24")
    vm2 = lab.vm(b, "vm2", "192.168.60.2/24")
    seg = _vxlan(1001, tunnel)
    _plug(vm1, "p1")
    _plug(vm2, "p2")
    _wait_device(dpa, "p1")
    _wait_device(dpb, "p2")
    dpa.wire(_attach("p1", "net1", vm1, seg))
    dpb.wire(_attach("p2", "net1", vm2, seg))
    dpa.set_tunnel_peers(seg, frozenset({TunnelPeer("b", b.ip)}))
    dpb.set_tunnel_peers(seg, frozenset({TunnelPeer("a", a.ip)}))
    vm1.wait_ping(vm2)

    # Rewiring what is wired changes nothing.
    dpa.wire(_attach("p1", "net1", vm1, seg))
    assert vm1.ping(vm2, count=3)

    dpb.unwire("p2")
    assert not vm1.ping(vm2, wait=0.5)
    dpb.unwire("p2")  # idempotent

    dpb.wire(_attach("p2", "net1", vm2, seg))
    vm1.wait_ping(vm2)

    # The peer gone: its tunnel port goes too.
    dpa.set_tunnel_peers(seg, frozenset())
    assert a.ovs is not None
    assert f"{tunnel}-" not in a.ovs.vsctl("list-ports", "br-tun")
    assert not vm1.ping(vm2, wait=0.5)


def test_vlan_networks_are_isolated_and_flat_reaches_the_physical_network(
    lab: Lab, dataplanes: list[OvsDataplane]
) -> None:
    phys = lab.switch("p")
    a = lab.host("a")
    b = lab.host("b")
    for host in (a, b):
        assert host.ovs is not None
        host.ovs.add_bridge("br-eth1")
        link = host.uplink(phys)
        host.ovs.vsctl("add-port", "br-eth1", link)
    dpa = _dataplane(dataplanes, a, bridge_mappings={"physnet1": "br-eth1"})
    dpb = _dataplane(dataplanes, b, bridge_mappings={"physnet1": "br-eth1"})
    red = values.Segment("s-red", "vlan", "physnet1", 101)
    blue = values.Segment("s-blue", "vlan", "physnet1", 102)
    flat = values.Segment("s-flat", "flat", "physnet1", 0)
    vms = {
        "r1": (lab.vm(a, "r1", "10.61.0.1/24"), "red", red),
        "r2": (lab.vm(b, "r2", "10.61.0.2/24"), "red", red),
        "b1": (lab.vm(b, "b1", "10.61.0.3/24"), "blue", blue),
        "f1": (lab.vm(a, "f1", "10.62.0.1/24"), "flat", flat),
    }
    for name, (vm, net, seg) in vms.items():
        _plug(vm, f"port-{name}")
        dp = dpa if vm.host is a else dpb
        _wait_device(dp, f"port-{name}")
        dp.wire(_attach(f"port-{name}", net, vm, seg))
    r1, r2, b1, f1 = (vms[n][0] for n in ("r1", "r2", "b1", "f1"))
    r1.wait_ping(r2)
    assert not r1.ping(b1, wait=0.5)

    # A bare machine on the physical network, untagged, reaches the flat network's VM.
    bare = lab.namespace("bare")
    from services.lab import veth

    veth(bare, "eth0", phys.namespace, f"{lab.prefix}bare")
    phys.namespace.enslave(f"{lab.prefix}bare", "br0")
    bare.link_up("eth0")
    bare.add_address("eth0", "10.62.0.9/24")
    bare.wait_ping(f1.ip)
    # ... but not the VLAN networks' ones (their frames are tagged on the wire).
    bare.add_address("eth0", "10.61.0.9/24")
    assert not bare.ping(r1.ip, wait=0.5)

    assert a.ovs is not None
    dump = a.ovs.ofctl("dump-flows", "br-eth1")
    assert "mod_vlan_vid:101" in dump and "strip_vlan" in dump


def test_unknown_devices_get_the_dead_vlan_and_restart_keeps_wiring(
    lab: Lab, dataplanes: list[OvsDataplane]
) -> None:
    a = lab.host("a")
    b = lab.host("b")
    del b
    dp = _dataplane(dataplanes, a)
    vm1 = lab.vm(a, "vm1", "10.63.0.1/24")
    vm2 = lab.vm(a, "vm2", "10.63.0.2/24")
    vm3 = lab.vm(a, "vm3", "10.63.0.3/24")
    local = values.Segment("s-local", "local")
    for n, vm in (("1", vm1), ("2", vm2), ("3", vm3)):
        _plug(vm, f"p{n}")
        _wait_device(dp, f"p{n}")
    dp.wire(_attach("p1", "n", vm1, local))
    dp.wire(_attach("p2", "n", vm2, local))
    dp.unwire("p3")
    vm1.wait_ping(vm2)
    assert not vm3.ping(vm1, wait=0.5)
    assert a.ovs is not None
    assert a.ovs.vsctl("get", "Port", vm3.tap, "tag").strip() == str(ovs_flows.DEAD_VLAN)

    # A new agent process: same tags, nothing lost, rewiring is a no-op.
    tag = a.ovs.vsctl("get", "Port", vm1.tap, "tag").strip()
    dp.close()
    dp2 = _dataplane(dataplanes, a)
    assert a.ovs.vsctl("get", "Port", vm1.tap, "tag").strip() == tag
    assert vm1.ping(vm2, count=3)
    dp2.wire(_attach("p1", "n", vm1, local))
    assert a.ovs.vsctl("get", "Port", vm1.tap, "tag").strip() == tag

    # ovs-vswitchd restarts with empty tables: the dataplane notices and installs its flows.
    a.ovs.restart_switch()
    deadline = time.monotonic() + 15.0
    while not vm1.ping(vm2, wait=0.3):
        assert time.monotonic() < deadline, "the flows were not reinstalled"
        dp2.wait_for_change(0.5)
    assert not vm3.ping(vm1, wait=0.3)

    # admin down isolates.
    down = Attachment("p2", "n", vm2.mac, local, "ovs", admin_up=False)
    dp2.wire(down)
    assert not vm1.ping(vm2, wait=0.5)


def test_setup_and_wire_refuse_what_the_host_cannot_do(
    lab: Lab, dataplanes: list[OvsDataplane]
) -> None:
    a = lab.host("a")
    with pytest.raises(WiringError, match="br-nope"):
        _dataplane(dataplanes, a, bridge_mappings={"physnet1": "br-nope"})
    dp = _dataplane(dataplanes, a)
    vm = lab.vm(a, "vm1", "10.64.0.1/24")
    with pytest.raises(WiringError, match="no device"):
        dp.wire(_attach("p1", "n", vm, values.Segment("s", "local")))
    _plug(vm, "p1")
    _wait_device(dp, "p1")
    with pytest.raises(WiringError, match="physnet9"):
        dp.wire(_attach("p1", "n", vm, values.Segment("s", "vlan", "physnet9", 5)))
    with pytest.raises(WiringError, match="vxlan"):
        dp.wire(_attach("p1", "n", vm, _vxlan(5)))
    caps = dp.capabilities()
    assert caps.network_types == ("local",)
    assert {"vxlan", "gre", "geneve", "patch", "internal"} <= set(caps.iface_types)
    assert caps.integration_bridge == "br-int" and caps.datapath_type == "netdev"
    fewer = OvsDataplane(
        OvsConfig(
            ovsdb="unused",
            bridge_mappings={"physnet1": "br-eth1"},
            tunnel_types=("vxlan",),
            network_types=("flat", "vxlan"),
        )
    )
    assert fewer.capabilities().network_types == ("flat", "vxlan")


def test_a_plugged_device_is_seen_within_a_second(lab: Lab, dataplanes: list[OvsDataplane]) -> None:
    a = lab.host("a")
    dp = _dataplane(dataplanes, a)
    vm = lab.vm(a, "vm1", "10.65.0.1/24")
    while dp.wait_for_change(0.1):
        pass  # drains the changes of setup
    started = time.monotonic()
    _plug(vm, "p1")
    assert dp.wait_for_change(5.0)
    _wait_device(dp, "p1")
    assert time.monotonic() - started < 1.0
    assert a.ovs is not None
    a.ovs.unplug("br-int", vm.tap)
    deadline = time.monotonic() + 5.0
    while "p1" in dp.devices():
        assert time.monotonic() < deadline, "the unplugged device is still seen"
        dp.wait_for_change(0.5)
