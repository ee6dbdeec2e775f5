"""Hold syncs the bind flow sends for the cases a commit alone does not cover, against a real
database: a resolution that lost the compare-and-set (its allocations must not stay held) and a
port that bound one of its network's dynamic segments at level 0 (it holds it, so a rebind
elsewhere lets it go)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from ml2_contract import values, vocabulary
from sqlalchemy.orm import Session, sessionmaker

from services import migrations, sql
from services.portapi import binding, metrics
from services.portapi import resources as r
from services.portapi.db import bindings, codec, hold_outbox
from services.portapi.db import repository as repo
from services.portapi.ports import PortManager
from tests.unit.portapi.test_binding import (
    SEGMENT,
    FakeResolver,
    RecordingHolds,
    hierarchical_result,
)

DYN_1 = values.Segment("dyn-1", "vlan", "physnet1", 300, "net-1", 1500, is_dynamic=True)
DYN_2 = values.Segment("dyn-2", "vlan", "physnet2", 301, "net-1", 1500, is_dynamic=True)


@dataclass
class Env:
    factory: sessionmaker[Session]
    resolver: FakeResolver
    holds: RecordingHolds
    binder: binding.Binder
    ports: PortManager


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    migrations.upgrade(database_url, "portapi")
    engine = sql.make_engine(database_url)
    factory = sql.session_factory(engine)
    with sql.write_session(factory) as session:
        repo.insert_network(session, "net-1", r.NetworkSpec("n", "proj", False, True), None)
        repo.store_segments(session, "net-1", [SEGMENT], 1500)
    resolver, holds = FakeResolver(), RecordingHolds()
    binder = binding.Binder(factory, resolver, 3, holds)
    yield Env(factory, resolver, holds, binder, PortManager(factory, binder))
    binder.close()
    engine.dispose()


def pending_syncs(env: Env) -> list[hold_outbox.PendingSync]:
    with sql.read_session(env.factory) as session:
        return hold_outbox.due(session, codec.now() + timedelta(days=1), 1000)


def flat(ticket: r.BindTicket) -> values.BindingResult:
    return values.BindingResult(
        state=vocabulary.BOUND,
        vif_type="ovs",
        levels=(values.BindingLevel(0, "flat", SEGMENT),),
        trace=(values.Verdict(0, "flat", "COMPLETE", offered_segments=ticket.segments),),
    )


@pytest.mark.parametrize("winner", ["flat", "hierarchical"])
def test_a_resolution_that_loses_to_a_newer_one_syncs_the_winners_holds(
    env: Env, winner: str
) -> None:
    """The first resolution allocated DYN_1 (mechmgr took the port's hold); while it ran, a
    newer update bound the port otherwise and committed first. The loser tells typemgr the
    port's holds are the winner's, as of the winner's generation."""
    port = env.ports.create(r.PortSpec("net-1"), None)
    lost = metrics.LOST_RESOLUTION_SYNCS._value.get()

    def resolve(ticket: r.BindTicket) -> values.BindingResult:
        if ticket.inputs.host_id == "rack-1":
            env.ports.update(port.id, r.PortUpdate(host_id="rack-2"))  # the winner
            return hierarchical_result(DYN_1)
        return flat(ticket) if winner == "flat" else hierarchical_result(DYN_2)

    env.resolver.result = resolve
    answered = env.ports.update(port.id, r.PortUpdate(host_id="rack-1"))
    env.binder.close()

    assert answered.binding.inputs.host_id == "rack-2"
    generation = answered.binding.generation
    wanted = [] if winner == "flat" else [DYN_2.id]
    assert env.holds.calls[-1] == (port.id, wanted, generation)
    assert pending_syncs(env) == []
    assert metrics.LOST_RESOLUTION_SYNCS._value.get() == lost + 1


def test_a_resolution_that_loses_to_a_deletion_syncs_no_hold(env: Env) -> None:
    port = env.ports.create(r.PortSpec("net-1"), None)

    def resolve(ticket: r.BindTicket) -> values.BindingResult:
        env.ports.delete(port.id, None)
        return hierarchical_result(DYN_1)

    env.resolver.result = resolve
    assert env.binder.bind(_ticket(env, port.id, "rack-1")) is None
    assert env.holds.calls[-1] == (port.id, [], 0)
    assert pending_syncs(env) == []


def test_a_resolution_that_allocated_nothing_and_lost_costs_no_call(env: Env) -> None:
    port = env.ports.create(r.PortSpec("net-1"), None)

    def resolve(ticket: r.BindTicket) -> values.BindingResult:
        if ticket.inputs.host_id == "compute-1":
            env.ports.update(port.id, r.PortUpdate(host_id="compute-2"))
        return flat(ticket)

    env.resolver.result = resolve
    env.ports.update(port.id, r.PortUpdate(host_id="compute-1"))
    assert env.holds.calls == []


def test_a_port_bound_on_a_dynamic_segment_at_level_0_lets_it_go_when_moved(env: Env) -> None:
    """The second port of a network binds its dynamic segment at level 0 (offered from the
    network's record); moving it to a flat binding tells typemgr it holds nothing."""
    first = env.ports.create(r.PortSpec("net-1"), None)
    env.resolver.result = lambda ticket: hierarchical_result(DYN_1)
    env.ports.update(first.id, r.PortUpdate(host_id="rack-1"))

    second = env.ports.create(r.PortSpec("net-1"), None)

    def second_calls() -> list[tuple[str, list[str], int]]:
        return [c for c in env.holds.calls if c[0] == second.id]

    def direct(ticket: r.BindTicket) -> values.BindingResult:
        assert ticket.segments == (SEGMENT, DYN_1)
        return values.BindingResult(
            state=vocabulary.BOUND,
            vif_type="ovs",
            levels=(values.BindingLevel(0, "ovs", DYN_1),),
            trace=(values.Verdict(0, "ovs", "COMPLETE", offered_segments=ticket.segments),),
        )

    env.resolver.result = direct
    bound = env.ports.update(second.id, r.PortUpdate(host_id="compute-1"))
    # Told before the answer (the first port's sync, sent after its answer, may come later).
    assert second_calls() == [(second.id, [DYN_1.id], bound.binding.generation)]

    env.resolver.result = flat
    moved = env.ports.update(second.id, r.PortUpdate(host_id="compute-2"))
    assert second_calls()[-1] == (second.id, [], moved.binding.generation)


def _ticket(env: Env, port_id: str, host: str) -> r.BindTicket:
    """The ticket an update to ``host`` would hand the binder (inputs recorded)."""
    with sql.write_session(env.factory) as session:
        generation = bindings.write_inputs(
            session, port_id, r.BindingInputs(host_id=host), had_levels=False
        )
    return r.BindTicket(port_id, "net-1", generation, r.BindingInputs(host_id=host), (SEGMENT,))
