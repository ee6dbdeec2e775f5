"""A stack left idle for several keepalive periods binds its next port at once.

Every process runs with the keepalive shortened through ``ML2_GRPC_KEEPALIVE_TIME_SECONDS`` (the
servers permit the clients' pings by the same rule as with the defaults), so a few seconds of
idleness cover several periods. Before the servers shared the clients' policy, they answered the
third idle ping with ``GOAWAY too_many_pings`` and failed the call on the connection, so that the
bind after an idle minute or two ended ``binding_failed``.

gRPC's keepalive trace (``GRPC_TRACE=http_keepalive``, gRPC 1.85) shows that the idle
connections were really pinged meanwhile.

One stack serves the module: each test uses hosts and networks of its own and reads the part of
the logs written while it ran; the processes' clean exits and logs without a refusal are checked
once all tests have run.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    binding_pb2,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import keepalive

from services import launcher
from services.rpc import channels
from tests.integration import shared_b

PERIOD = 1.0
"""The shortened keepalive period, seconds."""
IDLE_PERIODS = 6
"""How many periods the stack idles between two binds: twice as many as the idle pings a
server with gRPC's defaults lets pass."""
ROUNDS = 3
"""Binds: one on the fresh stack, then one after each idle spell."""
POLICY = keepalive.Keepalive(PERIOD, 5.0)
KEEPALIVE_ENV = {
    keepalive.TIME_VAR: str(POLICY.time_seconds),
    keepalive.TIMEOUT_VAR: str(POLICY.timeout_seconds),
    "GRPC_TRACE": "http_keepalive",
}
HOST = "idle-host"
BEAT_HOST = "beat-host"
TIMEOUT = 30.0
PING_DONE = "Finish keepalive ping"
STRIKES = 3
"""Idle pings after which a server with gRPC's defaults answers ``GOAWAY too_many_pings``."""
REFUSALS = ("too_many_pings", "ENHANCE_YOUR_CALM", "Too many pings")


