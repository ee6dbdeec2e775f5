"""The agent's /healthz and /readyz answers (``runner.AgentHealth``) from the runtime's state.

The runtime is real but never run: its watches and keepalive are not started, and the test
sets the state the running agent would reach (ports synced, reconciliations counted, stopping).
Time is a clock the test advances, so a stalled agent is found without waiting a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ml2.v1 import agent_service_pb2_grpc, port_service_pb2_grpc

from services.agent import runner, runtime
from services.agent.linuxbridge.dataplane import LinuxBridgeConfig, LinuxBridgeDataplane
from services.rpc import channels


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def agent() -> Iterator[runtime.AgentRuntime]:
    # Nothing listens there, and nothing is called: the channel is never used.
    channel = channels.make_channel("127.0.0.1:1")
    try:
        yield runtime.AgentRuntime(
            LinuxBridgeDataplane(LinuxBridgeConfig()),
            "health-host",
            agent_service_pb2_grpc.AgentServiceStub(channel),
            port_service_pb2_grpc.PortServiceStub(channel),
        )
    finally:
        channel.close()


def test_waiting_for_the_control_plane_is_alive_but_not_ready(agent: runtime.AgentRuntime) -> None:
    clock = Clock()
    health = runner.AgentHealth(agent, stall=60.0, clock=clock)
    clock.now += 3600
    assert health.live() == (True, "waiting for the first snapshot of this host's ports")
    ok, why = health.ready()
    assert not ok and "not registered" in why


def test_a_synced_agent_that_stops_reconciling_is_not_alive(agent: runtime.AgentRuntime) -> None:
    clock = Clock()
    health = runner.AgentHealth(agent, stall=60.0, clock=clock)
    agent.host_watch.synced.set()
    agent.reconciliations = 5
    assert health.live() == (True, "5 reconciliations")
    clock.now += 59
    assert health.live()[0]
    clock.now += 2
    assert health.live() == (False, "no reconciliation finished for 61s")
    agent.reconciliations += 1
    assert health.live() == (True, "6 reconciliations")


def test_a_stopping_agent_is_neither_alive_nor_ready(agent: runtime.AgentRuntime) -> None:
    health = runner.AgentHealth(agent)
    agent.stop.set()
    assert health.live() == (False, "stopping")
    assert health.ready() == (False, "stopping")
