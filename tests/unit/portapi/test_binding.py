"""The bind flow against a real database (SQLite file and PostgreSQL), with a fake resolver in
place of mechmgr that can change the port while it is "resolving"."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
import sqlalchemy
from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import errors
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services import migrations, sql
from services.portapi import binding, metrics
from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi.db import bindings, codec, hold_outbox, models
from services.portapi.db import repository as repo
from services.portapi.hold_retrier import HoldSyncRetrier
from services.portapi.ports import PortManager

SEGMENT = values.Segment("seg-1", "vlan", "physnet1", 100, "net-1", 1500)


class FakeResolver:
    """Binds every host as ``ovs`` with the host in vif_details; ``hook`` runs first."""

    def __init__(self) -> None:
        self.calls: list[r.BindTicket] = []
        self.hook: Callable[[r.BindTicket], None] | None = None
        self.result: Callable[[r.BindTicket], values.BindingResult] | None = None

    def resolve(self, ticket: r.BindTicket) -> values.BindingResult:
        self.calls.append(ticket)
        if self.hook is not None:
            self.hook(ticket)
        if self.result is not None:
            return self.result(ticket)
        return values.BindingResult(
            state=vocabulary.BOUND,
            vif_type="ovs",
            vif_details={"host": ticket.inputs.host_id, "generation": ticket.generation},
            levels=(values.BindingLevel(0, "fake", ticket.segments[0]),),
        )


@dataclass
class Env:
    factory: sessionmaker[Session]
    resolver: FakeResolver
    ports: PortManager


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    migrations.upgrade(database_url, "portapi")
    engine = sql.make_engine(database_url)
    factory = sql.session_factory(engine)
    with sql.write_session(factory) as session:
        repo.insert_network(session, "net-1", r.NetworkSpec("n", "proj", False, True), None)
        repo.store_segments(session, "net-1", [SEGMENT], 1500)
    resolver = FakeResolver()
    yield Env(factory, resolver, PortManager(factory, binding.Binder(factory, resolver, 3)))
    engine.dispose()


def new_port(env: Env, host: str = "") -> r.Port:
    return env.ports.create(r.PortSpec("net-1", inputs=r.BindingInputs(host_id=host)), None)


def record_inputs(env: Env, port_id: str, host: str) -> int:
    """What a concurrent UpdatePort does before it binds: new inputs, new generation."""
    with sql.write_session(env.factory) as session:
        inputs = r.BindingInputs(host_id=host)
        return bindings.write_inputs(session, port_id, inputs, had_levels=True)


def level_count(env: Env, port_id: str) -> int:
    with sql.read_session(env.factory) as session:
        stmt = select(func.count()).where(models.port_binding_levels.c.port_id == port_id)
        return int(session.execute(stmt).scalar_one())


def test_a_port_created_with_a_host_is_bound_with_levels(env: Env) -> None:
    port = new_port(env, "compute-1")
    result = port.binding.result
    assert result.state == vocabulary.BOUND and result.vif_type == "ovs"
    assert result.vif_details == {"host": "compute-1", "generation": 1}
    assert [(lv.level, lv.driver, lv.segment) for lv in result.levels] == [(0, "fake", SEGMENT)]
    assert env.resolver.calls[0].segments == (SEGMENT,)


def test_a_port_without_host_is_unbound_and_not_resolved(env: Env) -> None:
    port = new_port(env)
    assert port.binding.result.state == vocabulary.UNBOUND
    assert port.binding.result.vif_type == "unbound"
    assert env.resolver.calls == []


def test_inputs_changed_mid_flight_are_bound_again_and_the_stale_result_is_dropped(
    env: Env,
) -> None:
    port = new_port(env)
    retries = metrics.CAS_RETRIES._value.get()

    def move_once(ticket: r.BindTicket) -> None:
        if ticket.inputs.host_id == "compute-a":
            record_inputs(env, port.id, "compute-b")

    env.resolver.hook = move_once
    updated = env.ports.update(port.id, r.PortUpdate(host_id="compute-a"))

    hosts = [t.inputs.host_id for t in env.resolver.calls]
    assert hosts == ["compute-a", "compute-b"]
    assert updated.binding.inputs.host_id == "compute-b"
    assert updated.binding.result.vif_details["host"] == "compute-b"
    assert updated.binding.result.vif_details["generation"] == updated.binding.generation
    assert metrics.CAS_RETRIES._value.get() == retries + 1
    assert level_count(env, port.id) == 1


def test_a_result_committed_by_the_concurrent_request_is_kept(env: Env) -> None:
    port = new_port(env)

    def other_request_binds(ticket: r.BindTicket) -> None:
        if ticket.inputs.host_id == "compute-a":
            env.resolver.hook = None
            env.ports.update(port.id, r.PortUpdate(host_id="compute-b"))

    env.resolver.hook = other_request_binds
    updated = env.ports.update(port.id, r.PortUpdate(host_id="compute-a"))
    assert [t.inputs.host_id for t in env.resolver.calls] == ["compute-a", "compute-b"]
    assert updated.binding.result.vif_details["host"] == "compute-b"
    assert level_count(env, port.id) == 1


def test_inputs_changing_on_every_try_abort_after_max_tries(env: Env) -> None:
    port = new_port(env)
    moves = iter(range(100))
    env.resolver.hook = lambda ticket: record_inputs(env, port.id, f"compute-{next(moves)}")
    with pytest.raises(portapi_errors.BindingConflict) as info:
        env.ports.update(port.id, r.PortUpdate(host_id="compute-a"))
    assert info.value.code.name == "ABORTED" and info.value.metadata["tries"] == "3"
    assert len(env.resolver.calls) == 3
    stored = env.ports.get(port.id)
    assert stored.binding.result.state == vocabulary.UNBOUND  # never a result of stale inputs
    assert level_count(env, port.id) == 0
    env.resolver.hook = None
    rebound = env.ports.update(port.id, r.PortUpdate(name="again"))
    assert rebound.binding.result.vif_details["host"] == stored.binding.inputs.host_id


def test_unbinding_mid_flight_leaves_the_port_unbound(env: Env) -> None:
    port = new_port(env)
    env.resolver.hook = lambda ticket: record_inputs(env, port.id, "")
    updated = env.ports.update(port.id, r.PortUpdate(host_id="compute-a"))
    assert updated.binding.inputs.host_id == ""
    assert updated.binding.result.state == vocabulary.UNBOUND and len(env.resolver.calls) == 1


def test_deleting_the_port_mid_flight_is_not_found_afterwards(env: Env) -> None:
    port = new_port(env)
    env.resolver.hook = lambda ticket: env.ports.delete(port.id)
    with pytest.raises(portapi_errors.PortNotFound):
        env.ports.update(port.id, r.PortUpdate(host_id="compute-a"))
    assert level_count(env, port.id) == 0


def test_mechmgr_unavailable_fails_the_binding_with_a_stored_reason(env: Env) -> None:
    def down(ticket: r.BindTicket) -> values.BindingResult:
        raise errors.Unavailable("mechmgr unavailable: connection refused", peer="mechmgr")

    env.resolver.result = down
    port = new_port(env, "compute-1")
    result = env.ports.get(port.id).binding.result
    assert result.state == vocabulary.FAILED and result.vif_type == "binding_failed"
    [verdict] = result.trace
    assert verdict.driver == "mechmgr" and verdict.outcome == "DECLINE"
    assert verdict.reasons[0].code == "MECHANISM_MANAGER_UNAVAILABLE"
    assert "connection refused" in result.failure_message

    env.resolver.result = None  # mechmgr is back: any update binds again
    assert (
        env.ports.update(port.id, r.PortUpdate(name="x")).binding.result.state == vocabulary.BOUND
    )


def test_a_failed_result_without_reasons_gets_one(env: Env) -> None:
    env.resolver.result = lambda t: values.BindingResult(
        state=vocabulary.FAILED, vif_type="binding_failed"
    )
    result = new_port(env, "compute-1").binding.result
    assert result.state == vocabulary.FAILED
    assert [x.code for v in result.trace for x in v.reasons] == ["MECHANISM_MANAGER_ERROR"]
    assert result.failure_message


def test_a_bound_result_without_levels_is_stored_as_failed(env: Env) -> None:
    env.resolver.result = lambda t: values.BindingResult(state=vocabulary.BOUND, vif_type="ovs")
    result = new_port(env, "compute-1").binding.result
    assert result.state == vocabulary.FAILED and result.levels == ()
    assert result.trace[0].reasons[0].code == "MECHANISM_MANAGER_ERROR"


def test_failed_reasons_from_the_resolver_are_stored_and_summarized(env: Env) -> None:
    reason = values.DeclineReason(
        "NO_AGENT", "no openvswitch agent on host compute-1", "", {"host": "compute-1"}
    )
    env.resolver.result = lambda t: values.BindingResult(
        state=vocabulary.FAILED,
        vif_type="binding_failed",
        trace=(values.Verdict(0, "openvswitch", "DECLINE", reasons=(reason,), duration=0.002),),
    )
    result = new_port(env, "compute-1").binding.result
    assert result.trace[0].reasons == (reason,)
    assert result.trace[0].duration == pytest.approx(0.002)
    assert result.failure_message == "openvswitch: no openvswitch agent on host compute-1"


def test_concurrent_host_changes_always_end_with_the_binding_of_the_final_inputs(
    env: Env,
) -> None:
    ports = [new_port(env) for _ in range(3)]
    env.ports = PortManager(env.factory, binding.Binder(env.factory, env.resolver, 50))
    failures: list[BaseException] = []

    def client(index: int) -> None:
        for step in range(15):
            port = ports[(index + step) % len(ports)]
            host = f"compute-{index}-{step}" if step % 5 else ""
            try:
                env.ports.update(port.id, r.PortUpdate(host_id=host))
            except portapi_errors.BindingConflict:
                pass  # allowed: a later writer binds the port
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for port in ports:
        stored = env.ports.get(port.id)
        host = stored.binding.inputs.host_id
        if host:
            assert stored.binding.result.state == vocabulary.BOUND
            assert stored.binding.result.vif_details["host"] == host
            assert stored.binding.result.vif_details["generation"] == stored.binding.generation
            assert level_count(env, port.id) == 1
        else:
            assert stored.binding.result.state == vocabulary.UNBOUND
            assert level_count(env, port.id) == 0


class RecordingHolds:
    """Records the SyncDynamicSegmentHolds calls portapi would make to typemgr."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], int]] = []
        self.released: list[str] = []
        """The segment ids the next sync answers typemgr released."""

    def sync_dynamic_segment_holds(self, port_id: str, segment_ids: list[str], generation: int):
        self.calls.append((port_id, list(segment_ids), generation))
        released, self.released = self.released, []
        return released


