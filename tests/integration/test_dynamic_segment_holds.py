"""Dynamic segments are reference counted across real processes: a fabric driver (the noop
reference driver in fabric mode) binds each port's VXLAN segment and continues with a dynamic
VLAN that mechmgr allocates from typemgr for the port; openvswitch binds that VLAN. portapi
tells typemgr, after each commit, which dynamic segments each port uses.

Two ports on one host share one dynamic segment; unbinding one keeps it; unbinding (or
deleting) the last releases it, and its VLAN id returns to the pool: the pool has one id only,
so the next network can have it."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
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
from ml2.v1 import segment_range_service_pb2 as rs
from ml2.v1 import segment_range_service_pb2_grpc as rs_grpc
from ml2.v1 import segment_service_pb2 as ss
from ml2.v1 import segment_service_pb2_grpc as ss_grpc

from services import launcher
from services.rpc import channels
from tests.integration.stacks import databases, start_together, stop_together, unique

TIMEOUT = 15.0


@dataclass
class Stack:
    log_dir: Path
    processes: list[launcher.ServiceProcess] = field(default_factory=list)
    opened: list[grpc.Channel] = field(default_factory=list)

    def start(self, name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(name, module, env, log_dir=self.log_dir, timeout=30)
        self.processes.append(process)
        return process

    def channel(self, process: launcher.ServiceProcess) -> grpc.Channel:
        self.opened.append(channels.make_channel(process.address))
        return self.opened[-1]

    def metric(self, name: str, sample: str) -> float:
        """The sum of the samples of process ``name``'s /metrics that start with ``sample``."""
        [process] = [p for p in self.processes if p.name == name]
        url = f"http://127.0.0.1:{process.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(sample)
        )


@dataclass
class Clients:
    networks: network_service_pb2_grpc.NetworkServiceStub
    ports: port_service_pb2_grpc.PortServiceStub
    segments: ss_grpc.SegmentServiceStub
    ranges: rs_grpc.SegmentRangeServiceStub
    agents: agent_service_pb2_grpc.AgentServiceStub
    stack: Stack
    typemgr: launcher.ServiceProcess
    created_ports: list[str] = field(default_factory=list)

    def stop_typemgr(self) -> None:
        assert self.typemgr.stop() == 0

    def start_typemgr_again(self) -> None:
        """Starts typemgr on the address and database it had."""
        env = {**self.typemgr.env, "TYPEMGR_LISTEN": self.typemgr.address}
        self.typemgr = self.stack.start("typemgr-again", "services.typemgr", env)

    def bind(self, port_id: str, host: str) -> Any:
        request = port_service_pb2.UpdatePortRequest(
            port=port_pb2.Port(id=port_id, binding=binding_pb2.PortBinding(host_id=host)),
            update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"]),
        )
        return self.ports.UpdatePort(request, timeout=TIMEOUT).port

    def dynamic(self, network_id: str) -> list[Any]:
        request = ss.ListNetworkSegmentsRequest(network_id=network_id, include_dynamic=True)
        reply = self.segments.ListNetworkSegments(request, timeout=TIMEOUT)
        return [s for s in reply.segments if s.is_dynamic]

    def holders(self, segment_id: str) -> list[str]:
        return [h.holder for h in self.holds(segment_id)]

    def holds(self, segment_id: str) -> list[segment_pb2.DynamicSegmentHold]:
        request = ss.ListDynamicSegmentHoldsRequest(segment_id=segment_id)
        reply = self.segments.ListDynamicSegmentHolds(request, timeout=TIMEOUT)
        return list(reply.holds)

    def vlan_allocations(self) -> list[int]:
        request = rs.ListSegmentAllocationsRequest(network_type="vlan")
        reply = self.ranges.ListSegmentAllocations(request, timeout=TIMEOUT)
        return [a.segmentation_id for a in reply.segment_allocations]

    def network(self) -> str:
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="n", project_id="p", admin_state_up=True)
        )
        return str(self.networks.CreateNetwork(request, timeout=TIMEOUT).network.id)

    def port(self, network_id: str) -> str:
        request = port_service_pb2.CreatePortRequest(
            port=port_pb2.Port(network_id=network_id, admin_state_up=True)
        )
        port_id = str(self.ports.CreatePort(request, timeout=TIMEOUT).port.id)
        self.created_ports.append(port_id)
        return port_id

    def delete_created_ports(self) -> None:
        """Deletes the ports made through ``port`` that still exist: their dynamic segments go
        back to the pool (of one id) for the next test of the stack."""
        for port_id in self.created_ports:
            try:
                self.ports.DeletePort(
                    port_service_pb2.DeletePortRequest(port_id=port_id), timeout=TIMEOUT
                )
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
        self.created_ports.clear()


