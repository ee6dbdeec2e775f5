"""Port status, device reports, admin state and WatchPorts, served by real portapi processes
with real typemgr, mechmgr and driver processes, on SQLite files and on PostgreSQL.

One stack per backend serves the module; each test works in its own project and on its own
hosts. Watchers are real gRPC streams read by a thread each (``Watch``).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    admin_state_pb2,
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    binding_pb2,
    network_pb2,
    network_service_pb2,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)

from services import launcher
from tests.integration import shared_b
from tests.integration.test_portapi import TIMEOUT, PortApi, Stack, failure, register

UP = port_service_pb2.DEVICE_STATE_UP
DOWN = port_service_pb2.DEVICE_STATE_DOWN
ERROR = port_service_pb2.DEVICE_STATE_ERROR
R = port_service_pb2
S = port_pb2
WAIT = 20.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """typemgr, mechmgr and the two driver processes, per backend."""
    yield from shared_b.start_stack_side_by_side(
        request.param, tmp_path_factory.mktemp(request.param), request
    )


@pytest.fixture(scope="module")
def portapi(stack: Stack) -> PortApi:
    """The portapi process of the stack; it checks agent liveness every 0.2 s."""
    return stack.start_portapi(
        "portapi",
        stack.urls["portapi"],
        PORTAPI_AGENT_CHECK_INTERVAL_SECONDS="0.2",
        PORTAPI_EVENT_POLL_SECONDS="60",
    )


@pytest.fixture
def project() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


class Watch:
    """One WatchPorts stream, read by a thread into a queue."""

    def __init__(self, stub: port_service_pb2_grpc.PortServiceStub, **request: Any) -> None:
        """Without ``after_revision`` or ``snapshot`` the stream starts "from now"; as the
        server may take the request after a write the test makes next, it is opened with a
        snapshot instead, returning once SYNCED came, with the snapshot left out: from then on
        every change is on the stream."""
        joined = not request.get("after_revision") and not request.get("snapshot")
        if joined:
            request["snapshot"] = True
        self.call = stub.WatchPorts(R.WatchPortsRequest(**request))
        self.items: queue.Queue[Any] = queue.Queue()
        self.ended = threading.Event()
        self.error: grpc.RpcError | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if joined:
            self.events_until(lambda got: bool(got) and got[-1].WhichOneof("kind") == "synced")

    def _read(self) -> None:
        try:
            for item in self.call:
                self.items.put(item)
        except grpc.RpcError as err:
            self.error = err
        finally:
            self.ended.set()

    def next(self, timeout: float = WAIT) -> Any:
        return self.items.get(timeout=timeout)

    def events_until(self, done: Callable[[list[Any]], bool], timeout: float = WAIT) -> list[Any]:
        """Collects responses until ``done(collected)`` holds; fails after ``timeout``."""
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while not done(got):
            left = deadline - time.monotonic()
            assert left > 0, f"gave up waiting; got {[describe(g) for g in got]}"
            try:
                got.append(self.items.get(timeout=left))
            except queue.Empty:
                continue
        return got

    def quiet(self, seconds: float = 0.5) -> list[Any]:
        """Returns what arrives within ``seconds`` (for checks that nothing else comes)."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.items.get(timeout=left))
            except queue.Empty:
                break
        return got

    def cancel(self) -> None:
        self.call.cancel()
        self.ended.wait(WAIT)


def describe(item: Any) -> str:
    kind = item.WhichOneof("kind")
    if kind == "event":
        name = R.PortEventType.Name(item.event.type)
        return f"{item.event.revision}:{name}:{item.event.port.id[:8]}"
    return f"{kind}:{getattr(item, kind)}"


def events_of(items: list[Any], port_id: str = "") -> list[Any]:
    """The events of the responses, whether each came alone or in a batch."""
    found = []
    for item in items:
        kind = item.WhichOneof("kind")
        if kind == "event":
            found.append(item.event)
        elif kind == "events":
            found += item.events.events
    return [e for e in found if not port_id or e.port.id == port_id]


