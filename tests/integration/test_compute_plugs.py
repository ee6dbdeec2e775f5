"""The plug backends against real Open vSwitch and Linux bridges, inside namespaces.

Each test gets a lab host (``services.lab``): a network namespace running its own ovsdb-server
and ovs-vswitchd (userspace datapath, state in a temporary directory). It plugs a port into an
"instance" namespace, checks the OVSDB rows and links the plug made, unplugs, and checks that
they are gone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import netns

from services import lab as lab_harness
from services.compute import config, links, ovsdb, plugs, vif


@dataclass
class Node:
    """A compute node of the lab: its namespace and Open vSwitch, and where instances go."""

    lab: lab_harness.Lab
    host: lab_harness.Host

    @property
    def prefix(self) -> str:
        return self.lab.prefix

    @property
    def ovs(self) -> lab_harness.OvsInstance:
        assert self.host.ovs is not None
        return self.host.ovs

    @property
    def state(self) -> Path:
        return self.ovs.directory

    @property
    def remote(self) -> str:
        return self.ovs.db_endpoint

    @property
    def host_netns(self) -> str:
        return self.host.namespace.name

    def config(self, **extra: str) -> config.ComputeConfig:
        return config.ComputeConfig(ovsdb=self.remote, host_netns=self.host_netns, **extra)

    def instance(self, name: str = "vm") -> plugs.Instance:
        """An instance namespace, removed with the lab (as the VIF driver would create it)."""
        ns = f"{self.prefix}-{name}"
        self.lab.defer(lambda: netns.remove(ns) if links.netns_exists(ns) else None)
        links.ensure_netns(ns)
        return plugs.Instance(f"inst-{ns}", ns, "eth0")

    def host_links(self) -> links.Links:
        return links.Links(self.host_netns)

    def vsctl(self, *args: str) -> str:
        return self.ovs.vsctl(*args).strip()


@pytest.fixture
def lab() -> Iterator[Node]:
    with lab_harness.Lab() as harness:
        node = Node(harness, harness.host("cn"))
        node.ovs.add_bridge("br-int")
        yield node


def a_vif(vif_type: str, details: dict[str, object], mtu: int = 1400) -> vif.Vif:
    return vif.Vif(
        port_id=str(uuid.uuid4()),
        network_id=str(uuid.uuid4()),
        mac_address="fa:16:3e:12:34:56",
        vif_type=vif_type,
        vif_details=details,
        mtu=mtu,
    )


def instance_nic(instance: plugs.Instance) -> links.LinkInfo | None:
    with links.Links(instance.netns) as inside:
        return inside.info(instance.device)


def interface(lab: Node, name: str) -> ovsdb.OvsInterface | None:
    with ovsdb.Ovsdb(lab.remote) as db:
        return db.interface(name)


def test_ovs_plugs_a_tap_on_the_integration_bridge_and_the_nic_into_the_instance(lab: Node):
    host = plugs.Host(lab.config())
    v = a_vif("ovs", {"bridge_name": "br-int", "datapath_type": "netdev"})
    instance = lab.instance()
    tap = vif.tap_name(v.port_id)
    try:
        backend = plugs.backend_for("ovs", host)
        done = backend.plug(v, instance)

        row = interface(lab, tap)
        assert row is not None
        assert row.bridge == "br-int"
        assert row.error == ""
        assert row.external_ids == {
            "iface-id": v.port_id,
            "attached-mac": v.mac_address,
            "vm-uuid": instance.instance_id,
            "iface-status": "active",
        }
        nic = instance_nic(instance)
        assert nic is not None
        assert (nic.kind, nic.mac_address, nic.mtu, nic.up) == ("veth", v.mac_address, 1400, True)
        with lab.host_links() as lk:
            host_end = lk.info(tap)
        assert host_end is not None
        assert (host_end.mtu, host_end.up) == (1400, True)
        assert any(f"added {tap} to Open vSwitch bridge br-int" in d for d in done)

        removed = backend.unplug(v.port_id)

        assert interface(lab, tap) is None
        assert instance_nic(instance) is None
        with lab.host_links() as lk:
            assert not lk.exists(tap)
        assert removed == [f"removed port {tap} from Open vSwitch bridge br-int", f"deleted {tap}"]
        assert backend.unplug(v.port_id) == []
    finally:
        host.close()


def test_ovs_creates_a_missing_bridge_with_the_datapath_type_of_vif_details(lab: Node):
    host = plugs.Host(lab.config())
    v = a_vif("ovs", {"bridge_name": "br-new", "datapath_type": "netdev"})
    try:
        done = plugs.backend_for("ovs", host).plug(v, lab.instance())

        assert done[0] == "created Open vSwitch bridge br-new"
        assert lab.vsctl("get", "bridge", "br-new", "datapath_type") == "netdev"
        assert lab.vsctl("list-ports", "br-new") == vif.tap_name(v.port_id)
    finally:
        host.close()


def test_ovs_without_a_bridge_name_uses_the_configured_integration_bridge(lab: Node):
    lab.vsctl("add-br", "br-cfg", "--", "set", "bridge", "br-cfg", "datapath_type=netdev")
    host = plugs.Host(lab.config(integration_bridge="br-cfg"))
    v = a_vif("ovs", {})
    try:
        plugs.backend_for("ovs", host).plug(v, lab.instance())

        assert lab.vsctl("list-ports", "br-cfg") == vif.tap_name(v.port_id)
    finally:
        host.close()


def test_ovs_hybrid_plug_puts_the_tap_on_a_qbr_bridge_joined_to_ovs_by_qvb_and_qvo(lab: Node):
    host = plugs.Host(lab.config())
    v = a_vif("ovs", {"bridge_name": "br-int", "ovs_hybrid_plug": True})
    instance = lab.instance()
    names = {
        "tap": vif.tap_name(v.port_id),
        "qbr": vif.qbr_name(v.port_id),
        "qvb": vif.qvb_name(v.port_id),
        "qvo": vif.qvo_name(v.port_id),
    }
    try:
        backend = plugs.backend_for("ovs", host)
        backend.plug(v, instance)

        with lab.host_links() as lk:
            info = {key: lk.info(name) for key, name in names.items()}
        assert all(i is not None for i in info.values())
        assert info["qbr"] is not None and info["qbr"].kind == "bridge"
        assert info["tap"] is not None and info["tap"].master == names["qbr"]
        assert info["qvb"] is not None and info["qvb"].master == names["qbr"]
        assert info["qvo"] is not None and (info["qvo"].master, info["qvo"].mtu) == ("", 1400)
        assert lab.vsctl("list-ports", "br-int") == names["qvo"]
        row = interface(lab, names["qvo"])
        assert row is not None and row.external_ids["iface-id"] == v.port_id
        nic = instance_nic(instance)
        assert nic is not None and (nic.mac_address, nic.mtu) == (v.mac_address, 1400)

        backend.unplug(v.port_id)

        with lab.host_links() as lk:
            assert [n for n in names.values() if lk.exists(n)] == []
        assert lab.vsctl("list-ports", "br-int") == ""
        assert instance_nic(instance) is None
    finally:
        host.close()


def test_bridge_enslaves_the_tap_to_the_networks_bridge_creating_it_if_missing(lab: Node):
    host = plugs.Host(lab.config())
    v = a_vif("bridge", {}, mtu=1450)
    instance = lab.instance()
    bridge, tap = vif.network_bridge_name(v.network_id), vif.tap_name(v.port_id)
    try:
        backend = plugs.backend_for("bridge", host)
        done = backend.plug(v, instance)

        assert done[0] == f"created Linux bridge {bridge}"
        with lab.host_links() as lk:
            info = lk.info(tap)
            assert lk.info(bridge) is not None
            assert lk.enslaved(bridge) == [tap]
        assert info is not None and (info.master, info.up, info.mtu) == (bridge, True, 1450)
        assert info.alias == v.port_id
        nic = instance_nic(instance)
        assert nic is not None and (nic.mac_address, nic.mtu, nic.up) == (v.mac_address, 1450, True)
        assert lab.vsctl("list-ports", "br-int") == ""

        assert backend.unplug(v.port_id) == [f"deleted {tap}"]

        with lab.host_links() as lk:
            assert not lk.exists(tap)
            assert lk.exists(bridge), "the network's bridge is shared, so it stays"
        assert instance_nic(instance) is None
    finally:
        host.close()


def test_bridge_uses_the_bridge_name_of_vif_details(lab: Node):
    host = plugs.Host(lab.config())
    v = a_vif("bridge", {"bridge_name": f"{lab.prefix}-br"})
    try:
        plugs.backend_for("bridge", host).plug(v, lab.instance())

        with lab.host_links() as lk:
            assert lk.enslaved(f"{lab.prefix}-br") == [vif.tap_name(v.port_id)]
    finally:
        host.close()


def test_plugging_again_replaces_the_earlier_devices(lab: Node):
    host = plugs.Host(lab.config())
    v = a_vif("bridge", {})
    instance = lab.instance()
    try:
        backend = plugs.backend_for("bridge", host)
        backend.plug(v, instance)
        done = backend.plug(v, instance)

        assert f"removed the earlier {vif.tap_name(v.port_id)}" in done
        assert instance_nic(instance) is not None
    finally:
        host.close()


def test_vhostuser_adds_only_a_dpdkvhostuserclient_port_on_the_socket(lab: Node):
    host = plugs.Host(lab.config())
    socket = f"{lab.state}/vhu-sock"
    v = a_vif(
        "vhostuser",
        {
            "bridge_name": "br-int",
            "vhostuser_socket": socket,
            "vhostuser_mode": "server",
            "vhostuser_ovs_plug": True,
            "datapath_type": "netdev",
        },
    )
    instance = plugs.Instance("inst-1", f"{lab.prefix}-none", "eth0")
    name = vif.vhu_name(v.port_id)
    try:
        backend = plugs.backend_for("vhostuser", host)
        assert not backend.needs_instance_device
        backend.plug(v, instance)

        row = interface(lab, name)
        assert row is not None
        assert (row.bridge, row.type) == ("br-int", "dpdkvhostuserclient")
        assert row.options == {"vhost-server-path": socket}
        assert row.external_ids["iface-id"] == v.port_id
        assert not links.netns_exists(instance.netns)
        with lab.host_links() as lk:
            assert not lk.exists(name)

        assert backend.unplug(v.port_id) == [f"removed port {name} from Open vSwitch bridge br-int"]
        assert interface(lab, name) is None
    finally:
        host.close()


def test_vhostuser_in_client_mode_makes_ovs_the_sockets_server(lab: Node):
    host = plugs.Host(lab.config())
    v = a_vif("vhostuser", {"vhostuser_socket": "/x/vhu", "vhostuser_mode": "client"})
    try:
        plugs.backend_for("vhostuser", host).plug(v, plugs.Instance("i", "none", "eth0"))

        row = interface(lab, vif.vhu_name(v.port_id))
        assert row is not None and (row.type, row.options) == ("dpdkvhostuser", {})
    finally:
        host.close()


def test_vhostuser_without_a_socket_is_refused(lab: Node):
    host = plugs.Host(lab.config())
    try:
        with pytest.raises(plugs.PlugError, match="vif_details has no vhostuser_socket"):
            plugs.backend_for("vhostuser", host).plug(
                a_vif("vhostuser", {}), plugs.Instance("i", "none", "eth0")
            )
    finally:
        host.close()


def test_hardware_vif_types_are_refused_before_anything_is_made(lab: Node):
    host = plugs.Host(lab.config())
    try:
        with pytest.raises(plugs.Unsupported, match="cannot plug vif_type 'hw_veb'"):
            plugs.backend_for("hw_veb", host)
    finally:
        host.close()


def test_an_unreachable_ovsdb_is_named():
    host = plugs.Host(config.ComputeConfig(ovsdb="unix:/nonexistent/db.sock"))
    try:
        with pytest.raises(plugs.PlugError, match=r"unix:/nonexistent/db\.sock"):
            host.ovsdb()
    finally:
        host.close()
