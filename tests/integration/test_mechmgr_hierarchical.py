"""Hierarchical binding across real processes: a fabric driver binds the network's VXLAN segment
and continues with a dynamic VLAN that mechmgr allocates from a real typemgr; openvswitch binds
that VLAN at level 1."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc, binding_pb2, segment_pb2
from ml2.v1 import mechanism_manager_service_pb2 as mm
from ml2.v1 import mechanism_manager_service_pb2_grpc as mm_grpc
from ml2.v1 import segment_service_pb2 as ss
from ml2.v1 import segment_service_pb2_grpc as ss_grpc

from services import launcher
from services.rpc import channels
from tests.integration.stacks import databases, start_together, stop_together, unique


@dataclass
class Stack:
    segments: ss_grpc.SegmentServiceStub
    agents: agent_service_pb2_grpc.AgentServiceStub
    manager: mm_grpc.MechanismManagerServiceStub
    typemgr: launcher.ServiceProcess
    mechmgr: launcher.ServiceProcess

    def resolve(
        self,
        port_id: str,
        network_id: str,
        host: str,
        segments: list[segment_pb2.Segment],
        timeout: float = 10,
    ) -> mm.ResolveBindingResponse:
        request = mm.ResolveBindingRequest(
            port_id=port_id, network_id=network_id, host=host, segments=segments
        )
        return self.manager.ResolveBinding(request, timeout=timeout)


def start_stack(backend: str, tmp: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    log_dir = tmp / "logs"
    database = databases(backend, tmp, request, ("typemgr", "mechmgr"))
    db = next(database)
    started: list[launcher.ServiceProcess] = []
    opened: list[grpc.Channel] = []

    def start(name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(name, module, env, log_dir=log_dir)
        started.append(process)
        return process

    def channel(process: launcher.ServiceProcess) -> grpc.Channel:
        opened.append(channels.make_channel(process.address))
        return opened[-1]

    try:
        drv = {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"}
        fabric, ovs, typemgr = start_together(
            start,
            (
                "fabric",
                "services.drivers.noop",
                {**drv, "MECHDRIVER_NOOP_NAME": "fabric", "MECHDRIVER_NOOP_MODE": "fabric"},
            ),
            ("openvswitch", "services.drivers.openvswitch", drv),
            (
                "typemgr",
                "services.typemgr",
                {
                    "TYPEMGR_LISTEN": "127.0.0.1:0",
                    "TYPEMGR_METRICS_PORT": "0",
                    "TYPEMGR_DATABASE_URL": db["typemgr"],
                    "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
                    "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:199",
                },
            ),
        )
        mechmgr = start(
            "mechmgr",
            "services.mechmgr",
            {
                "MECHMGR_LISTEN": "127.0.0.1:0",
                "MECHMGR_METRICS_PORT": "0",
                "MECHMGR_DATABASE_URL": db["mechmgr"],
                "MECHMGR_TYPEMGR_ADDRESS": typemgr.address,
                "MECHMGR_TYPEMGR_TIMEOUT_SECONDS": "5",
                "MECHMGR_MECHANISM_DRIVERS": f"fabric={fabric.address},openvswitch={ovs.address}",
            },
        )
        mechmgr_channel = channel(mechmgr)
        yield Stack(
            ss_grpc.SegmentServiceStub(channel(typemgr)),
            agent_service_pb2_grpc.AgentServiceStub(mechmgr_channel),
            mm_grpc.MechanismManagerServiceStub(mechmgr_channel),
            typemgr,
            mechmgr,
        )
    finally:
        for ch in opened:
            ch.close()
        codes = stop_together(started)
        next(database, None)
    assert codes == [0] * len(codes), [p.log_tail() for p in started]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack per backend for the tests that leave its processes alone; each test uses
    networks, ports and hosts of its own."""
    yield from start_stack(request.param, tmp_path_factory.mktemp(request.param), request)


