"""portapi finishes what a request left unfinished, and answers within its caller's deadline.

Real processes: typemgr, the noop driver (binds any host), mechmgr and portapi. A peer is
stalled with SIGSTOP; portapi is killed with SIGKILL while a bind, a network creation and a
network deletion wait on their peers (or, with portapi itself stopped, after the peers answered
and before portapi committed), then started again on the same database: its reconciler must
bind the port and roll back or finish both networks, releasing typemgr's ids, within its bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    binding_pb2,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_pb2,
)
from ml2.v1 import segment_range_service_pb2 as rs
from ml2.v1 import segment_range_service_pb2_grpc as rs_grpc
from ml2.v1 import segment_service_pb2 as ss
from ml2.v1 import segment_service_pb2_grpc as ss_grpc
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from services import launcher, sql
from services.portapi.db import models
from services.rpc import channels
from tests.integration import shared_b

TIMEOUT = 15.0
HOST = "compute-1"
PROJECT = "p"
FLAT = segment_pb2.SegmentSpec(network_type="flat", physical_network="physnet1")

SLOW = {
    "PORTAPI_MECHMGR_TIMEOUT_SECONDS": "60",
    "PORTAPI_TYPEMGR_TIMEOUT_SECONDS": "60",
    "PORTAPI_RECONCILE_INTERVAL_SECONDS": "600",
}
"""The portapi that is killed: it waits on a stalled peer for longer than the test takes."""

GRACE, INTERVAL, MECHMGR_TIMEOUT, TYPEMGR_TIMEOUT, TRIES = 6.5, 0.5, 2.0, 2.0, 2
FAST = {
    "PORTAPI_MECHMGR_TIMEOUT_SECONDS": str(MECHMGR_TIMEOUT),
    "PORTAPI_TYPEMGR_TIMEOUT_SECONDS": str(TYPEMGR_TIMEOUT),
    "PORTAPI_BIND_MAX_TRIES": str(TRIES),
    "PORTAPI_RECONCILE_GRACE_SECONDS": str(GRACE),
    "PORTAPI_RECONCILE_INTERVAL_SECONDS": str(INTERVAL),
}
"""The portapi started again: a short grace period, just over the longest request (6 s)."""

REPAIR_BOUND = GRACE + INTERVAL + TRIES * MECHMGR_TIMEOUT + TYPEMGR_TIMEOUT
"""The documented bound: grace + interval + the longest repair."""

START_ALLOWANCE = 15.0
RETRIES_ALLOWANCE = TIMEOUT + 3 * (GRACE + INTERVAL + TYPEMGR_TIMEOUT)
"""How long the last release may take to be confirmed: a release typemgr answers too late is
counted failed and sent again one grace period later, and a loaded machine may need a few."""
"""Time a loaded machine may take to start portapi again, added to the bound."""


@dataclass
class Stack:
    log_dir: Path
    database_url: str
    processes: list[launcher.ServiceProcess] = field(default_factory=list)
    opened: list[grpc.Channel] = field(default_factory=list)
    typemgr: Any = None
    mechmgr: Any = None

    def start(self, name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(name, module, env, log_dir=self.log_dir, timeout=60)
        self.processes.append(process)
        return process

    def start_side_by_side(self, *specs: tuple[str, str, dict[str, str]]) -> list[Any]:
        """Starts independent processes at once ((name, module, env) each)."""
        started = shared_b.side_by_side(
            *(
                lambda n=name, m=module, e=env: launcher.start(
                    n, m, e, log_dir=self.log_dir, timeout=60
                )
                for name, module, env in specs
            ),
            undo=lambda p: p.stop(),
        )
        self.processes.extend(started)
        return started

    def channel(self, address: str) -> grpc.Channel:
        self.opened.append(channels.make_channel(address))
        return self.opened[-1]

    def portapi(self, name: str, extra: dict[str, str], address: str = "127.0.0.1:0") -> PortApi:
        env = {
            "PORTAPI_LISTEN": address,
            "PORTAPI_METRICS_PORT": "0",
            "PORTAPI_DATABASE_URL": self.database_url,
            "PORTAPI_TYPEMGR_ADDRESS": self.typemgr.address,
            "PORTAPI_MECHMGR_ADDRESS": self.mechmgr.address,
            **extra,
        }
        process = self.start(name, "services.portapi", env)
        return PortApi(process, self.channel(process.address))

    @property
    def segments(self) -> ss_grpc.SegmentServiceStub:
        return ss_grpc.SegmentServiceStub(self.channel(self.typemgr.address))

    def vxlan_allocations(self) -> list[int]:
        stub = rs_grpc.SegmentRangeServiceStub(self.channel(self.typemgr.address))
        reply = stub.ListSegmentAllocations(
            rs.ListSegmentAllocationsRequest(network_type="vxlan"), timeout=TIMEOUT
        )
        return sorted(a.segmentation_id for a in reply.segment_allocations)

    def network_status(self, network_id: str) -> str:
        """Returns the network's status in portapi's database: ACTIVE, CREATING, DELETING, or
        GONE. Read there, not probed through the API: a probe (a port created and deleted on
        an ACTIVE network) would make a DeleteNetwork arriving meanwhile fail with
        NETWORK_IN_USE, and the network would never be DELETING."""
        engine = sql.make_engine(self.database_url)
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    select(models.networks.c.status).where(models.networks.c.id == network_id)
                ).scalar_one_or_none()
        finally:
            engine.dispose()
        return str(found) if found is not None else "GONE"

    def typemgr_segments(self, network_id: str) -> list[Any]:
        request = ss.ListNetworkSegmentsRequest(network_id=network_id)
        try:
            return list(self.segments.ListNetworkSegments(request, timeout=TIMEOUT).segments)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return []
            raise


class PortApi:
    """Clients of one portapi process."""

    def __init__(self, process: launcher.ServiceProcess, channel: grpc.Channel) -> None:
        self.process = process
        self.networks = network_service_pb2_grpc.NetworkServiceStub(channel)
        self.ports = port_service_pb2_grpc.PortServiceStub(channel)

    def create_network(self, *specs: Any, timeout: float = TIMEOUT) -> Any:
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="net", project_id=PROJECT, admin_state_up=True),
            segments=list(specs),
        )
        return self.networks.CreateNetwork(request, timeout=timeout).network

    def delete_network(self, network_id: str, timeout: float = TIMEOUT) -> Any:
        request = network_service_pb2.DeleteNetworkRequest(network_id=network_id)
        return self.networks.DeleteNetwork(request, timeout=timeout).network

    def network_ids(self) -> list[str]:
        request = network_service_pb2.ListNetworksRequest(project_id=PROJECT)
        return [n.id for n in self.networks.ListNetworks(request, timeout=TIMEOUT).networks]

    def create_port(self, network_id: str, host: str = "", timeout: float = TIMEOUT) -> Any:
        port = port_pb2.Port(
            network_id=network_id,
            admin_state_up=True,
            binding=binding_pb2.PortBinding(host_id=host),
        )
        request = port_service_pb2.CreatePortRequest(port=port)
        return self.ports.CreatePort(request, timeout=timeout).port

    def set_host(self, port_id: str, host: str, timeout: float = TIMEOUT) -> Any:
        request = port_service_pb2.UpdatePortRequest(
            port=port_pb2.Port(id=port_id, binding=binding_pb2.PortBinding(host_id=host)),
            update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"]),
        )
        return self.ports.UpdatePort(request, timeout=timeout).port

    def get_port(self, port_id: str) -> Any:
        request = port_service_pb2.GetPortRequest(port_id=port_id)
        return self.ports.GetPort(request, timeout=TIMEOUT).port

    def list_ports(self) -> list[Any]:
        request = port_service_pb2.ListPortsRequest(project_id=PROJECT)
        return list(self.ports.ListPorts(request, timeout=TIMEOUT).ports)

    def counters(self, name: str) -> dict[tuple[str, ...], float]:
        return counters(self.process, name)


def counters(process: launcher.ServiceProcess, name: str) -> dict[tuple[str, ...], float]:
    """Returns the samples of counter ``name`` by their label values."""
    url = f"http://127.0.0.1:{process.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    found: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sample.labels.values())] = sample.value
    return found


def warm(api: PortApi, network_id: str) -> None:
    """Binds and deletes a port, so that portapi's channel to mechmgr is connected before
    mechmgr is stalled (a first connection to a stopped process fails at once)."""
    port = api.create_port(network_id, HOST)
    assert port.binding.state == binding_pb2.BINDING_STATE_BOUND
    api.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id=port.id), timeout=TIMEOUT)


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    explain: Callable[[], str] | None = None,
) -> float:
    """Polls ``check`` until it holds; returns the seconds it took. Fails after ``timeout``,
    with what ``explain`` says of the state then."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    detail = f"\n{explain()}" if explain else ""
    raise AssertionError(f"{what}: not within {timeout:.0f}s{detail}")


