"""The hyperv and openvswitch driver processes behind a real stack (``ml2 up``), with simulated
agents: a port binds with the vif_type and vif_details Neutron's driver gives for the agent's
configuration, and where the agent cannot serve it the binding fails with each driver's
reasons, which ``ml2 port explain`` prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ml2.v1 import binding_pb2, port_service_pb2_grpc

from services import launcher
from services.rpc import channels
from tests.e2e.conftest import (
    AgentProcess,
    bind_new_port,
    bind_port,
    create_vlan_network,
    decline_codes,
    running_up,
    start_live_agent,
    vif_details_of,
)


@pytest.fixture
def drivers(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The hyperv and openvswitch (create-tap on) driver processes; yields their addresses."""
    env = {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"}
    started = {
        "hyperv": launcher.start(
            "hyperv", "services.drivers.hyperv", env, log_dir=tmp_path / "logs"
        ),
        "openvswitch": launcher.start(
            "openvswitch",
            "services.drivers.openvswitch",
            {**env, "MECHDRIVER_OPENVSWITCH_CREATE_TAP": "true"},
            log_dir=tmp_path / "logs",
        ),
    }
    yield {name: proc.address for name, proc in started.items()}
    for proc in started.values():
        assert proc.stop() == 0, proc.log_tail()


def test_hyperv_binds_through_a_regex_vswitch_mapping_and_explains_an_unmapped_host(
    tmp_path: Path, drivers: dict[str, str], agents: list[AgentProcess]
) -> None:
    listed = ",".join(f"{name}={address}" for name, address in drivers.items())
    with running_up(tmp_path, "--mechanism-drivers", listed) as up:
        start_live_agent(up, agents, tmp_path, "hyperv", "hv-1", "--vswitch-mappings", "phys.*:ext")
        start_live_agent(up, agents, tmp_path, "hyperv", "hv-2", "--vswitch-mappings", "dmz.*:dmz")
        portapi = channels.make_channel(up.portapi)
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        network = create_vlan_network(portapi, "hyperv-net")

        bound = bind_new_port(ports, network.id, "hv-1")
        assert bound.binding.vif_type == "hyperv"
        assert vif_details_of(bound) == {
            "port_filter": False,
            "connectivity": "l2",
            "bound_drivers": {"0": "hyperv"},
        }
        assert [level.driver for level in bound.binding.levels] == ["hyperv"]
        direct = bind_port(ports, network.id, "hv-1", binding_pb2.VNIC_TYPE_DIRECT, {})
        assert direct.binding.vif_type == "hyperv"

        unmapped = bind_new_port(ports, network.id, "hv-2")
        assert unmapped.binding.vif_type == "binding_failed"
        assert decline_codes(unmapped) == {
            ("hyperv", "PHYSNET_NOT_MAPPED"),
            ("openvswitch", "NO_AGENT"),
        }
        (physnet,) = [r for v in unmapped.binding.trace for r in v.reasons if v.driver == "hyperv"]
        assert physnet.details["mapping_option"] == "vswitch_mappings"
        assert physnet.details["mappings"] == "dmz.*:dmz"
        explained = up.ml2("port", "explain", unmapped.id)
        assert "hyperv agent" in explained.out, explained.out + explained.err
        assert "has vswitch_mappings dmz.*:dmz, not physnet1" in explained.out
        assert "map physnet1 on hv-2's hyperv agent (vswitch_mappings)" in explained.out
        portapi.close()


def test_openvswitch_binds_vhostuser_and_switchdev_ports_and_explains_a_direct_port(
    tmp_path: Path, drivers: dict[str, str], agents: list[AgentProcess]
) -> None:
    listed = ",".join(f"{name}={address}" for name, address in drivers.items())
    with running_up(tmp_path, "--mechanism-drivers", listed) as up:
        start_live_agent(
            up,
            agents,
            tmp_path,
            "openvswitch",
            "dpdk-1",
            *("--bridge-mappings", "physnet1:br-eth1", "--datapath-type", "netdev"),
            *("--iface-types", "dpdkvhostuserclient", "--vhostuser-socket-dir", "/run/vhu"),
        )
        start_live_agent(
            up, agents, tmp_path, "openvswitch", "kernel-1", "--bridge-mappings", "physnet1:br1"
        )
        portapi = channels.make_channel(up.portapi)
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        network = create_vlan_network(portapi, "ovs-net")

        vhu = bind_new_port(ports, network.id, "dpdk-1")
        assert vhu.binding.vif_type == "vhostuser"
        assert vif_details_of(vhu) == {
            "port_filter": False,
            "ovs_hybrid_plug": False,
            "vhostuser_mode": "server",
            "vhostuser_ovs_plug": True,
            "vhostuser_socket": f"/run/vhu/vhu{vhu.id[:11]}",
            "datapath_type": "netdev",
            "bridge_name": "br-int",
            "bound_drivers": {"0": "openvswitch"},
        }
        assert [level.driver for level in vhu.binding.levels] == ["openvswitch"]
        kernel = bind_new_port(ports, network.id, "kernel-1")
        assert kernel.binding.vif_type == "ovs"
        assert vif_details_of(kernel) == {
            "port_filter": True,
            "ovs_hybrid_plug": False,
            "connectivity": "l2",
            "ovs_create_tap": True,
            "datapath_type": "system",
            "bridge_name": "br-int",
            "bound_drivers": {"0": "openvswitch"},
        }
        offloaded = bind_port(
            ports,
            network.id,
            "dpdk-1",
            binding_pb2.VNIC_TYPE_DIRECT,
            {"capabilities": ["switchdev"], "pci_slot": "0000:41:00.6"},
        )
        assert offloaded.binding.vif_type == "ovs"
        assert vif_details_of(offloaded)["datapath_type"] == "netdev"

        plain_vf = bind_port(ports, network.id, "kernel-1", binding_pb2.VNIC_TYPE_DIRECT, {})
        assert plain_vf.binding.vif_type == "binding_failed"
        assert decline_codes(plain_vf) == {
            ("openvswitch", "VNIC_TYPE_UNSUPPORTED"),
            ("hyperv", "NO_AGENT"),
        }
        smart = bind_port(ports, network.id, "kernel-1", binding_pb2.VNIC_TYPE_SMART_NIC, {})
        assert ("openvswitch", "VNIC_TYPE_UNSUPPORTED") in decline_codes(smart)
        explained = up.ml2("port", "explain", plain_vf.id)
        assert "capabilities include switchdev" in explained.out, explained.out + explained.err
        assert "add switchdev to the port's binding profile capabilities" in explained.out
        explained = up.ml2("port", "explain", smart.id)
        assert "does not run on a bare-metal SmartNIC" in explained.out, explained.out
        portapi.close()
