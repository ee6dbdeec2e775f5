"""A new segmentation id (UpdateNetwork) against bindings committed while it is being made: a
port bound meanwhile by a driver that cannot follow it is never retagged behind the driver's
back. Real database (SQLite file and PostgreSQL), a fake typemgr whose UpdateSegmentationId
runs a hook, and a fake resolver in place of mechmgr."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from ml2_contract import values, vocabulary
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from services import migrations, sql
from services.portapi import binding, metrics
from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi.db import bindings, codec
from services.portapi.db import repository as repo
from services.portapi.db import segment_changes as rows
from services.portapi.ports import PortManager
from services.portapi.segment_changes import SegmentChanges

SEGMENT = values.Segment("seg-1", "vlan", "physnet1", 100, "net-1", 1500)
WAIT = 20.0
"""Seconds a test waits at most for another thread to reach a point."""


class Resolver:
    """Binds ``lb-*`` hosts as linuxbridge (vif_type ``bridge``, which cannot follow a new
    segmentation id) and others as ``ovs``, on the first segment offered."""

    def __init__(self) -> None:
        self.offered: list[tuple[str, int]] = []

    def resolve(self, ticket: r.BindTicket) -> values.BindingResult:
        segment = ticket.segments[0]
        self.offered.append((ticket.port_id, segment.segmentation_id))
        bridge = ticket.inputs.host_id.startswith("lb-")
        return values.BindingResult(
            state=vocabulary.BOUND,
            vif_type="bridge" if bridge else "ovs",
            levels=(values.BindingLevel(0, "linuxbridge" if bridge else "openvswitch", segment),),
        )


class Typemgr:
    """UpdateSegmentationId of typemgr: runs ``hook`` (the window between portapi's check and
    its second write), then answers with the segment retagged."""

    def __init__(self) -> None:
        self.hook: Callable[[], None] | None = None

    def update_segmentation_id(self, segment_id: str, segmentation_id: int) -> values.Segment:
        if self.hook is not None:
            self.hook()
        return replace(SEGMENT, segmentation_id=segmentation_id)


@dataclass
class Env:
    factory: sessionmaker[Session]
    resolver: Resolver
    typemgr: Typemgr
    binder: binding.Binder
    ports: PortManager
    changes: SegmentChanges


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    migrations.upgrade(database_url, "portapi")
    engine = sql.make_engine(database_url)
    factory = sql.session_factory(engine)
    with sql.write_session(factory) as session:
        repo.insert_network(session, "net-1", r.NetworkSpec("n", "proj", False, True), None)
        repo.store_segments(session, "net-1", [SEGMENT], 1500)
    resolver, typemgr = Resolver(), Typemgr()
    binder = binding.Binder(factory, resolver, 3)
    changes = SegmentChanges(factory, typemgr)  # type: ignore[arg-type]
    yield Env(factory, resolver, typemgr, binder, PortManager(factory, binder), changes)
    engine.dispose()


def new_port(env: Env) -> r.Port:
    return env.ports.create(r.PortSpec("net-1"), None)


def levels(env: Env, port_id: str) -> list[int]:
    port = env.ports.get(port_id)
    return [level.segment.segmentation_id for level in port.binding.result.levels]


class Background:
    """Runs ``work`` on a thread, keeping its result or exception."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._work = work
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._work()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def join(self) -> Any:
        self._thread.join(WAIT)
        assert self.done.is_set(), "the background work did not end"
        if self.error is not None:
            raise self.error
        return self.result


def test_a_port_bound_by_linuxbridge_during_a_retag_waits_and_binds_on_the_new_tag(
    env: Env,
) -> None:
    bridge, ovs = new_port(env), new_port(env)
    waiting = threading.Event()
    wait = env.binder.await_segment_change

    def await_change(ticket: r.BindTicket, vif_type: str, keep_waiting: bool) -> None:
        waiting.set()
        wait(ticket, vif_type, keep_waiting)

    env.binder.await_segment_change = await_change  # type: ignore[method-assign]
    binds: list[Background] = []

    def bind_bridge() -> r.Port:
        try:
            return env.ports.update(bridge.id, r.PortUpdate(host_id="lb-1"))
        finally:
            waiting.set()

    def window() -> None:
        # Between portapi's check of the ports and its second write: an ovs port and a
        # linuxbridge port are bound.
        env.ports.update(ovs.id, r.PortUpdate(host_id="ovs-1"))
        binds.append(Background(bind_bridge))
        # The linuxbridge binding waits (without the guard, it commits on tag 100).
        assert waiting.wait(WAIT)
        assert levels(env, bridge.id) == []

    env.typemgr.hook = window
    before = metrics.SEGMENT_CHANGE_WAITS.labels("done")._value.get()

    env.changes.change_segmentation_id("net-1", 200)

    bound = binds[0].join()
    assert (bound.binding.result.state, bound.binding.result.vif_type) == ("BOUND", "bridge")
    # Resolved once on the old tag (not committed), then again on the new one.
    assert [tag for port, tag in env.resolver.offered if port == bridge.id] == [100, 200]
    assert levels(env, bridge.id) == [200]
    # The ovs port, bound on tag 100 in the window, follows the change: its level is retagged.
    assert levels(env, ovs.id) == [200]
    assert metrics.SEGMENT_CHANGE_WAITS.labels("done")._value.get() == before + 1
    with sql.read_session(env.factory) as session:
        assert rows.pending_change(session, "net-1") == ""


