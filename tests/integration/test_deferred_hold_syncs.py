"""The hold sync of a port's first hierarchical binding is sent after UpdatePort answers, across
real processes: typemgr records the port's hold when mechmgr allocates the dynamic segment, so
the sync only confirms it, and it waits in portapi's hold outbox until typemgr has it.

- portapi killed after answering, before its sync reached typemgr (the typemgr replica it syncs
  through is frozen): the bind answered regardless, and the restarted portapi sends the sync;
- two portapi replicas (each with its own mechmgr and typemgr replica) on PostgreSQL binding and
  unbinding ports of one network at once: a port that UpdatePort reports bound on a dynamic
  segment is always among that segment's holders, a port unbound holds nothing once UpdatePort
  answers, and once the outbox is empty the holds are exactly the bound ports'.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import sqlalchemy
from ml2.v1 import (
    agent_service_pb2_grpc,
    binding_pb2,
    network_service_pb2_grpc,
    port_service_pb2_grpc,
)
from ml2.v1 import segment_service_pb2_grpc as ss_grpc

from services import launcher
from services.rpc import channels
from tests.integration import stacks
from tests.integration.stacks import at_once, stop_together

TIMEOUT = 15.0
HOST = "compute-1"
LISTEN = {"LISTEN": "127.0.0.1:0", "METRICS_PORT": "0"}
BOUND = binding_pb2.BINDING_STATE_BOUND
UNBOUND = binding_pb2.BINDING_STATE_UNBOUND


@dataclass
class Databases:
    typemgr: str
    mechmgr: str
    portapi: str


@dataclass
class Stack:
    log_dir: Path
    db: Databases
    processes: list[launcher.ServiceProcess] = field(default_factory=list)
    killed: list[launcher.ServiceProcess] = field(default_factory=list)
    opened: list[grpc.Channel] = field(default_factory=list)
    drivers: str = ""

    def start(self, name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(name, module, env, log_dir=self.log_dir, timeout=30)
        self.processes.append(process)
        return process

    def freeze(self, process: launcher.ServiceProcess) -> None:
        """SIGSTOP: the process takes calls and never answers them (it is killed at the end)."""
        os.kill(process.process.pid, signal.SIGSTOP)
        self.processes.remove(process)
        self.killed.append(process)

    def kill(self, process: launcher.ServiceProcess) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        process.process.kill()
        process.process.wait()
        self.processes.remove(process)
        self.killed.append(process)

    def channel(self, address: str) -> grpc.Channel:
        self.opened.append(channels.make_channel(address))
        return self.opened[-1]

    def typemgr(self, name: str) -> launcher.ServiceProcess:
        return self.start(
            name,
            "services.typemgr",
            {
                **{f"TYPEMGR_{k}": v for k, v in LISTEN.items()},
                "TYPEMGR_DATABASE_URL": self.db.typemgr,
                "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
                "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:100",
            },
        )

    def start_drivers(self) -> None:
        drv = {f"MECHDRIVER_{k}": v for k, v in LISTEN.items()}
        fabric, ovs = at_once(
            lambda: self.start(
                "fabric",
                "services.drivers.noop",
                {**drv, "MECHDRIVER_NOOP_NAME": "fabric", "MECHDRIVER_NOOP_MODE": "fabric"},
            ),
            lambda: self.start("openvswitch", "services.drivers.openvswitch", drv),
        )
        self.drivers = f"fabric={fabric.address},openvswitch={ovs.address}"

    def mechmgr(self, name: str, typemgr: launcher.ServiceProcess) -> launcher.ServiceProcess:
        return self.start(
            name,
            "services.mechmgr",
            {
                **{f"MECHMGR_{k}": v for k, v in LISTEN.items()},
                "MECHMGR_DATABASE_URL": self.db.mechmgr,
                "MECHMGR_TYPEMGR_ADDRESS": typemgr.address,
                "MECHMGR_MECHANISM_DRIVERS": self.drivers,
            },
        )

    def portapi(
        self,
        name: str,
        typemgr: launcher.ServiceProcess,
        mechmgr: launcher.ServiceProcess,
        listen: str = "127.0.0.1:0",
    ) -> launcher.ServiceProcess:
        return self.start(
            name,
            "services.portapi",
            {
                **{f"PORTAPI_{k}": v for k, v in LISTEN.items()},
                "PORTAPI_LISTEN": listen,
                "PORTAPI_DATABASE_URL": self.db.portapi,
                "PORTAPI_TYPEMGR_ADDRESS": typemgr.address,
                "PORTAPI_MECHMGR_ADDRESS": mechmgr.address,
                "PORTAPI_TYPEMGR_TIMEOUT_SECONDS": "30",
                "PORTAPI_HOLD_SYNC_RETRY_SECONDS": "0.2",
            },
        )

    def pending_hold_syncs(self) -> list[tuple[str, int]]:
        """portapi's hold outbox, read from its database: (port id, generation) of each sync
        typemgr has not confirmed yet."""
        engine = sqlalchemy.create_engine(self.db.portapi)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sqlalchemy.text("SELECT port_id, generation FROM hold_syncs ORDER BY port_id")
                )
                return [(str(row.port_id), int(row.generation)) for row in rows]
        finally:
            engine.dispose()


@dataclass
class Api(stacks.HoldCalls):
    """One portapi replica's clients, and the typemgr replica it is paired with."""

    networks: network_service_pb2_grpc.NetworkServiceStub
    ports: port_service_pb2_grpc.PortServiceStub
    segments: ss_grpc.SegmentServiceStub
    agents: agent_service_pb2_grpc.AgentServiceStub

    @classmethod
    def of(
        cls,
        stack: Stack,
        portapi: launcher.ServiceProcess,
        typemgr: launcher.ServiceProcess,
        mechmgr: launcher.ServiceProcess,
    ) -> Api:
        channel = stack.channel(portapi.address)
        return cls(
            network_service_pb2_grpc.NetworkServiceStub(channel),
            port_service_pb2_grpc.PortServiceStub(channel),
            ss_grpc.SegmentServiceStub(stack.channel(typemgr.address)),
            agent_service_pb2_grpc.AgentServiceStub(stack.channel(mechmgr.address)),
        )

    def register_ovs_agent(self, host: str = HOST) -> None:
        super().register_ovs_agent(host)


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Polls ``check`` (a call that may fail while a process restarts) until it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except grpc.RpcError:
            pass
        time.sleep(0.05)
    return False