def test_holds_are_synced_only_when_the_port_may_hold_dynamic_segments(env: Env) -> None:
    holds = RecordingHolds()
    binder = binding.Binder(env.factory, env.resolver, 3, holds)
    ports = PortManager(env.factory, binder)
    dynamic = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)

    plain = ports.create(r.PortSpec("net-1", inputs=r.BindingInputs(host_id="compute-1")), None)
    assert holds.calls == []  # a plain binding costs no call to typemgr

    def hierarchical(ticket: r.BindTicket) -> values.BindingResult:
        return values.BindingResult(
            state=vocabulary.BOUND,
            vif_type="ovs",
            levels=(
                values.BindingLevel(0, "fabric", SEGMENT),
                values.BindingLevel(1, "ovs", dynamic),
            ),
            trace=(values.Verdict(0, "fabric", "CONTINUE"), values.Verdict(1, "ovs", "COMPLETE")),
        )

    env.resolver.result = hierarchical
    ports.update(plain.id, r.PortUpdate(host_id="compute-2"))
    binder.close()  # the first hold only confirms what typemgr took: it is sent after the answer
    assert holds.calls == [(plain.id, ["dyn-1"], 2)]
    assert pending_syncs(env) == []

    env.resolver.result = None  # the next host binds without a dynamic segment
    ports.update(plain.id, r.PortUpdate(host_id="compute-3"))
    assert holds.calls[-1] == (plain.id, [], 3)  # the old hold is let go

    ports.update(plain.id, r.PortUpdate(host_id="compute-4"))
    assert len(holds.calls) == 2  # nothing held any more: no call