@pytest.fixture(params=["sqlite", "postgres"])
def own_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """A stack of the test's own, whose typemgr it may freeze."""
    yield from start_stack(request.param, tmp_path, request)


def test_a_fabric_driver_continues_with_a_dynamic_vlan_that_openvswitch_binds(stack: Stack):
    network_id = str(uuid.uuid4())
    host, bare_host = unique("compute-1"), unique("compute-bare")
    created = stack.segments.CreateNetworkSegments(
        ss.CreateNetworkSegmentsRequest(network_id=network_id), timeout=10
    )
    [vxlan] = created.segments
    assert vxlan.network_type == "vxlan"
    agent = agent_pb2.Agent(
        agent_type="openvswitch",
        host=host,
        capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
    )
    stack.agents.RegisterAgent(agent_service_pb2.RegisterAgentRequest(agent=agent), timeout=10)

    first = stack.resolve(f"port-1-{network_id}", network_id, host, [vxlan])
    second = stack.resolve(f"port-2-{network_id}", network_id, host, [vxlan])

    assert (first.state, first.vif_type) == (binding_pb2.BINDING_STATE_BOUND, "ovs")
    top, bottom = first.levels
    assert (top.level, top.driver, top.segment.id) == (0, "fabric", vxlan.id)
    assert (bottom.level, bottom.driver) == (1, "openvswitch")
    assert (bottom.segment.network_type, bottom.segment.physical_network) == ("vlan", "physnet1")
    assert 100 <= bottom.segment.segmentation_id <= 199
    assert bottom.segment.is_dynamic
    assert [(v.level, v.driver, v.outcome) for v in first.trace] == [
        (0, "fabric", binding_pb2.OUTCOME_CONTINUE),
        (1, "fabric", binding_pb2.OUTCOME_DECLINE),
        (1, "openvswitch", binding_pb2.OUTCOME_COMPLETE),
    ]
    assert second.levels[1].segment == bottom.segment
    listed = stack.segments.ListNetworkSegments(
        ss.ListNetworkSegmentsRequest(network_id=network_id, include_dynamic=True), timeout=10
    )
    assert [s.id for s in listed.segments if s.is_dynamic] == [bottom.segment.id]

    bare = stack.resolve(f"port-3-{network_id}", network_id, bare_host, [vxlan])
    assert bare.state == binding_pb2.BINDING_STATE_FAILED
    assert f"level 1 openvswitch: NO_AGENT (no openvswitch agent on host {bare_host})" in (
        bare.failure_message
    )


def test_a_dynamic_segment_typemgr_refuses_is_a_decline_with_its_reason(stack: Stack):
    unknown = segment_pb2.Segment(id="seg-x", network_type="vxlan", segmentation_id=1500)

    reply = stack.resolve(
        unique("port-1"), "net-unknown-to-typemgr", unique("compute-1"), [unknown]
    )

    assert reply.state == binding_pb2.BINDING_STATE_FAILED
    fabric = reply.trace[0]
    assert (fabric.driver, fabric.outcome) == ("fabric", binding_pb2.OUTCOME_DECLINE)
    assert fabric.reasons[0].code == "DYNAMIC_SEGMENT_UNAVAILABLE"
    assert "net-unknown-to-typemgr" in fabric.reasons[0].message