def databases(database_url: str, request: pytest.FixtureRequest) -> Iterator[Databases]:
    if database_url.startswith("sqlite"):
        yield Databases(
            *(database_url.replace("test.db", f"{n}.db") for n in ("typemgr", "mechmgr", "portapi"))
        )
        return
    server = request.getfixturevalue("postgres_server")
    made = Databases(database_url, server.create_database(), server.create_database())
    yield made
    for url in (made.mechmgr, made.portapi):
        server.drop_database(url)


def stack_on(database_url: str, log_dir: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    made = databases(database_url, request)
    running = Stack(log_dir, next(made))
    try:
        yield running
    finally:
        for channel in running.opened:
            channel.close()
        for process in running.killed:
            if process.process.poll() is None:  # a frozen one: let it go
                os.kill(process.process.pid, signal.SIGKILL)
                process.process.wait()
        codes = stop_together(running.processes)
        next(made, None)
    assert codes == [0] * len(codes), [p.log_tail() for p in running.processes]


@pytest.fixture
def stack(database_url: str, log_dir: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    yield from stack_on(database_url, log_dir, request)


@pytest.fixture
def postgres_stack(
    postgres_url: str, log_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    yield from stack_on(postgres_url, log_dir, request)


def test_a_portapi_killed_before_its_hold_sync_sends_it_once_restarted(stack: Stack) -> None:
    # portapi syncs holds through a typemgr replica of its own (same database), frozen below.
    main_typemgr, synced_through, _ = at_once(
        lambda: stack.typemgr("typemgr"),
        lambda: stack.typemgr("typemgr-for-portapi"),
        stack.start_drivers,
    )
    mechmgr = stack.mechmgr("mechmgr", main_typemgr)
    portapi = stack.portapi("portapi", synced_through, mechmgr)
    api = Api.of(stack, portapi, main_typemgr, mechmgr)
    api.register_ovs_agent()
    network_id = api.network()
    port_id = api.port(network_id)

    stack.freeze(synced_through)
    # The bind answers at once although the sync cannot reach typemgr: waiting on it would take
    # what is left of the deadline (or typemgr's timeout, 30 s).
    started = time.monotonic()
    bound = api.bind(port_id, HOST, timeout=20)
    assert time.monotonic() - started < 10
    assert bound.binding.state == BOUND
    assert [lvl.segment.is_dynamic for lvl in bound.binding.levels] == [False, True]
    segment_id = bound.binding.levels[1].segment.id
    generation = bound.binding.generation
    # typemgr recorded the hold when it allocated the segment; the sync waits in the outbox.
    assert api.holds(segment_id) == {(segment_id, port_id): generation}
    assert stack.pending_hold_syncs() == [(port_id, generation)]

    stack.kill(portapi)
    assert stack.pending_hold_syncs() == [(port_id, generation)]
    restarted = stack.portapi("portapi-again", main_typemgr, mechmgr, listen=portapi.address)
    assert eventually(lambda: stack.pending_hold_syncs() == []), restarted.log_tail()
    assert api.holds(segment_id) == {(segment_id, port_id): generation}

    # The hold is the port's as before: unbinding it releases the segment at once.
    assert api.bind(port_id, "").binding.state == UNBOUND
    assert api.dynamic(network_id) == []
    assert api.holds(holder=port_id) == {}


WORKERS = 4
ROUNDS = 12


def test_replicas_binding_and_unbinding_at_once_never_release_a_held_segment(
    postgres_stack: Stack,
) -> None:
    stack = postgres_stack
    *typemgrs, _ = at_once(
        lambda: stack.typemgr("typemgr-1"), lambda: stack.typemgr("typemgr-2"), stack.start_drivers
    )
    mechmgrs = at_once(
        *(lambda n=n: stack.mechmgr(f"mechmgr-{n + 1}", typemgrs[n]) for n in (0, 1))
    )
    portapis = at_once(
        *(lambda n=n: stack.portapi(f"portapi-{n + 1}", typemgrs[n], mechmgrs[n]) for n in (0, 1))
    )
    apis = [Api.of(stack, portapis[n], typemgrs[n], mechmgrs[n]) for n in (0, 1)]
    apis[0].register_ovs_agent()
    network_id = apis[0].network()
    problems: list[str] = []
    bound_ports: dict[str, str] = {}
    lock = threading.Lock()

    def work(worker: int) -> None:
        port_id = apis[worker % 2].port(network_id)
        for round_ in range(ROUNDS):
            api, other = apis[(worker + round_) % 2], apis[(worker + round_ + 1) % 2]
            port = api.bind(port_id, HOST)
            if port.binding.state != BOUND:
                problems.append(f"{port_id} round {round_}: {port.binding.failure_message}")
                return
            segment_id = port.binding.levels[1].segment.id
            # Seen through the other replica's typemgr: the segment is there, the port holds it.
            if segment_id not in other.dynamic(network_id):
                problems.append(f"{port_id} round {round_}: its segment {segment_id} is gone")
            if (segment_id, port_id) not in other.holds(segment_id):
                problems.append(f"{port_id} round {round_}: no hold on {segment_id}")
            if round_ == ROUNDS - 1:
                with lock:
                    bound_ports[port_id] = segment_id
                return
            if round_ % 3 == 2:  # a deletion, then a new port
                other.delete(port_id)
                if other.holds(holder=port_id):
                    problems.append(f"{port_id} deleted: still holds {other.holds(holder=port_id)}")
                port_id = other.port(network_id)
                continue
            unbound = other.bind(port_id, "")
            if unbound.binding.state != UNBOUND:
                problems.append(f"{port_id} round {round_}: not unbound")
            if api.holds(holder=port_id):
                problems.append(f"{port_id} unbound: still holds {api.holds(holder=port_id)}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    assert problems == []
    assert len(bound_ports) == WORKERS

    assert eventually(lambda: stack.pending_hold_syncs() == [])
    [segment_id] = apis[0].dynamic(network_id)  # the pool has one VLAN: one segment at a time
    assert set(bound_ports.values()) == {segment_id}
    assert set(apis[1].holds(segment_id)) == {(segment_id, p) for p in bound_ports}
    for n, port_id in enumerate(bound_ports):
        apis[n % 2].delete(port_id)
    assert apis[0].dynamic(network_id) == []
    assert apis[1].holds(segment_id) == {}
