"""The whole stack while mechanism driver processes die (SIGKILL): a port's binding still ends,
bound by the next driver or ``binding_failed``, and ``ml2 driver list`` shows the dead driver's
circuit breaker open."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    binding_pb2,
    port_service_pb2_grpc,
)

from services.cli import stack
from services.rpc import channels
from tests.e2e.conftest import bind_new_port, create_vlan_network, run_ml2

NAMES = ["typemgr", "openvswitch", "linuxbridge", "mechmgr", "portapi"]


@pytest.fixture
def running(tmp_path) -> Iterator[stack.Stack]:
    cfg = stack.StackConfig(
        data_dir=tmp_path,
        ports=dict.fromkeys(NAMES, 0),
        metrics_ports=dict.fromkeys(NAMES, 0),
        extra_env={
            "MECHMGR_DRIVER_BREAKER_FAILURES": "2",
            "MECHMGR_DRIVER_BREAKER_COOLDOWN_SECONDS": "300",
        },
    )
    started = stack.Stack(cfg)
    started.start()
    yield started
    started.stop()


def register_agents(started: stack.Stack, host: str) -> None:
    agents = agent_service_pb2_grpc.AgentServiceStub(
        channels.make_channel(started.address("mechmgr"))
    )
    for agent_type, caps in (
        ("openvswitch", agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"})),
        ("linuxbridge", agent_pb2.HostCapabilities(interface_mappings={"physnet1": "eth1"})),
    ):
        agent = agent_pb2.Agent(agent_type=agent_type, host=host, capabilities=caps)
        agents.RegisterAgent(agent_service_pb2.RegisterAgentRequest(agent=agent), timeout=5)


def kill(started: stack.Stack, name: str) -> None:
    process = started.processes[name].process
    process.kill()
    process.wait()


def test_ports_bind_through_the_next_driver_or_fail_while_drivers_die(running):
    register_agents(running, "compute-1")
    portapi = channels.make_channel(running.address("portapi"))
    network = create_vlan_network(portapi, "n")
    ports = port_service_pb2_grpc.PortServiceStub(portapi)
    assert bind_new_port(ports, network.id, "compute-1").binding.vif_type == "ovs"

    kill(running, "openvswitch")
    for _ in range(2):
        started = time.monotonic()
        binding = bind_new_port(ports, network.id, "compute-1").binding
        assert time.monotonic() - started < 5
        assert (binding.state, binding.vif_type) == (binding_pb2.BINDING_STATE_BOUND, "bridge")
        assert [lv.driver for lv in binding.levels] == ["linuxbridge"]
        assert [(v.driver, v.reasons[0].code) for v in binding.trace[:1]] == [
            ("openvswitch", "DRIVER_UNAVAILABLE")
        ]

    listed = run_ml2("driver", "list", "--json", "--mechmgr", running.address("mechmgr")).json()
    assert [(d["name"], d["breaker_state"]) for d in listed] == [
        ("openvswitch", "BREAKER_STATE_OPEN"),
        ("linuxbridge", "BREAKER_STATE_CLOSED"),
    ]
    assert listed[0]["breaker_retry_time"]
    table = run_ml2("driver", "list", "--mechmgr", running.address("mechmgr")).out.splitlines()
    assert "open (retries " in table[1] and table[2].endswith("closed")

    # Both drivers dead: the binding ends binding_failed with each one's decline, at once.
    kill(running, "linuxbridge")
    started = time.monotonic()
    binding = bind_new_port(ports, network.id, "compute-1").binding
    assert time.monotonic() - started < 5
    assert (binding.state, binding.vif_type) == (binding_pb2.BINDING_STATE_FAILED, "binding_failed")
    assert [(v.driver, [r.code for r in v.reasons]) for v in binding.trace] == [
        ("openvswitch", ["DRIVER_UNAVAILABLE"]),
        ("linuxbridge", ["DRIVER_UNAVAILABLE"]),
    ]
    assert "circuit breaker is open" in binding.trace[0].reasons[0].message
