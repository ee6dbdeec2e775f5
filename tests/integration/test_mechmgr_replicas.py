"""Two mechmgr replicas on one PostgreSQL database share one agent registry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
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

    def register(self, host: str, physnet: str = "physnet1") -> agent_pb2.Agent:
        agent = agent_pb2.Agent(
            agent_type="openvswitch",
            host=host,
            capabilities=agent_pb2.HostCapabilities(bridge_mappings={physnet: "br-eth1"}),
        )
        return self.agents.RegisterAgent(AS.RegisterAgentRequest(agent=agent), timeout=10).agent

    def resolve(self, host: str) -> mm.ResolveBindingResponse:
        request = mm.ResolveBindingRequest(
            port_id="port-1", network_id="net-1", host=host, segments=[VLAN]
        )
        return self.manager.ResolveBinding(request, timeout=10)


@pytest.fixture
def replicas(postgres_url: str, log_dir: Path) -> Iterator[tuple[Replica, Replica]]:
    driver = launcher.start(
        "openvswitch",
        "services.drivers.openvswitch",
        {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"},
        log_dir=log_dir,
    )
    env = {
        "MECHMGR_LISTEN": "127.0.0.1:0",
        "MECHMGR_METRICS_PORT": "0",
        "MECHMGR_DATABASE_URL": postgres_url,
        "MECHMGR_TYPEMGR_ADDRESS": "",
        "MECHMGR_MECHANISM_DRIVERS": f"openvswitch={driver.address}",
    }
    # Both start at once, so they create the schema concurrently too.
    processes: list[launcher.ServiceProcess] = []
    threads = [
        threading.Thread(
            target=lambda n=n: processes.append(
                launcher.start(f"mechmgr-{n}", "services.mechmgr", env, log_dir=log_dir, timeout=90)
            )
        )
        for n in ("a", "b")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(processes) == 2, [p.log_tail() for p in processes]
    pair = (Replica(processes[0]), Replica(processes[1]))
    yield pair
    for replica in pair:
        replica.channel.close()
        assert replica.process.stop() == 0, replica.process.log_tail()
    assert driver.stop() == 0


def test_an_agent_registered_through_one_replica_binds_through_the_other(replicas):
    a, b = replicas

    agent = a.register("compute-1")
    reply = b.resolve("compute-1")

    assert (reply.state, reply.vif_type) == (binding_pb2.BINDING_STATE_BOUND, "ovs")
    beat = b.agents.HeartbeatAgent(AS.HeartbeatAgentRequest(agent_id=agent.id), timeout=10)
    assert beat.agent.id == agent.id
    listed = a.agents.ListAgents(AS.ListAgentsRequest(), timeout=10).agents
    assert [x.id for x in listed] == [agent.id]
    b.agents.DeleteAgent(AS.DeleteAgentRequest(agent_id=agent.id), timeout=10)
    assert a.resolve("compute-1").state == binding_pb2.BINDING_STATE_FAILED


def test_agents_registering_through_both_replicas_at_once_get_one_id_each(replicas):
    hosts = [f"compute-{i}" for i in range(10)]
    seen: dict[str, set[str]] = {h: set() for h in hosts}
    errors: list[grpc.RpcError] = []

    def register(replica: Replica) -> None:
        for _round in range(3):
            for host in hosts:
                try:
                    seen[host].add(replica.register(host).id)
                except grpc.RpcError as err:
                    errors.append(err)

    threads = [threading.Thread(target=register, args=(r,)) for r in replicas for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert all(len(ids) == 1 for ids in seen.values()), seen
    listed = replicas[1].agents.ListAgents(AS.ListAgentsRequest(), timeout=10).agents
    assert sorted(x.host for x in listed) == sorted(hosts)