def test_level_0_is_offered_the_dynamic_segments_after_the_static_ones(env: Env) -> None:
    """From portapi's own record of the dynamic segments its bindings use, in the order they
    were first used: no call to typemgr per bind (RecordingHolds cannot list segments)."""
    holds = RecordingHolds()
    binder = binding.Binder(env.factory, env.resolver, 3, holds)
    ports = PortManager(env.factory, binder)
    second = values.Segment("dyn-0", "vlan", "physnet2", 301, "net-1", 1500, is_dynamic=True)
    first = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)
    fabric = {"rack-1": first, "rack-2": second}

    def resolve(ticket: r.BindTicket) -> values.BindingResult:
        if ticket.inputs.host_id in fabric:
            return hierarchical_result(fabric[ticket.inputs.host_id])
        return values.BindingResult(
            state=vocabulary.BOUND,
            vif_type="ovs",
            levels=(values.BindingLevel(0, "ovs", ticket.segments[-1]),),
            trace=(values.Verdict(0, "ovs", "COMPLETE", offered_segments=ticket.segments),),
        )

    env.resolver.result = resolve
    spec = functools.partial(r.PortSpec, "net-1")
    ports.create(spec(inputs=r.BindingInputs(host_id="rack-1")), None)
    assert env.resolver.calls[-1].segments == (SEGMENT,)
    ports.create(spec(inputs=r.BindingInputs(host_id="rack-2")), None)
    assert env.resolver.calls[-1].segments == (SEGMENT, first)

    port = ports.create(spec(inputs=r.BindingInputs(host_id="compute-1")), None)

    # dyn-1 was used first: it comes first, whatever its id.
    assert env.resolver.calls[-1].segments == (SEGMENT, first, second)
    assert [lv.segment.id for lv in port.binding.result.levels] == ["dyn-0"]
    # Nothing allocated that segment for this port: its hold is taken before the answer (the
    # earlier ports' syncs, sent after their answers, may still be arriving).
    assert [c for c in holds.calls if c[0] == port.id] == [(port.id, ["dyn-0"], 1)]
    # Another network is offered none of them.
    with sql.write_session(env.factory) as session:
        repo.insert_network(session, "net-2", r.NetworkSpec("n", "proj", False, True), None)
        other = replace(SEGMENT, id="seg-2", network_id="net-2")
        repo.store_segments(session, "net-2", [other], 1500)
    ports.create(r.PortSpec("net-2", inputs=r.BindingInputs(host_id="compute-1")), None)
    assert env.resolver.calls[-1].segments == (other,)


