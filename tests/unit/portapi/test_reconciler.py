"""The reconciler over a SQLite file with fakes of typemgr and mechmgr behind real gRPC: what it
takes over, what it leaves to requests still in flight, and that two reconcilers on one database
take each item once."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from ml2_driver_sdk.runtime import errors

from services import sql
from services.portapi import resources as r
from services.portapi.db import codec, pending
from services.portapi.db import repository as repo
from services.portapi.reconciler import Reconciler

from .conftest import Stack
from .test_services import create_network

LATER = codec.now() + timedelta(days=1)


def reconciler(stack: Stack, grace: float, ahead: float = 0.0) -> Reconciler:
    """A reconciler with a grace period, whose clock is ``ahead`` seconds in the future: work
    pending now looks that old to it."""
    return Reconciler(
        stack.factory,
        stack.app.binder,
        stack.app.networks,
        interval=60.0,
        grace=grace,
        clock=lambda: codec.now() + timedelta(seconds=ahead),
    )


def left_pending(stack: Stack, network_id: str, count: int) -> list[str]:
    """Inserts ports with a host whose binding no request goes on with, as a killed portapi
    leaves them."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for index, port_id in enumerate(ids):
        spec = r.PortSpec(
            network_id=network_id,
            project_id="proj",
            inputs=r.BindingInputs(host_id=f"ovs-{index}"),
        )
        mac = f"fa:16:3e:00:00:{index:02x}"
        repo.run_write(
            stack.factory,
            lambda s, p=port_id, sp=spec, m=mac: repo.insert_port(s, p, sp, m, None),
        )
    return ids


def state(stack: Stack, port_id: str) -> str:
    with sql.read_session(stack.factory) as session:
        port = repo.get_port(session, port_id)
    assert port is not None
    return port.binding.result.state


def test_work_younger_than_the_grace_period_is_left_to_its_request(stack: Stack) -> None:
    network = create_network(stack)
    [port] = left_pending(stack, network.id, 1)
    assert reconciler(stack, grace=60.0).run_once()["binding"] == 0
    assert state(stack, port) == "UNBOUND" and stack.peers.mechmgr.requests == []


def test_two_reconcilers_bind_each_abandoned_port_once(stack: Stack) -> None:
    network = create_network(stack)
    ports = left_pending(stack, network.id, 20)
    first, second = reconciler(stack, 60.0, ahead=120.0), reconciler(stack, 60.0, ahead=120.0)
    taken: list[int] = []
    threads = [
        threading.Thread(target=lambda x=x: taken.append(x.run_once()["binding"]))
        for x in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(taken) == 20
    assert {state(stack, p) for p in ports} == {"BOUND"}
    assert sorted(q.port_id for q in stack.peers.mechmgr.requests) == sorted(ports)


def test_a_network_left_creating_is_rolled_back_and_its_ids_released(stack: Stack) -> None:
    spec = r.NetworkSpec("crashed", "proj", False, True, ())
    network_id = str(uuid.uuid4())
    repo.run_write(stack.factory, lambda s: repo.insert_network(s, network_id, spec, None))
    done = reconciler(stack, 60.0, ahead=120.0).run_once()
    assert done["network_create"] == 1
    assert f"release {network_id}" in stack.peers.segments.calls
    with sql.read_session(stack.factory) as session:
        assert repo.get_network(session, network_id) is None
        assert pending.due_releases(session, LATER, 10) == []


def test_a_release_typemgr_misses_is_kept_and_sent_again(stack: Stack) -> None:
    network = create_network(stack)
    stack.peers.segments.fail_with = errors.Unavailable("typemgr restarting")
    repo.run_write(
        stack.factory, lambda s: repo.set_network_status(s, network.id, r.NETWORK_DELETING)
    )
    assert reconciler(stack, 60.0, ahead=120.0).run_once()["network_delete"] == 1
    with sql.read_session(stack.factory) as session:
        assert repo.get_network(session, network.id) is None
        assert pending.due_releases(session, LATER, 10) == [network.id]
    stack.peers.segments.fail_with = None
    # The failed attempt claimed the release for one grace period; a pass after it sends it.
    assert reconciler(stack, 60.0, ahead=170.0).run_once()["network_release"] == 0
    assert reconciler(stack, 60.0, ahead=190.0).run_once()["network_release"] == 1
    assert network.id not in stack.peers.segments.networks
    with sql.read_session(stack.factory) as session:
        assert pending.due_releases(session, LATER, 10) == []
