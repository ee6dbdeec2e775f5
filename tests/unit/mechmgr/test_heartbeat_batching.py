"""Heartbeats held in memory and written in batches, with the same liveness on every replica.

Two registries on one database are two mechmgr replicas; a third, which never receives a
heartbeat, judges from the database alone. The clock is injected and flushes are called where
the flushing thread would run them (every ``FLUSH`` seconds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from ml2_contract import values
from prometheus_client import REGISTRY

from services import sql
from services.mechmgr import agents, errors
from services.mechmgr.db import models

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)
DOWN = 75
INTERVAL = 30
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
) -> Iterator[tuple[agents.AgentRegistry, agents.AgentRegistry, agents.AgentRegistry]]:
    """Replicas A and B batch heartbeats; C writes each at once and only reads here."""
    engine = sql.make_engine(database_url)
    models.metadata.create_all(engine)
    factory = sql.session_factory(engine)
    yield (
        agents.AgentRegistry(factory, DOWN, clock=clock, flush_interval=FLUSH),
        agents.AgentRegistry(factory, DOWN, clock=clock, flush_interval=FLUSH),
        agents.AgentRegistry(factory, DOWN, clock=clock),
    )
    engine.dispose()


def reg(host: str = "compute-1") -> agents.AgentRegistration:
    caps = values.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"})
    return agents.AgentRegistration("openvswitch", host, caps, binary="ml2-agent")


def utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC)


def counter(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_a_heartbeat_is_answered_from_memory_and_written_by_the_next_flush(replicas, clock):
    a, b, c = replicas
    agent, _ = a.register(reg())
    a.set_admin_state(agent.id, False)
    clock.advance(INTERVAL)
    batched = counter("ml2_mechmgr_heartbeats_total", {"write": "batched"})
    rows = counter("ml2_mechmgr_heartbeat_flush_rows_total")

    answer = a.heartbeat(agent.id)

    assert answer.alive and answer.heartbeat_at == utc(clock.now)
    assert (answer.id, answer.admin_state_up, answer.capabilities) == (
        agent.id,
        False,
        agent.capabilities,
    )
    assert counter("ml2_mechmgr_heartbeats_total", {"write": "batched"}) == batched + 1
    assert a.get(agent.id).heartbeat_at == utc(clock.now)  # this replica: memory
    assert c.get(agent.id).heartbeat_at == utc(T0)  # the database: not yet
    assert a.flush() == 1
    assert c.get(agent.id).heartbeat_at == utc(clock.now)
    assert b.host_agents("compute-1")[0].heartbeat_at == utc(clock.now)
    assert counter("ml2_mechmgr_heartbeat_flush_rows_total") == rows + 1
    assert a.flush() == 0  # nothing new


def test_many_heartbeats_are_written_by_one_flush(replicas, clock):
    a, _, c = replicas
    ids = [a.register(reg(f"compute-{i}"))[0].id for i in range(300)]
    clock.advance(INTERVAL)
    for agent_id in ids:
        a.heartbeat(agent_id)

    assert a.flush() == 300
    assert {x.heartbeat_at for x in c.list_agents(limit=1000).agents} == {utc(clock.now)}


def liveness_of(registries, agent_id):
    return [r.get(agent_id).alive for r in registries]


@pytest.mark.parametrize(
    "gaps",
    [
        [30, 30, 30, 30],  # a regular agent
        [30, 66, 30, 71, 30],  # one that misses a heartbeat now and then
        [31, 75, 30],  # silent for the whole down time, 4 s before a flush
        [32, 74, 30],
        [30, 80, 30, 76, 2, 30],  # one that dies and comes back
    ],
)
def test_every_replica_judges_liveness_alike_at_every_second(replicas, clock, gaps):
    """The agent heartbeats through A after each gap (seconds) and then stops; A flushes every
    FLUSH seconds. A (memory and database), B and C (the database) agree second by second."""
    a, b, c = replicas
    agent, _ = a.register(reg())
    beats = {sum(gaps[: i + 1]) for i in range(len(gaps))}
    seen_dead = False
    for second in range(1, sum(gaps) + DOWN + 10):
        clock.advance(1)
        if second in beats:
            a.heartbeat(agent.id)
        if second % FLUSH == 0:
            a.flush()
        alive = liveness_of((a, b, c), agent.id)
        assert alive in ([True] * 3, [False] * 3), (second, alive)
        last = max(beat for beat in beats | {0} if beat <= second)
        assert alive[0] == (second - last <= DOWN), second
        seen_dead = seen_dead or not alive[0]
    assert seen_dead


def test_the_first_heartbeat_after_death_is_written_at_once(replicas, clock):
    a, _, c = replicas
    agent, _ = a.register(reg())
    clock.advance(DOWN + 5)
    assert not c.get(agent.id).alive
    immediate = counter("ml2_mechmgr_heartbeats_total", {"write": "immediate"})

    a.heartbeat(agent.id)

    assert c.get(agent.id).alive  # no flush needed
    assert counter("ml2_mechmgr_heartbeats_total", {"write": "immediate"}) == immediate + 1


def test_a_heartbeat_is_written_at_once_when_the_written_one_would_expire_before_the_flush(
    replicas, clock
):
    a, _, c = replicas
    agent, _ = a.register(reg())
    clock.advance(DOWN - 2 * FLUSH + 1)

    a.heartbeat(agent.id)

    assert c.get(agent.id).heartbeat_at == utc(clock.now)


def test_a_heartbeat_of_an_agent_new_to_the_replica_is_written_at_once(replicas, clock):
    a, b, c = replicas
    agent, _ = a.register(reg())
    clock.advance(INTERVAL)

    b.heartbeat(agent.id)  # B has not seen the agent: after a restart, say

    assert c.get(agent.id).heartbeat_at == utc(clock.now)
    clock.advance(INTERVAL)
    b.heartbeat(agent.id)  # now B holds it
    assert c.get(agent.id).heartbeat_at == utc(clock.now - dt.timedelta(seconds=INTERVAL))


def test_an_unknown_id_is_not_found_at_once(replicas):
    a, _, _ = replicas

    with pytest.raises(errors.AgentNotFound, match="agent nope not found"):
        a.heartbeat("nope")


def test_an_agent_deleted_through_another_replica_is_not_found_after_the_next_flush(
    replicas, clock
):
    a, b, c = replicas
    agent, _ = a.register(reg())
    clock.advance(INTERVAL)
    a.heartbeat(agent.id)
    b.delete(agent.id)

    clock.advance(1)
    a.heartbeat(agent.id)  # A does not know yet: answered from memory
    assert a.list_agents().agents == ()  # but not listed, nor resurrected by the flush
    assert a.flush() == 0
    assert c.list_agents().agents == ()
    with pytest.raises(errors.AgentNotFound):
        a.heartbeat(agent.id)  # the agent registers again


def test_an_agent_deleted_through_this_replica_is_not_found_at_once(replicas, clock):
    a, _, c = replicas
    agent, _ = a.register(reg())
    clock.advance(INTERVAL)
    a.heartbeat(agent.id)

    a.delete(agent.id)

    with pytest.raises(errors.AgentNotFound):
        a.heartbeat(agent.id)
    assert a.flush() == 0
    assert c.list_agents().agents == ()


def test_a_flush_never_moves_a_heartbeat_back(replicas, clock):
    a, b, c = replicas
    agent, _ = a.register(reg())
    b.get(agent.id)
    clock.advance(INTERVAL)
    a.heartbeat(agent.id)  # held by A
    clock.advance(1)
    b.heartbeat(agent.id)  # new to B: written at once, later than A's

    a.flush()

    assert c.get(agent.id).heartbeat_at == utc(clock.now)


def test_admin_state_changes_and_registrations_are_answered_by_later_heartbeats(replicas, clock):
    a, _, _ = replicas
    agent, _ = a.register(reg())
    clock.advance(INTERVAL)
    a.set_admin_state(agent.id, False)
    assert a.heartbeat(agent.id).admin_state_up is False
    new_caps = values.HostCapabilities(bridge_mappings={"physnet2": "br-eth2"})
    a.register(agents.AgentRegistration("openvswitch", "compute-1", new_caps))
    clock.advance(1)
    assert a.heartbeat(agent.id).capabilities == new_caps


@pytest.mark.parametrize("killed_after", [0.0, 1.0, 4.9, 9.0])
def test_a_replica_killed_before_its_flush_gets_no_agent_judged_dead(replicas, clock, killed_after):
    """A regular agent heartbeats through A every INTERVAL; A stops without flushing
    ``killed_after`` seconds after a heartbeat (and before the flush due then); the agent's
    next heartbeat goes to B. The database never shows the agent dead."""
    a, b, c = replicas
    agent, _ = a.register(reg())
    for second in range(1, 3 * INTERVAL + 1):
        clock.advance(1)
        if second % INTERVAL == 0:
            a.heartbeat(agent.id)
        if second % FLUSH == 0 and second != 3 * INTERVAL:
            a.flush()
    lost = clock.now
    clock.advance(killed_after)
    del a  # killed: what it held is gone
    assert c.get(agent.id).heartbeat_at < utc(lost)  # the last heartbeat was lost
    for second in range(1, 4 * INTERVAL):
        clock.advance(1)
        if second % INTERVAL == round(INTERVAL - killed_after) % INTERVAL:
            b.heartbeat(agent.id)
        if second % FLUSH == 0:
            b.flush()
        assert c.get(agent.id).alive, second
        assert b.get(agent.id).alive, second


def test_leases_of_dead_agents_are_forgotten_by_a_flush(replicas, clock):
    a, _, c = replicas
    a.register(reg("compute-1"))  # never heard of again
    kept, _ = a.register(reg("compute-2"))
    clock.advance(DOWN + 1)
    a.heartbeat(kept.id)  # revived: written at once, and held
    clock.advance(INTERVAL)
    a.heartbeat(kept.id)

    a.flush()

    assert set(a._leases) == {kept.id}
    assert c.get(kept.id).heartbeat_at == utc(clock.now)


def test_close_writes_what_is_held(replicas, clock):
    a, _, c = replicas
    agent, _ = a.register(reg())
    clock.advance(INTERVAL)
    a.heartbeat(agent.id)

    a.close()

    assert c.get(agent.id).heartbeat_at == utc(clock.now)


def test_a_failed_flush_keeps_the_heartbeats_for_the_next(replicas, clock, monkeypatch):
    a, _, c = replicas
    agent, _ = a.register(reg())
    clock.advance(INTERVAL)
    a.heartbeat(agent.id)
    failed = counter("ml2_mechmgr_heartbeat_flushes_total", {"result": "failed"})

    def unreachable(beats):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(a, "_write_beats", unreachable)
    with pytest.raises(ConnectionError):
        a.flush()
    monkeypatch.undo()

    assert counter("ml2_mechmgr_heartbeat_flushes_total", {"result": "failed"}) == failed + 1
    assert a.flush() == 1
    assert c.get(agent.id).heartbeat_at == utc(clock.now)


def test_a_flush_on_sqlite_stores_times_as_sqlalchemy_does_so_that_they_compare(sqlite_url):
    engine = sql.make_engine(sqlite_url)
    models.metadata.create_all(engine)
    clock = Clock()
    registry = agents.AgentRegistry(
        sql.session_factory(engine), DOWN, clock=clock, flush_interval=FLUSH
    )
    agent, _ = registry.register(reg())
    stored = "SELECT heartbeat_at, created_at FROM agents"
    with engine.connect() as conn:
        (registered, created), *_ = conn.exec_driver_sql(stored).all()
    assert registered == created == "2026-03-01 12:00:00.000000"  # SQLAlchemy's own format

    for seconds, micros in ((1, 0), (2, 250000)):
        clock.now = T0 + dt.timedelta(seconds=seconds, microseconds=micros)
        registry.heartbeat(agent.id)
        assert registry.flush() == 1
        with engine.connect() as conn:
            (beat, _), *_ = conn.exec_driver_sql(stored).all()
        assert beat == f"2026-03-01 12:00:0{seconds}.{micros:06d}"

    engine.dispose()
