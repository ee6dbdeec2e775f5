"""Held leases between real processes on loopback: an agent process whose heartbeat stream
mechmgr holds stays alive with no message per interval, through replica A (which holds it) and
replica B (which reads the shared database, SQLite or PostgreSQL) alike; it dies the down time
after its stream ends, however it ends: the agent stops, is killed, or goes silent (SIGSTOP)
until the server's keepalive drops it; it comes back when it resumes.

The processes run with short keepalives (1 s period, 1 s timeout) and a short down time, so
that the liveness bound, keepalive time + timeout + down time, is a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from ml2_driver_sdk.runtime import keepalive

from services import launcher
from services.rpc import channels

AS = agent_service_pb2
DOWN = 3
INTERVAL = 1
FLUSH = 0.4
KEEPALIVE = keepalive.Keepalive(1.0, 1.0)
KEEPALIVE_ENV = {
    keepalive.TIME_VAR: str(KEEPALIVE.time_seconds),
    keepalive.TIMEOUT_VAR: str(KEEPALIVE.timeout_seconds),
}
BOUND = KEEPALIVE.time_seconds + KEEPALIVE.timeout_seconds + DOWN
"""At most this long after a host goes silent its agent is dead."""
SLACK = 1.5
"""What process scheduling on a shared machine may add to a moment measured here."""
STREAMED = 'ml2_mechmgr_heartbeat_messages_total{rpc="StreamHeartbeats"}'
HELD = "ml2_mechmgr_held_agents"


def wait_for(what: str, condition: Callable[[], object], timeout: float = 20.0) -> float:
    """Polls ``condition`` until it holds; returns the time (time.time()) it was seen."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.time()


