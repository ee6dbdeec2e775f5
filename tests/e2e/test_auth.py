"""Authentication against a real ``ml2 up``: every RPC needs a token, each identity may call
what the policy lets it, health and reflection stay open."""

from __future__ import annotations

import re
import stat
import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    mechanism_driver_service_pb2,
    mechanism_driver_service_pb2_grpc,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_pb2,
    segment_range_service_pb2,
    segment_range_service_pb2_grpc,
    segment_service_pb2,
    segment_service_pb2_grpc,
)

from tests.e2e.conftest import UpProcess, child_env, run_ml2, start_up

_DRIVER_ROW = re.compile(r"^mechdriver-openvswitch\s+(127\.0\.0\.1:\d+)\s", re.M)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    process = start_up(
        tmp_path_factory.mktemp("auth"), "--mechanism-drivers", "openvswitch", auth=True
    )
    yield process
    assert process.stop() == 0, process.err()


@pytest.fixture(scope="module")
def channels(up: UpProcess) -> Iterator[dict[str, grpc.Channel]]:
    driver = _DRIVER_ROW.search(up.out())
    assert driver, up.out()
    opened = {
        "portapi": grpc.insecure_channel(up.portapi),
        "mechmgr": grpc.insecure_channel(up.mechmgr),
        "typemgr": grpc.insecure_channel(up.typemgr),
        "driver": grpc.insecure_channel(driver.group(1)),
    }
    yield opened
    for channel in opened.values():
        channel.close()


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def code_of(call, *args, **kwargs) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=10, **kwargs)
    return info.value.code()


def mint(up: UpProcess, *who: str) -> str:
    result = run_ml2("token", "mint", *who, "--data-dir", str(up.data_dir))
    assert result.code == 0, result.err
    return result.out.strip()


def test_a_call_without_a_token_is_unauthenticated_on_every_service(
    up: UpProcess, channels: dict[str, grpc.Channel]
) -> None:
    calls = [
        (
            network_service_pb2_grpc.NetworkServiceStub(channels["portapi"]).ListNetworks,
            network_service_pb2.ListNetworksRequest(),
        ),
        (
            agent_service_pb2_grpc.AgentServiceStub(channels["mechmgr"]).ListAgents,
            agent_service_pb2.ListAgentsRequest(),
        ),
        (
            segment_range_service_pb2_grpc.SegmentRangeServiceStub(
                channels["typemgr"]
            ).ListSegmentRanges,
            segment_range_service_pb2.ListSegmentRangesRequest(),
        ),
        (
            mechanism_driver_service_pb2_grpc.MechanismDriverServiceStub(
                channels["driver"]
            ).DescribeDriver,
            mechanism_driver_service_pb2.DescribeDriverRequest(),
        ),
    ]
    for method, request in calls:
        assert code_of(method, request) == grpc.StatusCode.UNAUTHENTICATED
    admin = bearer(up.token("admin"))
    for method, request in calls:
        method(request, metadata=admin, timeout=10)


def test_health_and_reflection_answer_without_a_token(channels: dict[str, grpc.Channel]) -> None:
    for channel in channels.values():
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        answers = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
        )
        names = [s.name for a in answers for s in a.list_services_response.service]
        assert "grpc.health.v1.Health" in names