def test_a_stalled_typemgr_is_asked_only_within_the_callers_deadline(own_stack: Stack):
    """With typemgr stopped (SIGSTOP) and MECHMGR_TYPEMGR_TIMEOUT_SECONDS 5, a ResolveBinding
    whose caller allows 1.5 s ends, server side, within that deadline: the dynamic segment
    allocation is cut to what is left of it."""
    stack = own_stack
    network_id = str(uuid.uuid4())
    created = stack.segments.CreateNetworkSegments(
        ss.CreateNetworkSegmentsRequest(network_id=network_id), timeout=10
    )
    [vxlan] = created.segments
    agent = agent_pb2.Agent(
        agent_type="openvswitch",
        host="compute-1",
        capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
    )
    stack.agents.RegisterAgent(agent_service_pb2.RegisterAgentRequest(agent=agent), timeout=10)
    assert stack.resolve("port-1", network_id, "compute-1", [vxlan]).vif_type == "ovs"

    def handled() -> float:
        url = f"http://127.0.0.1:{stack.mechmgr.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("ml2_grpc_server_handled_total{")
            and 'grpc_method="ResolveBinding"' in line
        )

    os.kill(stack.typemgr.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failed:
            stack.resolve("port-2", network_id, "compute-2", [vxlan], timeout=1.5)
        assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        while handled() < 2 and time.monotonic() - started < 15:
            time.sleep(0.05)
        took = time.monotonic() - started
    finally:
        os.kill(stack.typemgr.process.pid, signal.SIGCONT)
    assert took < 2.5, f"ResolveBinding took {took:.1f}s with a 1.5s deadline"


def test_a_check_offers_the_dynamic_vlan_without_allocating_it_and_notes_it(stack: Stack):
    network_id = str(uuid.uuid4())
    hosts = [unique("compute-1"), unique("compute-2"), unique("compute-bare")]
    created = stack.segments.CreateNetworkSegments(
        ss.CreateNetworkSegmentsRequest(network_id=network_id), timeout=10
    )
    [vxlan] = created.segments
    mapped = agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"})
    unmapped = agent_pb2.HostCapabilities(bridge_mappings={"physnet9": "br-eth9"})
    for host, caps in ((hosts[0], mapped), (hosts[1], unmapped)):
        agent = agent_pb2.Agent(agent_type="openvswitch", host=host, capabilities=caps)
        stack.agents.RegisterAgent(agent_service_pb2.RegisterAgentRequest(agent=agent), timeout=10)
    listing = ss.ListNetworkSegmentsRequest(network_id=network_id, include_dynamic=True)
    before = stack.segments.ListNetworkSegments(listing, timeout=10)

    reply = stack.manager.ResolveBindability(
        mm.ResolveBindabilityRequest(
            network_id=network_id,
            hosts=hosts,
            segments=[vxlan],
        ),
        timeout=10,
    )

    assert stack.segments.ListNetworkSegments(listing, timeout=10) == before
    assert [s.is_dynamic for s in before.segments] == [False]
    one, two, bare = reply.hosts
    assert (one.bindable, one.vif_type) == (True, "ovs")
    top, bottom = one.levels
    assert (top.driver, top.segment.id) == ("fabric", vxlan.id)
    assert (bottom.level, bottom.driver, bottom.segment.id) == (
        1,
        "openvswitch",
        "dynamic:vlan:physnet1",
    )
    assert (bottom.segment.is_dynamic, bottom.segment.segmentation_id) == (True, 0)
    [need] = one.dynamic_segments
    assert (need.level, need.driver) == (0, "fabric")
    assert (need.segment.network_type, need.segment.physical_network) == ("vlan", "physnet1")
    assert one.reason == (
        "level 0 fabric would allocate a dynamic vlan on physnet1 segment for level 1"
    )
    assert not two.bindable and not bare.bindable
    assert "level 1 openvswitch: PHYSNET_NOT_MAPPED" in two.reason
    assert f"level 1 openvswitch: NO_AGENT (no openvswitch agent on host {hosts[2]})" in (
        bare.reason
    )

    for answer in reply.hosts:
        port = stack.resolve(
            f"port-{answer.host_id}-{network_id}", network_id, answer.host_id, [vxlan]
        )
        assert answer.bindable == (port.state == binding_pb2.BINDING_STATE_BOUND)
        assert [(v.level, v.driver, v.outcome) for v in answer.trace] == [
            (v.level, v.driver, v.outcome) for v in port.trace
        ]
        assert [(lvl.level, lvl.driver) for lvl in answer.levels] == [
            (lvl.level, lvl.driver) for lvl in port.levels
        ]
