"""Heartbeats batched in memory by two mechmgr replicas on one PostgreSQL database: liveness is
the same through either replica, and a replica killed between a heartbeat and its flush gets no
agent judged dead."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc, binding_pb2, segment_pb2
from ml2.v1 import mechanism_manager_service_pb2 as mm
from ml2.v1 import mechanism_manager_service_pb2_grpc as mm_grpc

from services import launcher
from services.rpc import channels

AS = agent_service_pb2
VLAN = segment_pb2.Segment(
    id="seg-vlan", network_type="vlan", physical_network="physnet1", segmentation_id=101
)


class Replica:
    def __init__(self, process: launcher.ServiceProcess) -> None:
        self.process = process
        self.channel = channels.make_channel(process.address)
        self.agents = agent_service_pb2_grpc.AgentServiceStub(self.channel)
        self.manager = mm_grpc.MechanismManagerServiceStub(self.channel)

    def register(self, host: str) -> agent_pb2.Agent:
        agent = agent_pb2.Agent(
            agent_type="openvswitch",
            host=host,
            capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
        )
        return self.agents.RegisterAgent(AS.RegisterAgentRequest(agent=agent), timeout=10).agent

    def heartbeat(self, agent_id: str) -> agent_pb2.Agent:
        request = AS.HeartbeatAgentRequest(agent_id=agent_id)
        return self.agents.HeartbeatAgent(request, timeout=10).agent

    def listed(self, host: str) -> agent_pb2.Agent:
        (agent,) = self.agents.ListAgents(AS.ListAgentsRequest(host=host), timeout=10).agents
        return agent

    def resolve(self, host: str) -> mm.ResolveBindingResponse:
        request = mm.ResolveBindingRequest(
            port_id="port-1", network_id="net-1", host=host, segments=[VLAN]
        )
        return self.manager.ResolveBinding(request, timeout=10)

    def metric(self, sample: str) -> float:
        url = f"http://127.0.0.1:{self.process.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith(sample + " "):
                    return float(line.split()[-1])
        return 0.0

    def close(self) -> None:
        self.channel.close()


Start = Callable[[int, int, float], tuple[Replica, Replica]]


@pytest.fixture
def start_replicas(postgres_url: str, log_dir: Path) -> Iterator[Start]:
    """Starts an openvswitch driver and two mechmgr replicas with the given down time,
    heartbeat interval and flush interval."""
    started: list[launcher.ServiceProcess] = []
    replicas: list[Replica] = []

    def start(down: int, interval: int, flush: float) -> tuple[Replica, Replica]:
        driver = launcher.start(
            "openvswitch",
            "services.drivers.openvswitch",
            {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"},
            log_dir=log_dir,
        )
        started.append(driver)
        env = {
            "MECHMGR_LISTEN": "127.0.0.1:0",
            "MECHMGR_METRICS_PORT": "0",
            "MECHMGR_DATABASE_URL": postgres_url,
            "MECHMGR_TYPEMGR_ADDRESS": "",
            "MECHMGR_MECHANISM_DRIVERS": f"openvswitch={driver.address}",
            "MECHMGR_AGENT_DOWN_TIME_SECONDS": str(down),
            "MECHMGR_HEARTBEAT_INTERVAL_SECONDS": str(interval),
            "MECHMGR_HEARTBEAT_FLUSH_SECONDS": str(flush),
        }
        for name in ("mechmgr-a", "mechmgr-b"):
            process = launcher.start(name, "services.mechmgr", env, log_dir=log_dir, timeout=90)
            started.append(process)
            replicas.append(Replica(process))
        return replicas[0], replicas[1]

    yield start
    for replica in replicas:
        replica.close()
    for process in reversed(started):
        process.stop()


def test_an_agent_heartbeating_through_one_replica_lives_and_dies_alike_on_both(
    start_replicas,
):
    down, interval = 6, 3
    a, b = start_replicas(down, interval, 1.0)
    agent = a.register("compute-1")
    last = None
    for _ in range(3):
        time.sleep(interval)  # the agent's own pace, not a wait for a condition
        last = a.heartbeat(agent.id)
        assert last.alive
        assert b.listed("compute-1").alive
        reply = b.resolve("compute-1")
        assert (reply.state, reply.vif_type) == (binding_pb2.BINDING_STATE_BOUND, "ovs")
    assert a.metric('ml2_mechmgr_heartbeats_total{write="batched"}') >= 2
    assert last is not None
    last_beat = last.heartbeat_time.ToDatetime().timestamp()

    # The heartbeats stop: both replicas must call the agent dead at the same moment, down
    # seconds after its last heartbeat (the database alone shows it, once flushed, to B).
    dead_at: dict[str, float] = {}
    deadline = last_beat + down + 5
    while len(dead_at) < 2 and time.time() < deadline:
        for name, replica in (("a", a), ("b", b)):
            if name not in dead_at and not replica.listed("compute-1").alive:
                dead_at[name] = time.time()
        time.sleep(0.02)
    assert set(dead_at) == {"a", "b"}, dead_at
    for name, at in dead_at.items():
        assert last_beat + down <= at <= last_beat + down + 0.5, (name, at - last_beat)
    assert abs(dead_at["a"] - dead_at["b"]) <= 0.3, dead_at
    assert b.listed("compute-1").heartbeat_time == last.heartbeat_time
    assert b.resolve("compute-1").state == binding_pb2.BINDING_STATE_FAILED


def test_a_replica_killed_before_its_flush_gets_no_agent_judged_dead(start_replicas):
    down, interval, flush = 12, 5, 2.4
    a, b = start_replicas(down, interval, flush)
    agent = a.register("compute-1")
    first = a.heartbeat(agent.id)
    # Wait for A's flush to show the heartbeat to B, then heartbeat again and kill A at once:
    # the next flush is about a flush interval away.
    deadline = time.monotonic() + 10
    while b.listed("compute-1").heartbeat_time != first.heartbeat_time:
        assert time.monotonic() < deadline, "A never wrote the heartbeat"
        time.sleep(0.02)
    lost = a.heartbeat(agent.id)
    a.process.process.kill()
    a.process.process.wait(10)

    written = b.listed("compute-1")
    assert written.heartbeat_time.ToDatetime() < lost.heartbeat_time.ToDatetime()  # lost
    # The agent's next heartbeat, an interval later, reaches B; until then and after, B (and
    # the database) never calls it dead.
    stop = threading.Event()
    judged: list[bool] = []

    def watch() -> None:
        while not stop.is_set():
            judged.append(b.listed("compute-1").alive)
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        time.sleep(interval)  # the agent's pace
        assert b.heartbeat(agent.id).alive
        time.sleep(interval)
        assert b.heartbeat(agent.id).alive
    finally:
        stop.set()
        watcher.join()
    assert judged and all(judged), judged.count(False)
