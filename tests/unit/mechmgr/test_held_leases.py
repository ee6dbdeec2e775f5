"""Held leases: an agent kept alive by a replica for as long as its stream is open, with no
heartbeat per interval, and dead ``down_time`` after the release on every replica.

Two registries on one database are two replicas: A holds, B never hears from the agent and
judges from the database, as does the database-only read. The clock is injected and flushes
are called where the flushing thread would run them (every ``FLUSH`` seconds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from ml2_contract import values

from services import sql
from services.mechmgr import agents, errors
from services.mechmgr.db import models

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)
DOWN = 75
FLUSH = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replicas(
    database_url: str, clock: Clock
) -> Iterator[tuple[agents.AgentRegistry, agents.AgentRegistry]]:
    engine = sql.make_engine(database_url)
    models.metadata.create_all(engine)
    factory = sql.session_factory(engine)
    yield (
        agents.AgentRegistry(factory, DOWN, clock=clock, flush_interval=FLUSH),
        agents.AgentRegistry(factory, DOWN, clock=clock, flush_interval=FLUSH),
    )
    engine.dispose()


def reg(host: str = "compute-1") -> agents.AgentRegistration:
    caps = values.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"})
    return agents.AgentRegistration("openvswitch", host, caps, binary="ml2-agent")


def alive_everywhere(a: agents.AgentRegistry, b: agents.AgentRegistry, agent_id: str) -> set[bool]:
    """The liveness of the agent as replica A, replica B and the database alone judge it."""
    host = a.get(agent_id).host
    raw = b.raw_agents_by_host([host])[host]
    return {a.get(agent_id).alive, b.get(agent_id).alive, raw[0][8]}


class Heard:
    """A holder's listener: what it was told."""

    def __init__(self) -> None:
        self.told: list[values.Agent | None] = []

    def __call__(self, agent: values.Agent | None) -> None:
        self.told.append(agent)


def test_a_held_agent_stays_alive_through_many_down_times_without_heartbeats(replicas, clock):
    a, b = replicas
    agent, _ = a.register(reg())
    a.heartbeat(agent.id)
    a.hold(agent.id, Heard())
    for _ in range(int(10 * DOWN / FLUSH)):
        clock.advance(FLUSH)
        a.flush()
        assert alive_everywhere(a, b, agent.id) == {True}
    assert a.held(agent.id)


def test_a_flush_writes_every_held_agent_due_in_one_statement(replicas, clock):
    a, b = replicas
    ids = []
    for i in range(30):
        agent, _ = a.register(reg(f"compute-{i}"))
        a.hold(agent.id, Heard())
        ids.append(agent.id)
    a.flush()
    clock.advance(a.hold_refresh)
    statements: list[str] = []
    engine = a._factory.kw["bind"]

    from sqlalchemy import event

    def seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert a.flush() == 30
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    for agent_id in ids:
        assert b.get(agent_id).heartbeat_at == clock.now.replace(tzinfo=dt.UTC)
    clock.advance(FLUSH)
    assert a.flush() == 0  # written a flush ago: not due again before a refresh


def test_a_released_agent_dies_down_time_after_the_release_on_every_replica(replicas, clock):
    a, b = replicas
    agent, _ = a.register(reg())
    heard = Heard()
    a.hold(agent.id, heard)
    for _ in range(40):
        clock.advance(FLUSH)
        a.flush()
    clock.advance(2)  # the release comes between two flushes
    released = clock.now
    a.release(agent.id, heard)
    assert not a.held(agent.id)
    a.flush()
    assert b.get(agent.id).heartbeat_at == released.replace(tzinfo=dt.UTC)
    clock.advance(DOWN)
    a.flush()
    assert alive_everywhere(a, b, agent.id) == {True}
    clock.advance(0.001)
    assert alive_everywhere(a, b, agent.id) == {False}


def test_two_holds_of_one_agent_keep_it_held_until_both_are_released(replicas, clock):
    a, _ = replicas
    agent, _ = a.register(reg())
    first, second = Heard(), Heard()
    a.hold(agent.id, first)
    a.hold(agent.id, second)
    a.release(agent.id, first)
    assert a.held(agent.id)
    a.release(agent.id, second)
    assert not a.held(agent.id)


def test_holders_hear_of_admin_state_changes_made_on_any_replica(replicas, clock):
    a, b = replicas
    agent, _ = a.register(reg())
    heard = Heard()
    a.hold(agent.id, heard)
    a.set_admin_state(agent.id, False)  # this replica: at once
    assert [(x.admin_state_up if x else None) for x in heard.told] == [False]
    b.set_admin_state(agent.id, True)  # another replica: within a refresh and a flush
    assert len(heard.told) == 1
    changed = clock.now
    while len(heard.told) == 1:
        clock.advance(FLUSH)
        a.flush()
        assert clock.now - changed <= dt.timedelta(seconds=a.hold_refresh + FLUSH)
    told = heard.told[-1]
    assert told is not None and told.admin_state_up and told.revision == agent.revision + 1
    for _ in range(int(3 * DOWN / FLUSH)):
        clock.advance(FLUSH)
        a.flush()
    assert len(heard.told) == 2  # nothing changed since


def test_holders_hear_of_a_deletion_on_any_replica(replicas, clock):
    a, b = replicas
    here, _ = a.register(reg("compute-1"))
    there, _ = a.register(reg("compute-2"))
    heard_here, heard_there = Heard(), Heard()
    a.hold(here.id, heard_here)
    a.hold(there.id, heard_there)
    a.delete(here.id)
    assert heard_here.told == [None]
    assert not a.held(here.id)
    b.delete(there.id)
    clock.advance(a.hold_refresh)
    a.flush()
    assert heard_there.told == [None]
    assert not a.held(there.id)
    with pytest.raises(errors.AgentNotFound):
        a.heartbeat(there.id)


def test_a_hold_of_a_dead_agent_revives_it_with_a_new_revision(replicas, clock):
    a, b = replicas
    agent, _ = a.register(reg())
    clock.advance(DOWN + 1)
    assert b.get(agent.id).alive is False
    revived = a.heartbeat(agent.id)  # what the stream does before it holds
    a.hold(agent.id, Heard())
    assert revived.revision == agent.revision + 1
    for _ in range(int(3 * DOWN / FLUSH)):
        clock.advance(FLUSH)
        a.flush()
    assert alive_everywhere(a, b, agent.id) == {True}
    assert b.get(agent.id).revision == agent.revision + 1  # no more: it never lapsed again