def test_a_binding_that_cannot_follow_is_left_pending_when_the_retag_outlasts_its_wait(
    env: Env,
) -> None:
    port = new_port(env)
    env.binder = binding.Binder(env.factory, env.resolver, 3, segment_change_wait=0.05)
    env.ports = PortManager(env.factory, env.binder)
    seen: list[BaseException] = []

    def window() -> None:
        with pytest.raises(portapi_errors.BindingWaitsForSegmentChange) as info:
            env.ports.update(port.id, r.PortUpdate(host_id="lb-1"))
        seen.append(info.value)

    env.typemgr.hook = window
    env.changes.change_segmentation_id("net-1", 200)

    [refused] = seen
    assert refused.code.name == "ABORTED" and refused.reason == "SEGMENT_CHANGE_IN_PROGRESS"
    assert "segmentation id" in refused.message and "bridge" in refused.message
    assert refused.metadata["port_id"] == port.id
    # Nothing committed: the binding is pending (restarted by the retag), as the reconciler
    # finds it, and binds on the new tag.
    with sql.read_session(env.factory) as session:
        state = bindings.binding_state(session, port.id)
    assert state is not None
    assert state[0] == vocabulary.UNBOUND and state[1].inputs.host_id == "lb-1"
    assert state[1].segments[0].segmentation_id == 200
    port_after, committed = env.binder.bind_committed(state[1], wait=False)
    assert committed and port_after is not None and levels(env, port.id) == [200]


def test_the_reconciler_does_not_wait_for_a_retag(env: Env) -> None:
    port = new_port(env)
    with sql.write_session(env.factory) as session:
        inputs = r.BindingInputs(host_id="lb-1")
        generation = bindings.write_inputs(session, port.id, inputs, had_levels=False)
        rows.mark_pending(session, "net-1", (SEGMENT,), codec.now(), rows.SEGMENTATION_ID)
    ticket = r.BindTicket(port.id, "net-1", generation, inputs, (SEGMENT,))
    with pytest.raises(portapi_errors.BindingWaitsForSegmentChange):
        env.binder.bind_committed(ticket, wait=False)
    # Other changes (a segment added or removed) let it bind.
    with sql.write_session(env.factory) as session:
        rows.mark_pending(session, "net-1", (SEGMENT,), codec.now(), rows.ADD)
    bound, committed = env.binder.bind_committed(ticket, wait=False)
    assert committed and bound is not None and bound.binding.result.vif_type == "bridge"


def wait_for_a_lock_wait_or(done: threading.Event, url: str) -> None:
    """Returns once a session of the test's PostgreSQL database waits for a lock, or ``done``
    is set; fails after WAIT seconds."""
    engine = sql.make_engine(url)
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    until = time.monotonic() + WAIT
    try:
        with engine.connect() as conn:
            while not done.is_set():
                if conn.execute(query).scalar_one():
                    return
                conn.rollback()
                if time.monotonic() > until:
                    pytest.fail("nothing waited for a lock and nothing finished")
    finally:
        engine.dispose()


def test_a_retag_checked_while_a_linuxbridge_binding_commits_sees_it_and_is_refused(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the retag's check runs while a linuxbridge result is written but not yet
    committed. Without a lock between them the check would miss it and the retag rewrite it."""
    migrations.upgrade(postgres_url, "portapi")
    engine = sql.make_engine(postgres_url)
    factory = sql.session_factory(engine)
    with sql.write_session(factory) as session:
        repo.insert_network(session, "net-1", r.NetworkSpec("n", "proj", False, True), None)
        repo.store_segments(session, "net-1", [SEGMENT], 1500)
    typemgr = Typemgr()
    ports = PortManager(factory, binding.Binder(factory, Resolver(), 3))
    changes = SegmentChanges(factory, typemgr)  # type: ignore[arg-type]
    port = ports.create(r.PortSpec("net-1"), None)
    written, release = threading.Event(), threading.Event()
    commit = bindings.commit_result

    def paused_commit(session: Session, *args: Any) -> bool:
        done = commit(session, *args)
        written.set()
        assert release.wait(WAIT)
        return done

    monkeypatch.setattr(bindings, "commit_result", paused_commit)
    bind = Background(lambda: ports.update(port.id, r.PortUpdate(host_id="lb-1")))
    assert written.wait(WAIT)
    retag = Background(lambda: changes.change_segmentation_id("net-1", 200))
    # The retag waits for the binding's transaction (unguarded, it checks the ports without
    # waiting, and waits only when it restarts the bindings in flight).
    wait_for_a_lock_wait_or(retag.done, postgres_url)
    release.set()
    bound = bind.join()
    assert bound.binding.result.vif_type == "bridge"
    with pytest.raises(portapi_errors.SegmentationIdNotUpdatable) as info:
        retag.join()
    assert info.value.metadata["rule"] == "PORT_VIF_TYPE"
    assert info.value.metadata["port_ids"] == port.id
    assert [
        level.segment.segmentation_id for level in ports.get(port.id).binding.result.levels
    ] == [100]
    with sql.read_session(factory) as session:
        network = repo.get_network(session, "net-1")
    assert network is not None and not network.segments_pending
    assert [s.segmentation_id for s in network.segments] == [100]
    engine.dispose()