def report(
    portapi: PortApi, host: str, agent: str, *devices: tuple[str, int, int, str]
) -> list[Any]:
    request = R.ReportDeviceStatusRequest(
        host_id=host,
        agent_id=agent,
        devices=[
            R.DeviceReport(port_id=p, state=s, binding_generation=g, message=m)
            for p, s, g, m in devices
        ],
    )
    return list(portapi.ports.ReportDeviceStatus(request, timeout=TIMEOUT).outcomes)


def update(portapi: PortApi, port: Any, *paths: str) -> Any:
    request = R.UpdatePortRequest(port=port, update_mask=field_mask_pb2.FieldMask(paths=paths))
    return portapi.ports.UpdatePort(request, timeout=TIMEOUT).port


def ovs_host(stack: Stack, project: str, name: str = "ovs") -> tuple[str, str]:
    """Registers an Open vSwitch agent on a host of this test; returns (host, agent id)."""
    host = f"{name}-{project}"
    agent = register(stack, "openvswitch", host, tunnel_types=["vxlan"], local_ip="192.0.2.30")
    return host, agent.id


def network(portapi: PortApi, project: str) -> Any:
    return portapi.create_network(project)


# -------------------------------------------------------------------------------- admin state


def test_admin_state_defaults_to_up_and_the_deprecated_bool_is_only_mirrored(
    portapi: PortApi, project: str
) -> None:
    raw = portapi.networks.CreateNetwork(
        network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="n", project_id=project)
        ),
        timeout=TIMEOUT,
    ).network
    assert raw.admin_state == admin_state_pb2.ADMIN_STATE_UP and raw.admin_state_up
    down_net = portapi.networks.CreateNetwork(
        network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(
                name="n", project_id=project, admin_state=admin_state_pb2.ADMIN_STATE_DOWN
            )
        ),
        timeout=TIMEOUT,
    ).network
    assert down_net.admin_state == admin_state_pb2.ADMIN_STATE_DOWN
    assert not down_net.admin_state_up

    def create(**fields: Any) -> Any:
        request = R.CreatePortRequest(port=S.Port(network_id=raw.id, **fields))
        return portapi.ports.CreatePort(request, timeout=TIMEOUT).port

    plain = create()  # no admin field at all: proto3 sends admin_state_up false
    assert plain.admin_state == admin_state_pb2.ADMIN_STATE_UP and plain.admin_state_up
    down = create(admin_state=admin_state_pb2.ADMIN_STATE_DOWN, admin_state_up=True)
    assert down.admin_state == admin_state_pb2.ADMIN_STATE_DOWN and not down.admin_state_up
    assert down.status_message == "unbound"

    legacy_down = update(portapi, S.Port(id=plain.id, admin_state_up=False), "admin_state_up")
    assert legacy_down.admin_state == admin_state_pb2.ADMIN_STATE_DOWN
    legacy_up = update(portapi, S.Port(id=plain.id, admin_state_up=True), "admin_state_up")
    assert legacy_up.admin_state == admin_state_pb2.ADMIN_STATE_UP and legacy_up.admin_state_up
    up = update(
        portapi, S.Port(id=down.id, admin_state=admin_state_pb2.ADMIN_STATE_UP), "admin_state"
    )
    assert up.admin_state == admin_state_pb2.ADMIN_STATE_UP
    kept = update(portapi, S.Port(id=down.id, name="renamed"), "name")
    assert kept.admin_state == admin_state_pb2.ADMIN_STATE_UP

    for port, paths, field in (
        (S.Port(id=down.id), ["admin_state"], "port.admin_state"),
        (S.Port(id=down.id, admin_state=7), ["admin_state"], "port.admin_state"),  # type: ignore[arg-type]
        (
            S.Port(id=down.id, admin_state=admin_state_pb2.ADMIN_STATE_DOWN, admin_state_up=True),
            ["admin_state", "admin_state_up"],
            "update_mask",
        ),
    ):
        found = failure(lambda p=port, m=paths: update(portapi, p, *m))
        assert found.code == grpc.StatusCode.INVALID_ARGUMENT and found.metadata["field"] == field
    assert portapi.get_port(down.id).admin_state == admin_state_pb2.ADMIN_STATE_UP


# ------------------------------------------------------------------ status and device reports


