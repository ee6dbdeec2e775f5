"""A change of a network's segments left pending (portapi stopped between typemgr's answer and
its own write): the reconciler caches typemgr's segments, once, and the bindings in flight on
the network are restarted. SQLite file, fake typemgr behind real gRPC."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import grpc
from ml2.v1 import network_service_pb2, segment_pb2

from services import sql
from services.portapi import resources as r
from services.portapi.db import codec
from services.portapi.db import repository as repo
from services.portapi.db import segment_changes as rows

from .conftest import Stack
from .rpcerrors import failure
from .test_reconciler import left_pending, reconciler
from .test_services import create_network

VLAN = segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1", segmentation_id=7)


def network(stack: Stack, network_id: str) -> r.Network:
    with sql.read_session(stack.factory) as session:
        found = repo.get_network(session, network_id)
    assert found is not None
    return found


def generation(stack: Stack, port_id: str) -> int:
    with sql.read_session(stack.factory) as session:
        port = repo.get_port(session, port_id)
    assert port is not None
    return port.binding.generation


def test_a_pending_change_is_read_back_from_typemgr_by_exactly_one_reconciler(
    stack: Stack,
) -> None:
    created = create_network(stack, VLAN)
    # typemgr changed the id; portapi stopped before caching it.
    stack.peers.segments.networks[created.id][0].segmentation_id = 9
    repo.run_write(
        stack.factory,
        lambda s: rows.mark_pending(
            s, created.id, network(stack, created.id).segments, codec.now()
        ),
    )
    assert network(stack, created.id).segments_pending
    assert reconciler(stack, grace=60.0).run_once()["network_segments"] == 0  # still young
    first, second = reconciler(stack, 60.0, ahead=120.0), reconciler(stack, 60.0, ahead=120.0)
    taken: list[int] = []
    threads = [
        threading.Thread(target=lambda x=x: taken.append(x.run_once()["network_segments"]))
        for x in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == [0, 1]
    after = network(stack, created.id)
    assert [s.segmentation_id for s in after.segments] == [9]
    assert not after.segments_pending and after.mtu == 1500


def test_bindings_in_flight_on_the_network_are_restarted_and_others_are_not(
    stack: Stack,
) -> None:
    changed, other = create_network(stack, VLAN), create_network(stack)
    [mine] = left_pending(stack, changed.id, 1)
    [theirs] = left_pending(stack, other.id, 1)
    unbound = str(uuid.uuid4())
    repo.run_write(
        stack.factory,
        lambda s: repo.insert_port(
            s,
            unbound,
            r.PortSpec(network_id=changed.id, project_id="proj"),
            "fa:16:3e:aa:00:01",
            None,
        ),
    )
    before = {p: generation(stack, p) for p in (mine, theirs, unbound)}
    repo.run_write(stack.factory, lambda s: rows.restart_in_flight(s, changed.id))
    assert generation(stack, mine) == before[mine] + 1
    assert generation(stack, theirs) == before[theirs]
    assert generation(stack, unbound) == before[unbound]


def test_a_change_while_another_waits_for_typemgr_is_aborted_and_changes_nothing(
    stack: Stack,
) -> None:
    created = create_network(stack, VLAN, segment_pb2.SegmentSpec(network_type="vxlan"))
    repo.run_write(
        stack.factory,
        lambda s: rows.mark_pending(
            s, created.id, network(stack, created.id).segments, codec.now()
        ),
    )
    calls = list(stack.peers.segments.calls)
    requests: list[Callable[[], object]] = [
        lambda: stack.networks.AddNetworkSegment(
            network_service_pb2.AddNetworkSegmentRequest(
                network_id=created.id, segment=segment_pb2.SegmentSpec(network_type="vxlan")
            )
        ),
        lambda: stack.networks.RemoveNetworkSegment(
            network_service_pb2.RemoveNetworkSegmentRequest(
                network_id=created.id, segment_id=created.segments[1].id
            )
        ),
    ]
    for call in requests:
        found = failure(call)
        assert found.code == grpc.StatusCode.ABORTED
        assert found.reason == "SEGMENT_CHANGE_IN_PROGRESS"
    assert stack.peers.segments.calls == calls  # typemgr was not asked
    assert len(network(stack, created.id).segments) == 2