def start_clients(backend: str, tmp: Path, request: pytest.FixtureRequest) -> Iterator[Clients]:
    stack = Stack(tmp / "logs")
    database = databases(backend, tmp, request, ("typemgr", "mechmgr", "portapi"))
    db = next(database)
    listen = {"LISTEN": "127.0.0.1:0", "METRICS_PORT": "0"}
    drv = {f"MECHDRIVER_{k}": v for k, v in listen.items()}
    try:
        typemgr, fabric, ovs = start_together(
            stack.start,
            (
                "typemgr",
                "services.typemgr",
                {
                    **{f"TYPEMGR_{k}": v for k, v in listen.items()},
                    "TYPEMGR_DATABASE_URL": db["typemgr"],
                    "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
                    "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:100",
                },
            ),
            (
                "fabric",
                "services.drivers.noop",
                {**drv, "MECHDRIVER_NOOP_NAME": "fabric", "MECHDRIVER_NOOP_MODE": "fabric"},
            ),
            ("openvswitch", "services.drivers.openvswitch", drv),
        )
        mechmgr = stack.start(
            "mechmgr",
            "services.mechmgr",
            {
                **{f"MECHMGR_{k}": v for k, v in listen.items()},
                "MECHMGR_DATABASE_URL": db["mechmgr"],
                "MECHMGR_TYPEMGR_ADDRESS": typemgr.address,
                "MECHMGR_MECHANISM_DRIVERS": f"fabric={fabric.address},openvswitch={ovs.address}",
                "MECHMGR_TYPEMGR_TIMEOUT_SECONDS": "10",
            },
        )
        portapi = stack.start(
            "portapi",
            "services.portapi",
            {
                **{f"PORTAPI_{k}": v for k, v in listen.items()},
                "PORTAPI_DATABASE_URL": db["portapi"],
                "PORTAPI_TYPEMGR_ADDRESS": typemgr.address,
                "PORTAPI_MECHMGR_ADDRESS": mechmgr.address,
                "PORTAPI_HOLD_SYNC_RETRY_SECONDS": "0.2",
            },
        )
        yield Clients(
            network_service_pb2_grpc.NetworkServiceStub(stack.channel(portapi)),
            port_service_pb2_grpc.PortServiceStub(stack.channel(portapi)),
            ss_grpc.SegmentServiceStub(stack.channel(typemgr)),
            rs_grpc.SegmentRangeServiceStub(stack.channel(typemgr)),
            agent_service_pb2_grpc.AgentServiceStub(stack.channel(mechmgr)),
            stack,
            typemgr,
        )
    finally:
        for channel in stack.opened:
            channel.close()
        codes = stop_together(stack.processes)
        next(database, None)
    assert codes == [0] * len(codes), [p.log_tail() for p in stack.processes]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_clients(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clients]:
    """One stack per backend for the tests that neither stop nor restart a process."""
    yield from start_clients(request.param, tmp_path_factory.mktemp(request.param), request)


@pytest.fixture
def clients(shared_clients: Clients) -> Iterator[Clients]:
    """The shared stack; the ports a test made are deleted after it, so that the pool's one
    VLAN id is free again for the next test."""
    shared_clients.created_ports.clear()
    yield shared_clients
    shared_clients.delete_created_ports()


@pytest.fixture(params=["sqlite", "postgres"])
def own_clients(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Clients]:
    """A stack of the test's own, which it may stop and start again."""
    yield from start_clients(request.param, tmp_path, request)


@pytest.fixture
def host() -> str:
    return unique("compute-1")


def register_ovs_agent(clients: Clients, host: str) -> None:
    agent = agent_pb2.Agent(
        agent_type="openvswitch",
        host=host,
        binary="ml2-openvswitch-agent",
        admin_state_up=True,
        capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
    )
    clients.agents.RegisterAgent(agent_service_pb2.RegisterAgentRequest(agent=agent))


def test_ports_share_a_dynamic_segment_released_with_the_last_one(
    clients: Clients, host: str
) -> None:
    free = clients.vlan_allocations()
    register_ovs_agent(clients, host)
    network_id = clients.network()
    first, second = clients.port(network_id), clients.port(network_id)

    bound = [clients.bind(port_id, host) for port_id in (first, second)]
    for port in bound:
        assert (port.binding.state, port.binding.vif_type) == (
            binding_pb2.BINDING_STATE_BOUND,
            "ovs",
        )
    [dynamic] = clients.dynamic(network_id)
    assert [p.binding.levels[1].segment.id for p in bound] == [dynamic.id, dynamic.id]
    assert (dynamic.physical_network, dynamic.segmentation_id) == ("physnet1", 100)
    assert sorted(clients.holders(dynamic.id)) == sorted([first, second])
    # Each hold carries the binding generation it was taken for.
    generations = {p.id: p.binding.generation for p in bound}
    assert all(generations[p] > 0 for p in generations)
    assert {h.holder: h.generation for h in clients.holds(dynamic.id)} == generations

    clients.bind(first, "")
    assert clients.dynamic(network_id) == [dynamic]
    assert clients.holders(dynamic.id) == [second]

    clients.bind(second, "")
    assert clients.dynamic(network_id) == []
    assert clients.vlan_allocations() == free

    # VLAN 100, the pool's only id, serves the next network's ports.
    other = clients.network()
    port = clients.bind(clients.port(other), host)
    assert port.binding.levels[1].segment.segmentation_id == 100
    clients.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id=port.id))
    assert clients.dynamic(other) == []
    assert clients.vlan_allocations() == free