class Stack:
    """typemgr, the openvswitch driver, mechmgr and portapi as processes, on SQLite files."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.processes: dict[str, launcher.ServiceProcess] = {}
        self.channels: list[grpc.Channel] = []

    def start(self, name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(
            name, module, {**KEEPALIVE_ENV, **env}, log_dir=self.tmp / "logs", timeout=30
        )
        self.processes[name] = process
        return process

    def start_side_by_side(self, **specs: tuple[str, dict[str, str]]) -> None:
        """Starts independent processes at once (name=(module, env))."""
        started = shared_b.side_by_side(
            *(
                lambda n=name, m=module, e=env: launcher.start(
                    n, m, {**KEEPALIVE_ENV, **e}, log_dir=self.tmp / "logs", timeout=30
                )
                for name, (module, env) in specs.items()
            ),
            undo=lambda p: p.stop(),
        )
        self.processes.update(zip(specs, started, strict=True))

    def channel(self, name: str) -> grpc.Channel:
        channel = channels.make_channel(self.processes[name].address, POLICY)
        self.channels.append(channel)
        return channel

    def stop(self) -> dict[str, int]:
        """Stops every process, all at once; returns their exit statuses."""
        for channel in self.channels:
            channel.close()
        if not self.processes:
            return {}
        stops = [lambda p=p: p.stop() for p in self.processes.values()]
        return dict(zip(self.processes, shared_b.side_by_side(*stops), strict=True))

    def logs(self) -> dict[str, str]:
        return {name: p.log_path.read_text(errors="replace") for name, p in self.processes.items()}

    def log_sizes(self) -> dict[str, int]:
        """How long each log is now: ``logs_since`` reads what is written after."""
        return {name: len(text) for name, text in self.logs().items()}

    def logs_since(self, sizes: dict[str, int]) -> dict[str, str]:
        return {name: text[sizes.get(name, 0) :] for name, text in self.logs().items()}


def assert_no_refusal(logs: dict[str, str]) -> None:
    """No process refused a ping nor sent GOAWAY (other than on its way out at a stop, which
    its peers log as ``GOAWAY received``)."""
    for name, text in logs.items():
        for refusal in REFUSALS:
            assert refusal not in text, f"{name} log: {refusal}"
        assert "GOAWAY" not in text.replace("GOAWAY received", ""), f"{name} log: GOAWAY"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("keepalive")
    stack = Stack(tmp_path)
    try:
        stack.start_side_by_side(
            typemgr=(
                "services.typemgr",
                {
                    "TYPEMGR_LISTEN": "127.0.0.1:0",
                    "TYPEMGR_METRICS_PORT": "0",
                    "TYPEMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'typemgr.db'}",
                    "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
                },
            ),
            openvswitch=(
                "services.drivers.openvswitch",
                {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"},
            ),
        )
        ovs = stack.processes["openvswitch"]
        stack.start(
            "mechmgr",
            "services.mechmgr",
            {
                "MECHMGR_LISTEN": "127.0.0.1:0",
                "MECHMGR_METRICS_PORT": "0",
                "MECHMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'mechmgr.db'}",
                "MECHMGR_MECHANISM_DRIVERS": f"openvswitch={ovs.address}",
                "MECHMGR_TYPEMGR_ADDRESS": stack.processes["typemgr"].address,
            },
        )
        stack.start(
            "portapi",
            "services.portapi",
            {
                "PORTAPI_LISTEN": "127.0.0.1:0",
                "PORTAPI_METRICS_PORT": "0",
                "PORTAPI_DATABASE_URL": f"sqlite:///{tmp_path / 'portapi.db'}",
                "PORTAPI_TYPEMGR_ADDRESS": stack.processes["typemgr"].address,
                "PORTAPI_MECHMGR_ADDRESS": stack.processes["mechmgr"].address,
            },
        )
        yield stack
    finally:
        codes = stack.stop()
    # Every process stops cleanly, and none refused a ping while the module ran.
    assert all(code == 0 for code in codes.values()), codes
    assert_no_refusal(stack.logs())


def register_agent(stack: Stack, host: str = HOST) -> None:
    agents = agent_service_pb2_grpc.AgentServiceStub(stack.channel("mechmgr"))
    agent = agent_pb2.Agent(
        agent_type="openvswitch",
        host=host,
        binary="ml2-openvswitch-agent",
        admin_state_up=True,
        capabilities=agent_pb2.HostCapabilities(
            tunnel_types=["vxlan"], local_ip="192.0.2.10", integration_bridge="br-int"
        ),
    )
    agents.RegisterAgent(agent_service_pb2.RegisterAgentRequest(agent=agent), timeout=TIMEOUT)


def bind_new_port(ports: Any, network_id: str) -> port_pb2.Port:
    """Creates a port without a host, then binds it on HOST; returns what the bind returned."""
    created = ports.CreatePort(
        port_service_pb2.CreatePortRequest(port=port_pb2.Port(network_id=network_id)),
        timeout=TIMEOUT,
    ).port
    request = port_service_pb2.UpdatePortRequest(
        port=port_pb2.Port(id=created.id, binding=binding_pb2.PortBinding(host_id=HOST)),
        update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"]),
    )
    port: port_pb2.Port = ports.UpdatePort(request, timeout=TIMEOUT).port
    return port


def idle(seconds: float) -> None:
    """Lets the stack sit without a call for ``seconds`` (the scenario itself, not a wait for
    something to happen)."""
    threading.Event().wait(seconds)


def test_binds_after_idling_for_several_keepalive_periods_all_succeed(stack: Stack) -> None:
    sizes = stack.log_sizes()
    register_agent(stack)
    portapi = stack.channel("portapi")
    networks = network_service_pb2_grpc.NetworkServiceStub(portapi)
    ports = port_service_pb2_grpc.PortServiceStub(portapi)
    network = networks.CreateNetwork(
        network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="idle", project_id="idle", admin_state_up=True)
        ),
        timeout=TIMEOUT,
    ).network
    results = []
    idled = 0.0
    for round_ in range(ROUNDS):
        if round_:
            began = time.monotonic()
            idle(IDLE_PERIODS * PERIOD)
            idled += time.monotonic() - began
        port = bind_new_port(ports, network.id)
        results.append(
            (
                binding_pb2.BindingState.Name(port.binding.state),
                port.binding.vif_type,
                port.binding.failure_message,
            )
        )
    assert idled >= (ROUNDS - 1) * IDLE_PERIODS * PERIOD
    assert results == [("BINDING_STATE_BOUND", "ovs", "")] * ROUNDS, results

    ovs_port = stack.processes["openvswitch"].grpc_port
    logs = stack.logs_since(sizes)
    assert_no_refusal(logs)
    # mechmgr's idle connection to the driver was really pinged meanwhile: at least
    # STRIKES pings per idle spell, as many as servers with gRPC's defaults refuse with GOAWAY.
    # (About one per period on an idle machine; a loaded one delays the keepalive timer, so the
    # count is a floor, not the period's arithmetic.)
    to_driver = f":{ovs_port}: {PING_DONE}"
    pinged = [line for line in logs["mechmgr"].splitlines() if to_driver in line]
    assert len(pinged) >= (ROUNDS - 1) * STRIKES, len(pinged)


def test_an_idle_watch_stream_outlives_keepalive_periods_and_delivers_the_next_event(
    stack: Stack,
) -> None:
    """A WatchPorts stream with nothing to say for several keepalive periods is pinged, not cut
    (no GOAWAY, no error), and carries the next change."""
    portapi = stack.channel("portapi")
    networks = network_service_pb2_grpc.NetworkServiceStub(portapi)
    ports = port_service_pb2_grpc.PortServiceStub(portapi)
    network = networks.CreateNetwork(
        network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="watched", project_id="idle")
        ),
        timeout=TIMEOUT,
    ).network
    sizes = stack.log_sizes()
    stream = ports.WatchPorts(port_service_pb2.WatchPortsRequest(network_ids=[network.id]))
    received: queue.Queue[Any] = queue.Queue()
    failed: list[grpc.RpcError] = []

    def read() -> None:
        try:
            for reply in stream:
                received.put(reply)
        except grpc.RpcError as err:
            failed.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    idle(IDLE_PERIODS * PERIOD)
    assert received.empty() and not failed
    created = ports.CreatePort(
        port_service_pb2.CreatePortRequest(port=port_pb2.Port(network_id=network.id)),
        timeout=TIMEOUT,
    ).port
    reply = received.get(timeout=TIMEOUT)
    assert reply.event.port.id == created.id
    assert reply.event.type == port_service_pb2.PORT_EVENT_TYPE_CREATED
    stream.cancel()
    reader.join(TIMEOUT)
    assert [e.code() for e in failed] in ([], [grpc.StatusCode.CANCELLED])
    assert_no_refusal(stack.logs_since(sizes))


def test_an_idle_heartbeat_stream_outlives_keepalive_periods_and_answers_the_next_heartbeat(
    stack: Stack,
) -> None:
    """A StreamHeartbeats stream silent for several keepalive periods (far longer than the
    shortened period, as 30 s heartbeats are against the default one) is pinged, not cut, and
    answers the next heartbeat on the same stream."""
    agents = agent_service_pb2_grpc.AgentServiceStub(stack.channel("mechmgr"))
    register_agent(stack, BEAT_HOST)
    (agent,) = agents.ListAgents(
        agent_service_pb2.ListAgentsRequest(host=BEAT_HOST), timeout=TIMEOUT
    ).agents
    sizes = stack.log_sizes()
    outbox: queue.Queue[agent_service_pb2.StreamHeartbeatsRequest | None] = queue.Queue()
    stream = agents.StreamHeartbeats(iter(outbox.get, None))
    beat = agent_service_pb2.StreamHeartbeatsRequest(agent_id=agent.id)
    for round_ in range(ROUNDS):
        if round_:
            idle(IDLE_PERIODS * PERIOD)
        outbox.put(beat)
        reply = next(stream)
        assert reply.agent.id == agent.id and reply.agent.alive
    outbox.put(None)
    assert list(stream) == []  # the client's end closes the stream cleanly
    assert_no_refusal(stack.logs_since(sizes))
