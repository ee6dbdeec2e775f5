"""The real Linux bridge agent, ``ml2 agent run --type linuxbridge``, against ``ml2 up``.

Two lab hosts (network namespaces on one underlay, each also linked to the physnet1 switch) run
one agent process each, managing its host's namespace from outside (``--netns``). Ports are
bound through portapi; the instances' taps are plugged as a VIF driver plugs them; the agents
wire them (a bridge per network, VXLAN to each other as l2-population says) and report them
up; the instances ping each other. This kernel has no VLAN devices, so the agents leave vlan
out of their network types, and a VLAN port on their hosts fails to bind with that reason
instead of failing later in wiring.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ml2.v1 import (
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

from services.agent.linuxbridge.dataplane import bridge_name, tap_name, vxlan_name
from services.lab import Host, Lab
from services.rpc import channels
from tests.e2e.conftest import ML2, UpProcess, child_env, running_up, wait_for

TIMEOUT = 15.0


class Agent:
    """One ``ml2 agent run --type linuxbridge`` process, managing ``host``'s namespace."""

    def __init__(self, up: UpProcess, host: Host, host_id: str, log: Path) -> None:
        self.log = log
        argv = [
            *ML2,
            *("agent", "run", "--type", "linuxbridge", "--host", host_id),
            *("--netns", host.namespace.name, "--interface-mappings", "physnet1:eth1"),
            *("--tunnel-types", "vxlan", "--local-ip", host.ip),
            *("--mechmgr", up.mechmgr, "--portapi", up.portapi),
            *("--metrics-port", "0", "--resync-interval", "5", "--log-format", "json"),
        ]
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(),
            )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    with running_up(
        tmp_path,
        "--mechanism-drivers",
        "linuxbridge",
        "--agent-down-time",
        "10",
        "--heartbeat-interval",
        "1",
    ) as stack:
        yield stack


