"""Every shipped mechanism driver, started as its own process, honours the driver contract.

The checks use only the wire contract (``ml2.v1.MechanismDriverService``), so they apply to any
driver process: describe itself sanely, decline with structured reasons, bind only offered
segments with a vif_type it declared, keep no state between calls, refuse malformed requests.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import duration_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ml2.v1 import agent_pb2, binding_pb2, segment_pb2
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2.v1 import mechanism_driver_service_pb2_grpc as pb_grpc

from services import launcher
from services.rpc import channels

CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
RESERVED_VIF_TYPES = {"unbound", "binding_failed"}

VXLAN = segment_pb2.Segment(
    id="seg-vxlan", network_id="net-1", network_type="vxlan", segmentation_id=1001
)
VLAN = segment_pb2.Segment(
    id="seg-vlan",
    network_id="net-1",
    network_type="vlan",
    physical_network="physnet1",
    segmentation_id=101,
)
FLAT9 = segment_pb2.Segment(
    id="seg-flat9", network_id="net-1", network_type="flat", physical_network="physnet9"
)


@dataclass(frozen=True)
class Shipped:
    """A shipped driver process and how to start it."""

    name: str
    module: str
    env: dict[str, str]


SHIPPED = [
    Shipped("openvswitch", "services.drivers.openvswitch", {}),
    Shipped("linuxbridge", "services.drivers.linuxbridge", {}),
    Shipped("noop", "services.drivers.noop", {"MECHDRIVER_NOOP_HOSTS": "compute-1"}),
    Shipped(
        "fabric",
        "services.drivers.noop",
        {
            "MECHDRIVER_NOOP_NAME": "fabric",
            "MECHDRIVER_NOOP_MODE": "fabric",
            "MECHDRIVER_NOOP_HOSTS": "compute-1",
        },
    ),
]


@dataclass
class Running:
    shipped: Shipped
    process: launcher.ServiceProcess
    channel: grpc.Channel
    stub: pb_grpc.MechanismDriverServiceStub


@pytest.fixture(scope="module", params=SHIPPED, ids=[s.name for s in SHIPPED])
def driver(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    shipped: Shipped = request.param
    env = {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0", **shipped.env}
    proc = launcher.start(
        shipped.name, shipped.module, env, log_dir=tmp_path_factory.mktemp("logs")
    )
    channel = channels.make_channel(proc.address)
    try:
        yield Running(shipped, proc, channel, pb_grpc.MechanismDriverServiceStub(channel))
    finally:
        channel.close()
        assert proc.stop() == 0, proc.log_tail()


def agent(agent_type: str, host: str = "compute-1", alive: bool = True) -> agent_pb2.Agent:
    caps = agent_pb2.HostCapabilities(
        bridge_mappings={"physnet1": "br-eth1"},
        interface_mappings={"physnet1": "eth1"},
        tunnel_types=["vxlan"],
        local_ip="192.0.2.10",
    )
    return agent_pb2.Agent(
        id=f"{agent_type}-{host}",
        agent_type=agent_type,
        host=host,
        capabilities=caps,
        alive=alive,
        admin_state_up=True,
    )


def propose(
    running: Running,
    *segments: segment_pb2.Segment,
    host: str = "compute-1",
    agents=(),
    level: int = 0,
) -> pb.ProposeBindingResponse:
    request = pb.ProposeBindingRequest(
        port_id="port-1",
        network_id="net-1",
        host=host,
        vnic_type=binding_pb2.VNIC_TYPE_NORMAL,
        level=level,
        segments_to_bind=list(segments),
        host_agents=list(agents),
        agent_down_time=duration_pb2.Duration(seconds=75),
    )
    return running.stub.ProposeBinding(request, timeout=5)


def everything_on(host: str) -> list[agent_pb2.Agent]:
    return [agent("openvswitch", host), agent("linuxbridge", host)]


def test_describe_driver_is_sane(driver: Running):
    desc = driver.stub.DescribeDriver(pb.DescribeDriverRequest(), timeout=5)

    assert desc.name == driver.shipped.name
    assert NAME.match(desc.name)
    assert desc.supported_vnic_types
    assert all(v != binding_pb2.VNIC_TYPE_UNSPECIFIED for v in desc.supported_vnic_types)
    assert desc.supported_network_types
    assert desc.connectivity in ("l2", "l3", "legacy")
    assert not RESERVED_VIF_TYPES & set(desc.vif_types)
    if desc.agent_type:
        assert NAME.match(desc.agent_type)


def test_serves_health_and_reflection(driver: Running):
    assert channels.check_health(driver.channel, timeout=5)
    stub = reflection_pb2_grpc.ServerReflectionStub(driver.channel)
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
    )
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert "ml2.v1.MechanismDriverService" in names


def test_declines_with_structured_reasons_on_a_host_without_agents(driver: Running):
    reply = propose(driver, VXLAN, VLAN, host="compute-bare")

    assert reply.WhichOneof("outcome") == "declined"
    assert reply.declined.reasons
    for reason in reply.declined.reasons:
        assert CODE.match(reason.code), reason.code
        assert reason.message


def test_a_dead_agent_is_declined_by_name_or_ignored_by_an_agentless_driver(driver: Running):
    desc = driver.stub.DescribeDriver(pb.DescribeDriverRequest(), timeout=5)
    dead = agent(desc.agent_type or "openvswitch", alive=False)

    reply = propose(driver, VLAN, agents=[dead])

    if desc.agent_type:
        assert reply.WhichOneof("outcome") == "declined"
        (reason,) = reply.declined.reasons
        assert reason.code == "AGENT_DEAD"
        assert f"{desc.agent_type}-compute-1" in reason.message
    else:
        # A driver that needs no agent must not let other mechanisms' agents change its verdict.
        assert reply == propose(driver, VLAN, agents=[])


@pytest.mark.parametrize(
    "offered", [(VXLAN, VLAN), (VLAN, VXLAN), (VLAN,), (VXLAN,), (FLAT9, VLAN), (FLAT9,)], ids=str
)
def test_proposals_bind_only_offered_segments_with_a_declared_vif_type(driver: Running, offered):
    desc = driver.stub.DescribeDriver(pb.DescribeDriverRequest(), timeout=5)

    reply = propose(driver, *offered, agents=everything_on("compute-1"))

    outcome = reply.WhichOneof("outcome")
    ids = {s.id for s in offered}
    if outcome == "complete":
        assert reply.complete.segment_id in ids
        assert reply.complete.vif_type in desc.vif_types
    elif outcome == "continued":
        assert reply.continued.segment_id in ids
        assert reply.continued.next_segments or reply.continued.dynamic_segments
    else:
        assert outcome == "declined"
        assert all(CODE.match(r.code) for r in reply.declined.reasons)


def test_every_shipped_driver_binds_a_host_it_serves(driver: Running):
    reply = propose(driver, VXLAN, VLAN, agents=everything_on("compute-1"))

    assert reply.WhichOneof("outcome") in ("complete", "continued")


def test_keeps_no_state_between_calls(driver: Running):
    calls = [
        lambda: propose(driver, VXLAN, VLAN, agents=everything_on("compute-1")),
        lambda: propose(driver, VLAN, host="compute-bare"),
        lambda: propose(driver, FLAT9, agents=everything_on("compute-1"), level=1),
    ]

    first = [call() for call in calls]
    second = [call() for call in reversed(calls)][::-1]

    assert first == second


def question(*segments: segment_pb2.Segment, host: str = "compute-1", agents=(), level: int = 0):
    return pb.ProposeBindingRequest(
        port_id="port-1",
        network_id="net-1",
        host=host,
        vnic_type=binding_pb2.VNIC_TYPE_NORMAL,
        level=level,
        segments_to_bind=list(segments),
        host_agents=list(agents),
        agent_down_time=duration_pb2.Duration(seconds=75),
    )


def test_propose_bindings_answers_each_question_as_propose_binding_does(driver: Running):
    questions = [
        question(VXLAN, VLAN, agents=everything_on("compute-1")),
        question(VLAN, host="compute-bare"),
        question(FLAT9, agents=everything_on("compute-1"), level=1),
        question(VLAN, agents=[agent("openvswitch", alive=False)]),
    ]

    reply = driver.stub.ProposeBindings(pb.ProposeBindingsRequest(requests=questions), timeout=5)

    assert list(reply.responses) == [driver.stub.ProposeBinding(q, timeout=5) for q in questions]


def test_propose_bindings_refuses_a_bad_question_naming_it(driver: Running):
    questions = [question(VLAN), question()]

    with pytest.raises(grpc.RpcError) as err:
        driver.stub.ProposeBindings(pb.ProposeBindingsRequest(requests=questions), timeout=5)

    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("requests[1].segments_to_bind: ")


def test_refuses_a_request_without_segments_naming_the_field(driver: Running):
    with pytest.raises(grpc.RpcError) as err:
        propose(driver)

    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "segments_to_bind" in err.value.details()


def test_exposes_prometheus_metrics(driver: Running):
    propose(driver, VLAN, host="compute-bare")

    url = f"http://127.0.0.1:{driver.process.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()

    assert (
        f'ml2_mechdriver_proposals_total{{driver="{driver.shipped.name}",outcome="DECLINE"' in text
    )
    assert 'grpc_method="ProposeBinding"' in text
