"""Holds on dynamic segments in the two cases the holds of a port's resolution used to miss,
across real processes: a fabric driver (the noop reference driver in fabric mode, on
``compute-1`` only) continues each port's VXLAN binding with a dynamic VLAN that openvswitch
binds; a flat driver (the noop driver, on ``compute-3`` only) binds the VXLAN segment itself;
openvswitch, whose agents map physnet1 and have no tunnels, binds a VLAN.

* A port on ``compute-2``, where the fabric does not bind, is offered the network's dynamic
  VLAN at level 0 (portapi offers the dynamic segments the network's bindings use) and
  openvswitch binds it there directly: the port holds it like the ports bound through the
  fabric, and it is released with the last of them.
* A resolution that loses to a newer one for the same port (openvswitch frozen between the
  fabric's allocation and the commit, while the port is moved to the flat host) leaves no hold
  behind: the port's holds become those of the binding that won.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from ml2.v1 import (
    agent_service_pb2_grpc,
    binding_pb2,
    network_service_pb2_grpc,
    port_service_pb2,
    port_service_pb2_grpc,
)
from ml2.v1 import segment_range_service_pb2 as rs
from ml2.v1 import segment_range_service_pb2_grpc as rs_grpc
from ml2.v1 import segment_service_pb2_grpc as ss_grpc

from services import launcher
from services.rpc import channels
from tests.integration import stacks

TIMEOUT = 15.0
SLOW = 40.0
"""Deadline of a bind that waits for a frozen driver."""
FABRIC_HOST = "compute-1"
DIRECT_HOST = "compute-2"
FLAT_HOST = "compute-3"


@dataclass
class Stack:
    log_dir: Path
    processes: list[launcher.ServiceProcess] = field(default_factory=list)
    opened: list[grpc.Channel] = field(default_factory=list)
    frozen: list[launcher.ServiceProcess] = field(default_factory=list)

    def start(self, name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(name, module, env, log_dir=self.log_dir, timeout=30)
        self.processes.append(process)
        return process

    def channel(self, process: launcher.ServiceProcess) -> grpc.Channel:
        self.opened.append(channels.make_channel(process.address))
        return self.opened[-1]

    def freeze(self, process: launcher.ServiceProcess) -> None:
        os.kill(process.process.pid, signal.SIGSTOP)
        self.frozen.append(process)

    def thaw(self, process: launcher.ServiceProcess) -> None:
        os.kill(process.process.pid, signal.SIGCONT)
        self.frozen.remove(process)


@dataclass
class Api(stacks.HoldCalls):
    networks: network_service_pb2_grpc.NetworkServiceStub
    ports: port_service_pb2_grpc.PortServiceStub
    segments: ss_grpc.SegmentServiceStub
    ranges: rs_grpc.SegmentRangeServiceStub
    agents: agent_service_pb2_grpc.AgentServiceStub
    stack: Stack
    openvswitch: launcher.ServiceProcess

    def register_ovs_agents(self) -> None:
        for host in (FABRIC_HOST, DIRECT_HOST):
            self.register_ovs_agent(host)

    def vlan_allocations(self) -> list[int]:
        request = rs.ListSegmentAllocationsRequest(network_type="vlan")
        reply = self.ranges.ListSegmentAllocations(request, timeout=TIMEOUT)
        return [a.segmentation_id for a in reply.segment_allocations]


def urls(database_url: str, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    names = ("typemgr", "mechmgr", "portapi")
    if database_url.startswith("sqlite"):
        yield {n: database_url.replace("test.db", f"{n}.db") for n in names}
        return
    server = request.getfixturevalue("postgres_server")
    made = {n: database_url if n == "typemgr" else server.create_database() for n in names}
    yield made
    for name in ("mechmgr", "portapi"):
        server.drop_database(made[name])


@pytest.fixture
def api(database_url: str, log_dir: Path, request: pytest.FixtureRequest) -> Iterator[Api]:
    stack = Stack(log_dir)
    database = urls(database_url, request)
    db = next(database)
    listen = {"LISTEN": "127.0.0.1:0", "METRICS_PORT": "0"}
    drv = {f"MECHDRIVER_{k}": v for k, v in listen.items()}
    try:
        typemgr = stack.start(
            "typemgr",
            "services.typemgr",
            {
                **{f"TYPEMGR_{k}": v for k, v in listen.items()},
                "TYPEMGR_DATABASE_URL": db["typemgr"],
                "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
                "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:100",
            },
        )
        fabric = stack.start(
            "fabric",
            "services.drivers.noop",
            {
                **drv,
                "MECHDRIVER_NOOP_NAME": "fabric",
                "MECHDRIVER_NOOP_MODE": "fabric",
                "MECHDRIVER_NOOP_HOSTS": FABRIC_HOST,
            },
        )
        flat = stack.start(
            "flat",
            "services.drivers.noop",
            {
                **drv,
                "MECHDRIVER_NOOP_NAME": "flat",
                "MECHDRIVER_NOOP_NETWORK_TYPES": "vxlan",
                "MECHDRIVER_NOOP_HOSTS": FLAT_HOST,
            },
        )
        ovs = stack.start("openvswitch", "services.drivers.openvswitch", drv)
        drivers = f"fabric={fabric.address},flat={flat.address},openvswitch={ovs.address}"
        mechmgr = stack.start(
            "mechmgr",
            "services.mechmgr",
            {
                **{f"MECHMGR_{k}": v for k, v in listen.items()},
                "MECHMGR_DATABASE_URL": db["mechmgr"],
                "MECHMGR_TYPEMGR_ADDRESS": typemgr.address,
                "MECHMGR_MECHANISM_DRIVERS": drivers,
                "MECHMGR_TYPEMGR_TIMEOUT_SECONDS": "10",
                "MECHMGR_DRIVER_TIMEOUT_SECONDS": "30",
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
                "PORTAPI_MECHMGR_TIMEOUT_SECONDS": "35",
                "PORTAPI_HOLD_SYNC_RETRY_SECONDS": "0.2",
            },
        )
        yield Api(
            network_service_pb2_grpc.NetworkServiceStub(stack.channel(portapi)),
            port_service_pb2_grpc.PortServiceStub(stack.channel(portapi)),
            ss_grpc.SegmentServiceStub(stack.channel(typemgr)),
            rs_grpc.SegmentRangeServiceStub(stack.channel(typemgr)),
            agent_service_pb2_grpc.AgentServiceStub(stack.channel(mechmgr)),
            stack,
            ovs,
        )
    finally:
        for process in list(stack.frozen):
            stack.thaw(process)
        for channel in stack.opened:
            channel.close()
        codes = [p.stop() for p in reversed(stack.processes)]
        next(database, None)
    assert codes == [0] * len(codes), [p.log_tail() for p in stack.processes]


def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def levels(port: Any) -> list[tuple[str, str]]:
    return [(lv.driver, lv.segment.id) for lv in port.binding.levels]


def bind_through_fabric_and_directly(api: Api) -> tuple[str, str, str, str]:
    """Binds port A through the fabric (it allocates the dynamic VLAN) and port B with
    openvswitch on that VLAN at level 0; returns the network, A, B and the VLAN segment."""
    api.register_ovs_agents()
    network_id = api.network()
    a, b = api.port(network_id), api.port(network_id)
    first = api.bind(a, FABRIC_HOST)
    [dynamic] = api.dynamic(network_id)
    assert first.binding.state == binding_pb2.BINDING_STATE_BOUND
    assert levels(first)[1] == ("openvswitch", dynamic)

    second = api.bind(b, DIRECT_HOST)
    assert second.binding.state == binding_pb2.BINDING_STATE_BOUND
    # Level 0 was offered the VLAN from portapi's record, and openvswitch bound it as offered.
    assert levels(second) == [("openvswitch", dynamic)]
    assert api.dynamic(network_id) == [dynamic]
    return network_id, a, b, dynamic


def test_a_port_bound_on_a_dynamic_segment_at_level_0_holds_it(api: Api) -> None:
    network_id, a, b, dynamic = bind_through_fabric_and_directly(api)
    generation = api.ports.GetPort(
        port_service_pb2.GetPortRequest(port_id=b), timeout=TIMEOUT
    ).port.binding.generation
    assert set(api.holds(dynamic)) == {(dynamic, a), (dynamic, b)}
    assert api.holds(dynamic)[(dynamic, b)] == generation

    api.delete(a)
    # B still uses the VLAN: it stays, held by B alone.
    assert api.dynamic(network_id) == [dynamic]
    assert set(api.holds(dynamic)) == {(dynamic, b)}
    assert api.vlan_allocations() == [100]

    api.delete(b)
    assert api.dynamic(network_id) == []
    assert api.vlan_allocations() == []


def test_a_port_moved_off_a_dynamic_segment_it_bound_at_level_0_lets_it_go(api: Api) -> None:
    network_id, a, b, dynamic = bind_through_fabric_and_directly(api)
    api.delete(a)
    assert set(api.holds(dynamic)) == {(dynamic, b)}

    moved = api.bind(b, FLAT_HOST)
    assert moved.binding.state == binding_pb2.BINDING_STATE_BOUND
    assert [driver for driver, _ in levels(moved)] == ["flat"]
    assert api.holds(holder=b) == {}
    assert api.dynamic(network_id) == []
    assert api.vlan_allocations() == []


def test_a_resolution_that_loses_to_a_newer_one_leaves_no_hold(api: Api) -> None:
    api.register_ovs_agents()
    network_id = api.network()
    port_id = api.port(network_id)

    api.stack.freeze(api.openvswitch)
    answers: list[Any] = []
    failures: list[BaseException] = []

    def first_bind() -> None:
        try:
            answers.append(api.bind(port_id, FABRIC_HOST, timeout=SLOW))
        except BaseException as exc:  # reported below
            failures.append(exc)

    binding = threading.Thread(target=first_bind)
    binding.start()
    try:
        # The fabric continued and mechmgr allocated the VLAN for the port (its hold recorded);
        # openvswitch, asked next, does not answer.
        assert wait_for(lambda: len(api.holds(holder=port_id)) == 1)
        [(dynamic, _)] = api.holds(holder=port_id)
        assert api.dynamic(network_id) == [dynamic]

        moved = api.bind(port_id, FLAT_HOST)
        assert moved.binding.state == binding_pb2.BINDING_STATE_BOUND
        assert [driver for driver, _ in levels(moved)] == ["flat"]
        winner = moved.binding.generation
    finally:
        api.stack.thaw(api.openvswitch)
        binding.join(SLOW)
    assert not binding.is_alive()
    assert failures == []
    [answer] = answers
    # The first resolution finished after the newer one committed: it lost the compare-and-set.
    assert answer.binding.generation == winner
    assert [driver for driver, _ in levels(answer)] == ["flat"]

    # The port's holds are those of the winning binding (none), so the VLAN is released.
    assert api.holds(holder=port_id) == {}
    assert api.dynamic(network_id) == []
    assert api.vlan_allocations() == []