class Replica:
    def __init__(self, process: launcher.ServiceProcess) -> None:
        self.process = process
        self.channel = channels.make_channel(process.address, KEEPALIVE)
        self.agents = agent_service_pb2_grpc.AgentServiceStub(self.channel)

    def listed(self, host: str) -> agent_pb2.Agent | None:
        found = self.agents.ListAgents(AS.ListAgentsRequest(host=host), timeout=10).agents
        return found[0] if found else None

    def alive(self, host: str) -> bool:
        agent = self.listed(host)
        return agent is not None and agent.alive

    def state_alive(self, host: str) -> bool:
        """Alive by the states-only listing portapi's periodic checks read."""
        request = AS.ListAgentsRequest(host=host, states_only=True)
        found = self.agents.ListAgents(request, timeout=10).agents
        return bool(found) and found[0].alive and not found[0].HasField("capabilities")

    def metric(self, sample: str) -> float:
        url = f"http://127.0.0.1:{self.process.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith(sample + " "):
                    return float(line.split()[-1])
        return 0.0

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def replicas(database_url: str, log_dir: Path) -> Iterator[tuple[Replica, Replica]]:
    """An openvswitch driver and mechmgr replicas A and B on one database."""
    started: list[launcher.ServiceProcess] = []
    found: list[Replica] = []
    try:
        driver = launcher.start(
            "openvswitch",
            "services.drivers.openvswitch",
            {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"},
            log_dir=log_dir,
        )
        started.append(driver)
        env = {
            **KEEPALIVE_ENV,
            "MECHMGR_LISTEN": "127.0.0.1:0",
            "MECHMGR_METRICS_PORT": "0",
            "MECHMGR_DATABASE_URL": database_url,
            "MECHMGR_TYPEMGR_ADDRESS": "",
            "MECHMGR_MECHANISM_DRIVERS": f"openvswitch={driver.address}",
            "MECHMGR_AGENT_DOWN_TIME_SECONDS": str(DOWN),
            "MECHMGR_HEARTBEAT_INTERVAL_SECONDS": str(INTERVAL),
            "MECHMGR_HEARTBEAT_FLUSH_SECONDS": str(FLUSH),
        }
        for name in ("mechmgr-a", "mechmgr-b"):
            process = launcher.start(name, "services.mechmgr", env, log_dir=log_dir, timeout=90)
            started.append(process)
            found.append(Replica(process))
        yield found[0], found[1]
    finally:
        for replica in found:
            replica.close()
        for process in reversed(started):
            process.stop()


@pytest.fixture
def agent_process(replicas, log_dir: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Starts simulated agent processes reporting to replica A."""
    running: list[subprocess.Popen[bytes]] = []

    def start(host: str) -> subprocess.Popen[bytes]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ML2_") or k == "ML2_AUTH_DISABLED"
        }
        env = launcher.python_path_env({**env, **KEEPALIVE_ENV})
        log = open(log_dir / f"agent-{host}.log", "ab")  # noqa: SIM115 - the child's output
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.agent",
                "--type",
                "openvswitch",
                "--host",
                host,
                "--bridge-mappings",
                "physnet1:br-eth1",
                "--simulate",
                "--mechmgr",
                replicas[0].process.address,
                "--log-level",
                "INFO",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=log_dir,
        )
        log.close()
        running.append(process)
        return process

    yield start
    for process in running:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.wait(10)


def held_agent(a: Replica, b: Replica, start: Callable[[str], subprocess.Popen[bytes]], host: str):
    """Starts an agent process and waits until replica A holds it and both see it alive."""
    process = start(host)
    wait_for("A to hold the agent", lambda: a.metric(HELD) == 1)
    wait_for("both replicas to see it alive", lambda: a.alive(host) and b.alive(host))
    return process


def assert_dies_down_time_after_the_release(a: Replica, b: Replica, host: str) -> None:
    """Waits for A to release the hold, then for each replica to call the agent dead: down
    time after the release, at the same moment on both."""
    released = wait_for("A to release the hold", lambda: a.metric(HELD) == 0, BOUND + 10)
    dead_at = {
        name: wait_for(f"{name} to see the agent dead", lambda r=r: not r.alive(host), DOWN + 10)
        for name, r in (("a", a), ("b", b))
    }
    for name, at in dead_at.items():
        assert released + DOWN - 0.5 <= at <= released + DOWN + SLACK, (name, at - released)
    last_a, last_b = a.listed(host), b.listed(host)
    assert last_a is not None and last_b is not None
    assert last_a.heartbeat_time == last_b.heartbeat_time  # the release time, on every replica
    assert abs(last_a.heartbeat_time.ToDatetime().timestamp() - released) <= SLACK


def test_a_held_agent_stays_alive_without_messages_and_dies_down_time_after_it_stops(
    replicas, agent_process
):
    a, b = replicas
    process = held_agent(a, b, agent_process, "compute-1")
    messages = a.metric(STREAMED)
    start = time.monotonic()
    while time.monotonic() - start < 3 * DOWN:  # several down times, watched throughout
        assert a.alive("compute-1") and b.alive("compute-1")
        assert a.state_alive("compute-1") and b.state_alive("compute-1")
        time.sleep(0.1)
    assert a.metric(STREAMED) == messages  # not one heartbeat message meanwhile
    assert a.metric(HELD) == 1
    process.terminate()  # the agent stops: its stream closes
    process.wait(10)
    assert_dies_down_time_after_the_release(a, b, "compute-1")


def test_a_held_agent_killed_dies_down_time_after_its_stream_breaks(replicas, agent_process):
    a, b = replicas
    process = held_agent(a, b, agent_process, "compute-2")
    process.kill()
    process.wait(10)
    assert_dies_down_time_after_the_release(a, b, "compute-2")


def test_a_silent_agent_is_dropped_by_the_keepalive_dies_and_comes_back_when_it_resumes(
    replicas, agent_process
):
    a, b = replicas
    process = held_agent(a, b, agent_process, "compute-3")
    os.kill(process.pid, signal.SIGSTOP)
    silent = time.time()
    assert_dies_down_time_after_the_release(a, b, "compute-3")
    for r in (a, b):
        assert not r.alive("compute-3")
    assert time.time() <= silent + BOUND + SLACK  # the bound: keepalive time + timeout + down
    os.kill(process.pid, signal.SIGCONT)
    wait_for("A to hold the agent again", lambda: a.metric(HELD) == 1)
    wait_for(
        "both replicas to see it alive again", lambda: a.alive("compute-3") and b.alive("compute-3")
    )


def open_held(a: Replica, agent_id: str) -> tuple[object, object]:
    """Opens a held stream for ``agent_id`` on A; returns the call and its first answer."""
    call = a.agents.StreamHeartbeats(
        iter([AS.StreamHeartbeatsRequest(agent_id=agent_id, hold=True)])
    )
    return call, next(call)


def register(r: Replica, host: str) -> agent_pb2.Agent:
    agent = agent_pb2.Agent(
        agent_type="openvswitch",
        host=host,
        capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
    )
    return r.agents.RegisterAgent(AS.RegisterAgentRequest(agent=agent), timeout=10).agent


def test_an_admin_state_change_through_another_replica_reaches_the_held_stream(replicas):
    a, b = replicas
    agent = register(a, "compute-4")
    call, first = open_held(a, agent.id)
    assert first.held and first.agent.alive
    try:
        update = AS.UpdateAgentRequest(
            agent=agent_pb2.Agent(id=agent.id, admin_state_up=False),
            update_mask=field_mask_pb2.FieldMask(paths=["admin_state_up"]),
        )
        b.agents.UpdateAgent(update, timeout=10)
        changed = next(call)
        assert changed.held and not changed.agent.admin_state_up
        a.agents.UpdateAgent(
            AS.UpdateAgentRequest(agent=agent_pb2.Agent(id=agent.id, admin_state_up=True)),
            timeout=10,
        )
        again = next(call)
        assert again.agent.admin_state_up and again.agent.revision == changed.agent.revision + 1
    finally:
        call.cancel()


def test_deleting_a_held_agent_ends_its_stream_not_found(replicas):
    a, b = replicas
    for deleter, host in ((a, "compute-5"), (b, "compute-6")):
        agent = register(a, host)
        call, first = open_held(a, agent.id)
        assert first.held
        deleter.agents.DeleteAgent(AS.DeleteAgentRequest(agent_id=agent.id), timeout=10)
        with pytest.raises(grpc.RpcError) as err:
            next(call)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert agent.id in err.value.details()
