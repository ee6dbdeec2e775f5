"""The sriov and macvtap drivers as their own processes behind ``ml2 up``: a simulated agent of
their kind registers, a port is bound through portapi, and the compute node reads the vif_type
and vif_details Neutron's drivers send; where they cannot bind, the trace says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import field_mask_pb2, json_format
from ml2.v1 import binding_pb2, port_pb2, port_service_pb2, port_service_pb2_grpc

from services import launcher
from services.rpc import channels
from tests.e2e.conftest import (
    AgentProcess,
    UpProcess,
    create_vlan_network,
    running_up,
    wait_for,
)

SRIOV_HOST = "compute-sriov"
MACVTAP_HOST = "compute-macvtap"
BARE_HOST = "compute-bare"


@pytest.fixture
def start_driver(tmp_path: Path) -> Iterator[Any]:
    """Starts a shipped driver with ``python -m`` on a free port; yields a function returning
    its address; the driver must exit cleanly after the test."""
    started: list[launcher.ServiceProcess] = []

    def start(name: str) -> str:
        env = {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"}
        proc = launcher.start(name, f"services.drivers.{name}", env, log_dir=tmp_path / "logs")
        started.append(proc)
        return proc.address

    yield start
    for proc in started:
        assert proc.stop() == 0, proc.log_tail()


def wait_alive(up: UpProcess, host: str) -> None:
    def alive() -> bool:
        listed = up.ml2("agent", "list", "--host", host, "--json")
        return listed.code == 0 and any(a["alive"] for a in listed.json())

    assert wait_for(alive, 30), f"no live agent on {host}"


def bind(
    ports: port_service_pb2_grpc.PortServiceStub,
    network_id: str,
    host: str,
    vnic_type: int = binding_pb2.VNIC_TYPE_NORMAL,
    profile: dict[str, Any] | None = None,
) -> port_pb2.Port:
    """Creates a port and binds it to ``host`` with ``vnic_type`` and ``profile``, as a compute
    node does; returns the port as the compute node then reads it."""
    port = ports.CreatePort(
        port_service_pb2.CreatePortRequest(
            port=port_pb2.Port(network_id=network_id, project_id="p")
        ),
        timeout=5,
    ).port
    port.binding.host_id = host
    port.binding.vnic_type = vnic_type
    port.binding.profile.update(profile or {})
    ports.UpdatePort(
        port_service_pb2.UpdatePortRequest(
            port=port,
            update_mask=field_mask_pb2.FieldMask(
                paths=["binding.host_id", "binding.vnic_type", "binding.profile"]
            ),
        ),
        timeout=15,
    )
    return ports.GetPort(port_service_pb2.GetPortRequest(port_id=port.id), timeout=5).port


def details(port: port_pb2.Port) -> dict[str, Any]:
    return json_format.MessageToDict(port.binding.vif_details)


def codes(port: port_pb2.Port) -> set[tuple[str, str]]:
    return {(v.driver, r.code) for v in port.binding.trace for r in v.reasons}


def test_sriov_binds_vfs_through_its_agent_pfs_without_one_and_says_why_it_cannot(
    tmp_path: Path, agents: list[AgentProcess], start_driver: Any
) -> None:
    address = start_driver("sriov")
    with running_up(tmp_path, "--mechanism-drivers", f"sriov={address}") as up:
        agents.append(
            AgentProcess(
                up.mechmgr,
                "sriov",
                SRIOV_HOST,
                "--device-mappings",
                "physnet1:ens1f0",
                log=tmp_path / "sriov-agent.log",
            )
        )
        wait_alive(up, SRIOV_HOST)
        portapi = channels.make_channel(up.portapi)
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        network = create_vlan_network(portapi, "sriov-net")
        vlan = str(network.segments[0].segmentation_id)
        pci = {"pci_slot": "0000:05:00.1", "pci_vendor_info": "15b3:1018"}

        vf = bind(ports, network.id, SRIOV_HOST, binding_pb2.VNIC_TYPE_DIRECT, pci)
        assert vf.binding.state == binding_pb2.BINDING_STATE_BOUND, vf.binding.failure_message
        assert vf.binding.vif_type == "hw_veb"
        assert details(vf) == {
            "port_filter": False,
            "connectivity": "l2",
            "vlan": vlan,
        }

        pf = bind(ports, network.id, BARE_HOST, binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL, pci)
        assert pf.binding.vif_type == "hostdev_physical"
        assert details(pf)["vlan"] == vlan

        no_agent = bind(ports, network.id, BARE_HOST, binding_pb2.VNIC_TYPE_DIRECT, pci)
        assert no_agent.binding.vif_type == "binding_failed"
        assert codes(no_agent) == {("sriov", "NO_AGENT")}

        offload = bind(
            ports,
            network.id,
            SRIOV_HOST,
            binding_pb2.VNIC_TYPE_DIRECT,
            {**pci, "capabilities": ["switchdev"]},
        )
        assert offload.binding.vif_type == "binding_failed"
        assert codes(offload) == {("sriov", "VNIC_TYPE_UNSUPPORTED")}
        explained = up.ml2("port", "explain", offload.id)
        assert "does not bind vnic type direct with profile capabilities switchdev" in (
            explained.out
        ), explained.err

        normal = bind(ports, network.id, SRIOV_HOST)
        assert codes(normal) == {("sriov", "VNIC_TYPE_UNSUPPORTED")}
        portapi.close()


def test_macvtap_binds_on_the_vlan_device_and_refuses_a_migration_to_another_device(
    tmp_path: Path, agents: list[AgentProcess], start_driver: Any
) -> None:
    address = start_driver("macvtap")
    with running_up(tmp_path, "--mechanism-drivers", f"macvtap={address}") as up:
        agents.append(
            AgentProcess(
                up.mechmgr,
                "macvtap",
                MACVTAP_HOST,
                "--interface-mappings",
                "physnet1:eth1",
                log=tmp_path / "macvtap-agent.log",
            )
        )
        wait_alive(up, MACVTAP_HOST)
        portapi = channels.make_channel(up.portapi)
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        network = create_vlan_network(portapi, "macvtap-net")
        vlan = network.segments[0].segmentation_id

        port = bind(ports, network.id, MACVTAP_HOST)
        assert port.binding.state == binding_pb2.BINDING_STATE_BOUND, port.binding.failure_message
        assert port.binding.vif_type == "macvtap"
        assert details(port) == {
            "port_filter": False,
            "connectivity": "l2",
            "physical_interface": "eth1",
            "macvtap_source": f"eth1.{vlan}",
            "macvtap_mode": "bridge",
            # A Struct number: the compute node reads the VLAN id as a JSON number.
            "vlan": float(vlan),
        }

        migrating = bind(
            ports,
            network.id,
            MACVTAP_HOST,
            profile={"migrating_to": MACVTAP_HOST, "migration_source_device": f"eth2.{vlan}"},
        )
        assert migrating.binding.vif_type == "binding_failed"
        assert codes(migrating) == {("macvtap", "MIGRATION_SOURCE_MISMATCH")}
        (reason,) = [r for v in migrating.binding.trace for r in v.reasons]
        assert dict(reason.details) == {
            "agent_id": reason.details["agent_id"],
            "host": MACVTAP_HOST,
            "physical_network": "physnet1",
            "migrating_to": MACVTAP_HOST,
            "source_device": f"eth2.{vlan}",
            "target_device": f"eth1.{vlan}",
        }
        explained = up.ml2("port", "explain", migrating.id)
        assert f"eth2.{vlan}" in explained.out, explained.err

        no_agent = bind(ports, network.id, BARE_HOST)
        assert codes(no_agent) == {("macvtap", "NO_AGENT")}
        portapi.close()
