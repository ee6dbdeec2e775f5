"""Changing the segments of an existing network through real processes: a new VLAN id
(UpdateNetwork), a segment added and removed (AddNetworkSegment, RemoveNetworkSegment), with
real typemgr, mechmgr, openvswitch and linuxbridge drivers, on SQLite files and on PostgreSQL;
and portapi killed between typemgr's answer and its own write, then started again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    binding_pb2,
    network_pb2,
    network_service_pb2,
    port_service_pb2,
    segment_pb2,
)
from ml2.v1 import segment_service_pb2 as ss
from ml2.v1 import segment_service_pb2_grpc as ss_grpc

from services import launcher, sql
from tests.integration.test_port_events import Watch, events_of
from tests.integration.test_portapi import (
    TIMEOUT,
    PortApi,
    Stack,
    failure,
    register_hosts,
    start_stack,
)

Spec = segment_pb2.SegmentSpec


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    yield from start_stack(request.param, tmp_path_factory.mktemp(request.param), request)


@pytest.fixture(scope="module")
def portapi(stack: Stack) -> PortApi:
    return stack.start_portapi("portapi", stack.urls["portapi"])


@pytest.fixture
def project() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


_next_tag = iter(range(2000, 4000, 7))


def tag() -> int:
    """A VLAN id outside the tenant range that no other test of the module uses."""
    return next(_next_tag)


def vlan(segmentation_id: int) -> Spec:
    return Spec(network_type="vlan", physical_network="physnet1", segmentation_id=segmentation_id)


def set_tag(api: PortApi, network_id: str, value: int | None, timeout: float = TIMEOUT) -> Any:
    request = network_service_pb2.UpdateNetworkRequest(
        network=network_pb2.Network(id=network_id),
        update_mask=field_mask_pb2.FieldMask(paths=["segmentation_id"]),
        segmentation_id=value,
    )
    return api.networks.UpdateNetwork(request, timeout=timeout).network


def add(api: PortApi, network_id: str, spec: Spec, request_id: str = "", **kw: Any) -> Any:
    request = network_service_pb2.AddNetworkSegmentRequest(
        network_id=network_id, segment=spec, request_id=request_id
    )
    return api.networks.AddNetworkSegment(request, timeout=kw.get("timeout", TIMEOUT))


def remove(api: PortApi, network_id: str, segment_id: str) -> Any:
    request = network_service_pb2.RemoveNetworkSegmentRequest(
        network_id=network_id, segment_id=segment_id
    )
    return api.networks.RemoveNetworkSegment(request, timeout=TIMEOUT).network


def get(api: PortApi, network_id: str) -> Any:
    request = network_service_pb2.GetNetworkRequest(network_id=network_id)
    return api.networks.GetNetwork(request, timeout=TIMEOUT).network


def create(api: PortApi, project: str, *specs: Spec, mtu: int = 0) -> Any:
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name="net", project_id=project, mtu=mtu),
        segments=list(specs),
    )
    return api.networks.CreateNetwork(request, timeout=TIMEOUT).network


def typemgr(stack: Stack) -> ss_grpc.SegmentServiceStub:
    return ss_grpc.SegmentServiceStub(stack.channel(stack.processes["typemgr"].address))


def typemgr_segments(stack: Stack, network_id: str) -> list[Any]:
    request = ss.ListNetworkSegmentsRequest(network_id=network_id)
    return list(typemgr(stack).ListNetworkSegments(request, timeout=TIMEOUT).segments)


def ids(network: Any) -> list[tuple[str, str, int]]:
    return [(s.network_type, s.physical_network, s.segmentation_id) for s in network.segments]


# ------------------------------------------------------------------------ segmentation id


def test_a_single_vlan_network_gets_a_new_id_and_the_old_one_is_free_again(
    portapi: PortApi, project: str
) -> None:
    old, new = tag(), tag()
    network = create(portapi, project, vlan(old))
    updated = set_tag(portapi, network.id, new)
    assert ids(updated) == [("vlan", "physnet1", new)]
    assert updated.segments[0].id == network.segments[0].id
    assert get(portapi, network.id) == updated
    assert ids(create(portapi, project, vlan(old))) == [("vlan", "physnet1", old)]
    taken = failure(lambda: create(portapi, project, vlan(new)))
    assert taken.code == grpc.StatusCode.ALREADY_EXISTS


def test_a_taken_id_is_refused_as_at_creation_and_nothing_changes(
    portapi: PortApi, project: str
) -> None:
    mine, theirs = tag(), tag()
    network = create(portapi, project, vlan(mine))
    create(portapi, project, vlan(theirs))
    found = failure(lambda: set_tag(portapi, network.id, theirs))
    assert found.code == grpc.StatusCode.ALREADY_EXISTS
    assert found.reason == "SEGMENTATION_ID_IN_USE"
    assert f"segmentation id {theirs} of vlan on physnet1 is in use" in found.message
    assert get(portapi, network.id) == network


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        (4095, "segmentation_id", "segmentation_id: VLAN id must be between 1 and 4094, got 4095"),
        (0, "segmentation_id", "segmentation_id: VLAN id must be between 1 and 4094, got 0"),
        (None, "segmentation_id", "segmentation_id: is required when update_mask names"),
    ],
)
def test_a_bad_id_is_refused_naming_segmentation_id_and_nothing_changes(
    portapi: PortApi, project: str, value: int | None, field: str, words: str
) -> None:
    network = create(portapi, project, vlan(tag()))
    found = failure(lambda: set_tag(portapi, network.id, value))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.message.startswith(words), found.message
    assert found.metadata["field"] == field
    assert get(portapi, network.id) == network


def test_a_network_with_two_segments_or_not_vlan_cannot_change_its_id(
    portapi: PortApi, project: str
) -> None:
    two = create(portapi, project, vlan(tag()), Spec(network_type="vxlan"))
    found = failure(lambda: set_tag(portapi, two.id, tag()))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION
    assert found.metadata["rule"] == "SINGLE_SEGMENT"
    assert "it has 2 static segments" in found.message
    tenant = create(portapi, project)
    found = failure(lambda: set_tag(portapi, tenant.id, 1500))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION
    assert found.metadata["rule"] == "VLAN_ONLY"
    assert "its segment is of type vxlan" in found.message
    assert get(portapi, two.id) == two and get(portapi, tenant.id) == tenant


def test_ports_bound_by_a_driver_that_cannot_follow_refuse_the_change(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    hosts = register_hosts(stack, project)
    network = create(portapi, project, vlan(tag()))
    unbound = portapi.create_port(network.id)
    failed = portapi.create_port(network.id, hosts["bare"])
    assert failed.binding.vif_type == "binding_failed" and unbound.binding.vif_type == "unbound"
    bridge = portapi.create_port(network.id, hosts["lb"])
    assert bridge.binding.vif_type == "bridge"
    found = failure(lambda: set_tag(portapi, network.id, tag()))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION
    assert found.metadata["rule"] == "PORT_VIF_TYPE"
    assert f"{bridge.id} (bridge)" in found.message
    assert get(portapi, network.id) == network
    # Without the bridge port, unbound, failed and ovs ports allow it; the ovs port's level
    # shows the new id.
    portapi.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id=bridge.id), timeout=TIMEOUT)
    ovs = portapi.create_port(network.id, hosts["ovs"])
    assert ovs.binding.vif_type == "ovs"
    watch = Watch(portapi.ports, port_ids=[ovs.id])
    new = tag()
    assert ids(set_tag(portapi, network.id, new)) == [("vlan", "physnet1", new)]
    level = portapi.get_port(ovs.id).binding.levels[0]
    assert (level.segment.id, level.segment.segmentation_id) == (network.segments[0].id, new)
    assert portapi.get_port(ovs.id).binding.state == binding_pb2.BINDING_STATE_BOUND
    # The agent watching the port learns the new tag from an event of the port.
    [event] = events_of(watch.events_until(lambda got: bool(events_of(got))))
    assert event.port.id == ovs.id
    assert event.port.binding.levels[0].segment.segmentation_id == new
    watch.call.cancel()


# ------------------------------------------------------------------------ add and remove


def test_an_added_segment_lowers_the_mtu_and_removing_it_raises_it_again(
    portapi: PortApi, project: str
) -> None:
    network = create(portapi, project, vlan(tag()))
    assert network.mtu == 1500
    reply = add(portapi, network.id, Spec(network_type="vxlan"), "req-1")
    assert [s.network_type for s in reply.network.segments] == ["vlan", "vxlan"]
    assert reply.segment == reply.network.segments[1] and reply.segment.segment_index == 1
    assert reply.network.mtu == 1450 and get(portapi, network.id) == reply.network
    # A retry with the same request id adds nothing more.
    again = add(portapi, network.id, Spec(network_type="vxlan"), "req-1")
    assert again.segment == reply.segment and again.network == reply.network
    after = remove(portapi, network.id, reply.segment.id)
    assert ids(after) == ids(network) and after.mtu == 1500


def test_a_requested_mtu_too_big_for_the_new_segment_refuses_it_as_neutron_does(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    network = create(portapi, project, vlan(tag()), mtu=1500)
    found = failure(lambda: add(portapi, network.id, Spec(network_type="vxlan")))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.reason == "MTU_TOO_BIG"
    assert found.message.startswith("segment: Requested MTU is too big, maximum is 1450")
    assert get(portapi, network.id) == network
    assert len(typemgr_segments(stack, network.id)) == 1
    # A requested MTU that fits is kept, whatever the segments allow.
    fits = create(portapi, project, vlan(tag()), mtu=1400)
    assert add(portapi, fits.id, Spec(network_type="vxlan")).network.mtu == 1400


def test_an_update_to_mtu_0_makes_the_mtu_follow_the_segments_again(
    portapi: PortApi, project: str
) -> None:
    network = create(portapi, project, vlan(tag()), mtu=1400)
    assert add(portapi, network.id, Spec(network_type="vxlan")).network.mtu == 1400
    request = network_service_pb2.UpdateNetworkRequest(
        network=network_pb2.Network(id=network.id, mtu=0),
        update_mask=field_mask_pb2.FieldMask(paths=["mtu"]),
    )
    assert portapi.networks.UpdateNetwork(request, timeout=TIMEOUT).network.mtu == 1450
    vxlan = get(portapi, network.id).segments[1]
    assert remove(portapi, network.id, vxlan.id).mtu == 1500


def test_bad_segments_are_refused_naming_the_field_and_nothing_changes(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    taken = tag()
    create(portapi, project, vlan(taken))
    network = create(portapi, project, vlan(tag()))
    found = failure(lambda: add(portapi, network.id, vlan(taken)))
    assert found.code == grpc.StatusCode.ALREADY_EXISTS
    found = failure(lambda: add(portapi, network.id, vlan(5000)))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "segment.segmentation_id"
    found = failure(lambda: add(portapi, network.id, Spec(network_type="token-ring")))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "segment.network_type"
    request = network_service_pb2.AddNetworkSegmentRequest(network_id=network.id)
    found = failure(lambda: portapi.networks.AddNetworkSegment(request, timeout=TIMEOUT))
    assert (found.code, found.metadata["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "segment")
    assert get(portapi, network.id) == network
    assert len(typemgr_segments(stack, network.id)) == 1
    found = failure(lambda: add(portapi, str(uuid.uuid4()), Spec(network_type="vxlan")))
    assert found.code == grpc.StatusCode.NOT_FOUND


def test_a_segment_a_port_is_bound_through_or_the_last_one_cannot_be_removed(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    hosts = register_hosts(stack, project)
    network = create(portapi, project, vlan(tag()), Spec(network_type="vxlan"))
    first, second = network.segments
    port = portapi.create_port(network.id, hosts["ovs"])
    assert port.binding.levels[0].segment.id == first.id
    found = failure(lambda: remove(portapi, network.id, first.id))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION
    assert found.reason == "SEGMENT_IN_USE"
    assert port.id in found.message and found.metadata["field"] == "segment_id"
    assert get(portapi, network.id) == network
    after = remove(portapi, network.id, second.id)
    assert [s.id for s in after.segments] == [first.id]
    assert [s.id for s in typemgr_segments(stack, network.id)] == [first.id]
    portapi.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id=port.id), timeout=TIMEOUT)
    found = failure(lambda: remove(portapi, network.id, first.id))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION
    assert found.reason == "LAST_STATIC_SEGMENT"
    found = failure(lambda: remove(portapi, network.id, str(uuid.uuid4())))
    assert (found.code, found.reason) == (grpc.StatusCode.NOT_FOUND, "SEGMENT_NOT_FOUND")
    assert get(portapi, network.id) == after


# ---------------------------------------------------------------- killed between the writes


def pending_since(url: str, network_id: str) -> Any:
    engine = sql.make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT segments_pending_since FROM networks WHERE id = :id"),
                {"id": network_id},
            ).scalar_one()
    finally:
        engine.dispose()


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


def signal_process(process: launcher.ServiceProcess, sig: signal.Signals) -> None:
    os.kill(process.process.pid, sig)


def _tcp_sockets() -> list[tuple[int, int, int, int]]:
    """Every TCP socket of this machine: (inode, local port, remote port, bytes received and
    not yet read), from /proc/net/tcp and tcp6."""
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name, encoding="ascii") as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                local, remote, queues = fields[1], fields[2], fields[4]
                found.append(
                    (
                        int(fields[9]),
                        int(local.rsplit(":", 1)[1], 16),
                        int(remote.rsplit(":", 1)[1], 16),
                        int(queues.split(":")[1], 16),
                    )
                )
    return found


def unread_from(client_pid: int, server_port: int) -> bool:
    """Whether bytes the process ``client_pid`` sent to ``server_port`` wait unread at the
    server (a stopped server's socket holds what was sent to it)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{client_pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{client_pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    sockets = _tcp_sockets()
    client_ports = {lp for inode, lp, rp, _ in sockets if inode in inodes and rp == server_port}
    return any(lp == server_port and rp in client_ports and unread for _, lp, rp, unread in sockets)


SLOW = {"PORTAPI_TYPEMGR_TIMEOUT_SECONDS": "60", "PORTAPI_RECONCILE_INTERVAL_SECONDS": "600"}
FAST = {
    "PORTAPI_TYPEMGR_TIMEOUT_SECONDS": "2",
    "PORTAPI_MECHMGR_TIMEOUT_SECONDS": "2",
    "PORTAPI_BIND_MAX_TRIES": "2",
    "PORTAPI_RECONCILE_GRACE_SECONDS": "7",
    "PORTAPI_RECONCILE_INTERVAL_SECONDS": "0.5",
}
REPAIR_WITHIN = 7 + 0.5 + 2 + 30.0
"""grace + interval + one typemgr call, and time for a loaded machine to start portapi."""


def killed_after_typemgr_answered(
    stack: Stack,
    name: str,
    make: Callable[[PortApi], str],
    change: Callable[[PortApi, str], Any],
    typemgr_done: Callable[[str], bool],
) -> tuple[PortApi, str]:
    """Makes a network with ``make`` on a portapi of its own, stalls typemgr and sends
    ``change``; once portapi marked it pending, stops portapi, lets typemgr make the change,
    kills portapi and starts another on the same database with a short grace period. Returns
    the new portapi and the network."""
    url = stack.urls["portapi_b"]
    first = stack.start_portapi(f"{name}-1", url, **SLOW)
    network_id = make(first)
    typemgr_process = stack.processes["typemgr"]

    def run() -> None:
        with contextlib.suppress(grpc.RpcError):
            change(first, network_id)

    signal_process(typemgr_process, signal.SIGSTOP)
    try:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        wait_for("change marked pending", lambda: pending_since(url, network_id) is not None, 15)
        # portapi sends the change to typemgr after it marked it pending: stop it only once
        # the request is in typemgr's socket, else typemgr never gets it.
        wait_for(
            "the change sent to typemgr",
            lambda: unread_from(first.process.process.pid, typemgr_process.grpc_port),
            15,
        )
        signal_process(first.process, signal.SIGSTOP)
    finally:
        signal_process(typemgr_process, signal.SIGCONT)
    wait_for("typemgr made the change", lambda: typemgr_done(network_id), 15)
    first.process.process.kill()
    first.process.process.wait()
    del stack.processes[f"{name}-1"]  # killed on purpose: its exit code is not checked
    thread.join(TIMEOUT)
    return stack.start_portapi(f"{name}-2", url, **FAST), network_id


def test_a_new_id_typemgr_gave_before_portapi_was_killed_is_cached_by_the_reconciler(
    stack: Stack, project: str
) -> None:
    old, new = tag(), tag()
    again, network_id = killed_after_typemgr_answered(
        stack,
        "portapi-tag",
        lambda api: create(api, project, vlan(old)).id,
        lambda api, network_id: set_tag(api, network_id, new, timeout=120),
        lambda network_id: (
            [s.segmentation_id for s in typemgr_segments(stack, network_id)] == [new]
        ),
    )
    wait_for(
        "the reconciler cached the new id",
        lambda: ids(get(again, network_id)) == [("vlan", "physnet1", new)],
        REPAIR_WITHIN,
    )
    assert pending_since(stack.urls["portapi_b"], network_id) is None
    assert ids(create(again, project, vlan(old))) == [("vlan", "physnet1", old)]


def test_a_segment_typemgr_added_before_portapi_was_killed_is_the_networks_not_leaked(
    stack: Stack, project: str
) -> None:
    again, network_id = killed_after_typemgr_answered(
        stack,
        "portapi-add",
        lambda api: create(api, project, vlan(tag())).id,
        lambda api, network_id: add(
            api, network_id, Spec(network_type="vxlan"), "r-1", timeout=120
        ),
        lambda network_id: len(typemgr_segments(stack, network_id)) == 2,
    )
    wait_for(
        "the reconciler cached the added segment",
        lambda: len(get(again, network_id).segments) == 2,
        REPAIR_WITHIN,
    )
    network = get(again, network_id)
    assert network.mtu == 1450
    # The caller's retry returns the segment the killed request added; nothing more is added.
    retry = add(again, network_id, Spec(network_type="vxlan"), "r-1")
    assert retry.segment == network.segments[1] and retry.network == network
    assert len(typemgr_segments(stack, network_id)) == 2


# --------------------------------------------------------------------------- concurrency


@pytest.fixture(scope="module")
def replicas(stack: Stack, portapi: PortApi) -> list[PortApi]:
    """Three portapi processes on one database (the module's and two more)."""
    url = stack.urls["portapi"]
    return [portapi, *(stack.start_portapi(f"portapi-r{i}", url) for i in (1, 2))]


def test_concurrent_updates_to_one_id_through_several_processes_give_it_to_one_network(
    stack: Stack, replicas: list[PortApi], project: str
) -> None:
    old = [tag() for _ in range(9)]
    target = tag()
    networks = [create(replicas[0], project, vlan(t)) for t in old]
    barrier = threading.Barrier(len(networks))
    outcomes: dict[str, str] = {}

    def attempt(index: int) -> None:
        api = replicas[index % len(replicas)]
        barrier.wait()
        try:
            set_tag(api, networks[index].id, target)
            outcomes[networks[index].id] = "won"
        except grpc.RpcError as err:
            outcomes[networks[index].id] = err.code().name

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(networks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * TIMEOUT)
    winners = [n for n in networks if outcomes[n.id] == "won"]
    assert len(winners) == 1, outcomes
    assert set(outcomes.values()) == {"won", "ALREADY_EXISTS"}, outcomes
    [winner] = winners
    for network, first in zip(networks, old, strict=True):
        expected = target if network.id == winner.id else first
        assert ids(get(replicas[1], network.id)) == [("vlan", "physnet1", expected)]
        assert [s.segmentation_id for s in typemgr_segments(stack, network.id)] == [expected]
    # Only the winner's old id was given back.
    freed = old[networks.index(winner)]
    assert ids(create(replicas[2], project, vlan(freed))) == [("vlan", "physnet1", freed)]
    for first in old:
        if first != freed:
            found = failure(lambda first=first: create(replicas[2], project, vlan(first)))
            assert found.code == grpc.StatusCode.ALREADY_EXISTS