def test_tokens_are_private_files(up: UpProcess) -> None:
    tokens = sorted(p.name for p in (up.data_dir / "auth" / "tokens").iterdir())
    assert tokens == [
        "admin.token",
        "compute.token",
        "driver-openvswitch.token",
        "mechmgr.token",
        "member-demo.token",
        "portapi.token",
        "typemgr.token",
    ]
    for path in [*(up.data_dir / "auth" / "tokens").iterdir(), up.data_dir / "auth/signing.key"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_member_may_not_register_an_agent_nor_release_segments(
    up: UpProcess, channels: dict[str, grpc.Channel]
) -> None:
    admin, member = bearer(up.token("admin")), bearer(up.token("member-demo"))
    network = (
        network_service_pb2_grpc.NetworkServiceStub(channels["portapi"])
        .CreateNetwork(
            network_service_pb2.CreateNetworkRequest(
                network=network_pb2.Network(name="auth-net", project_id="demo"),
                segments=[
                    segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
                ],
            ),
            metadata=admin,
            timeout=10,
        )
        .network
    )
    segments = segment_service_pb2_grpc.SegmentServiceStub(channels["typemgr"])
    release = segment_service_pb2.ReleaseNetworkSegmentsRequest(network_id=network.id)
    assert (
        code_of(segments.ReleaseNetworkSegments, release, metadata=member)
        == grpc.StatusCode.PERMISSION_DENIED
    )
    listed = segments.ListNetworkSegments(
        segment_service_pb2.ListNetworkSegmentsRequest(network_id=network.id),
        metadata=admin,
        timeout=10,
    )
    assert [s.network_type for s in listed.segments] == ["vlan"]

    agents = agent_service_pb2_grpc.AgentServiceStub(channels["mechmgr"])
    register = agent_service_pb2.RegisterAgentRequest(
        agent=agent_pb2.Agent(agent_type="openvswitch", host="auth-member-host")
    )
    assert (
        code_of(agents.RegisterAgent, register, metadata=member)
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert not agents.ListAgents(
        agent_service_pb2.ListAgentsRequest(host="auth-member-host"), metadata=admin, timeout=10
    ).agents


def test_a_driver_process_refuses_portapi_and_answers_mechmgr(
    up: UpProcess, channels: dict[str, grpc.Channel]
) -> None:
    driver = mechanism_driver_service_pb2_grpc.MechanismDriverServiceStub(channels["driver"])
    request = mechanism_driver_service_pb2.DescribeDriverRequest()
    assert (
        code_of(driver.DescribeDriver, request, metadata=bearer(up.token("portapi")))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    described = driver.DescribeDriver(request, metadata=bearer(up.token("mechmgr")), timeout=10)
    assert described.name == "openvswitch"


def test_an_agent_token_acts_for_its_own_host_only(
    up: UpProcess, channels: dict[str, grpc.Channel]
) -> None:
    agents = agent_service_pb2_grpc.AgentServiceStub(channels["mechmgr"])
    host_a = bearer(mint(up, "--agent", "auth-host-a"))

    def register(host: str, metadata: tuple[tuple[str, str]]) -> agent_pb2.Agent:
        request = agent_service_pb2.RegisterAgentRequest(
            agent=agent_pb2.Agent(agent_type="openvswitch", host=host)
        )
        return agents.RegisterAgent(request, metadata=metadata, timeout=10).agent

    own = register("auth-host-a", host_a)
    agents.HeartbeatAgent(
        agent_service_pb2.HeartbeatAgentRequest(agent_id=own.id), metadata=host_a, timeout=10
    )
    other_request = agent_service_pb2.RegisterAgentRequest(
        agent=agent_pb2.Agent(agent_type="openvswitch", host="auth-host-b")
    )
    assert (
        code_of(agents.RegisterAgent, other_request, metadata=host_a)
        == grpc.StatusCode.PERMISSION_DENIED
    )
    other = register("auth-host-b", bearer(up.token("admin")))
    heartbeat = agent_service_pb2.HeartbeatAgentRequest(agent_id=other.id)
    with pytest.raises(grpc.RpcError) as info:
        agents.HeartbeatAgent(heartbeat, metadata=host_a, timeout=10)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "heartbeat_agent" in (info.value.details() or "")
    unknown = agent_service_pb2.HeartbeatAgentRequest(agent_id=str(uuid.UUID(int=0)))
    assert code_of(agents.HeartbeatAgent, unknown, metadata=host_a) == grpc.StatusCode.NOT_FOUND

    # On a heartbeat stream each message is checked as the unary call is.
    stream = agents.StreamHeartbeats(
        iter(
            [
                agent_service_pb2.StreamHeartbeatsRequest(agent_id=own.id),
                agent_service_pb2.StreamHeartbeatsRequest(agent_id=other.id),
            ]
        ),
        metadata=host_a,
        timeout=10,
    )
    replies = []
    with pytest.raises(grpc.RpcError) as streamed:
        for reply in stream:
            replies.append(reply.agent.id)
    assert replies == [own.id]
    assert streamed.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "heartbeat_agent" in (streamed.value.details() or "")


def test_the_cli_finds_the_data_dirs_admin_token_and_refuses_acting_for_another_project(
    up: UpProcess,
) -> None:
    address = ("--portapi", up.portapi)
    bare = run_ml2("network", "list", *address)
    assert bare.code == 1 and "UNAUTHENTICATED" in bare.err
    from_data_dir = run_ml2(
        "network", "list", *address, env=child_env(ML2_DATA_DIR=str(up.data_dir))
    )
    assert from_data_dir.code == 0, from_data_dir.err
    member = str(up.data_dir / "auth" / "tokens" / "member-demo.token")
    other = run_ml2(
        "network", "create", "n", "--project", "other", "--token-file", member, *address
    )
    assert other.code == 2 and "takes a token of other" in other.err


def test_a_simulated_agent_registers_with_a_token_minted_from_the_data_dir(
    up: UpProcess, agents, tmp_path
) -> None:
    from tests.e2e.conftest import AgentProcess, wait_for

    agent = AgentProcess(
        up.mechmgr,
        "openvswitch",
        "auth-sim-host",
        "--bridge-mappings",
        "physnet1:br-eth1",
        log=tmp_path / "agent.log",
        data_dir=up.data_dir,
    )
    agents.append(agent)

    def alive() -> bool:
        listed = up.ml2("agent", "list", "--host", "auth-sim-host", "--json")
        return listed.code == 0 and any(a["alive"] for a in listed.json())

    assert wait_for(alive, 30), agent.log.read_text()


def test_the_conformance_kit_checks_a_driver_with_the_data_dirs_admin_token(up: UpProcess) -> None:
    driver = _DRIVER_ROW.search(up.out())
    assert driver, up.out()
    refused = run_ml2("driver", "check", driver.group(1), "--json")
    assert refused.code == 1
    checked = run_ml2(
        "driver", "check", driver.group(1), env=child_env(ML2_DATA_DIR=str(up.data_dir))
    )
    assert checked.code == 0, checked.out + checked.err


def _network(channel: grpc.Channel, who: tuple, name: str, project: str, shared: bool = False):
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name=name, project_id=project, shared=shared)
    )
    stub = network_service_pb2_grpc.NetworkServiceStub(channel)
    return stub.CreateNetwork(request, metadata=who, timeout=10).network


def _port(channel: grpc.Channel, who: tuple, network_id: str, project: str = ""):
    request = port_service_pb2.CreatePortRequest(
        port=port_pb2.Port(network_id=network_id, project_id=project)
    )
    stub = port_service_pb2_grpc.PortServiceStub(channel)
    return stub.CreatePort(request, metadata=who, timeout=10).port


def _binding_update(port_id: str, host: str = "", profile: dict | None = None):
    port = port_pb2.Port(id=port_id)
    paths = []
    if host:
        port.binding.host_id = host
        paths.append("binding.host_id")
    if profile is not None:
        port.binding.profile.update(profile)
        paths.append("binding.profile")
    return port_service_pb2.UpdatePortRequest(
        port=port, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )


def test_another_project_can_neither_see_nor_touch_a_private_network_and_its_ports(
    up: UpProcess, channels: dict[str, grpc.Channel]
) -> None:
    admin, owner = bearer(up.token("admin")), bearer(mint(up, "--member", "alpha"))
    other = bearer(up.token("member-demo"))
    portapi = channels["portapi"]
    networks = network_service_pb2_grpc.NetworkServiceStub(portapi)
    ports = port_service_pb2_grpc.PortServiceStub(portapi)
    private = _network(portapi, owner, "alpha-private", "alpha")
    port = _port(portapi, owner, private.id)
    assert (private.project_id, port.project_id) == ("alpha", "alpha")

    get_network = network_service_pb2.GetNetworkRequest(network_id=private.id)
    get_port = port_service_pb2.GetPortRequest(port_id=port.id)
    assert code_of(networks.GetNetwork, get_network, metadata=other) == grpc.StatusCode.NOT_FOUND
    assert code_of(ports.GetPort, get_port, metadata=other) == grpc.StatusCode.NOT_FOUND
    listed_networks = networks.ListNetworks(
        network_service_pb2.ListNetworksRequest(), metadata=other, timeout=10
    )
    assert private.id not in {n.id for n in listed_networks.networks}
    listed_ports = ports.ListPorts(
        port_service_pb2.ListPortsRequest(network_id=private.id), metadata=other, timeout=10
    )
    assert not listed_ports.ports
    with pytest.raises(grpc.RpcError) as created:
        _port(portapi, other, private.id)
    assert created.value.code() == grpc.StatusCode.NOT_FOUND
    delete_port = port_service_pb2.DeletePortRequest(port_id=port.id)
    delete_network = network_service_pb2.DeleteNetworkRequest(network_id=private.id)
    assert code_of(ports.DeletePort, delete_port, metadata=other) == grpc.StatusCode.NOT_FOUND
    assert (
        code_of(networks.DeleteNetwork, delete_network, metadata=other) == grpc.StatusCode.NOT_FOUND
    )

    # Nothing changed: the owner still has its network with exactly its one port.
    assert networks.GetNetwork(get_network, metadata=owner, timeout=10).network.id == private.id
    owned = ports.ListPorts(
        port_service_pb2.ListPortsRequest(network_id=private.id), metadata=admin, timeout=10
    )
    assert [p.id for p in owned.ports] == [port.id]


def test_ports_on_a_shared_network_are_open_to_every_project(
    up: UpProcess, channels: dict[str, grpc.Channel]
) -> None:
    admin, member = bearer(up.token("admin")), bearer(up.token("member-demo"))
    portapi = channels["portapi"]
    shared = _network(portapi, admin, "everyone", "operator", shared=True)
    with pytest.raises(grpc.RpcError) as refused:
        _network(portapi, member, "mine-shared", "demo", shared=True)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "shared" in refused.value.details()
    port = _port(portapi, member, shared.id)
    assert port.project_id == "demo"


def test_binding_host_is_for_admins_and_services_and_the_profile_for_services_only(
    up: UpProcess, channels: dict[str, grpc.Channel]
) -> None:
    admin, member = bearer(up.token("admin")), bearer(up.token("member-demo"))
    compute = bearer(up.token("compute"))
    portapi = channels["portapi"]
    ports = port_service_pb2_grpc.PortServiceStub(portapi)
    network = _network(portapi, member, "demo-bindings", "demo")
    port = _port(portapi, member, network.id)

    with pytest.raises(grpc.RpcError) as host:
        ports.UpdatePort(_binding_update(port.id, host="compute-1"), metadata=member, timeout=10)
    assert host.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert host.value.details().startswith("binding.host_id")
    with pytest.raises(grpc.RpcError) as profile:
        ports.UpdatePort(
            _binding_update(port.id, profile={"migrating_to": "compute-2"}),
            metadata=admin,
            timeout=10,
        )
    assert profile.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert profile.value.details().startswith("binding.profile")
    unchanged = ports.GetPort(
        port_service_pb2.GetPortRequest(port_id=port.id), metadata=admin, timeout=10
    ).port
    assert (unchanged.binding.host_id, dict(unchanged.binding.profile)) == ("", {})

    bound = ports.UpdatePort(
        _binding_update(port.id, host="compute-1", profile={"pci_slot": "0000:05:00.1"}),
        metadata=compute,
        timeout=10,
    ).port
    assert bound.binding.host_id == "compute-1" and bound.binding.vif_type
    seen = ports.GetPort(
        port_service_pb2.GetPortRequest(port_id=port.id), metadata=member, timeout=10
    ).port
    assert (seen.binding.host_id, seen.binding.vif_type) == ("", "")