def test_level_0_is_offered_the_networks_dynamic_segments_after_its_static_ones(
    clients: Clients, host: str
) -> None:
    register_ovs_agent(clients, host)
    network_id = clients.network()
    first = clients.bind(clients.port(network_id), host)
    [dynamic] = clients.dynamic(network_id)
    request = ss.ListNetworkSegmentsRequest(network_id=network_id)
    [static] = clients.segments.ListNetworkSegments(request, timeout=TIMEOUT).segments

    second = clients.bind(clients.port(network_id), host)

    def offered_at_level_0(port: Any) -> set[tuple[str, ...]]:
        return {tuple(s.id for s in v.offered_segments) for v in port.binding.trace if v.level == 0}

    assert offered_at_level_0(first) == {(static.id,)}
    assert offered_at_level_0(second) == {(static.id, dynamic.id)}
    # The fabric still binds the VXLAN segment first and continues on the same dynamic VLAN.
    assert [lv.segment.id for lv in second.binding.levels] == [static.id, dynamic.id]
    assert sorted(clients.holders(dynamic.id)) == sorted([first.id, second.id])


OVS_COMPLETED = 'ml2_mechdriver_proposals_total{driver="openvswitch",outcome="COMPLETE"'
HOLD_SYNCS = "ml2_portapi_hold_syncs_total{"


def test_a_second_port_is_bound_below_the_fabric_while_typemgr_records_its_hold(
    own_clients: Clients, host: str
) -> None:
    """The second port of a network: level 0 is offered the network's dynamic VLAN from
    portapi's record, and openvswitch is asked about it at level 1 while typemgr (frozen here)
    has not yet answered the allocation that records the port's hold; the bind answers once
    it has, and its hold sync, which only confirms that hold, is sent after the answer. A
    stack of its own: it freezes typemgr and counts the drivers' proposals."""
    clients = own_clients
    register_ovs_agent(clients, host)
    network_id = clients.network()
    first = clients.bind(clients.port(network_id), host)
    [dynamic] = clients.dynamic(network_id)
    assert clients.stack.metric("openvswitch", OVS_COMPLETED) == 1
    second_id = clients.port(network_id)
    synced_now = clients.stack.metric("portapi", HOLD_SYNCS + 'result="synced",when="now"')

    os.kill(clients.typemgr.process.pid, signal.SIGSTOP)
    answers: list[Any] = []
    binding = threading.Thread(target=lambda: answers.append(clients.bind(second_id, host)))
    try:
        binding.start()
        deadline = time.monotonic() + 8
        while clients.stack.metric("openvswitch", OVS_COMPLETED) < 2:
            assert time.monotonic() < deadline, "openvswitch was not asked before typemgr answered"
            time.sleep(0.01)
        assert answers == []  # the result waits for typemgr's answer
    finally:
        os.kill(clients.typemgr.process.pid, signal.SIGCONT)
        binding.join(TIMEOUT)
    [second] = answers

    assert second.binding.state == binding_pb2.BINDING_STATE_BOUND
    assert [lv.segment.id for lv in second.binding.levels] == [
        first.binding.levels[0].segment.id,
        dynamic.id,
    ]
    assert sorted(clients.holders(dynamic.id)) == sorted([first.id, second_id])
    # Neither port's sync could drop a hold: both waited until after the answer.
    assert clients.stack.metric("portapi", HOLD_SYNCS + 'result="synced",when="now"') == synced_now
    assert eventually(
        lambda: clients.stack.metric("portapi", HOLD_SYNCS + 'result="synced",when="deferred"') == 2
    )


def test_a_port_that_fails_below_the_fabric_holds_nothing(clients: Clients) -> None:
    """The fabric level allocates a dynamic VLAN, then no driver binds it on a host without an
    agent: the binding fails and the VLAN is released with it."""
    free = clients.vlan_allocations()
    network_id = clients.network()
    port = clients.bind(clients.port(network_id), unique("compute-bare"))
    assert port.binding.state == binding_pb2.BINDING_STATE_FAILED
    assert clients.dynamic(network_id) == []
    assert clients.vlan_allocations() == free


def eventually(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Polls ``check`` (a call that may fail while a process restarts) until it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    return False


def test_a_release_typemgr_missed_happens_once_it_is_back(own_clients: Clients, host: str) -> None:
    """typemgr is down when the port is unbound: the unbinding succeeds, the hold stays (nothing
    is released early), and portapi tells typemgr once it is back, without any port change."""
    clients = own_clients
    register_ovs_agent(clients, host)
    network_id = clients.network()
    port_id = clients.port(network_id)
    assert clients.bind(port_id, host).binding.state == binding_pb2.BINDING_STATE_BOUND
    [dynamic] = clients.dynamic(network_id)

    clients.stop_typemgr()
    assert clients.bind(port_id, "").binding.state == binding_pb2.BINDING_STATE_UNBOUND
    clients.start_typemgr_again()
    assert eventually(lambda: clients.dynamic(network_id) == []), clients.holders(dynamic.id)
    assert clients.vlan_allocations() == []