def pause(process: launcher.ServiceProcess) -> None:
    os.kill(process.process.pid, signal.SIGSTOP)


def resume(process: launcher.ServiceProcess) -> None:
    os.kill(process.process.pid, signal.SIGCONT)


def kill(process: launcher.ServiceProcess) -> None:
    process.process.kill()
    process.process.wait()


def abandon(stack: Stack, portapi: PortApi, threads: list[threading.Thread]) -> None:
    """Kills ``portapi`` in the middle of its requests, lets its paused peers run again and
    waits for the requests' threads to see the failure."""
    kill(portapi.process)
    resume(stack.mechmgr)
    resume(stack.typemgr)
    for thread in threads:
        thread.join(TIMEOUT)


def in_thread(call: Callable[[], Any]) -> threading.Thread:
    """Runs a call expected to fail (its server is killed) in a thread."""

    def run() -> None:
        with contextlib.suppress(grpc.RpcError):
            call()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def stack(database_url: str, log_dir: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    if database_url.startswith("sqlite"):
        urls = {n: database_url.replace("test.db", f"{n}.db") for n in ("typemgr", "mechmgr")}
        portapi_url, made = database_url.replace("test.db", "portapi.db"), []
    else:
        server = request.getfixturevalue("postgres_server")
        made = [server.create_database(), server.create_database()]
        urls = {"typemgr": made[0], "mechmgr": made[1]}
        portapi_url = database_url
    built = Stack(log_dir, portapi_url)
    listen = {"LISTEN": "127.0.0.1:0", "METRICS_PORT": "0"}
    try:
        built.typemgr, noop = built.start_side_by_side(
            (
                "typemgr",
                "services.typemgr",
                {
                    **{f"TYPEMGR_{k}": v for k, v in listen.items()},
                    "TYPEMGR_DATABASE_URL": urls["typemgr"],
                    "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
                    "TYPEMGR_FLAT_NETWORKS": "physnet1",
                },
            ),
            (
                "noop",
                "services.drivers.noop",
                {f"MECHDRIVER_{k}": v for k, v in listen.items()},
            ),
        )
        built.mechmgr = built.start(
            "mechmgr",
            "services.mechmgr",
            {
                **{f"MECHMGR_{k}": v for k, v in listen.items()},
                "MECHMGR_DATABASE_URL": urls["mechmgr"],
                "MECHMGR_TYPEMGR_ADDRESS": built.typemgr.address,
                "MECHMGR_MECHANISM_DRIVERS": f"noop={noop.address}",
            },
        )
        yield built
    finally:
        for channel in built.opened:
            channel.close()
        running = [p for p in built.processes if p.alive()]
        for process in running:
            resume(process)
        if running:
            shared_b.side_by_side(*(lambda p=p: p.stop() for p in running))
        if made:
            server = request.getfixturevalue("postgres_server")
            for url in made:
                server.drop_database(url)


@pytest.mark.parametrize("moment", ["peers_stalled", "peers_answered"])
def test_work_interrupted_by_kill_9_is_finished_after_a_restart(stack: Stack, moment: str) -> None:
    """kill -9 of portapi while a bind, a network creation and a network deletion wait on
    mechmgr and typemgr (``peers_stalled``), or after they answered but before portapi committed
    (``peers_answered``, portapi stopped with SIGSTOP first): once portapi runs again the port
    is BOUND, the network being created is rolled back and the one being deleted is gone, with
    every id typemgr gave them released, within grace + interval + the longest repair."""
    first = stack.portapi("portapi", SLOW)
    bound_net = first.create_network(FLAT).id
    warm(first, bound_net)
    port = first.create_port(bound_net).id
    doomed = first.create_network().id
    assert stack.vxlan_allocations() and stack.typemgr_segments(doomed)
    pause(stack.mechmgr)
    pause(stack.typemgr)
    threads = [
        in_thread(lambda: first.set_host(port, HOST, timeout=120)),
        in_thread(lambda: first.create_network(timeout=120)),
        in_thread(lambda: first.delete_network(doomed, timeout=120)),
    ]
    wait_for("inputs recorded", lambda: first.get_port(port).binding.host_id == HOST, TIMEOUT)
    wait_for("network deleting", lambda: stack.network_status(doomed) == "DELETING", TIMEOUT)
    wait_for("network creating", lambda: len(first.network_ids()) == 3, TIMEOUT)
    [creating] = set(first.network_ids()) - {bound_net, doomed}
    assert stack.network_status(creating) == "CREATING"
    if moment == "peers_answered":
        pause(first.process)
        resume(stack.mechmgr)
        resume(stack.typemgr)
        wait_for("typemgr allocated", lambda: bool(stack.typemgr_segments(creating)), TIMEOUT)
        wait_for("typemgr released", lambda: not stack.typemgr_segments(doomed), TIMEOUT)
        wait_for(
            "mechmgr resolved",
            lambda: sum(counters(stack.mechmgr, "ml2_mechmgr_resolutions_total").values()) >= 1,
            TIMEOUT,
        )
    abandon(stack, first, threads)
    again = stack.portapi("portapi-again", FAST, address=first.process.address)
    # The bound runs from the moment the new process serves (its reconciler's first pass).
    left = time.monotonic()
    bound = REPAIR_BOUND + START_ALLOWANCE

    def repaired() -> bool:
        binding = again.get_port(port).binding
        return (
            binding.state == binding_pb2.BINDING_STATE_BOUND
            and again.network_ids() == [bound_net]
            and not stack.typemgr_segments(creating)
            and not stack.typemgr_segments(doomed)
        )

    def state() -> str:
        return (
            f"binding {binding_pb2.BindingState.Name(again.get_port(port).binding.state)}, "
            f"networks {again.network_ids()} (want [{bound_net}]), typemgr segments of the "
            f"created {stack.typemgr_segments(creating)} and deleted "
            f"{stack.typemgr_segments(doomed)} networks\n{again.process.log_tail()}"
        )

    wait_for("everything repaired", repaired, bound - (time.monotonic() - left), state)
    assert again.get_port(port).binding.vif_type == "other"
    assert stack.vxlan_allocations() == []
    # A release typemgr answers too late (a loaded machine) is counted failed and sent again.
    wait_for(
        "repairs counted",
        lambda: network_repairs([again]) == 2,
        RETRIES_ALLOWANCE,
        lambda: str(summed_repairs([again])),
    )
    repairs = summed_repairs([again])
    assert repairs[("binding", "repaired")] == 1
    assert repairs[("network_create", "repaired")] + repairs[("network_create", "failed")] == 1
    assert repairs[("network_delete", "repaired")] + repairs[("network_delete", "failed")] == 1
    assert not [key for key in repairs if key[1] == "superseded"]


def summed_repairs(replicas: list[PortApi]) -> dict[tuple[str, ...], float]:
    """Returns the reconciler's repairs summed over ``replicas``, zero for a missing result."""
    summed: dict[tuple[str, ...], float] = {
        (kind, result): 0.0
        for kind in ("binding", "network_create", "network_delete", "network_release")
        for result in ("repaired", "failed")
    }
    for replica in replicas:
        for key, value in replica.counters("ml2_portapi_reconciler_repairs_total").items():
            summed[key] = summed.get(key, 0.0) + value
    return summed


def network_repairs(replicas: list[PortApi]) -> float:
    """Returns how many network repairs ended with typemgr releasing the ids, over replicas."""
    summed = summed_repairs(replicas)
    return sum(
        v for (kind, result), v in summed.items() if kind != "binding" and result == "repaired"
    )


def test_two_replicas_repair_each_item_exactly_once(stack: Stack) -> None:
    """Pending bindings and releases (left by requests the caller's deadline cut short) and
    networks left CREATING and DELETING (by a kill -9) on one PostgreSQL database are taken
    over by two replicas started at once: summed over both, each item is repaired exactly once
    and none is claimed twice."""
    first = stack.portapi("portapi", SLOW)
    flat = first.create_network(FLAT).id
    warm(first, flat)
    doomed = [first.create_network().id for _ in range(2)]
    pause(stack.mechmgr)
    pause(stack.typemgr)
    with futures.ThreadPoolExecutor(12) as pool:
        cut = [pool.submit(first.create_port, flat, HOST, 1.0) for _ in range(8)]
        cut += [pool.submit(first.create_network, timeout=1.0) for _ in range(4)]
        for call in cut:
            with pytest.raises(grpc.RpcError):
                call.result()
    ports = [p.id for p in first.list_ports()]
    assert len(ports) == 8 and first.network_ids() == [flat, *doomed]
    threads = [in_thread(lambda: first.create_network(timeout=120)) for _ in range(2)]
    threads += [in_thread(lambda n=n: first.delete_network(n, timeout=120)) for n in doomed]
    wait_for("networks creating", lambda: len(first.network_ids()) == 5, TIMEOUT)
    wait_for(
        "networks deleting",
        lambda: all(stack.network_status(n) == "DELETING" for n in doomed),
        TIMEOUT,
    )
    abandon(stack, first, threads)

    with futures.ThreadPoolExecutor(2) as pool:
        started = [pool.submit(stack.portapi, f"replica-{i}", FAST) for i in range(2)]
        replicas = [s.result() for s in started]

    def repaired() -> bool:
        states = {p.binding.state for p in replicas[0].list_ports()}
        return (
            states == {binding_pb2.BINDING_STATE_BOUND}
            and replicas[1].network_ids() == [flat]
            and stack.vxlan_allocations() == []
        )

    wait_for("everything repaired", repaired, REPAIR_BOUND + 2 * START_ALLOWANCE)
    # 4 recorded releases, 2 creations and 2 deletions: each ends in exactly one release that
    # typemgr confirmed; one it answered too late is counted failed and sent again.
    wait_for(
        "repairs counted",
        lambda: network_repairs(replicas) == 8,
        RETRIES_ALLOWANCE,
        lambda: str(summed_repairs(replicas)),
    )
    summed = summed_repairs(replicas)
    assert summed[("binding", "repaired")] == 8 and summed[("binding", "failed")] == 0
    for kind in ("network_create", "network_delete"):
        assert summed[(kind, "repaired")] + summed[(kind, "failed")] == 2, summed
    assert not [key for key in summed if key[1] == "superseded"], summed
    assert network_repairs(replicas) == 8


def test_every_rpc_answers_within_its_callers_deadline_and_leaks_nothing(
    stack: Stack,
) -> None:
    """With typemgr or mechmgr stalled by SIGSTOP and peer timeouts longer than the caller's
    deadline, CreateNetwork and UpdatePort end (server side) within that deadline; once the
    peers run again the network's ids are released and the port is bound by the reconciler."""
    deadline = 2.0
    grace = 6 + 4 + 0.5  # just over the longest request: tries x mechmgr + typemgr timeout
    api = stack.portapi(
        "portapi",
        {
            "PORTAPI_TYPEMGR_TIMEOUT_SECONDS": "4",
            "PORTAPI_MECHMGR_TIMEOUT_SECONDS": "6",
            "PORTAPI_BIND_MAX_TRIES": "1",
            "PORTAPI_RECONCILE_INTERVAL_SECONDS": str(INTERVAL),
            "PORTAPI_RECONCILE_GRACE_SECONDS": str(grace),
        },
    )
    flat = api.create_network(FLAT).id
    warm(api, flat)
    port = api.create_port(flat).id

    def handled(method: str) -> float:
        found = api.counters("ml2_grpc_server_handled_total")
        return sum(v for k, v in found.items() if k[1] == method)

    pause(stack.typemgr)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failed:
        api.create_network(timeout=deadline)
    assert failed.value.code() in (
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNAVAILABLE,
    )
    wait_for("CreateNetwork handled", lambda: handled("CreateNetwork") == 2, TIMEOUT)
    took = time.monotonic() - started
    assert took < deadline + 1.0, f"CreateNetwork took {took:.1f}s with a {deadline}s deadline"
    assert api.network_ids() == [flat]

    pause(stack.mechmgr)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failed:
        api.set_host(port, HOST, timeout=deadline)
    assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for("UpdatePort handled", lambda: handled("UpdatePort") == 1, TIMEOUT)
    took = time.monotonic() - started
    assert took < deadline + 1.0, f"UpdatePort took {took:.1f}s with a {deadline}s deadline"

    resume(stack.typemgr)
    resume(stack.mechmgr)
    bound = grace + INTERVAL + 6 + 4 + START_ALLOWANCE

    def finished() -> bool:
        state = api.get_port(port).binding.state
        return state == binding_pb2.BINDING_STATE_BOUND and stack.vxlan_allocations() == []

    wait_for("released and bound", finished, bound)
    wait_for("repairs counted", lambda: network_repairs([api]) == 1, TIMEOUT + grace)
    repairs = summed_repairs([api])
    assert repairs[("binding", "repaired")] == 1 and repairs[("network_release", "repaired")] == 1