def test_status_follows_binding_agent_reports_and_admin_state(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    host, agent = ovs_host(stack, project)
    net = network(portapi, project)
    port = portapi.create_port(net.id)
    assert (port.status, port.status_message) == (S.PORT_STATUS_DOWN, "unbound")
    port = portapi.set_host(port.id, host)
    assert port.status == S.PORT_STATUS_BUILD and host in port.status_message
    gen = port.binding.generation

    [out] = report(portapi, host, agent, (port.id, UP, gen, ""))
    assert out.result == R.DEVICE_REPORT_RESULT_APPLIED
    assert out.port.status == S.PORT_STATUS_ACTIVE and out.port.status_message == ""
    assert out.port.status_agent_id == agent
    [again] = report(portapi, host, agent, (port.id, UP, gen, ""))
    assert again.result == R.DEVICE_REPORT_RESULT_APPLIED
    assert again.port.status == S.PORT_STATUS_ACTIVE

    [err] = report(portapi, host, agent, (port.id, ERROR, gen, "ofport -1"))
    assert (err.port.status, err.port.status_message) == (S.PORT_STATUS_ERROR, "ofport -1")
    [down] = report(portapi, host, agent, (port.id, DOWN, gen, ""))
    assert down.port.status == S.PORT_STATUS_DOWN and agent in down.port.status_message
    report(portapi, host, agent, (port.id, UP, gen, ""))

    off = update(
        portapi, S.Port(id=port.id, admin_state=admin_state_pb2.ADMIN_STATE_DOWN), "admin_state"
    )
    assert (off.status, off.status_message) == (S.PORT_STATUS_DOWN, "admin down")
    [ignored] = report(portapi, host, agent, (port.id, UP, gen, ""))
    assert ignored.port.status == S.PORT_STATUS_DOWN
    on = update(
        portapi, S.Port(id=port.id, admin_state=admin_state_pb2.ADMIN_STATE_UP), "admin_state"
    )
    assert on.status == S.PORT_STATUS_BUILD
    report(portapi, host, agent, (port.id, UP, gen, ""))

    rebound = update(
        portapi,
        S.Port(id=port.id, binding=binding_pb2.PortBinding(profile={"k": "v"})),  # type: ignore[arg-type]
        "binding.profile",
    )
    assert rebound.status == S.PORT_STATUS_BUILD and rebound.binding.generation == gen + 1
    [stale] = report(portapi, host, agent, (port.id, UP, gen, ""))
    assert stale.result == R.DEVICE_REPORT_RESULT_STALE_GENERATION
    assert stale.port.status == S.PORT_STATUS_BUILD

    unbound = portapi.set_host(port.id, "")
    assert (unbound.status, unbound.status_message) == (S.PORT_STATUS_DOWN, "unbound")
    [here] = report(portapi, host, agent, (port.id, UP, gen + 1, ""))
    assert here.result == R.DEVICE_REPORT_RESULT_NOT_BOUND_HERE
    missing = str(uuid.uuid4())
    [gone] = report(portapi, host, agent, (missing, UP, 1, ""))
    assert gone.result == R.DEVICE_REPORT_RESULT_NOT_FOUND and not gone.HasField("port")

    failed = portapi.create_port(net.id, host=f"bare-{project}")
    assert failed.status == S.PORT_STATUS_DOWN
    assert failed.status_message.startswith("binding failed: ")


def test_a_batch_with_one_bad_device_is_refused_naming_it_and_writes_nothing(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    host, agent = ovs_host(stack, project)
    net = network(portapi, project)
    ports = [portapi.create_port(net.id, host=host) for _ in range(4)]
    good = [(p.id, UP, p.binding.generation, "") for p in ports[:3]]
    cases: list[tuple[Any, str]] = [
        (R.DeviceReport(port_id=ports[3].id, binding_generation=1), "devices[3].state"),
        (R.DeviceReport(port_id="not-a-uuid", state=UP), "devices[3].port_id"),
        (R.DeviceReport(state=UP), "devices[3].port_id"),
        (R.DeviceReport(port_id=ports[3].id, state=9), "devices[3].state"),  # type: ignore[arg-type]
    ]
    for bad, field in cases:
        request = R.ReportDeviceStatusRequest(
            host_id=host,
            agent_id=agent,
            devices=[
                *(R.DeviceReport(port_id=p, state=s, binding_generation=g) for p, s, g, _ in good),
                bad,
            ],
        )
        found = failure(lambda r=request: portapi.ports.ReportDeviceStatus(r, timeout=TIMEOUT))
        assert found.code == grpc.StatusCode.INVALID_ARGUMENT, found
        assert found.metadata["field"] == field and found.message.startswith(f"{field}: ")
    for request, field in (
        (R.ReportDeviceStatusRequest(agent_id=agent), "host_id"),
        (R.ReportDeviceStatusRequest(host_id=host), "agent_id"),
        (
            R.ReportDeviceStatusRequest(
                host_id=host,
                agent_id=agent,
                devices=[R.DeviceReport(port_id=ports[0].id, state=UP)] * 1001,
            ),
            "devices",
        ),
    ):
        found = failure(lambda r=request: portapi.ports.ReportDeviceStatus(r, timeout=TIMEOUT))
        assert found.code == grpc.StatusCode.INVALID_ARGUMENT
        assert found.metadata["field"] == field
    assert {portapi.get_port(p.id).status for p in ports} == {S.PORT_STATUS_BUILD}


def test_a_removed_agent_takes_its_ports_down_until_it_reports_again(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    host, agent = ovs_host(stack, project)
    net = network(portapi, project)
    port = portapi.create_port(net.id, host=host)
    report(portapi, host, agent, (port.id, UP, port.binding.generation, ""))
    stack.agents.DeleteAgent(agent_service_pb2.DeleteAgentRequest(agent_id=agent), timeout=TIMEOUT)
    got = wait_for(lambda: portapi.get_port(port.id), lambda p: p.status == S.PORT_STATUS_DOWN)
    assert got.status_message == f"agent {agent} on host {host} is no longer registered"
    _, again = ovs_host(stack, project)
    [out] = report(portapi, host, again, (port.id, UP, port.binding.generation, ""))
    assert out.port.status == S.PORT_STATUS_ACTIVE and out.port.status_agent_id == again


def wait_for(get: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"gave up waiting; last {value}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------- watching


def test_watch_streams_every_change_of_matching_ports_in_revision_order(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    host, agent = ovs_host(stack, project)
    other, _ = ovs_host(stack, project, "other")
    net = network(portapi, project)
    by_host = Watch(portapi.ports, host_ids=[host])
    by_net = Watch(portapi.ports, network_ids=[net.id])
    port = portapi.create_port(net.id, host=host)
    by_port = Watch(portapi.ports, port_ids=[port.id])
    elsewhere = portapi.create_port(net.id, host=other)
    report(portapi, host, agent, (port.id, UP, port.binding.generation, ""))
    moved = portapi.set_host(port.id, other)
    portapi.ports.DeletePort(R.DeletePortRequest(port_id=port.id), timeout=TIMEOUT)

    def complete(got: list[Any]) -> bool:
        return any(e.type == R.PORT_EVENT_TYPE_DELETED for e in events_of(got, port.id))

    def left(got: list[Any]) -> bool:
        return any(e.previous_host_id == host for e in events_of(got))

    # The host's watcher sees the port until it leaves the host, and nothing of the other
    # host's ports.
    host_events = events_of(by_host.events_until(left))
    types = [R.PortEventType.Name(e.type) for e in host_events]
    assert types == [
        "PORT_EVENT_TYPE_CREATED",
        "PORT_EVENT_TYPE_UPDATED",  # bound: BUILD
        "PORT_EVENT_TYPE_VIF_PLUGGED",
        "PORT_EVENT_TYPE_VIF_UNPLUGGED",  # moved to the other host
    ], types
    assert {e.port.id for e in host_events} == {port.id}  # not the other host's port
    assert host_events[1].port.status == S.PORT_STATUS_BUILD
    assert host_events[2].port.status == S.PORT_STATUS_ACTIVE
    assert host_events[3].previous_host_id == host
    assert host_events[3].port.binding.host_id == other
    revisions = [e.revision for e in host_events]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
    assert all(e.time.seconds > 0 for e in host_events)

    net_events = events_of(by_net.events_until(complete))
    assert {e.port.id for e in net_events} == {port.id, elsewhere.id}
    port_events = events_of(by_port.events_until(complete))
    assert {e.port.id for e in port_events} == {port.id}
    assert port_events[-1].port.binding.host_id == moved.binding.host_id
    for watch in (by_host, by_net, by_port):
        watch.cancel()


def test_a_batching_watcher_gets_the_same_events_in_fewer_messages(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    net = network(portapi, project)
    before = [portapi.create_port(net.id, name=f"b{i}") for i in range(3)]
    single = Watch(portapi.ports, network_ids=[net.id], snapshot=True)
    batched = Watch(portapi.ports, network_ids=[net.id], snapshot=True, max_batch=2)
    snapshot = single.events_until(lambda got: bool(got) and got[-1].WhichOneof("kind") == "synced")
    batched_snapshot = batched.events_until(
        lambda got: bool(got) and got[-1].WhichOneof("kind") == "synced"
    )
    # The snapshot's 3 ports: one message each, or a batch of 2 and a batch of 1.
    assert [i.WhichOneof("kind") for i in snapshot] == ["event"] * 3 + ["synced"]
    assert [i.WhichOneof("kind") for i in batched_snapshot] == ["events"] * 2 + ["synced"]
    assert sorted(e.port.id for e in events_of(batched_snapshot)) == sorted(p.id for p in before)

    # Changes close together arrive together (the server's batch window), never above 2.
    after = [portapi.create_port(net.id, name=f"a{i}") for i in range(5)]
    want = [p.id for p in after]
    one_by_one = single.events_until(lambda got: len(events_of(got)) == 5)
    together = batched.events_until(lambda got: len(events_of(got)) == 5)
    assert [e.port.id for e in events_of(one_by_one)] == want
    assert [e.port.id for e in events_of(together)] == want
    assert [e.revision for e in events_of(together)] == [e.revision for e in events_of(one_by_one)]
    assert all(i.WhichOneof("kind") == "events" for i in together)
    assert all(0 < len(i.events.events) <= 2 for i in together)
    assert single.quiet(0.2) == [] and batched.quiet(0.2) == []
    single.cancel()
    batched.cancel()


def test_max_batch_above_the_limit_is_invalid_argument(portapi: PortApi) -> None:
    call = portapi.ports.WatchPorts(R.WatchPortsRequest(max_batch=1001), timeout=TIMEOUT)
    with pytest.raises(grpc.RpcError) as info:
        next(call)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "max_batch: must be at most 1000"


def test_a_watcher_resumes_after_its_revision_without_a_gap(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    net = network(portapi, project)
    first = Watch(portapi.ports, network_ids=[net.id])
    ports = [portapi.create_port(net.id, name=f"p{i}") for i in range(3)]
    seen = events_of(first.events_until(lambda got: len(events_of(got)) == 3))
    first.cancel()
    last = seen[-1].revision
    more = [portapi.create_port(net.id, name=f"q{i}") for i in range(3)]
    update(portapi, S.Port(id=ports[0].id, name="renamed"), "name")
    resumed = Watch(portapi.ports, network_ids=[net.id], after_revision=last)
    got = events_of(resumed.events_until(lambda got: len(events_of(got)) == 4))
    assert [e.port.id for e in got] == [*(p.id for p in more), ports[0].id]
    assert got[0].revision > last and got[-1].port.name == "renamed"
    assert resumed.quiet(0.3) == []
    resumed.cancel()

    ahead = Watch(portapi.ports, after_revision=got[-1].revision + 10**9)
    [item] = ahead.events_until(lambda got: len(got) == 1)
    assert item.WhichOneof("kind") == "resync"
    assert ahead.ended.wait(WAIT) and ahead.error is None


def test_snapshot_then_changes_without_a_gap_under_concurrent_writes(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    net = network(portapi, project)
    before = [portapi.create_port(net.id, name=f"s{i}") for i in range(5)]
    stop = threading.Event()
    written: list[str] = []

    def write() -> None:
        while not stop.is_set():
            written.append(portapi.create_port(net.id).id)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 3:
            time.sleep(0.01)
        watch = Watch(portapi.ports, network_ids=[net.id], snapshot=True)
        items = watch.events_until(lambda got: any(i.WhichOneof("kind") == "synced" for i in got))
        while len(written) < len(items) + 5:
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()
    snapshot = {i.event.port.id for i in items if i.WhichOneof("kind") == "event"}
    synced = items[-1].synced.revision
    assert all(i.event.revision == synced for i in items[:-1])
    assert {p.id for p in before} <= snapshot
    expected = {p.id for p in before} | set(written)
    later = watch.events_until(
        lambda got: snapshot | {e.port.id for e in events_of(got)} >= expected
    )
    created = [e for e in events_of(later) if e.type == R.PORT_EVENT_TYPE_CREATED]
    assert all(e.revision > synced for e in events_of(later))
    assert not snapshot & {e.port.id for e in created}, "a port both in the snapshot and created"
    watch.cancel()


def test_bad_watch_requests_name_the_field(portapi: PortApi) -> None:
    for request, field in (
        (R.WatchPortsRequest(host_ids=[""]), "host_ids[0]"),
        (R.WatchPortsRequest(host_ids=["a b"]), "host_ids[0]"),
        (R.WatchPortsRequest(host_ids=[f"h{i}" for i in range(101)]), "host_ids"),
        (R.WatchPortsRequest(network_ids=["x" * 300]), "network_ids[0]"),
        (R.WatchPortsRequest(port_ids=["p", "nope"]), "port_ids[0]"),
        (R.WatchPortsRequest(after_revision=-1), "after_revision"),
    ):
        found = failure(lambda r=request: list(portapi.ports.WatchPorts(r, timeout=TIMEOUT)))
        assert found.code == grpc.StatusCode.INVALID_ARGUMENT
        assert found.metadata["field"] == field, found


def test_a_watcher_older_than_the_kept_history_gets_resync(
    stack: Stack, project: str, tmp_path: Path
) -> None:
    url = stack.urls["portapi_b"] if stack.backend == "postgres" else f"sqlite:///{tmp_path}/r.db"
    small = stack.start_portapi(
        f"portapi-retention-{project}",
        url,
        PORTAPI_EVENT_RETENTION_COUNT="3",
        PORTAPI_EVENT_PRUNE_INTERVAL_SECONDS="0.1",
    )
    try:
        net = network(small, project)
        first = small.create_port(net.id)
        watch = Watch(small.ports, port_ids=[first.id])
        update(small, S.Port(id=first.id, name="a"), "name")
        [seen] = events_of(watch.events_until(lambda got: len(got) == 1))
        watch.cancel()
        for i in range(6):
            small.create_port(net.id, name=f"n{i}")
        late = None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            late = Watch(small.ports, after_revision=seen.revision)
            [item] = late.events_until(lambda got: len(got) == 1)
            if item.WhichOneof("kind") == "resync":
                break
            late.cancel()
        assert item.WhichOneof("kind") == "resync", item
        assert item.resync.oldest_revision > seen.revision + 1 and item.resync.message
        assert late is not None and late.ended.wait(WAIT) and late.error is None
    finally:
        assert small.process.stop() == 0
        del stack.processes[f"portapi-retention-{project}"]


def test_a_watcher_that_stops_reading_gets_resync_and_holds_up_nobody(
    stack: Stack, project: str, tmp_path: Path
) -> None:
    """A client that stops reading fills its HTTP/2 window; its stream then stops taking from
    its queue, which overflows: the watcher is ended with RESYNC, which it reads once it reads
    again, while a watcher that keeps reading on the same replica gets every event."""
    name = f"portapi-stall-{project}"
    url = stack.urls["portapi_b"] if stack.backend == "postgres" else f"sqlite:///{tmp_path}/w.db"
    small = stack.start_portapi(name, url, PORTAPI_WATCH_QUEUE_SIZE="100")
    try:
        net = network(small, project)
        reader = Watch(small.ports, network_ids=[net.id])
        # No BDP probing: the window stays at its initial size while nothing is read.
        stalled_channel = grpc.insecure_channel(
            small.process.address, options=[("grpc.http2.bdp_probe", 0)]
        )
        stalled = port_service_pb2_grpc.PortServiceStub(stalled_channel).WatchPorts(
            R.WatchPortsRequest(network_ids=[net.id], snapshot=True), timeout=120
        )
        assert next(stalled).WhichOneof("kind") == "synced"
        count = 600  # about 300 KB of events: several times the window and the queue
        created = [small.create_port(net.id, name=f"{i:03d}" + "x" * 250).id for i in range(count)]
        seen = events_of(reader.events_until(lambda got: len(events_of(got)) == count))
        assert [e.port.id for e in seen] == created

        rest = list(stalled)  # reading again: what was in flight, then RESYNC, then the end
        kinds = [m.WhichOneof("kind") for m in rest]
        assert kinds[-1] == "resync" and set(kinds[:-1]) <= {"event"}, kinds
        assert "fell more than 100 events behind" in rest[-1].resync.message
        revisions = [m.event.revision for m in rest[:-1]]
        assert revisions == sorted(revisions) and len(revisions) < count
        reader.cancel()
        stalled_channel.close()
    finally:
        assert small.process.stop() == 0
        del stack.processes[name]


def test_sigterm_with_open_watchers_exits_0_promptly(
    stack: Stack, project: str, tmp_path: Path
) -> None:
    name = f"portapi-stop-{project}"
    url = stack.urls["portapi_b"] if stack.backend == "postgres" else f"sqlite:///{tmp_path}/s.db"
    doomed = stack.start_portapi(name, url)
    del stack.processes[name]
    watches = [Watch(doomed.ports), Watch(doomed.ports, snapshot=True)]
    watches[1].events_until(lambda got: any(i.WhichOneof("kind") == "synced" for i in got))
    net = network(doomed, project)
    doomed.create_port(net.id)
    started = time.monotonic()
    assert doomed.process.stop(timeout=10) == 0
    assert time.monotonic() - started < 4.0
    for watch in watches:
        assert watch.ended.wait(WAIT)
        assert watch.error is None or watch.error.code() == grpc.StatusCode.UNAVAILABLE


# ------------------------------------------------------------------------------ ml2 port watch


class CliWatch:
    """``ml2 port watch`` as a process, its stdout read line by line by a thread."""

    def __init__(self, address: str, *args: str) -> None:
        env = launcher.python_path_env(dict(os.environ))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "--portapi", address, "port", "watch", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, done: Callable[[str], bool]) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + WAIT
        while not got or not done(got[-1]):
            left = deadline - time.monotonic()
            assert left > 0 and self.process.poll() is None, (got, self.stderr())
            try:
                got.append(self.lines.get(timeout=left))
            except queue.Empty:
                continue
        return got

    def interrupt(self) -> int:
        # SIGTERM, not SIGINT: a suite started in the background has SIGINT ignored in every
        # child, and the watch ends on either.
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(WAIT)

    def stderr(self) -> str:
        if self.process.poll() is None:
            return ""
        assert self.process.stderr is not None
        return self.process.stderr.read()


def test_ml2_port_watch_prints_one_line_per_event(portapi: PortApi, project: str) -> None:
    net = network(portapi, project)
    old = portapi.create_port(net.id, name="old")
    address = portapi.process.address
    as_json = CliWatch(address, "--network", net.id, "--snapshot", "--output", "json")
    try:
        lines = as_json.until(lambda line: "synced" in line)
        first = json.loads(lines[0])
        assert first["event"]["type"] == "PORT_EVENT_TYPE_SNAPSHOT"
        assert first["event"]["port"]["id"] == old.id
        new = portapi.create_port(net.id, name="new")
        [created] = as_json.until(lambda line: new.id in line)
        event = json.loads(created)["event"]
        assert event["type"] == "PORT_EVENT_TYPE_CREATED" and int(event["revision"]) > 0
    finally:
        assert as_json.interrupt() == 0
    as_text = CliWatch(address, "--port", old.id, "--after", str(int(event["revision"]) - 1))
    try:
        update(portapi, S.Port(id=old.id, name="renamed"), "name")
        [line] = as_text.until(lambda line: old.id in line)
        revision, kind, port_id, *rest = line.split()
        assert (kind, port_id) == ("UPDATED", old.id) and int(revision) > int(event["revision"])
        assert "status=DOWN" in rest and "(unbound)" in rest
    finally:
        assert as_text.interrupt() == 0


# -------------------------------------------------------------------------- metrics, liveness


def test_metrics_count_events_watchers_reports_and_ports_by_status(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    host, agent = ovs_host(stack, project)
    net = network(portapi, project)
    watch = Watch(portapi.ports, network_ids=[net.id])
    port = portapi.create_port(net.id, host=host)
    report(portapi, host, agent, (port.id, UP, port.binding.generation, ""))
    events_of(watch.events_until(lambda got: len(got) >= 3))
    text = portapi.metrics()
    assert 'ml2_portapi_port_events_total{type="VIF_PLUGGED"}' in text
    [watchers] = re.findall(r"^ml2_portapi_watchers (\S+)$", text, re.M)
    assert float(watchers) >= 1  # this test's, and any other test's still closing
    assert "ml2_portapi_watch_events_delivered_total" in text
    assert 'ml2_portapi_device_reports_total{result="APPLIED",state="UP"}' in text
    assert 'ml2_portapi_ports{status="ACTIVE"}' in text
    assert "ml2_portapi_ports_stuck_in_build 0.0" in text
    watch.cancel()


def test_agent_death_takes_its_ports_down_and_its_next_report_brings_them_back(
    stack: Stack, project: str, tmp_path: Path
) -> None:
    """A mechmgr of its own, whose agents die 2 s after their last heartbeat."""
    mechmgr_name, portapi_name = f"mechmgr-dt-{project}", f"portapi-dt-{project}"
    mechmgr = stack.start(
        mechmgr_name,
        "services.mechmgr",
        {
            "MECHMGR_LISTEN": "127.0.0.1:0",
            "MECHMGR_METRICS_PORT": "0",
            "MECHMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'mechmgr.db'}",
            "MECHMGR_MECHANISM_DRIVERS": f"openvswitch={stack.processes['openvswitch'].address}",
            "MECHMGR_TYPEMGR_ADDRESS": stack.processes["typemgr"].address,
            "MECHMGR_AGENT_DOWN_TIME_SECONDS": "2",
            "MECHMGR_HEARTBEAT_INTERVAL_SECONDS": "1",
        },
    )
    own = stack.start_portapi(
        portapi_name,
        f"sqlite:///{tmp_path / 'portapi.db'}",
        mechmgr.address,
        PORTAPI_AGENT_CHECK_INTERVAL_SECONDS="0.2",
    )
    agents = agent_service_pb2_grpc.AgentServiceStub(stack.channel(mechmgr.address))
    try:
        host = f"dies-{project}"
        agent = agents.RegisterAgent(
            agent_service_pb2.RegisterAgentRequest(
                agent=agent_pb2.Agent(
                    agent_type="openvswitch",
                    host=host,
                    binary="ml2-openvswitch-agent",
                    capabilities=agent_pb2.HostCapabilities(
                        tunnel_types=["vxlan"], local_ip="192.0.2.40"
                    ),
                )
            ),
            timeout=TIMEOUT,
        ).agent
        net = own.create_network(project)
        port = own.create_port(net.id, host=host)
        watch = Watch(own.ports, port_ids=[port.id])
        [out] = report(own, host, agent.id, (port.id, UP, port.binding.generation, ""))
        assert out.port.status == S.PORT_STATUS_ACTIVE
        # No heartbeat: the agent dies 2 s after registering.
        got = events_of(
            watch.events_until(
                lambda got: any(e.type == R.PORT_EVENT_TYPE_VIF_UNPLUGGED for e in events_of(got))
            )
        )
        down = got[-1].port
        assert down.status == S.PORT_STATUS_DOWN
        assert down.status_message == f"agent {agent.id} on host {host} is dead"
        agents.HeartbeatAgent(
            agent_service_pb2.HeartbeatAgentRequest(agent_id=agent.id), timeout=TIMEOUT
        )
        [back] = report(own, host, agent.id, (port.id, UP, port.binding.generation, ""))
        assert back.port.status == S.PORT_STATUS_ACTIVE
        [plugged] = events_of(watch.events_until(lambda got: len(got) == 1))
        assert plugged.type == R.PORT_EVENT_TYPE_VIF_PLUGGED
        watch.cancel()
    finally:
        assert own.process.stop() == 0
        assert mechmgr.stop() == 0
        del stack.processes[portapi_name], stack.processes[mechmgr_name]
