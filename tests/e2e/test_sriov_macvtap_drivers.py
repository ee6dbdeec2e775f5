"""The sriov and macvtap drivers as their own processes behind ``ml2 up``: a simulated agent of
their kind registers, a port is bound through portapi, and the compute node reads the vif_type
and vif_details Neutron's drivers send; where they cannot bind, the trace says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf import field_mask_pb2
from ml2.v1 import binding_pb2, port_pb2, port_service_pb2, port_service_pb2_grpc

from services.rpc import channels
from tests.e2e.conftest import (
    AgentProcess,
    bind_port,
    create_vlan_network,
    decline_codes,
    running_up,
    start_live_agent,
    vif_details_of,
)

SRIOV_HOST = "compute-sriov"
MACVTAP_HOST = "compute-macvtap"
BARE_HOST = "compute-bare"


def test_sriov_binds_vfs_through_its_agent_pfs_without_one_and_says_why_it_cannot(
    tmp_path: Path, agents: list[AgentProcess], driver_processes: Any
) -> None:
    address = driver_processes("sriov")
    with running_up(tmp_path, "--mechanism-drivers", f"sriov={address}") as up:
        start_live_agent(
            up, agents, tmp_path, "sriov", SRIOV_HOST, "--device-mappings", "physnet1:ens1f0"
        )
        portapi = channels.make_channel(up.portapi)
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        network = create_vlan_network(portapi, "sriov-net")
        vlan = str(network.segments[0].segmentation_id)
        pci = {"pci_slot": "0000:05:00.1", "pci_vendor_info": "15b3:1018"}

        vf = bind_port(ports, network.id, SRIOV_HOST, binding_pb2.VNIC_TYPE_DIRECT, pci)
        assert vf.binding.state == binding_pb2.BINDING_STATE_BOUND, vf.binding.failure_message
        assert vf.binding.vif_type == "hw_veb"
        assert vif_details_of(vf) == {
            "port_filter": False,
            "connectivity": "l2",
            "vlan": vlan,
            "bound_drivers": {"0": "sriov"},
        }

        pf = bind_port(ports, network.id, BARE_HOST, binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL, pci)
        assert pf.binding.vif_type == "hostdev_physical"
        assert vif_details_of(pf)["vlan"] == vlan
        # No agent runs on the host: the driver's binding alone makes the port ACTIVE.
        assert pf.status == port_pb2.PORT_STATUS_ACTIVE, pf.status_message
        assert pf.status_agent_id == ""
        # A virtual function waits for its agent, which has not reported it in the answer.
        assert vf.status != port_pb2.PORT_STATUS_ACTIVE

        no_agent = bind_port(ports, network.id, BARE_HOST, binding_pb2.VNIC_TYPE_DIRECT, pci)
        assert no_agent.binding.vif_type == "binding_failed"
        assert decline_codes(no_agent) == {("sriov", "NO_AGENT")}

        offload = bind_port(
            ports,
            network.id,
            SRIOV_HOST,
            binding_pb2.VNIC_TYPE_DIRECT,
            {**pci, "capabilities": ["switchdev"]},
        )
        assert offload.binding.vif_type == "binding_failed"
        assert decline_codes(offload) == {("sriov", "VNIC_TYPE_UNSUPPORTED")}
        explained = up.ml2("port", "explain", offload.id)
        assert "does not bind vnic type direct with profile capabilities switchdev" in (
            explained.out
        ), explained.err

        normal = bind_port(ports, network.id, SRIOV_HOST)
        assert decline_codes(normal) == {("sriov", "VNIC_TYPE_UNSUPPORTED")}
        portapi.close()


def test_macvtap_binds_on_the_vlan_device_and_refuses_a_migration_to_another_device(
    tmp_path: Path, agents: list[AgentProcess], driver_processes: Any
) -> None:
    address = driver_processes("macvtap")
    with running_up(tmp_path, "--mechanism-drivers", f"macvtap={address}") as up:
        start_live_agent(
            up, agents, tmp_path, "macvtap", MACVTAP_HOST, "--interface-mappings", "physnet1:eth1"
        )
        portapi = channels.make_channel(up.portapi)
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        network = create_vlan_network(portapi, "macvtap-net")
        vlan = network.segments[0].segmentation_id

        port = bind_port(ports, network.id, MACVTAP_HOST)
        assert port.binding.state == binding_pb2.BINDING_STATE_BOUND, port.binding.failure_message
        assert port.binding.vif_type == "macvtap"
        assert vif_details_of(port) == {
            "port_filter": False,
            "connectivity": "l2",
            "physical_interface": "eth1",
            "macvtap_source": f"eth1.{vlan}",
            "macvtap_mode": "bridge",
            # A Struct number: the compute node reads the VLAN id as a JSON number.
            "vlan": float(vlan),
            "bound_drivers": {"0": "macvtap"},
        }

        migrating = bind_port(
            ports,
            network.id,
            MACVTAP_HOST,
            profile={"migrating_to": MACVTAP_HOST, "migration_source_device": f"eth2.{vlan}"},
        )
        assert migrating.binding.vif_type == "binding_failed"
        assert decline_codes(migrating) == {("macvtap", "MIGRATION_SOURCE_MISMATCH")}
        (reason,) = [r for v in migrating.binding.trace for r in v.reasons]
        assert dict(reason.details) == {
            "agent_id": reason.details["agent_id"],
            "host": MACVTAP_HOST,
            "physical_network": "physnet1",
            "migrating_to": MACVTAP_HOST,
            "source_host": "",
            "source_device": f"eth2.{vlan}",
            "target_device": f"eth1.{vlan}",
        }
        explained = up.ml2("port", "explain", migrating.id)
        assert f"eth2.{vlan}" in explained.out, explained.err

        no_agent = bind_port(ports, network.id, BARE_HOST)
        assert decline_codes(no_agent) == {("macvtap", "NO_AGENT")}
        portapi.close()


def update_binding(
    ports: port_service_pb2_grpc.PortServiceStub,
    port: port_pb2.Port,
    *,
    host: str | None = None,
    profile: dict[str, Any] | None = None,
) -> port_pb2.Port:
    """Sets the port's host and/or profile, as Nova does during a live migration."""
    paths = []
    if host is not None:
        port.binding.host_id = host
        paths.append("binding.host_id")
    if profile is not None:
        port.binding.profile.Clear()
        port.binding.profile.update(profile)
        paths.append("binding.profile")
    request = port_service_pb2.UpdatePortRequest(
        port=port, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    return ports.UpdatePort(request, timeout=15).port


def live_migrate(
    ports: port_service_pb2_grpc.PortServiceStub, port: port_pb2.Port, target: str
) -> port_pb2.Port:
    """Nova's steps: mark the source binding migrating_to the target, then move the port there
    and drop the mark."""
    marked = update_binding(ports, port, profile={"migrating_to": target})
    assert marked.binding.state == binding_pb2.BINDING_STATE_BOUND, marked.binding.failure_message
    return update_binding(ports, marked, host=target, profile={})


def test_macvtap_refuses_a_live_migration_to_a_host_mapping_another_source_device(
    tmp_path: Path, agents: list[AgentProcess], driver_processes: Any
) -> None:
    source, same, other = "macvtap-src", "macvtap-same", "macvtap-other"
    address = driver_processes("macvtap")
    with running_up(tmp_path, "--mechanism-drivers", f"macvtap={address}") as up:
        for host, interface in ((source, "eth1"), (same, "eth1"), (other, "eth2")):
            start_live_agent(
                up,
                agents,
                tmp_path,
                "macvtap",
                host,
                "--interface-mappings",
                f"physnet1:{interface}",
            )
        portapi = channels.make_channel(up.portapi)
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        network = create_vlan_network(portapi, "migration-net")
        vlan = network.segments[0].segmentation_id

        refused = live_migrate(ports, bind_port(ports, network.id, source), other)
        assert refused.binding.state == binding_pb2.BINDING_STATE_FAILED
        assert decline_codes(refused) == {("macvtap", "MIGRATION_SOURCE_MISMATCH")}
        (reason,) = [r for v in refused.binding.trace for r in v.reasons]
        assert reason.details["source_host"] == source
        assert reason.details["source_device"] == f"eth1.{vlan}"
        assert reason.details["target_device"] == f"eth2.{vlan}"
        assert reason.details["migrating_to"] == other

        moved = live_migrate(ports, bind_port(ports, network.id, source), same)
        assert moved.binding.state == binding_pb2.BINDING_STATE_BOUND, moved.binding.failure_message
        assert moved.binding.host_id == same
        assert vif_details_of(moved)["macvtap_source"] == f"eth1.{vlan}"
        portapi.close()
