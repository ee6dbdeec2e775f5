"""The lab harness: namespaces, switches, Open vSwitch hosts and VMs, and that it leaves nothing."""

from __future__ import annotations

import os

import pytest
from pyroute2 import netns

from services.lab import Lab, LabError


def _plug_vxlan(lab: Lab) -> None:
    underlay = lab.underlay()
    a = lab.host("a", underlay=underlay)
    b = lab.host("b", underlay=underlay)
    vm1 = lab.vm(a, "vm1", "192.168.50.1/24")
    vm2 = lab.vm(b, "vm2", "192.168.50.2/24")
    for host, vm, peer in ((a, vm1, b), (b, vm2, a)):
        assert host.ovs is not None
        host.ovs.add_bridge("br-int")
        host.ovs.plug("br-int", vm.tap, iface_id=f"port-{vm.name}", mac=vm.mac)
        host.ovs.vsctl(
            "add-port", "br-int", "vx0", "--", "set", "Interface", "vx0", "type=vxlan",
            f"options:remote_ip={peer.ip}", f"options:local_ip={host.ip}", "options:key=5",
        )  # fmt: skip
    vm1.wait_ping(vm2)
    assert a.namespace.ping(b.ip)


def test_two_ovs_hosts_reach_each_other_over_vxlan(lab: Lab) -> None:
    _plug_vxlan(lab)
    host = lab.hosts["a"]
    assert host.ovs is not None
    assert "NORMAL" in host.ovs.ofctl("dump-flows", "br-int")
    assert os.path.exists(host.ovs.db_socket)


def test_linux_host_and_switch_without_ovs(lab: Lab) -> None:
    phys = lab.switch("p")
    a = lab.host("a", ovs=False)
    b = lab.host("b", ovs=False)
    for host, address in ((a, "10.251.0.1/24"), (b, "10.251.0.2/24")):
        link = host.uplink(phys)
        host.namespace.add_address(link, address)
    a.namespace.wait_ping("10.251.0.2")
    assert not a.namespace.ping("10.251.0.3", wait=0.2)


def test_everything_is_removed_even_after_a_failure() -> None:
    lab = Lab()
    with pytest.raises(RuntimeError, match="boom"), lab:
        underlay = lab.underlay()
        host = lab.host("a", underlay=underlay)
        assert host.ovs is not None
        directory = host.ovs.directory
        assert host.ovs.running
        raise RuntimeError("boom")
    assert not [n for n in netns.listnetns() if n.startswith(lab.prefix)]
    assert not host.ovs.running
    assert not directory.exists()


def test_names_are_checked() -> None:
    with Lab() as lab:
        host = lab.host("a", ovs=False)
        with pytest.raises(LabError, match="15"):
            lab.vm(host, "vm", "10.0.0.1/24", tap="a-much-too-long-name")
        with pytest.raises(LabError, match="exists already"):
            lab.host("a", ovs=False)


def test_a_namespace_interrupted_while_being_made_is_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C half way through making a namespace (after it exists, before the caller holds it)
    leaves nothing behind, in the namespace itself and in the lab that asked for it."""
    from services.lab.netns import Namespace

    def interrupted(self: Namespace, ifname: str, **_: object) -> None:
        raise KeyboardInterrupt

    with Lab() as lab:
        monkeypatch.setattr(Namespace, "link_up", interrupted)
        name = f"{lab.prefix}-cut"
        with pytest.raises(KeyboardInterrupt):
            lab.namespace("cut")
        assert name not in netns.listnetns()
