"""The seed's heterogeneous case on one stack with every shipped driver (``ml2 up``'s default
order): one VLAN network reached through Open vSwitch, Linux bridge, Hyper-V, SR-IOV and macvtap
agents on their hosts; a controller-wired host bound hierarchically (a VXLAN network: the
controller binds the tunnel at level 0 and the host's Open vSwitch agent a dynamic VLAN of its
switch at level 1); an appliance's port bound by the switch port it is cabled to; and a host with
nothing, whose failure names what each driver is missing."""

from __future__ import annotations

from pathlib import Path

from ml2.v1 import (
    binding_pb2,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_service_pb2_grpc,
    segment_pb2,
)

from services.cli import stack
from services.compute import config as compute_config
from services.compute import vif as compute_vif
from services.rpc import channels
from tests.e2e.conftest import (
    AgentProcess,
    bind_port,
    create_vlan_network,
    decline_codes,
    running_up,
    start_live_agents,
    vif_details_of,
)

AGENTS = [
    (
        "openvswitch",
        "compute-ovs",
        "--bridge-mappings",
        "physnet1:br-eth1",
        "--tunnel-types",
        "vxlan",
        "--local-ip",
        "192.0.2.11",
    ),
    ("linuxbridge", "compute-lb", "--interface-mappings", "physnet1:eth1"),
    ("hyperv", "compute-hyperv", "--vswitch-mappings", "physnet1:external"),
    ("sriov", "compute-sriov", "--device-mappings", "physnet1:ens1f0"),
    ("macvtap", "compute-macvtap", "--interface-mappings", "physnet1:eth2"),
    ("openvswitch", "compute-tor", "--bridge-mappings", "physnet1:br-eth1"),
]
AGENT_DRIVERS = ("openvswitch", "linuxbridge", "hyperv", "sriov", "macvtap")
LB_LINK = [{"switch_id": "aa:bb:cc:dd:ee:01", "port_id": "Ethernet1/9", "switch_info": "tor1"}]


def test_each_host_gets_its_mechanism_or_a_failure_naming_what_is_missing(
    tmp_path: Path, agents: list[AgentProcess]
) -> None:
    with running_up(tmp_path) as up:
        listed = up.ml2("driver", "list", "--json")
        assert [d["name"] for d in listed.json()] == stack.DEFAULT_DRIVERS.split(",")
        start_live_agents(up, agents, tmp_path, AGENTS)
        linked = up.ml2(
            "topology",
            "set",
            "compute-tor",
            "--switch-id",
            "tor1",
            "--port-id",
            "Ethernet1/7",
            "--physical-network",
            "physnet1",
        )
        assert linked.code == 0, linked.err
        portapi = channels.make_channel(up.portapi)
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        vlan = create_vlan_network(portapi, "heterogeneous")
        tag = vlan.segments[0].segmentation_id

        def bound(host: str, vnic: int = binding_pb2.VNIC_TYPE_NORMAL, **profile: object) -> tuple:
            port = bind_port(ports, vlan.id, host, vnic, dict(profile))
            binding = port.binding
            return binding.vif_type, [level.driver for level in binding.levels], port

        vif, levels, port = bound("compute-ovs")
        assert (vif, levels) == ("ovs", ["openvswitch"])
        vif, levels, port = bound("compute-lb")
        assert (vif, levels) == ("bridge", ["linuxbridge"])
        assert "bridge_name" not in vif_details_of(port)
        chosen = compute_vif.choose(port, compute_config.ComputeConfig())
        assert chosen.linux_bridge == f"brq{vlan.id}"[:14]
        vif, levels, port = bound("compute-hyperv")
        assert (vif, levels) == ("hyperv", ["hyperv"])
        vif, levels, port = bound("compute-sriov", binding_pb2.VNIC_TYPE_DIRECT)
        assert (vif, levels) == ("hw_veb", ["sriov"])
        assert vif_details_of(port)["vlan"] == str(tag)
        # A whole physical function passed through: the port takes the device's MAC address.
        vif, levels, port = bound(
            "compute-sriov",
            binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL,
            device_mac_address="3c:fd:fe:aa:00:01",
        )
        assert (vif, levels) == ("hostdev_physical", ["sriov"])
        assert port.mac_address == "3c:fd:fe:aa:00:01"
        vif, levels, port = bound("compute-macvtap")
        assert (vif, levels) == ("macvtap", ["macvtap"])
        assert vif_details_of(port)["physical_interface"] == "eth2"
        vif, levels, port = bound(
            "lb-appliance-1", binding_pb2.VNIC_TYPE_BAREMETAL, local_link_information=LB_LINK
        )
        assert (vif, levels) == ("other", ["baremetal"])

        vif, levels, nothing = bound("compute-empty")
        assert (vif, levels) == ("binding_failed", [])
        codes = decline_codes(nothing)
        assert ("sdn-controller", "NETWORK_TYPE_UNSUPPORTED") in codes  # it binds tunnels only
        assert {("openvswitch", "NO_AGENT"), ("linuxbridge", "NO_AGENT")} <= codes
        assert {("hyperv", "NO_AGENT"), ("macvtap", "NO_AGENT")} <= codes
        assert ("sriov", "VNIC_TYPE_UNSUPPORTED") in codes  # a normal port: not an SR-IOV one
        explained = up.ml2("port", "explain", nothing.id)
        assert "compute-empty" in explained.out and "To bind:" in explained.out

        vxlan = (
            network_service_pb2_grpc.NetworkServiceStub(portapi)
            .CreateNetwork(
                network_service_pb2.CreateNetworkRequest(
                    network=network_pb2.Network(name="fabric", project_id="p", admin_state_up=True),
                    segments=[segment_pb2.SegmentSpec(network_type="vxlan")],
                ),
                timeout=10,
            )
            .network
        )
        wired = bind_port(ports, vxlan.id, "compute-tor")
        assert wired.binding.vif_type == "ovs"
        level0, level1 = wired.binding.levels
        assert (level0.driver, level0.segment.network_type) == ("sdn-controller", "vxlan")
        assert (level1.driver, level1.segment.network_type) == ("openvswitch", "vlan")
        assert level1.segment.physical_network == "physnet1" and level1.segment.is_dynamic
        plain = bind_port(ports, vxlan.id, "compute-ovs")
        assert [level.driver for level in plain.binding.levels] == ["openvswitch"]
        unlinked = bind_port(ports, vxlan.id, "compute-empty")
        assert unlinked.binding.vif_type == "binding_failed"
        assert ("sdn-controller", "HOST_NOT_LINKED") in decline_codes(unlinked)
        portapi.close()
