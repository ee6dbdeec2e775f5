"""The simulated agent against a fake AgentService (a test-only stand-in for mechmgr)."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import grpc
import pytest
from grpc_status import rpc_status
from ml2.v1 import agent_service_pb2, agent_service_pb2_grpc
from ml2_driver_sdk.runtime import errors, server
from ml2_driver_sdk.runtime.auth import errors as auth_errors

from services.agent import runner, simulated
from services.rpc import channels


class FakeAgentService(agent_service_pb2_grpc.AgentServiceServicer):
    """Keeps agents in a dict; can forget them or refuse registrations."""

    def __init__(self) -> None:
        self.agents: dict[str, object] = {}
        self.registrations: list[agent_service_pb2.RegisterAgentRequest] = []
        self.heartbeats = 0
        self.refuse = False

    def RegisterAgent(self, request, context):
        if self.refuse:
            raise errors.InvalidArgument("agent.agent_type", "unknown agent type")
        self.registrations.append(request)
        agent = type(request.agent)()
        agent.CopyFrom(request.agent)
        agent.id = str(uuid.uuid4())
        agent.alive = True
        self.agents[agent.id] = agent
        return agent_service_pb2.RegisterAgentResponse(
            agent=agent, heartbeat_interval_seconds=1, agent_down_time_seconds=3
        )

    def HeartbeatAgent(self, request, context):
        if request.agent_id not in self.agents:
            raise errors.NotFound(f"agent {request.agent_id} not found")
        self.heartbeats += 1
        return agent_service_pb2.HeartbeatAgentResponse(agent=self.agents[request.agent_id])


class FakeStreamingAgentService(FakeAgentService):
    """Also serves StreamHeartbeats; can break a stream or leave a heartbeat unanswered."""

    def __init__(self) -> None:
        super().__init__()
        self.streams = 0
        self.streamed = 0
        self.break_after: int | None = None
        """End the next stream UNAVAILABLE after this many heartbeats on it."""
        self.stall = threading.Event()
        """While set, heartbeats of the stream are not answered."""
        self.holds: list[bool] = []
        """The ``hold`` of every request received."""
        self.hold = False
        """Whether this mechmgr holds leases: answers a hold request ``held``, then waits."""
        self.release = threading.Event()
        self.expire_after: int | None = None
        """End the next stream UNAUTHENTICATED (TOKEN_EXPIRED) after this many heartbeats."""

    def StreamHeartbeats(self, requests, context):
        self.streams += 1
        for answered, request in enumerate(requests):
            if self.expire_after is not None and answered >= self.expire_after:
                self.expire_after = None
                expired = auth_errors.Unauthenticated(
                    "token of agent:compute-ovs has expired during the call",
                    reason=auth_errors.EXPIRED,
                )
                context.abort_with_status(rpc_status.to_status(expired.to_status()))
            self.holds.append(request.hold)
            if self.hold and request.hold and request.agent_id in self.agents:
                self.streamed += 1
                agent = self.agents[request.agent_id]
                yield agent_service_pb2.StreamHeartbeatsResponse(agent=agent, held=True)
                while context.is_active() and not self.release.wait(0.01):
                    pass
                return
            if self.break_after is not None and answered >= self.break_after:
                self.break_after = None
                context.abort(grpc.StatusCode.UNAVAILABLE, "stream broken")
            if request.agent_id not in self.agents:
                context.abort(grpc.StatusCode.NOT_FOUND, f"agent {request.agent_id} not found")
            while self.stall.is_set() and context.is_active():
                time.sleep(0.01)
            self.streamed += 1
            yield agent_service_pb2.StreamHeartbeatsResponse(agent=self.agents[request.agent_id])


def start_fake(fake: FakeAgentService, address: str = "127.0.0.1:0") -> server.ServerHandle:
    registration = (
        agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
        fake,
        "ml2.v1.AgentService",
    )
    handle = server.build_server([registration], address)
    handle.server.start()
    return handle


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


SPEC = simulated.AgentSpec(
    agent_type="openvswitch",
    host="compute-ovs",
    bridge_mappings={"physnet1": "br-eth1"},
    integration_bridge="br-int",
    datapath_type="system",
)


class Running:
    def __init__(self, port: int, spec: simulated.AgentSpec = SPEC) -> None:
        self.channel = channels.make_channel(f"127.0.0.1:{port}")
        stub = agent_service_pb2_grpc.AgentServiceStub(self.channel)
        self.agent = simulated.SimulatedAgent(spec, stub, rpc_timeout=1.0, max_backoff=0.5)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.agent.run()
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self.agent.stop.set()
        self.thread.join(5)
        self.channel.close()


@pytest.fixture
def fake() -> Iterator[tuple[FakeAgentService, server.ServerHandle]]:
    service = FakeAgentService()
    handle = start_fake(service)
    yield service, handle
    handle.server.stop(0)


def test_registers_its_capabilities_then_heartbeats(fake) -> None:
    service, handle = fake
    running = Running(handle.port)
    try:
        assert running.agent.registered.wait(10)
        sent = service.registrations[0].agent
        assert (sent.agent_type, sent.host) == ("openvswitch", "compute-ovs")
        assert dict(sent.capabilities.bridge_mappings) == {"physnet1": "br-eth1"}
        assert sent.capabilities.integration_bridge == "br-int"
        assert running.agent.interval == 1.0
        assert wait_for(lambda: service.heartbeats >= 1, 10)
    finally:
        running.stop()
    assert not running.thread.is_alive() and running.error is None


def test_registers_again_when_mechmgr_forgets_the_agent(fake) -> None:
    service, handle = fake
    running = Running(handle.port)
    try:
        assert running.agent.registered.wait(10)
        first_id = running.agent.agent_id
        service.agents.clear()
        assert wait_for(lambda: len(service.registrations) == 2, 10)
        assert running.agent.agent_id != first_id
        assert wait_for(lambda: running.agent.agent_id in service.agents, 10)
    finally:
        running.stop()


def saw_mechmgr_unreachable(caplog: pytest.LogCaptureFixture) -> bool:
    """Whether the agent has logged a failed call (it logs the first of an outage)."""
    return any("mechmgr unreachable" in r.getMessage() for r in caplog.records)


def test_rides_out_a_mechmgr_restart(fake, caplog) -> None:
    service, handle = fake
    running = Running(handle.port)
    try:
        assert running.agent.registered.wait(10)
        agent_id = running.agent.agent_id
        handle.server.stop(0).wait()
        # At least one heartbeat fails while mechmgr is down.
        assert wait_for(lambda: saw_mechmgr_unreachable(caplog), 10)
        assert running.thread.is_alive()
        revived = FakeAgentService()
        revived.agents = service.agents  # the registry survived in the database
        new_handle = start_fake(revived, f"127.0.0.1:{handle.port}")
        try:
            assert wait_for(lambda: revived.heartbeats >= 1, 10)
            assert running.agent.agent_id == agent_id and not revived.registrations
        finally:
            new_handle.server.stop(0)
    finally:
        running.stop()


def test_keeps_retrying_until_mechmgr_first_answers(caplog) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = Running(port)
    try:
        assert wait_for(lambda: saw_mechmgr_unreachable(caplog), 10)
        assert running.thread.is_alive() and not running.agent.registered.is_set()
        service = FakeAgentService()
        handle = start_fake(service, f"127.0.0.1:{port}")
        try:
            assert running.agent.registered.wait(10)
        finally:
            handle.server.stop(0)
    finally:
        running.stop()


def test_a_refused_registration_stops_the_agent_with_the_reason(fake) -> None:
    service, handle = fake
    service.refuse = True
    running = Running(handle.port)
    running.thread.join(5)
    assert isinstance(running.error, simulated.AgentRefused)
    assert "INVALID_ARGUMENT" in str(running.error) and "unknown agent type" in str(running.error)
    running.channel.close()


def test_stops_promptly_and_does_not_deregister(fake) -> None:
    service, handle = fake
    running = Running(handle.port)
    assert running.agent.registered.wait(10)
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 1.0
    assert running.agent.agent_id in service.agents


@pytest.fixture
def streaming() -> Iterator[tuple[FakeStreamingAgentService, server.ServerHandle]]:
    service = FakeStreamingAgentService()
    handle = start_fake(service)
    yield service, handle
    service.stall.clear()
    handle.server.stop(0)


def test_heartbeats_over_one_stream_at_the_interval(streaming) -> None:
    service, handle = streaming
    running = Running(handle.port)
    try:
        assert wait_for(lambda: service.streamed >= 3, 10)
        assert service.streams == 1 and service.heartbeats == 0
        assert running.agent.streaming and running.agent.heartbeats >= 2
        assert running.agent.last_agent is not None
        assert running.agent.last_agent.id == running.agent.agent_id
    finally:
        running.stop()
    assert running.error is None


def test_asks_for_a_held_lease_and_falls_back_to_a_message_per_interval(streaming) -> None:
    service, handle = streaming  # a mechmgr that does not hold: answers without held
    running = Running(handle.port)
    try:
        assert wait_for(lambda: service.streamed >= 3, 10)
        assert service.holds[0] and not any(service.holds[1:])
        assert service.streams == 1 and not running.agent.holding
    finally:
        running.stop()


def test_a_held_stream_carries_no_more_messages_and_stops_promptly(streaming) -> None:
    service, handle = streaming
    service.hold = True
    running = Running(handle.port)
    try:
        assert wait_for(lambda: running.agent.holding, 10)
        # several heartbeat intervals (the fake's is 1 s) and not one message more
        assert not wait_for(lambda: len(service.holds) > 1, 3)
        assert service.holds == [True] and service.streams == 1
    finally:
        started = time.monotonic()
        running.stop()
        assert time.monotonic() - started < 1.0 and not running.thread.is_alive()
    assert running.error is None


def test_per_interval_heartbeats_never_ask_for_a_hold(streaming) -> None:
    service, handle = streaming
    service.hold = True
    channel = channels.make_channel(f"127.0.0.1:{handle.port}")
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    agent = simulated.SimulatedAgent(SPEC, stub, rpc_timeout=1.0, hold=False)
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: service.streamed >= 2, 10)
        assert not any(service.holds) and not agent.holding
    finally:
        agent.stop.set()
        thread.join(5)
        channel.close()
    assert parse_agent("--type", "openvswitch", "--per-interval-heartbeats").hold is False
    assert parse_agent("--type", "openvswitch").hold is True


def test_opens_the_stream_again_when_it_breaks(streaming, caplog) -> None:
    service, handle = streaming
    service.break_after = 1
    running = Running(handle.port)
    try:
        assert wait_for(lambda: service.streams >= 2 and service.streamed >= 3, 10)
        assert running.agent.streaming and service.heartbeats == 0
        assert saw_mechmgr_unreachable(caplog)
        assert not service.registrations[1:]  # the same agent, no registration again
    finally:
        running.stop()


def test_a_stream_ended_by_its_tokens_expiry_is_opened_again(streaming, caplog) -> None:
    """An expired token ends the stream UNAUTHENTICATED (TOKEN_EXPIRED): the agent opens it
    again (with its token file as it is then) instead of stopping as for a refusal."""
    service, handle = streaming
    service.expire_after = 1
    running = Running(handle.port)
    try:
        assert wait_for(lambda: service.streams >= 2 and service.streamed >= 2, 10)
        assert running.error is None and running.thread.is_alive()
        assert not service.registrations[1:]  # the same agent, no registration again
        assert any("TOKEN_EXPIRED" in r.getMessage() for r in caplog.records)
    finally:
        running.stop()


def test_a_heartbeat_unanswered_in_time_opens_another_stream(streaming) -> None:
    service, handle = streaming
    running = Running(handle.port)
    try:
        assert wait_for(lambda: service.streamed >= 1, 10)
        service.stall.set()
        # rpc_timeout is 1 s: the agent gives up on the stream and opens another
        assert wait_for(lambda: service.streams >= 2, 10)
        service.stall.clear()
        before = service.streamed
        assert wait_for(lambda: service.streamed > before, 10)
    finally:
        running.stop()


def test_registers_again_when_the_stream_answers_not_found(streaming) -> None:
    service, handle = streaming
    running = Running(handle.port)
    try:
        assert wait_for(lambda: service.streamed >= 1, 10)
        first_id = running.agent.agent_id
        service.agents.clear()
        assert wait_for(lambda: len(service.registrations) == 2, 10)
        assert wait_for(lambda: running.agent.agent_id in service.agents, 10)
        assert running.agent.agent_id != first_id
        before = service.streamed
        assert wait_for(lambda: service.streamed > before, 10)
        assert running.agent.streaming and service.heartbeats == 0
    finally:
        running.stop()


def test_falls_back_to_unary_heartbeats_when_mechmgr_has_no_stream(fake, caplog) -> None:
    service, handle = fake  # an older mechmgr: StreamHeartbeats is UNIMPLEMENTED
    caplog.set_level(logging.INFO, logger="services.agent.simulated")
    running = Running(handle.port)
    try:
        assert wait_for(lambda: service.heartbeats >= 2, 10)
        assert not running.agent.streaming and running.agent.streams_opened == 1
        assert any("HeartbeatAgent calls instead" in r.getMessage() for r in caplog.records)
        assert not saw_mechmgr_unreachable(caplog) and running.error is None
    finally:
        running.stop()


def test_stops_promptly_while_streaming(streaming) -> None:
    service, handle = streaming
    running = Running(handle.port)
    assert wait_for(lambda: service.streamed >= 1, 10)
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 1.0 and not running.thread.is_alive()


def parse_agent(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_without_simulate_an_unreachable_ovsdb_is_one_line_and_exit_1(tmp_path) -> None:
    missing = tmp_path / "db.sock"
    argv = ("--type", "openvswitch", "--host", "h", "--ovsdb", str(missing), "--metrics-port", "0")
    result = subprocess.run(
        [sys.executable, "-m", "services.agent", *argv, "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"services.agent: cannot reach OVSDB at unix:{missing}" in result.stderr


def test_a_kind_without_a_real_agent_refuses_naming_the_module(capsys, monkeypatch) -> None:
    monkeypatch.setitem(runner.DATAPLANE_MODULES, "linuxbridge", "services.agent.config")
    code = runner.run(parse_agent("--type", "linuxbridge", "--host", "h"))
    err = capsys.readouterr().err
    assert code == 2 and "services.agent.config has no dataplane_from_args" in err
    assert "--simulate" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics-port", "x"], "--metrics-port: 'x' is not a number"),
        (["--metrics-port", "70000"], "--metrics-port: 70000 is not 0-65535"),
        (["--resync-interval", "0"], "--resync-interval: must be positive"),
        (["--netns", "no-such-namespace-x"], "--netns: no network namespace"),
        (["--bridge-mappings", "physnet1"], "must be PHYSNET:NAME"),
        (["--ovs-hybrid-plug"], "--ovs-hybrid-plug: this agent filters no traffic"),
    ],
)
def test_bad_real_agent_options_exit_2(argv, message, capsys) -> None:
    code = runner.run(parse_agent("--type", "openvswitch", "--host", "h", *argv))
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bridge-mappings", "physnet1"], "must be PHYSNET:NAME"),
        (["--bridge-mappings", "physnet1:a,physnet1:b"], "mapped twice"),
        (["--tunnel-types", "vxlan"], "--local-ip: required"),
        (["--tunnel-types", "stt", "--local-ip", "10.0.0.1"], "unknown tunnel type 'stt'"),
        (["--tunnel-types", "vxlan", "--local-ip", "ten"], "not an IP address"),
        (["--interface-mappings", "physnet1:eth1"], "use --bridge-mappings"),
        (["--host", " "], "--host: must not be empty"),
        (["--type", "linuxbridge", "--iface-types", "dpdkvhostuser"], "Open vSwitch hosts only"),
        (
            ["--type", "linuxbridge", "--tunnel-types", "vxlan,gre", "--local-ip", "10.0.0.1"],
            "Linux bridge agents tunnel only vxlan, got vxlan,gre",
        ),
        (["--network-types", "flat,mpls"], "--network-types: unknown network type 'mpls'"),
        (["--network-types", "flat,flat"], "--network-types: flat,flat repeats a network type"),
        (
            ["--type", "linuxbridge", "--network-types", "flat,geneve"],
            "--network-types: linuxbridge agents cannot carry geneve",
        ),
        (["--network-types", "flat,vxlan"], "--network-types: vxlan needs --tunnel-types vxlan"),
        (["--type", "sriov", "--bridge-mappings", "physnet1:br"], "use --device-mappings"),
        (["--type", "sriov", "--device-mappings", "physnet1"], "must be PHYSNET:DEVICE"),
        (
            ["--type", "sriov", "--device-mappings", "physnet1:ens1f0,physnet1:ens1f0"],
            "device 'ens1f0' is given twice for 'physnet1'",
        ),
        (
            ["--type", "sriov", "--tunnel-types", "vxlan", "--local-ip", "10.0.0.1"],
            "--tunnel-types: sriov agents do not tunnel",
        ),
        (["--type", "sriov", "--network-types", "vxlan"], "sriov agents cannot carry vxlan"),
        (["--type", "macvtap", "--device-mappings", "p:e"], "use --interface-mappings"),
        (["--type", "hyperv", "--interface-mappings", "p:e"], "use --vswitch-mappings"),
        (["--type", "hyperv", "--vswitch-mappings", "phys(net:ext"], "not a regular expression"),
        (["--type", "hyperv", "--vswitch-mappings", "physnet1"], "must be PHYSNET:VSWITCH"),
        (["--type", "linuxbridge", "--baremetal-smartnic"], "Open vSwitch hosts only"),
        (["--type", "macvtap", "--hw-offload"], "Open vSwitch hosts only"),
        (["--vswitch-mappings", "physnet1:external"], "use --bridge-mappings"),
    ],
)
def test_bad_agent_options_exit_2_naming_the_option(argv, message, capsys) -> None:
    code = runner.run(parse_agent("--type", "openvswitch", "--simulate", *argv))
    assert code == 2 and message in capsys.readouterr().err


def test_spec_from_options() -> None:
    spec = runner.spec_from_args(
        parse_agent(
            "--type",
            "linuxbridge",
            "--host",
            "compute-lb",
            "--interface-mappings",
            "physnet1:eth1",
            "--tunnel-types",
            "vxlan",
            "--local-ip",
            "192.0.2.10",
            "--network-types",
            "flat, vxlan",
        )
    )
    agent = spec.to_proto()
    assert list(agent.capabilities.network_types) == ["flat", "vxlan"]
    assert agent.capabilities.interface_mappings["physnet1"] == "eth1"
    assert list(agent.capabilities.tunnel_types) == ["vxlan"]
    assert agent.capabilities.local_ip == "192.0.2.10"
    assert agent.capabilities.integration_bridge == "" and agent.capabilities.port_filter


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = simulated.Backoff(initial=0.5, maximum=2.0)
    delays = [backoff.next() for _ in range(5)]
    assert 0.4 <= delays[0] <= 0.5 and 0.8 <= delays[1] <= 1.0
    assert all(d <= 2.0 for d in delays) and delays[4] >= 1.6
    backoff.reset()
    assert backoff.next() <= 0.5


def test_vhost_user_capabilities_of_an_ovs_dpdk_host() -> None:
    spec = runner.spec_from_args(
        parse_agent(
            "--type",
            "openvswitch",
            "--datapath-type",
            "netdev",
            "--iface-types",
            "dpdkvhostuserclient,internal",
            "--vhostuser-socket-dir",
            "/run/ovs",
        )
    )
    caps = spec.to_proto().capabilities
    assert caps.datapath_type == "netdev"
    assert list(caps.iface_types) == ["dpdkvhostuserclient", "internal"]
    assert caps.vhostuser_socket_dir == "/run/ovs"


def test_spec_of_each_new_kind_of_agent() -> None:
    sriov = runner.spec_from_args(
        parse_agent(
            "--type",
            "sriov",
            "--host",
            "h1",
            "--device-mappings",
            "physnet1:ens1f0, physnet1:ens1f1,physnet2:ens2f0",
        )
    ).to_proto()
    assert {k: list(v.devices) for k, v in sriov.capabilities.device_mappings.items()} == {
        "physnet1": ["ens1f0", "ens1f1"],
        "physnet2": ["ens2f0"],
    }
    hyperv = runner.spec_from_args(
        parse_agent("--type", "hyperv", "--host", "h2", "--vswitch-mappings", "phys.*:ext")
    ).to_proto()
    assert dict(hyperv.capabilities.vswitch_mappings) == {"phys.*": "ext"}
    ovs = runner.spec_from_args(
        parse_agent(
            "--type",
            "openvswitch",
            "--host",
            "h3",
            "--baremetal-smartnic",
            "--hw-offload",
            "--extensions",
            "qos, fdb",
        )
    ).to_proto()
    assert ovs.capabilities.baremetal_smartnic and ovs.capabilities.hw_offload
    assert list(ovs.capabilities.extensions) == ["qos", "fdb"]


def test_a_kind_without_a_real_agent_says_to_simulate(capsys) -> None:
    code = runner.run(parse_agent("--type", "macvtap", "--host", "h"))
    err = capsys.readouterr().err
    assert code == 2 and "no macvtap dataplane" in err and "--simulate" in err