def test_a_second_port_on_a_recorded_dynamic_segment_writes_no_record(env: Env) -> None:
    """The first commit that uses a dynamic segment records it; a later port offered it at
    level 0 from that record commits without writing to the record again."""
    binder = binding.Binder(env.factory, env.resolver, 3, RecordingHolds())
    ports = PortManager(env.factory, binder)
    dynamic = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)
    env.resolver.result = lambda ticket: hierarchical_result(dynamic)
    engine = env.factory.kw["bind"]
    written: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if "network_dynamic_segments" in statement and not statement.lstrip().startswith("SELECT"):
            written.append(statement)

    sqlalchemy.event.listen(engine, "before_cursor_execute", seen)
    try:
        spec = functools.partial(r.PortSpec, "net-1")
        ports.create(spec(inputs=r.BindingInputs(host_id="compute-1")), None)
        assert len(written) == 1
        ports.create(spec(inputs=r.BindingInputs(host_id="compute-2")), None)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", seen)
        binder.close()
    assert env.resolver.calls[-1].segments == (SEGMENT, dynamic)
    assert len(written) == 1


def test_a_dynamic_segment_no_binding_uses_is_not_offered_and_a_released_one_forgotten(
    env: Env,
) -> None:
    holds = RecordingHolds()
    binder = binding.Binder(env.factory, env.resolver, 3, holds)
    ports = PortManager(env.factory, binder)
    dynamic = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)
    env.resolver.result = lambda ticket: hierarchical_result(dynamic)
    port = ports.create(r.PortSpec("net-1", inputs=r.BindingInputs(host_id="rack-1")), None)
    binder.close()

    def recorded() -> list[str]:
        with sql.read_session(env.factory) as session:
            rows = session.execute(select(models.network_dynamic_segments.c.segment_id))
            return list(rows.scalars())

    assert recorded() == ["dyn-1"]
    # Unbound: no level uses it any more, so no binding is offered it, before typemgr even
    # answers; its answer (released) deletes the record.
    holds.released = ["dyn-1"]
    ports.update(port.id, r.PortUpdate(host_id=""))
    assert recorded() == []
    env.resolver.result = None
    ports.update(port.id, r.PortUpdate(host_id="compute-1"))
    assert env.resolver.calls[-1].segments == (SEGMENT,)


