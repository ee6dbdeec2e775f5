"""portapi served by a real process, with real typemgr, mechmgr and openvswitch and linuxbridge
driver processes, on SQLite files and on PostgreSQL.

One stack per database backend serves the whole module; each test works in its own project and
on its own hosts, so tests do not see each other's networks, ports or agents. Agents are
registered directly through mechmgr's AgentService.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ml2.v1 import (
    admin_state_pb2,
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    binding_pb2,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_pb2,
)

from services import launcher
from services.rpc import channels

TIMEOUT = 15.0
TYPEMGR_CONFIG = {
    "TYPEMGR_TYPE_DRIVERS": "flat,vlan,vxlan",
    "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
    "TYPEMGR_FLAT_NETWORKS": "*",
    "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:199",
    "TYPEMGR_VXLAN_VNI_RANGES": "1000:1999",
}


@dataclass
class Failure:
    code: grpc.StatusCode
    message: str
    reason: str
    metadata: dict[str, str]


def failure(call: Any) -> Failure:
    """Runs ``call``, which must fail; returns its code, message, reason and metadata."""
    try:
        call()
    except grpc.RpcError as err:
        reason, metadata = "", {}
        status = rpc_status.from_call(err)
        for detail in status.details if status is not None else ():
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                reason, metadata = info.reason, dict(info.metadata)
        return Failure(err.code(), err.details(), reason, metadata)
    raise AssertionError("the call succeeded; it was expected to fail")


@dataclass
class Stack:
    """The running processes and clients of every service a test needs."""

    backend: str
    log_dir: Path
    processes: dict[str, launcher.ServiceProcess] = dataclasses.field(default_factory=dict)
    channels: list[grpc.Channel] = dataclasses.field(default_factory=list)
    urls: dict[str, str] = dataclasses.field(default_factory=dict)

    def start(self, name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(name, module, env, log_dir=self.log_dir, timeout=30)
        self.processes[name] = process
        return process

    def channel(self, address: str) -> grpc.Channel:
        channel = channels.make_channel(address)
        self.channels.append(channel)
        return channel

    def start_portapi(
        self, name: str, database_url: str, mechmgr: str = "", **extra: str
    ) -> PortApi:
        env = {
            "PORTAPI_LISTEN": "127.0.0.1:0",
            "PORTAPI_METRICS_PORT": "0",
            "PORTAPI_DATABASE_URL": database_url,
            "PORTAPI_TYPEMGR_ADDRESS": self.processes["typemgr"].address,
            "PORTAPI_MECHMGR_ADDRESS": mechmgr or self.processes["mechmgr"].address,
            "PORTAPI_MECHMGR_TIMEOUT_SECONDS": "5",
            **extra,
        }
        process = self.start(name, "services.portapi", env)
        return PortApi(process, self.channel(process.address))

    @property
    def agents(self) -> agent_service_pb2_grpc.AgentServiceStub:
        return agent_service_pb2_grpc.AgentServiceStub(
            self.channel(self.processes["mechmgr"].address)
        )

    def stop(self) -> dict[str, int]:
        for channel in self.channels:
            channel.close()
        return {name: p.stop() for name, p in reversed(self.processes.items())}


class PortApi:
    """Clients of one portapi process."""

    def __init__(self, process: launcher.ServiceProcess, channel: grpc.Channel) -> None:
        self.process = process
        self.networks = network_service_pb2_grpc.NetworkServiceStub(channel)
        self.ports = port_service_pb2_grpc.PortServiceStub(channel)

    def create_network(self, project: str, *specs: segment_pb2.SegmentSpec) -> Any:
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="net", project_id=project, admin_state_up=True),
            segments=list(specs),
        )
        return self.networks.CreateNetwork(request, timeout=TIMEOUT).network

    def list_networks(self, project: str) -> list[Any]:
        request = network_service_pb2.ListNetworksRequest(project_id=project)
        return list(self.networks.ListNetworks(request, timeout=TIMEOUT).networks)

    def create_port(self, network_id: str, host: str = "", **fields: Any) -> Any:
        port = port_pb2.Port(
            network_id=network_id,
            admin_state_up=True,
            binding=binding_pb2.PortBinding(host_id=host),
            **fields,
        )
        request = port_service_pb2.CreatePortRequest(port=port)
        return self.ports.CreatePort(request, timeout=TIMEOUT).port

    def get_port(self, port_id: str) -> Any:
        request = port_service_pb2.GetPortRequest(port_id=port_id)
        return self.ports.GetPort(request, timeout=TIMEOUT).port

    def list_ports(self, **filters: str) -> list[Any]:
        request = port_service_pb2.ListPortsRequest(**filters)
        return list(self.ports.ListPorts(request, timeout=TIMEOUT).ports)

    def set_host(self, port_id: str, host: str) -> Any:
        request = port_service_pb2.UpdatePortRequest(
            port=port_pb2.Port(id=port_id, binding=binding_pb2.PortBinding(host_id=host)),
            update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"]),
        )
        return self.ports.UpdatePort(request, timeout=TIMEOUT).port

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.process.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())


def database_urls(
    backend: str, tmp: Path, request: pytest.FixtureRequest, names: tuple[str, ...]
) -> tuple[dict[str, str], list[str]]:
    """Returns one database URL per service name, and the PostgreSQL ones to drop afterwards."""
    if backend == "sqlite":
        return {name: f"sqlite:///{tmp / f'{name}.db'}" for name in names}, []
    server = request.getfixturevalue("postgres_server")
    urls = {name: server.create_database() for name in names}
    return urls, list(urls.values())


def start_stack(backend: str, tmp: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    urls, to_drop = database_urls(
        backend, tmp, request, ("typemgr", "mechmgr", "portapi", "portapi_b")
    )
    stack = Stack(backend, tmp / "logs", urls=urls)
    try:
        stack.start(
            "typemgr",
            "services.typemgr",
            {
                **TYPEMGR_CONFIG,
                "TYPEMGR_LISTEN": "127.0.0.1:0",
                "TYPEMGR_METRICS_PORT": "0",
                "TYPEMGR_DATABASE_URL": urls["typemgr"],
            },
        )
        drivers = []
        for name in ("openvswitch", "linuxbridge"):
            process = stack.start(
                name,
                f"services.drivers.{name}",
                {
                    "MECHDRIVER_LISTEN": "127.0.0.1:0",
                    "MECHDRIVER_METRICS_PORT": "0",
                },
            )
            drivers.append(f"{name}={process.address}")
        stack.start(
            "mechmgr",
            "services.mechmgr",
            {
                "MECHMGR_LISTEN": "127.0.0.1:0",
                "MECHMGR_METRICS_PORT": "0",
                "MECHMGR_DATABASE_URL": urls["mechmgr"],
                "MECHMGR_MECHANISM_DRIVERS": ",".join(drivers),
                "MECHMGR_TYPEMGR_ADDRESS": stack.processes["typemgr"].address,
            },
        )
        yield stack
    finally:
        codes = stack.stop()
        if to_drop:
            server = request.getfixturevalue("postgres_server")
            for url in to_drop:
                server.drop_database(url)
    assert all(code == 0 for code in codes.values()), codes


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """typemgr, mechmgr and the two driver processes, per backend."""
    yield from start_stack(request.param, tmp_path_factory.mktemp(request.param), request)


@pytest.fixture(scope="module")
def portapi(stack: Stack) -> PortApi:
    """The portapi process of the stack."""
    return stack.start_portapi("portapi", stack.urls["portapi"])


@pytest.fixture
def project() -> str:
    """A project of this test alone."""
    return f"proj-{uuid.uuid4().hex[:8]}"


def register(stack: Stack, agent_type: str, host: str, **caps: Any) -> Any:
    agent = agent_pb2.Agent(
        agent_type=agent_type,
        host=host,
        binary=f"ml2-{agent_type}-agent",
        admin_state_up=True,
        capabilities=agent_pb2.HostCapabilities(**caps),
    )
    request = agent_service_pb2.RegisterAgentRequest(agent=agent)
    return stack.agents.RegisterAgent(request, timeout=TIMEOUT).agent


def hosts(project: str) -> dict[str, str]:
    """Hosts of one test: one with an OVS agent, one with a Linux bridge agent, one bare."""
    return {kind: f"{kind}-{project}" for kind in ("ovs", "lb", "bare")}


def register_hosts(stack: Stack, project: str) -> dict[str, str]:
    names = hosts(project)
    register(
        stack,
        "openvswitch",
        names["ovs"],
        bridge_mappings={"physnet1": "br-eth1"},
        tunnel_types=["vxlan"],
        local_ip="192.0.2.10",
        integration_bridge="br-int",
        port_filter=True,
    )
    register(
        stack,
        "linuxbridge",
        names["lb"],
        interface_mappings={"physnet1": "eth1"},
        tunnel_types=["vxlan"],
        local_ip="192.0.2.11",
        port_filter=True,
    )
    return names


VLAN = segment_pb2.SegmentSpec


# ------------------------------------------------------------------------------------ networks


def test_tenant_network_gets_a_vxlan_segment(portapi: PortApi, project: str) -> None:
    network = portapi.create_network(project)
    [segment] = network.segments
    assert segment.network_type == "vxlan" and 1000 <= segment.segmentation_id <= 1999
    assert network.mtu == segment.mtu > 0
    got = portapi.networks.GetNetwork(
        network_service_pb2.GetNetworkRequest(network_id=network.id), timeout=TIMEOUT
    ).network
    assert got == network


def test_provider_vlan_and_flat_networks(portapi: PortApi, project: str) -> None:
    vlan = portapi.create_network(
        project, VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=3000)
    )
    assert [(s.network_type, s.physical_network, s.segmentation_id) for s in vlan.segments] == [
        ("vlan", "physnet1", 3000)
    ]
    flat = portapi.create_network(project, VLAN(network_type="flat", physical_network="physflat"))
    assert [(s.network_type, s.segmentation_id) for s in flat.segments] == [("flat", 0)]
    assert {n.id for n in portapi.list_networks(project)} == {vlan.id, flat.id}


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (
            VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=0),
            "segments[0].segmentation_id",
            "4094",
        ),
        (
            VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=4095),
            "segments[0].segmentation_id",
            "4094",
        ),
        (
            VLAN(network_type="flat", physical_network="physnet1", segmentation_id=5),
            "segments[0].segmentation_id",
            "flat",
        ),
        (
            VLAN(network_type="vlan", physical_network="physnet9", segmentation_id=5),
            "segments[0].physical_network",
            "physnet9",
        ),
        (VLAN(network_type="bogus"), "segments[0].network_type", "bogus"),
    ],
)
def test_bad_provider_segments_are_invalid_argument_naming_the_field_and_write_nothing(
    portapi: PortApi, project: str, spec: segment_pb2.SegmentSpec, field: str, words: str
) -> None:
    found = failure(lambda: portapi.create_network(project, spec))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.message.startswith(f"{field}: ") and words in found.message
    assert found.metadata["field"] == field
    assert portapi.list_networks(project) == []


def test_a_taken_provider_vlan_is_already_exists_and_writes_nothing(
    portapi: PortApi, project: str
) -> None:
    spec = VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=3001)
    first = portapi.create_network(project, spec)
    found = failure(lambda: portapi.create_network(project, spec))
    assert found.code == grpc.StatusCode.ALREADY_EXISTS
    assert [n.id for n in portapi.list_networks(project)] == [first.id]


def test_deleting_a_network_with_ports_is_refused_then_releases_its_segment(
    portapi: PortApi, project: str
) -> None:
    spec = VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=3002)
    network = portapi.create_network(project, spec)
    port = portapi.create_port(network.id)
    delete = network_service_pb2.DeleteNetworkRequest(network_id=network.id)
    found = failure(lambda: portapi.networks.DeleteNetwork(delete, timeout=TIMEOUT))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "1 port" in found.message and found.metadata["port_count"] == "1"
    portapi.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id=port.id), timeout=TIMEOUT)
    portapi.networks.DeleteNetwork(delete, timeout=TIMEOUT)
    assert portapi.list_networks(project) == []
    again = portapi.create_network(project, spec)  # the VLAN id was given back to typemgr
    assert again.segments[0].segmentation_id == 3002
    found = failure(lambda: portapi.networks.DeleteNetwork(delete, timeout=TIMEOUT))
    assert found.code == grpc.StatusCode.NOT_FOUND and found.reason == "NETWORK_NOT_FOUND"


# --------------------------------------------------------------------------------------- ports


def test_ports_bind_per_host_mechanism(stack: Stack, portapi: PortApi, project: str) -> None:
    names = register_hosts(stack, project)
    network = portapi.create_network(
        project, VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=3010)
    )
    ovs = portapi.create_port(network.id)
    assert ovs.binding.vif_type == "unbound"
    assert ovs.binding.state == binding_pb2.BINDING_STATE_UNBOUND
    ovs = portapi.set_host(ovs.id, names["ovs"])
    assert ovs.binding.vif_type == "ovs" and ovs.binding.state == binding_pb2.BINDING_STATE_BOUND
    details = dict(ovs.binding.vif_details)
    assert details["bridge_name"] == "br-int" and details["port_filter"] is True
    assert {"ovs_hybrid_plug", "datapath_type", "connectivity"} <= details.keys()
    assert [(lv.level, lv.driver, lv.segment.segmentation_id) for lv in ovs.binding.levels] == [
        (0, "openvswitch", 3010)
    ]
    assert ovs.status == port_pb2.PORT_STATUS_BUILD  # bound; its agent has not wired it yet

    lb = portapi.create_port(network.id, host=names["lb"])
    assert lb.binding.vif_type == "bridge" and lb.binding.levels[0].driver == "linuxbridge"
    assert "bridge_name" not in lb.binding.vif_details

    bare = portapi.create_port(network.id, host=names["bare"])
    got = portapi.get_port(bare.id)
    assert got.binding.vif_type == "binding_failed"
    assert got.binding.state == binding_pb2.BINDING_STATE_FAILED
    codes = {(v.driver, r.code) for v in got.binding.trace for r in v.reasons}
    assert codes == {("openvswitch", "NO_AGENT"), ("linuxbridge", "NO_AGENT")}
    assert names["bare"] in got.binding.failure_message
    assert not got.binding.levels

    unbound = portapi.set_host(ovs.id, "")
    assert unbound.binding.vif_type == "unbound" and not unbound.binding.levels
    assert unbound.binding.generation == ovs.binding.generation + 1
    assert {p.id for p in portapi.list_ports(network_id=network.id)} == {ovs.id, lb.id, bare.id}
    assert [p.id for p in portapi.list_ports(host_id=names["lb"])] == [lb.id]


def test_paging_returns_every_port_once_in_creation_order_while_ports_are_added(
    portapi: PortApi, project: str
) -> None:
    """Pages of 3 through one network's ports, by network and by host (whose order comes from
    the bindings' copy of create_time), with ports created between pages: every port there
    before the walk is seen once, the walk is in (create_time, id) order without repeats, and
    the ports added after the walk's position are reached too."""
    network = portapi.create_network(project)
    host = f"host-{project}"
    before = [portapi.create_port(network.id, host=host, name=f"p{i}").id for i in range(8)]
    for filters in ({"network_id": network.id}, {"host_id": host}):
        seen: list[Any] = []
        added: list[str] = []
        token = ""
        while True:
            request = port_service_pb2.ListPortsRequest(page_size=3, page_token=token, **filters)
            reply = portapi.ports.ListPorts(request, timeout=TIMEOUT)
            seen += reply.ports
            if not (token := reply.next_page_token):
                break
            added.append(portapi.create_port(network.id, host=host).id)
        ids = [p.id for p in seen]
        assert len(ids) == len(set(ids)), ids
        assert set(before) <= set(ids) and set(added) <= set(ids)
        keys = [(p.create_time.ToNanoseconds(), p.id) for p in seen]
        assert keys == sorted(keys)
    wrong = failure(
        lambda: portapi.ports.ListPorts(
            port_service_pb2.ListPortsRequest(
                page_size=3, page_token=_networks_token(portapi, project)
            ),
            timeout=TIMEOUT,
        )
    )
    assert wrong.code == grpc.StatusCode.INVALID_ARGUMENT
    assert wrong.message == "page_token: was issued by another list call, not ListPorts"