def poll(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """``condition()``'s first truthy value, polled until ``timeout``; fails naming ``what``."""
    value = wait_for(condition, timeout)
    assert value, f"timed out waiting for {what}"
    return value


def test_linuxbridge_agents_wire_a_vxlan_network_and_refuse_vlan_at_binding(
    up: UpProcess, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    host_ids = [f"lb1-{suffix}", f"lb2-{suffix}"]
    portapi = channels.make_channel(up.portapi)
    mechmgr = channels.make_channel(up.mechmgr)
    networks = network_service_pb2_grpc.NetworkServiceStub(portapi)
    ports = port_service_pb2_grpc.PortServiceStub(portapi)
    registry = agent_service_pb2_grpc.AgentServiceStub(mechmgr)
    agents: list[Agent] = []
    try:
        with Lab() as lab:
            underlay = lab.underlay()
            physnet1 = lab.switch("p1")
            hosts = [lab.host(f"h{n}", underlay=underlay, ovs=False) for n in (1, 2)]
            for host in hosts:
                host.uplink(physnet1, "eth1")
            for n, (host, host_id) in enumerate(zip(hosts, host_ids, strict=True), start=1):
                agents.append(Agent(up, host, host_id, tmp_path / f"agent{n}.log"))

            def registered() -> list[Any] | None:
                listed = []
                for host_id in host_ids:
                    reply = registry.ListAgents(
                        agent_service_pb2.ListAgentsRequest(host=host_id), timeout=TIMEOUT
                    )
                    if not reply.agents or not reply.agents[0].alive:
                        return None
                    listed.append(reply.agents[0])
                return listed

            found = wait_for(registered, 60)
            assert found, "\n".join(a.log.read_text() for a in agents)
            for agent in found:
                caps = agent.capabilities
                assert list(caps.network_types) == ["local", "flat", "vxlan"]
                assert list(caps.tunnel_types) == ["vxlan"]

            def create_network(*specs: segment_pb2.SegmentSpec) -> Any:
                request = network_service_pb2.CreateNetworkRequest(
                    network=network_pb2.Network(
                        name="net", project_id=f"p-{suffix}", admin_state_up=True
                    ),
                    segments=list(specs),
                )
                return networks.CreateNetwork(request, timeout=TIMEOUT).network

            def create_port(network_id: str, host_id: str) -> Any:
                port = port_pb2.Port(
                    network_id=network_id,
                    admin_state_up=True,
                    binding=binding_pb2.PortBinding(host_id=host_id),
                )
                request = port_service_pb2.CreatePortRequest(port=port)
                return ports.CreatePort(request, timeout=TIMEOUT).port

            def get_port(port_id: str) -> Any:
                request = port_service_pb2.GetPortRequest(port_id=port_id)
                return ports.GetPort(request, timeout=TIMEOUT).port

            tenant = create_network()  # vxlan, from the stack's tenant range
            [segment] = tenant.segments
            bound = [create_port(tenant.id, host_id) for host_id in host_ids]
            for port in bound:
                assert port.binding.vif_type == "bridge", port.binding.failure_message
            vms = [
                lab.vm(host, f"vm{n}", f"192.168.90.{n}/24", tap=tap_name(port.id))
                for n, (host, port) in enumerate(zip(hosts, bound, strict=True), start=1)
            ]

            def active(port_id: str) -> Callable[[], bool]:
                return lambda: get_port(port_id).status == port_pb2.PORT_STATUS_ACTIVE

            for port in bound:
                poll(active(port.id), f"port {port.id} to become ACTIVE")
            vms[0].wait_ping(vms[1], timeout=30)
            ns = hosts[0].namespace
            assert ns.has_link(bridge_name(tenant.id))
            assert ns.has_link(vxlan_name(segment.segmentation_id))

            vlan_net = create_network(
                segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
            )
            refused = create_port(vlan_net.id, host_ids[0])
            assert refused.binding.state == binding_pb2.BINDING_STATE_FAILED
            reasons = {(v.driver, r.code) for v in refused.binding.trace for r in v.reasons}
            assert ("linuxbridge", "NETWORK_TYPE_UNSUPPORTED_BY_AGENT") in reasons

            flat_net = create_network(
                segment_pb2.SegmentSpec(network_type="flat", physical_network="physnet1")
            )
            flat = [create_port(flat_net.id, host_id) for host_id in host_ids]
            flat_vms = [
                lab.vm(host, f"fvm{n}", f"192.168.91.{n}/24", tap=tap_name(port.id))
                for n, (host, port) in enumerate(zip(hosts, flat, strict=True), start=1)
            ]
            for port in flat:
                poll(active(port.id), f"flat port {port.id} to become ACTIVE")
            flat_vms[0].wait_ping(flat_vms[1], timeout=30)

            delete = port_service_pb2.DeletePortRequest(port_id=bound[0].id)
            ports.DeletePort(delete, timeout=TIMEOUT)
            poll(lambda: not ns.has_link(bridge_name(tenant.id)), "the bridge to go")
            assert ns.has_link(tap_name(bound[0].id))  # unwired, not removed: the VIF's
            assert not vms[0].ping(vms[1], count=2)
            with ns.ipr() as ipr:  # the VIF driver unplugs the flat port
                ipr.link("del", index=ns.index(tap_name(flat[0].id)))
            poll(
                lambda: get_port(flat[0].id).status == port_pb2.PORT_STATUS_DOWN,
                "the unplugged port to go DOWN",
            )
            poll(lambda: not ns.has_link(bridge_name(flat_net.id)), "the flat bridge to go")
            with ns.ipr() as ipr:
                [eth1] = ipr.get_links(ns.index("eth1"))
            assert eth1.get("IFLA_MASTER") is None  # released, not removed
            for agent in agents:
                assert agent.stop() == 0, agent.log.read_text()
    finally:
        for agent in agents:
            agent.stop()
        portapi.close()
        mechmgr.close()