class UnreachableThenRecordingHolds(RecordingHolds):
    """typemgr that cannot be reached until ``reachable`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.reachable = False

    def sync_dynamic_segment_holds(self, port_id: str, segment_ids: list[str], generation: int):
        if not self.reachable:
            raise errors.Unavailable("typemgr at 127.0.0.1:1 did not answer")
        super().sync_dynamic_segment_holds(port_id, segment_ids, generation)


def pending_syncs(env: Env) -> list[hold_outbox.PendingSync]:
    with sql.read_session(env.factory) as session:
        return hold_outbox.due(session, codec.now() + timedelta(days=1), 1000)


def test_a_hold_sync_typemgr_missed_is_sent_again_until_it_is_told(env: Env) -> None:
    holds = UnreachableThenRecordingHolds()
    binder = binding.Binder(env.factory, env.resolver, 3, holds)
    ports = PortManager(env.factory, binder)
    dynamic = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)
    env.resolver.result = lambda ticket: values.BindingResult(
        state=vocabulary.BOUND,
        vif_type="ovs",
        levels=(values.BindingLevel(0, "fabric", SEGMENT), values.BindingLevel(1, "ovs", dynamic)),
        trace=(values.Verdict(0, "fabric", "CONTINUE"), values.Verdict(1, "ovs", "COMPLETE")),
    )
    port = ports.create(r.PortSpec("net-1", inputs=r.BindingInputs(host_id="compute-1")), None)
    binder.close()  # its deferred sync failed: it stays in the outbox
    unbound = ports.update(port.id, r.PortUpdate(host_id=""))
    # typemgr heard nothing; the outbox keeps the newest sync of the port only.
    assert holds.calls == []
    assert pending_syncs(env) == [hold_outbox.PendingSync(port.id, (), unbound.binding.generation)]

    retrier = HoldSyncRetrier(env.factory, binder, interval=0.0)
    assert retrier.run_once() == (0, 1)  # still unreachable: the sync stays
    holds.reachable = True
    assert retrier.run_once() == (1, 0)
    assert holds.calls == [(port.id, [], unbound.binding.generation)]
    assert pending_syncs(env) == []
    assert retrier.run_once() == (0, 0)


def test_a_sync_left_by_a_stopped_portapi_is_sent_and_a_deleted_ports_wins(env: Env) -> None:
    holds = RecordingHolds()
    binder = binding.Binder(env.factory, env.resolver, 3, holds)
    ports = PortManager(env.factory, binder)
    port = ports.create(r.PortSpec("net-1", inputs=r.BindingInputs(host_id="compute-1")), None)
    # As if portapi had stopped after committing generation 7 and before telling typemgr.
    repo.run_write(
        env.factory,
        lambda s: hold_outbox.record(s, hold_outbox.PendingSync(port.id, ("dyn-1",), 7)),
    )
    ports.delete(port.id)  # its own sync (generation 0) replaces the older one and is sent
    assert holds.calls == [(port.id, [], 0)]
    assert pending_syncs(env) == []
    repo.run_write(
        env.factory,
        lambda s: hold_outbox.record(s, hold_outbox.PendingSync("gone", ("dyn-2",), 3)),
    )
    assert HoldSyncRetrier(env.factory, binder, interval=0.0).run_once() == (1, 0)
    assert holds.calls[-1] == ("gone", ["dyn-2"], 3)


class BlockedHolds(RecordingHolds):
    """typemgr that answers a sync only once ``answer`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()
        self.asked = threading.Event()

    def sync_dynamic_segment_holds(self, port_id: str, segment_ids: list[str], generation: int):
        self.asked.set()
        assert self.answer.wait(10)
        super().sync_dynamic_segment_holds(port_id, segment_ids, generation)


def hierarchical_result(
    dynamic: values.Segment, *offered: values.Segment, state: str = vocabulary.BOUND
) -> values.BindingResult:
    """fabric continues on SEGMENT, ovs binds ``dynamic`` offered ``offered`` (or it alone)."""
    levels = (values.BindingLevel(0, "fabric", SEGMENT), values.BindingLevel(1, "ovs", dynamic))
    return values.BindingResult(
        state=state,
        vif_type="ovs",
        levels=levels if state == vocabulary.BOUND else (),
        trace=(
            values.Verdict(0, "fabric", "CONTINUE", offered_segments=(SEGMENT,)),
            values.Verdict(1, "ovs", "COMPLETE", offered_segments=offered or (dynamic,)),
        ),
    )


def test_a_first_hierarchical_binding_answers_before_its_hold_sync(env: Env) -> None:
    holds = BlockedHolds()
    binder = binding.Binder(env.factory, env.resolver, 3, holds)
    ports = PortManager(env.factory, binder)
    dynamic = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)
    env.resolver.result = lambda ticket: hierarchical_result(dynamic)
    port = ports.create(r.PortSpec("net-1", inputs=r.BindingInputs(host_id="compute-1")), None)
    assert port.binding.result.state == vocabulary.BOUND  # answered while typemgr is not
    assert holds.asked.wait(10)
    assert holds.calls == []
    assert pending_syncs(env) == [hold_outbox.PendingSync(port.id, ("dyn-1",), 1)]
    holds.answer.set()
    binder.close()
    assert holds.calls == [(port.id, ["dyn-1"], 1)]
    assert pending_syncs(env) == []

    # A rebind of a port that held a dynamic segment may drop it: told before the answer.
    env.resolver.result = None
    ports.update(port.id, r.PortUpdate(host_id="compute-2"))
    assert holds.calls[-1] == (port.id, [], 2)


def test_a_hold_sync_that_may_drop_a_hold_is_sent_before_the_answer() -> None:
    dynamic = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)
    other = values.Segment("dyn-2", "vlan", "physnet2", 301, "net-1", 1500, is_dynamic=True)
    fresh = r.BindTicket("p", "net-1", 1, r.BindingInputs(host_id="h"), (SEGMENT,))
    assert binding.only_confirms(fresh, hierarchical_result(dynamic))
    # The port held dynamic segments before: the new binding may let one go.
    held = r.BindTicket("p", "net-1", 2, r.BindingInputs(host_id="h"), (SEGMENT,), True)
    assert not binding.only_confirms(held, hierarchical_result(dynamic))
    # A segment the resolution allocated but no level uses is released.
    assert not binding.only_confirms(fresh, hierarchical_result(dynamic, other, dynamic))
    # A failed binding lets go of what it allocated.
    failed = hierarchical_result(dynamic, state=vocabulary.FAILED)
    assert not binding.only_confirms(fresh, failed)
    # An allocation that failed midway may have left one before it unoffered.
    unavailable = values.DeclineReason(vocabulary.DYNAMIC_SEGMENT_UNAVAILABLE, "no VLAN left")
    result = hierarchical_result(dynamic)
    declined = values.Verdict(0, "fabric2", "DECLINE", reasons=(unavailable,))
    assert not binding.only_confirms(fresh, replace(result, trace=(declined, *result.trace)))
    # A plain binding holds nothing: nothing to confirm.
    assert not binding.only_confirms(fresh, values.BindingResult(vocabulary.BOUND, "ovs"))


def test_a_second_hierarchical_binding_of_a_network_answers_before_its_hold_sync() -> None:
    """Level 0 is offered the network's dynamic segment from portapi's record; the fabric binds
    the static one and level 1 gets the same segment from mechmgr's allocation, which took the
    port's hold: the sync only confirms it."""
    dynamic = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)
    other = values.Segment("dyn-2", "vlan", "physnet2", 301, "net-1", 1500, is_dynamic=True)
    second = r.BindTicket("p", "net-1", 1, r.BindingInputs(host_id="h"), (SEGMENT, dynamic))
    result = hierarchical_result(dynamic)
    level_0 = values.Verdict(0, "fabric", "CONTINUE", offered_segments=(SEGMENT, dynamic))
    result = replace(result, trace=(level_0, *result.trace[1:]))
    assert binding.only_confirms(second, result)
    # A level 0 offered a dynamic segment of the record no level uses: nothing allocated it.
    offered = r.BindTicket("p", "net-1", 1, r.BindingInputs(host_id="h"), (SEGMENT, other))
    level_0 = values.Verdict(0, "fabric", "CONTINUE", offered_segments=(SEGMENT, other))
    assert binding.only_confirms(offered, replace(result, trace=(level_0, *result.trace[1:])))
    # A level 0 driver bound the record's segment as offered: no allocation took its hold.
    direct = values.BindingResult(
        state=vocabulary.BOUND,
        vif_type="ovs",
        levels=(values.BindingLevel(0, "ovs", dynamic),),
        trace=(values.Verdict(0, "ovs", "COMPLETE", offered_segments=(SEGMENT, dynamic)),),
    )
    assert not binding.only_confirms(second, direct)


def direct_physical(mac: str, host: str = "compute-1") -> r.BindingInputs:
    return r.BindingInputs(host, vocabulary.VNIC_DIRECT_PHYSICAL, {"device_mac_address": mac})


def test_a_bound_direct_physical_port_takes_its_devices_mac_and_a_new_one_when_unbound(
    env: Env,
) -> None:
    port = env.ports.create(r.PortSpec("net-1", inputs=direct_physical("3C:FD:FE:00:00:01")), None)

    assert port.binding.result.state == vocabulary.BOUND
    assert port.mac_address == "3c:fd:fe:00:00:01"
    assert env.ports.get(port.id).mac_address == "3c:fd:fe:00:00:01"

    unbound = env.ports.update(port.id, r.PortUpdate(host_id=""))
    assert unbound.mac_address not in ("3c:fd:fe:00:00:01", "")
    assert unbound.mac_address.startswith("fa:16:3e:")
    # Other vnic types keep the MAC they have, whatever their profile says.
    normal = env.ports.create(
        r.PortSpec(
            "net-1",
            inputs=r.BindingInputs(
                "compute-1", profile={"device_mac_address": "3c:fd:fe:00:00:02"}
            ),
        ),
        None,
    )
    assert normal.mac_address.startswith("fa:16:3e:")


def test_a_device_mac_another_port_of_the_network_has_fails_the_binding(env: Env) -> None:
    other = env.ports.create(r.PortSpec("net-1", mac_address="3c:fd:fe:00:00:07"), None)

    port = env.ports.create(r.PortSpec("net-1", inputs=direct_physical("3c:fd:fe:00:00:07")), None)

    result = port.binding.result
    assert (result.state, result.vif_type) == (vocabulary.FAILED, "binding_failed")
    assert result.levels == ()
    [reason] = result.trace[-1].reasons
    assert (result.trace[-1].driver, reason.code) == ("portapi", "DEVICE_MAC_ADDRESS_IN_USE")
    assert dict(reason.details) == {"mac_address": "3c:fd:fe:00:00:07", "port_id": other.id}
    assert "binding.profile.device_mac_address" in result.failure_message
    assert port.mac_address != "3c:fd:fe:00:00:07"
    assert env.ports.get(other.id).mac_address == "3c:fd:fe:00:00:07"


def test_a_device_mac_taken_between_the_check_and_the_write_fails_the_binding(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another port gets the device's MAC address after the commit checked it and before it
    wrote it: on PostgreSQL a concurrent transaction, committed; on SQLite, whose writers take
    turns, the same transaction (the write still breaks the unique constraint)."""
    check = repo.port_with_mac
    taken: list[str] = []

    def racing_check(session: Session, network_id: str, mac: str) -> str | None:
        holder = check(session, network_id, mac)
        if not taken:
            spec = r.PortSpec("net-1", mac_address=mac)
            taken.append("racer")
            if session.get_bind().dialect.name == "sqlite":
                repo.insert_port(session, "racer", spec, mac, None)
            else:
                with sql.write_session(env.factory) as other:
                    repo.insert_port(other, "racer", spec, mac, None)
        return holder

    monkeypatch.setattr(repo, "port_with_mac", racing_check)

    port = env.ports.create(r.PortSpec("net-1", inputs=direct_physical("3c:fd:fe:00:00:09")), None)

    result = port.binding.result
    assert (result.state, result.vif_type) == (vocabulary.FAILED, "binding_failed")
    [reason] = result.trace[-1].reasons
    assert reason.code == vocabulary.DEVICE_MAC_ADDRESS_IN_USE
    assert dict(reason.details) == {"mac_address": "3c:fd:fe:00:00:09", "port_id": "racer"}
    # Nothing of the bound result stayed: no levels, not the device's address.
    stored = env.ports.get(port.id)
    assert stored.binding.result == result
    assert stored.binding.result.levels == ()
    assert stored.mac_address == port.mac_address != "3c:fd:fe:00:00:09"
    assert stored.status == r.PORT_DOWN
    assert env.ports.get("racer").mac_address == "3c:fd:fe:00:00:09"