def _networks_token(portapi: PortApi, project: str) -> str:
    portapi.create_network(project)
    request = network_service_pb2.ListNetworksRequest(project_id=project, page_size=1)
    token = portapi.networks.ListNetworks(request, timeout=TIMEOUT).next_page_token
    assert token
    return str(token)


def test_failed_port_binds_once_its_host_gets_an_agent(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    network = portapi.create_network(project)  # vxlan
    host = f"late-{project}"
    port = portapi.create_port(network.id, host=host)
    assert port.binding.vif_type == "binding_failed"
    register(stack, "openvswitch", host, tunnel_types=["vxlan"], local_ip="192.0.2.20")
    request = port_service_pb2.UpdatePortRequest(
        port=port_pb2.Port(id=port.id, device_id="vm-1"),
        update_mask=field_mask_pb2.FieldMask(paths=["device_id"]),
    )
    port = portapi.ports.UpdatePort(request, timeout=TIMEOUT).port
    assert port.binding.vif_type == "ovs" and port.device_id == "vm-1"


def test_a_vlan_port_fails_to_bind_on_a_linuxbridge_host_whose_agent_cannot_realise_vlan(
    stack: Stack, portapi: PortApi, project: str, tmp_path: Path
) -> None:
    """A simulated Linux bridge agent process reports flat and vxlan only (a kernel without
    VLAN devices): a VLAN port on its host fails binding with the agent's reason, naming the
    type and the agent; a VXLAN port binds there."""
    host = f"novlan-{project}"
    log = tmp_path / "agent.log"
    argv = [
        *("--type", "linuxbridge", "--host", host),
        *("--interface-mappings", "physnet1:eth1", "--tunnel-types", "vxlan"),
        *("--local-ip", "192.0.2.30", "--network-types", "local,flat,vxlan"),
        *("--simulate", "--mechmgr", stack.processes["mechmgr"].address),
    ]
    with open(log, "w") as out:
        agent = subprocess.Popen(
            [sys.executable, "-m", "services.agent", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=launcher.python_path_env(
                {k: v for k, v in os.environ.items() if not k.startswith("ML2_")}
            ),
        )
    try:
        registered = None
        deadline = time.monotonic() + TIMEOUT
        while registered is None and time.monotonic() < deadline and agent.poll() is None:
            listed = stack.agents.ListAgents(
                agent_service_pb2.ListAgentsRequest(host=host), timeout=TIMEOUT
            ).agents
            registered = listed[0] if listed else None
            if registered is None:
                time.sleep(0.1)  # polling ListAgents until the deadline
        assert registered is not None, log.read_text()
        assert list(registered.capabilities.network_types) == ["local", "flat", "vxlan"]

        vlan_net = portapi.create_network(
            project, VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=3020)
        )
        port = portapi.create_port(vlan_net.id, host=host)
        assert port.binding.vif_type == "binding_failed"
        assert port.binding.state == binding_pb2.BINDING_STATE_FAILED
        reasons = {v.driver: list(v.reasons) for v in port.binding.trace}
        assert [r.code for r in reasons["openvswitch"]] == ["NO_AGENT"]
        [reason] = reasons["linuxbridge"]
        assert reason.code == "NETWORK_TYPE_UNSUPPORTED_BY_AGENT"
        assert dict(reason.details) == {
            "agent_id": registered.id,
            "host": host,
            "network_type": "vlan",
            "agent_network_types": "local,flat,vxlan",
        }
        assert reason.segment_id == vlan_net.segments[0].id
        assert registered.id in reason.message and "vlan" in reason.message

        tenant = portapi.create_network(project)  # vxlan
        bound = portapi.create_port(tenant.id, host=host)
        assert bound.binding.vif_type == "bridge", bound.binding.failure_message
    finally:
        agent.terminate()
        assert agent.wait(timeout=TIMEOUT) == 0, log.read_text()


def test_vnic_type_of_a_bound_port_cannot_change(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    names = register_hosts(stack, project)
    network = portapi.create_network(project)
    port = portapi.create_port(network.id, host=names["ovs"])
    request = port_service_pb2.UpdatePortRequest(
        port=port_pb2.Port(
            id=port.id, binding=binding_pb2.PortBinding(vnic_type=binding_pb2.VNIC_TYPE_DIRECT)
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["binding.vnic_type"]),
    )
    found = failure(lambda: portapi.ports.UpdatePort(request, timeout=TIMEOUT))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION and found.reason == "PORT_IN_USE"
    assert portapi.get_port(port.id).binding.vif_type == "ovs"


def vnic_update(port_id: str, vnic: int) -> port_service_pb2.UpdatePortRequest:
    return port_service_pb2.UpdatePortRequest(
        port=port_pb2.Port(id=port_id, binding=binding_pb2.PortBinding(vnic_type=vnic)),
        update_mask=field_mask_pb2.FieldMask(paths=["binding.vnic_type"]),
    )


def mac_update(port_id: str, mac: str, *paths: str) -> port_service_pb2.UpdatePortRequest:
    return port_service_pb2.UpdatePortRequest(
        port=port_pb2.Port(id=port_id, mac_address=mac, name="renamed"),
        update_mask=field_mask_pb2.FieldMask(paths=["mac_address", *paths]),
    )


def test_vnic_type_of_a_failed_port_cannot_change_and_the_port_reads_back_unchanged(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    names = hosts(project)
    network = portapi.create_network(project)
    port = portapi.create_port(network.id, host=names["bare"])
    assert port.binding.vif_type == "binding_failed"

    found = failure(
        lambda: portapi.ports.UpdatePort(
            vnic_update(port.id, binding_pb2.VNIC_TYPE_DIRECT), timeout=TIMEOUT
        )
    )

    assert found.code == grpc.StatusCode.FAILED_PRECONDITION and found.reason == "PORT_IN_USE"
    assert found.metadata["field"] == "binding.vnic_type"
    assert found.message.startswith("binding.vnic_type: ") and "unbound" in found.message
    after = portapi.get_port(port.id)
    assert after.binding.vnic_type == binding_pb2.VNIC_TYPE_NORMAL
    assert after.binding.generation == port.binding.generation
    assert after.update_time == port.update_time


def test_vnic_type_of_an_unbound_port_changes(portapi: PortApi, project: str) -> None:
    network = portapi.create_network(project)
    port = portapi.create_port(network.id)

    updated = portapi.ports.UpdatePort(
        vnic_update(port.id, binding_pb2.VNIC_TYPE_DIRECT), timeout=TIMEOUT
    ).port

    assert updated.binding.vnic_type == binding_pb2.VNIC_TYPE_DIRECT
    assert portapi.get_port(port.id).binding.vnic_type == binding_pb2.VNIC_TYPE_DIRECT


def test_mac_address_of_a_bound_port_cannot_change_and_nothing_else_changes(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    names = register_hosts(stack, project)
    network = portapi.create_network(project)
    port = portapi.create_port(network.id, host=names["ovs"])
    assert port.binding.vif_type == "ovs"

    found = failure(
        lambda: portapi.ports.UpdatePort(
            mac_update(port.id, "fa:16:3e:12:34:56", "name"), timeout=TIMEOUT
        )
    )

    assert found.code == grpc.StatusCode.FAILED_PRECONDITION and found.reason == "PORT_BOUND"
    assert found.metadata["field"] == "mac_address"
    assert found.message.startswith("mac_address: ")
    after = portapi.get_port(port.id)
    assert (after.mac_address, after.name) == (port.mac_address, "")
    assert after.update_time == port.update_time


def test_mac_address_changes_while_unbound_or_failed(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    names = hosts(project)
    network = portapi.create_network(project)
    unbound = portapi.create_port(network.id)
    failed = portapi.create_port(network.id, host=names["bare"])
    assert failed.binding.vif_type == "binding_failed"

    first = portapi.ports.UpdatePort(
        mac_update(unbound.id, "FA-16-3E-00-00-AA"), timeout=TIMEOUT
    ).port
    second = portapi.ports.UpdatePort(
        mac_update(failed.id, "fa:16:3e:00:00:bb"), timeout=TIMEOUT
    ).port

    assert first.mac_address == "fa:16:3e:00:00:aa"
    assert portapi.get_port(unbound.id).mac_address == "fa:16:3e:00:00:aa"
    assert second.mac_address == "fa:16:3e:00:00:bb"
    assert second.binding.vif_type == "binding_failed"  # retried, still no agent

    taken = failure(
        lambda: portapi.ports.UpdatePort(
            mac_update(unbound.id, "fa:16:3e:00:00:bb"), timeout=TIMEOUT
        )
    )
    assert taken.code == grpc.StatusCode.ALREADY_EXISTS
    assert portapi.get_port(unbound.id).mac_address == "fa:16:3e:00:00:aa"
    bad = failure(lambda: portapi.ports.UpdatePort(mac_update(unbound.id, ""), timeout=TIMEOUT))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert bad.metadata["field"] == "port.mac_address"


def test_every_bound_port_names_its_drivers_in_vif_details(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    names = register_hosts(stack, project)
    network = portapi.create_network(project)
    port = portapi.create_port(network.id, host=names["lb"])

    assert port.binding.vif_type == "bridge"
    details = portapi.get_port(port.id).binding.vif_details
    assert dict(details) == {
        "port_filter": True,
        "connectivity": "l2",
        "bound_drivers": {"0": "linuxbridge"},
    }


def test_bad_port_requests_name_the_field_and_write_nothing(portapi: PortApi, project: str) -> None:
    network = portapi.create_network(project)
    missing = str(uuid.uuid4())
    found = failure(lambda: portapi.create_port(missing))
    assert found.code == grpc.StatusCode.NOT_FOUND and missing in found.message
    found = failure(lambda: portapi.create_port(network.id, mac_address="01:00:5e:00:00:01"))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "port.mac_address"
    assert portapi.list_ports(project_id=project) == []

    found = failure(lambda: portapi.get_port(missing))
    assert found.code == grpc.StatusCode.NOT_FOUND and found.metadata["port_id"] == missing

    port = portapi.create_port(network.id)
    for paths, field in (
        (["name", "binding.vif_type"], "update_mask.paths[1]"),
        ([], "update_mask"),
    ):
        request = port_service_pb2.UpdatePortRequest(
            port=port_pb2.Port(id=port.id, name="renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )
        found = failure(lambda r=request: portapi.ports.UpdatePort(r, timeout=TIMEOUT))
        assert found.code == grpc.StatusCode.INVALID_ARGUMENT
        assert found.metadata["field"] == field and found.message.startswith(f"{field}: ")
    assert portapi.get_port(port.id).name == ""


def test_metrics_count_binding_results_by_state_vif_type_and_reason(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    names = register_hosts(stack, project)
    network = portapi.create_network(project)
    portapi.create_port(network.id, host=names["ovs"])
    portapi.create_port(network.id, host=names["bare"])
    text = portapi.metrics()
    assert 'ml2_portapi_bindings_total{reason="",state="BOUND",vif_type="ovs"}' in text
    assert (
        'ml2_portapi_bindings_total{reason="NO_AGENT",state="FAILED",vif_type="binding_failed"}'
    ) in text
    assert "ml2_portapi_bind_seconds_bucket" in text
    assert "ml2_portapi_binding_cas_retries_total" in text
    assert 'grpc_method="UpdatePort"' in text or 'grpc_method="CreatePort"' in text


def test_unreachable_mechmgr_fails_bindings_with_a_reason_not_a_hang(
    stack: Stack, project: str
) -> None:
    dead = f"127.0.0.1:{_free_port()}"
    isolated = stack.start_portapi(
        f"portapi-nomech-{project}", f"sqlite:///{stack.log_dir / f'{project}.db'}", dead
    )
    try:
        network = isolated.create_network(project)
        port = isolated.create_port(network.id, host="any-host")
        assert port.binding.vif_type == "binding_failed"
        [verdict] = port.binding.trace
        assert verdict.driver == "mechmgr"
        assert verdict.reasons[0].code == "MECHANISM_MANAGER_UNAVAILABLE"
        assert isolated.get_port(port.id).binding.failure_message
        isolated.ports.DeletePort(
            port_service_pb2.DeletePortRequest(port_id=port.id), timeout=TIMEOUT
        )
        isolated.networks.DeleteNetwork(
            network_service_pb2.DeleteNetworkRequest(network_id=network.id), timeout=TIMEOUT
        )
    finally:
        assert isolated.process.stop() == 0
        del stack.processes[f"portapi-nomech-{project}"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_configuration_exits_with_one_line(tmp_path: Path) -> None:
    env = launcher.python_path_env({**os.environ, "PORTAPI_BIND_MAX_TRIES": "0"})
    done = subprocess.run(
        [sys.executable, "-m", "services.portapi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "portapi: configuration error: PORTAPI_BIND_MAX_TRIES=0: must be at least 1"
    )


# ------------------------------------------------------------------------------ CheckBindable


def check_bindable(portapi: PortApi, network_id: str, *hosts: str, **fields: Any) -> Any:
    request = port_service_pb2.CheckBindableRequest(
        network_id=network_id, host_ids=list(hosts), **fields
    )
    return portapi.ports.CheckBindable(request, timeout=TIMEOUT)


def verdicts(trace: Any) -> list[tuple[int, str, int, list[str]]]:
    return [(v.level, v.driver, v.outcome, [r.code for r in v.reasons]) for v in trace]


def test_check_bindable_answers_each_host_as_binding_a_port_there_does_and_writes_nothing(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    names = register_hosts(stack, project)
    unmapped = f"unmapped-{project}"
    register(stack, "openvswitch", unmapped, bridge_mappings={"physnet2": "br-eth2"})
    network = portapi.create_network(
        project, VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=3030)
    )
    checked = [names["lb"], unmapped, names["bare"], names["ovs"]]
    agents = agent_service_pb2.ListAgentsRequest(page_size=1000)
    agents_before = stack.agents.ListAgents(agents, timeout=TIMEOUT)

    reply = check_bindable(portapi, network.id, *checked)

    assert [(h.host_id, h.bindable, h.vif_type) for h in reply.hosts] == [
        (names["lb"], True, "bridge"),
        (unmapped, False, ""),
        (names["bare"], False, ""),
        (names["ovs"], True, "ovs"),
    ]
    assert verdicts(reply.hosts[1].trace)[0][3] == ["PHYSNET_NOT_MAPPED"]
    assert reply.hosts[1].reason.startswith(
        f"no mechanism driver could bind on host {unmapped}: openvswitch: PHYSNET_NOT_MAPPED"
    )
    assert portapi.list_ports(network_id=network.id) == []
    assert stack.agents.ListAgents(agents, timeout=TIMEOUT) == agents_before
    assert portapi.create_network(project).id  # typemgr still allocates as before

    for answer in reply.hosts:
        port = portapi.create_port(network.id, host=answer.host_id).binding
        assert answer.bindable == (port.state == binding_pb2.BINDING_STATE_BOUND)
        assert answer.vif_type == (port.vif_type if answer.bindable else "")
        assert verdicts(answer.trace) == verdicts(port.trace)
        assert [(lv.driver, lv.segment.id) for lv in answer.levels] == [
            (lv.driver, lv.segment.id) for lv in port.levels
        ]
        if not answer.bindable:
            assert answer.reason == port.failure_message.replace(
                f"port {port_id(portapi, network.id, answer.host_id)} ", ""
            )


def port_id(portapi: PortApi, network_id: str, host: str) -> str:
    [port] = [p for p in portapi.list_ports(network_id=network_id) if p.binding.host_id == host]
    return str(port.id)


def test_check_bindable_refuses_bad_input_naming_the_field(portapi: PortApi, project: str) -> None:
    network = portapi.create_network(project)
    big = {"blob": "x" * 20000}
    profile = struct_pb2.Struct()
    profile.update(big)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("host_ids", {"host_ids": []}),
        ("host_ids", {"host_ids": [f"h{i}" for i in range(5001)]}),
        ("host_ids[1]", {"host_ids": ["compute-1", "bad host"]}),
        ("host_ids[1]", {"host_ids": ["compute-1", ""]}),
        ("host_ids[2]", {"host_ids": ["a", "b", "a"]}),
        ("network_id", {"network_id": ""}),
        ("vnic_type", {"vnic_type": 99}),
        ("profile", {"profile": profile}),
    ]
    for field, overrides in cases:
        fields = {"network_id": network.id, "host_ids": ["compute-1"], **overrides}
        request = port_service_pb2.CheckBindableRequest(**fields)
        found = failure(lambda r=request: portapi.ports.CheckBindable(r, timeout=TIMEOUT))
        assert found.code == grpc.StatusCode.INVALID_ARGUMENT, field
        assert found.metadata["field"] == field and found.message.startswith(f"{field}: ")

    missing = str(uuid.uuid4())
    found = failure(lambda: check_bindable(portapi, missing, "compute-1"))
    assert found.code == grpc.StatusCode.NOT_FOUND and found.metadata["network_id"] == missing


# ------------------------------------------------------------------ network MTU and update


def _create_with_mtu(portapi: PortApi, project: str, mtu: int, *specs: Any) -> Any:
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name="net", project_id=project, mtu=mtu),
        segments=list(specs),
    )
    return portapi.networks.CreateNetwork(request, timeout=TIMEOUT).network


def _update_network(portapi: PortApi, network: Any, *paths: str) -> Any:
    request = network_service_pb2.UpdateNetworkRequest(
        network=network, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )
    return portapi.networks.UpdateNetwork(request, timeout=TIMEOUT).network


def _get_network(portapi: PortApi, network_id: str) -> Any:
    request = network_service_pb2.GetNetworkRequest(network_id=network_id)
    return portapi.networks.GetNetwork(request, timeout=TIMEOUT).network


def test_a_requested_mtu_is_kept_up_to_the_segments_maximum_and_refused_above(
    portapi: PortApi, project: str
) -> None:
    # typemgr's defaults: global MTU 1500, VXLAN over IPv4 1450
    assert _create_with_mtu(portapi, project, 0).mtu == 1450
    assert _create_with_mtu(portapi, project, 1400).mtu == 1400
    vlan = VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=3041)
    found = failure(lambda: _create_with_mtu(portapi, project, 1501, vlan))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.message == "network.mtu: Requested MTU is too big, maximum is 1500"
    assert found.reason == "MTU_TOO_BIG" and found.metadata["field"] == "network.mtu"
    assert len(portapi.list_networks(project)) == 2
    # the refused network's VLAN went back to typemgr: the same id is free again
    assert _create_with_mtu(portapi, project, 1500, vlan).segments[0].segmentation_id == 3041


def test_update_network_sets_name_admin_state_and_mtu_within_the_maximum(
    portapi: PortApi, project: str
) -> None:
    network = portapi.create_network(project)
    changed = network_pb2.Network(
        id=network.id, name="renamed", admin_state=admin_state_pb2.ADMIN_STATE_DOWN, mtu=1300
    )
    after = _update_network(portapi, changed, "name", "admin_state", "mtu")
    assert (after.name, after.admin_state, after.mtu) == (
        "renamed",
        admin_state_pb2.ADMIN_STATE_DOWN,
        1300,
    )
    assert _get_network(portapi, network.id) == after
    too_big = network_pb2.Network(id=network.id, name="again", mtu=1451)
    found = failure(lambda: _update_network(portapi, too_big, "name", "mtu"))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.message == "network.mtu: Requested MTU is too big, maximum is 1450"
    assert _get_network(portapi, network.id) == after
    reset = _update_network(portapi, network_pb2.Network(id=network.id, mtu=0), "mtu")
    assert reset.mtu == 1450


def test_update_network_with_typemgr_unreachable_is_unavailable_and_changes_nothing(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    network = portapi.create_network(project)
    dead = f"127.0.0.1:{_free_port()}"
    name = f"portapi-notype-{project}"
    cut_off = stack.start_portapi(name, stack.urls["portapi"], PORTAPI_TYPEMGR_ADDRESS=dead)
    try:
        changed = network_pb2.Network(id=network.id, name="renamed", mtu=1400)
        found = failure(lambda: _update_network(cut_off, changed, "name", "mtu"))
        assert found.code == grpc.StatusCode.UNAVAILABLE, found
        assert _get_network(portapi, network.id) == network
        assert _get_network(cut_off, network.id) == network
    finally:
        assert cut_off.process.stop() == 0
        del stack.processes[name]
