"""The agent registry: L2 agents register, keep alive with heartbeats, and are looked up by host.

One agent per (host, agent_type). Registering again (an agent restart, or two mechmgr replicas
racing on the same agent) updates that row in one ``INSERT ... ON CONFLICT DO UPDATE`` statement,
so the agent keeps its id. An agent is alive while its last sign of life (registration or
heartbeat) is within ``down_time`` seconds of now; liveness is computed on read, never stored.
Times are naive UTC from the process clock: replicas need synchronised clocks (NTP).

Heartbeats are held in memory and written in batches (``flush_interval`` > 0): a heartbeat
updates this replica's lease of the agent and is answered at once; ``flush`` writes every
heartbeat received since the last one in one statement. A heartbeat is written at once instead
when the agent is unknown to this replica (its first after a start, or an unknown id: NOT_FOUND
at once), or when the heartbeat already written for it would not keep it alive until the next
flush is surely done (``down_time`` - ``2 * flush_interval`` after it: an agent revived after
being dead, or one that missed heartbeats). So the database alone always shows an agent alive
while any replica holds a heartbeat that keeps it alive, and every replica judges liveness
alike; a replica killed between two flushes loses at most the heartbeats of the last
``2 * flush_interval``, at most one per agent when that is less than the heartbeat interval.
Reads on this replica take the later of the database's heartbeat and its own; reads of the
database alone (``raw_agents_by_host``, ``count_by_type``) find the same liveness.

Held leases (``hold``): an agent whose heartbeat stream asks for it is kept alive by this
replica for as long as the stream stays open, without a heartbeat per interval. A flush writes
``heartbeat_at`` = the flush's time for all the agents held here whose written heartbeat is at
least ``hold_refresh`` old (half of ``down_time`` - ``2 * flush_interval``: 32.5 s by default),
in one statement per ``FLUSH_CHUNK`` agents, so that every replica, reading the database, sees
them alive, and each held agent costs one row write per refresh, not one per flush; reads on
this replica see them alive with the current time. The same statement returns each agent's
admin_state_up and revision, so that a change made on another replica (or a deletion) reaches
the holder's listener within a refresh and a flush; one made on this replica at once. When
the stream ends the hold is released (``release``): the release time becomes the agent's last
heartbeat, written at the next flush, so the agent is dead ``down_time`` after the release on
every replica. Holding needs batching (``can_hold``).

Each agent has a ``revision`` that moves forward, in the statement that makes the change,
whenever the agent may bind ports it could not before: a registration that changes its
capabilities or finds it dead, a heartbeat that finds it dead (always written at once, above;
a flush counts one too, should a failing database have let the agent lapse meanwhile), and
an administrator allowing binding to it again. A new agent starts at 1. portapi retries the
failed bindings of a host when one of its agents' revisions moves (``services.portapi.rebind``);
since every such change is counted in the database, no reader can miss one, however short.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ml2_contract import convert, values
from sqlalchemy import (
    DateTime,
    Engine,
    Row,
    String,
    Table,
    Text,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.mechmgr import errors, metrics
from services.mechmgr.db import models

logger = logging.getLogger(__name__)

_T = cast(Table, models.AgentRow.__table__)
# Built once: the statement of every resolution.
_BY_HOST = select(_T).where(_T.c.host == bindparam("host"))
_BY_HOSTS = select(_T).where(_T.c.host.in_(bindparam("hosts", expanding=True)))
# The rows of a check as the driver gives them: capabilities as their JSON text, times as
# stored (text on SQLite, datetime on PostgreSQL), converted only for an agent not seen before.
_RAW_BY_HOSTS = select(
    _T.c.id,
    _T.c.agent_type,
    _T.c.host,
    _T.c.binary,
    sql_cast(_T.c.capabilities, Text),
    _T.c.admin_state_up,
    type_coerce(_T.c.heartbeat_at, Text),
    type_coerce(_T.c.created_at, Text),
    _T.c.revision,
).where(_T.c.host.in_(bindparam("hosts", expanding=True)))
Clock = Callable[[], dt.datetime]
RawAgent = tuple[str, str, str, str, str, bool, object, object, bool, int]
"""An agent row as read for a check: id, agent_type, host, binary, capabilities (JSON text),
admin_state_up, heartbeat and creation times as stored, alive (computed at the read) and the
revision. Equal tuples are the same agent in the same state; ``agent_from_raw`` converts one."""
FLUSH_CHUNK = 5000
"""Heartbeats written by one statement (and transaction) of a flush."""
# A flush: each heartbeat moves its agent's heartbeat_at forward, never back (another replica
# may have written a later one), and the agents found are returned; the missing were deleted.
# An agent the flush finds dead (heartbeat older than ``dead``) comes back alive: its revision
# moves.
_FLUSH_POSTGRES = text(
    "UPDATE agents AS a SET heartbeat_at = GREATEST(a.heartbeat_at, v.beat),"
    " revision = a.revision + CASE WHEN a.heartbeat_at < :dead THEN 1 ELSE 0 END"
    " FROM unnest(CAST(:ids AS varchar[]), CAST(:beats AS timestamp[])) AS v(id, beat)"
    " WHERE a.id = v.id RETURNING a.id"
).bindparams(
    bindparam("ids", type_=ARRAY(String())),
    bindparam("beats", type_=ARRAY(DateTime())),
    bindparam("dead", type_=DateTime()),
)
# On SQLite the statement goes to the driver as it is, with the times already as SQLAlchemy
# stores a DateTime there (``_sqlite_time``): thousands of rows per flush, each without the
# per-value conversions of an executemany through SQLAlchemy.
_FLUSH_SQLITE = (
    "UPDATE agents SET heartbeat_at = MAX(heartbeat_at, ?),"
    " revision = revision + CASE WHEN heartbeat_at < ? THEN 1 ELSE 0 END WHERE id = ?"
)
# A flush of the agents held here: one time for all, the same forward-only, reviving update as
# a heartbeat; what a holder is told about (admin_state_up, revision) comes back with it.
_HOLD_POSTGRES = text(
    "UPDATE agents SET heartbeat_at = GREATEST(heartbeat_at, :beat),"
    " revision = revision + CASE WHEN heartbeat_at < :dead THEN 1 ELSE 0 END"
    " WHERE id = ANY(CAST(:ids AS varchar[])) RETURNING id, admin_state_up, revision"
).bindparams(
    bindparam("ids", type_=ARRAY(String())),
    bindparam("beat", type_=DateTime()),
    bindparam("dead", type_=DateTime()),
)
_HOLD_SQLITE = (
    "UPDATE agents SET heartbeat_at = MAX(heartbeat_at, ?),"
    " revision = revision + CASE WHEN heartbeat_at < ? THEN 1 ELSE 0 END"
    " WHERE id IN (SELECT value FROM json_each(?)) RETURNING id, admin_state_up, revision"
)
HoldListener = Callable[["values.Agent | None"], None]
"""Told of a held agent's changes: the agent after a change (admin_state_up, revision,
capabilities), or None once it is deleted. Called from any thread, without the registry's lock;
it must not block (an event loop's ``call_soon_threadsafe``)."""
_BATCHED = metrics.HEARTBEATS.labels("batched")
_IMMEDIATE = metrics.HEARTBEATS.labels("immediate")
_FOUND = select(_T.c.id).where(_T.c.id.in_(bindparam("ids", expanding=True)))


def utcnow() -> dt.datetime:
    """Returns the current time as a naive UTC datetime (how agent times are stored)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class AgentRegistration:
    """What an agent says about itself when it registers."""

    agent_type: str
    host: str
    capabilities: values.HostCapabilities
    binary: str = ""


@dataclass(frozen=True)
class AgentPage:
    """One page of agents; ``next_after`` is the (host, agent_type) to continue after, or None."""

    agents: tuple[values.Agent, ...]
    next_after: tuple[str, str] | None


@dataclass(frozen=True)
class AgentStatePage:
    """One page of agent states; ``next_after`` as in ``AgentPage``."""

    agents: tuple[values.AgentState, ...]
    next_after: tuple[str, str] | None


class _Lease:
    """What a replica knows of an agent it has seen: the agent as last read or written (to
    answer heartbeats with), the latest heartbeat received here, and until when the agent may
    be answered from memory (``durable`` + down time - twice the flush interval, where
    ``durable`` is a heartbeat known to be in the database)."""

    __slots__ = ("agent", "beat", "durable", "fast_until")

    def __init__(self, agent: values.Agent, durable: dt.datetime, margin: dt.timedelta) -> None:
        self.agent = agent
        self.beat: dt.datetime | None = None
        self.durable = durable
        self.fast_until = durable + margin

    def written(self, beat: dt.datetime, margin: dt.timedelta) -> None:
        """Records that ``beat`` is in the database."""
        if beat > self.durable:
            self.durable = beat
            self.fast_until = beat + margin


_STATE_COLUMNS = (
    _T.c.id,
    _T.c.agent_type,
    _T.c.host,
    _T.c.admin_state_up,
    _T.c.heartbeat_at,
    _T.c.revision,
)


def list_statement(
    host: str,
    agent_type: str,
    after: tuple[str, str] | None,
    limit: int,
    columns: Sequence[Any] = (_T,),
) -> Any:
    """The statement of one page of agents (``columns`` of them) in (host, agent_type) order.

    A filter fixes its column, so the order and the keyset condition are on the other columns
    only: by host, (agent_type) in the (host, agent_type) unique index; by type, (host) in the
    (agent_type, host) index; neither, (host, agent_type) in the unique index. Each page is one
    range of an index, at any depth.
    """
    order = (_T.c.host, _T.c.agent_type)
    fixed = {"host": host, "agent_type": agent_type}
    return sql.keyset_page(select(*columns), order, fixed, after, limit)


class AgentRegistry:
    """Stores agents and judges their liveness. Thread-safe: every call opens its own session."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        down_time: float,
        clock: Clock = utcnow,
        flush_interval: float = 0.0,
    ) -> None:
        self._factory = factory
        self._down_time = dt.timedelta(seconds=down_time)
        self._clock = clock
        self._flush_interval = flush_interval
        # A heartbeat is answered from memory only while the one in the database keeps the
        # agent alive for two more flush intervals: one until the flush, one of margin for it.
        self._margin = self._down_time - dt.timedelta(seconds=2 * flush_interval)
        # A held agent's heartbeat is written again once the written one is this old: half the
        # margin, so that the database shows it alive with room to spare.
        self._hold_refresh = self._margin / 2
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}
        self._pending: dict[str, dt.datetime] = {}
        self._holds: dict[str, list[HoldListener]] = {}
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        engine: Engine = factory.kw["bind"]
        postgres = engine.dialect.name == "postgresql"
        self._postgres = postgres
        self._insert = postgresql.insert if postgres else sqlite.insert
        # Reads are single statements: on PostgreSQL they skip BEGIN/ROLLBACK round trips.
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else engine
        )

    @property
    def local_database(self) -> bool:
        """True on SQLite (a local file: a read never waits for the network or, in WAL mode,
        for a writer), False on PostgreSQL."""
        return not self._postgres

    @property
    def down_time(self) -> float:
        """Seconds without a sign of life after which an agent is dead."""
        return self._down_time.total_seconds()

    def register(self, reg: AgentRegistration) -> tuple[values.Agent, bool]:
        """Registers an agent or refreshes the one of the same host and type; returns the agent
        and whether it is new. The agent keeps its id, creation time and admin state."""
        now = self._clock()
        new_id = str(uuid.uuid4())
        stmt = self._insert(_T).values(
            id=new_id,
            agent_type=reg.agent_type,
            host=reg.host,
            binary=reg.binary,
            capabilities=convert.capabilities_to_json(reg.capabilities),
            admin_state_up=True,
            heartbeat_at=now,
            created_at=now,
            revision=1,
        )
        # Other capabilities, or an agent found dead, may bind what it could not: a new revision.
        changed = or_(
            sql_cast(_T.c.capabilities, Text) != sql_cast(stmt.excluded.capabilities, Text),
            _T.c.heartbeat_at < now - self._down_time,
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=[_T.c.host, _T.c.agent_type],
            set_={
                "binary": stmt.excluded.binary,
                "capabilities": stmt.excluded.capabilities,
                "heartbeat_at": stmt.excluded.heartbeat_at,
                "revision": _T.c.revision + case((changed, 1), else_=0),
            },
        ).returning(*_T.c)
        with sql.write_session(self._factory) as session:
            row = session.execute(upsert).one()
        agent = self._agent(row, now)
        self._learn(row, agent)
        return agent, row.id == new_id

    @property
    def flush_interval(self) -> float:
        """Seconds between two writes of the heartbeats held in memory; 0 writes each at once."""
        return self._flush_interval

    def heartbeat(self, agent_id: str) -> values.Agent:
        """Records a sign of life. Raises AgentNotFound for an unknown id (or one another
        replica deleted, once a flush has found it gone)."""
        now = self._clock()
        agent = self._held(agent_id, now)
        if agent is not None:
            return agent
        return self._write_heartbeat(agent_id, now)

    def held_heartbeat(self, agent_id: str) -> values.Agent | None:
        """Records a sign of life from memory alone, as ``heartbeat`` does when it can; returns
        None when ``heartbeat`` must be called instead (it writes to the database). Never does
        I/O, so an event loop may call it."""
        return self._held(agent_id, self._clock())

    def held_beat(self, agent_id: str) -> tuple[values.Agent, dt.datetime] | None:
        """``held_heartbeat`` without building the answer: returns the agent as this replica
        last wrote or read it (the same object until it does again, so that a caller may keep
        what it derives from it) and the heartbeat's time (naive UTC); the agent after the
        heartbeat is that one alive, with that heartbeat time. None when ``heartbeat`` must be
        called instead."""
        now = self._clock()
        agent = self._hold(agent_id, now)
        return None if agent is None else (agent, now)

    def _held(self, agent_id: str, now: dt.datetime) -> values.Agent | None:
        agent = self._hold(agent_id, now)
        if agent is None:
            return None
        return dataclasses.replace(agent, alive=True, heartbeat_at=now.replace(tzinfo=dt.UTC))

    def _hold(self, agent_id: str, now: dt.datetime) -> values.Agent | None:
        """Holds a heartbeat at ``now`` in memory if the lease allows; returns the lease's
        agent, or None."""
        if self._flush_interval <= 0:
            return None
        with self._lock:
            lease = self._leases.get(agent_id)
            if lease is None or now >= lease.fast_until:
                return None
            lease.beat = now
            self._pending[agent_id] = now
            agent = lease.agent
        _BATCHED.inc()
        return agent

    @property
    def hold_refresh(self) -> float:
        """Seconds after which a held agent's written heartbeat is written again."""
        return self._hold_refresh.total_seconds()

    @property
    def can_hold(self) -> bool:
        """Whether this registry holds leases: only when it batches heartbeats (its flushes
        write the held agents' heartbeats)."""
        return self._flush_interval > 0

    def hold(self, agent_id: str, listener: HoldListener) -> None:
        """Keeps ``agent_id`` alive until ``release(agent_id, listener)``; ``listener`` hears of
        its changes. The caller has just recorded a heartbeat of the agent (``heartbeat`` or
        ``held_beat``), which keeps it alive until the next flush writes the hold. Memory only:
        an event loop may call it. Holds of the same agent by several holders add up."""
        with self._lock:
            holders = self._holds.setdefault(agent_id, [])
            holders.append(listener)
            metrics.HELD_AGENTS.set(len(self._holds))

    def release(self, agent_id: str, listener: HoldListener) -> None:
        """Ends a hold; when it was the agent's last here, the release time becomes its last
        heartbeat (written at the next flush), so it dies ``down_time`` later. Memory only."""
        now = self._clock()
        with self._lock:
            holders = self._holds.get(agent_id)
            if holders is None or listener not in holders:
                return
            holders.remove(listener)
            if holders:
                return
            del self._holds[agent_id]
            metrics.HELD_AGENTS.set(len(self._holds))
            lease = self._leases.get(agent_id)
            if lease is None:
                return  # deleted meanwhile
            lease.beat = now
            self._pending[agent_id] = now

    def held(self, agent_id: str) -> bool:
        """Whether this replica holds the agent's lease."""
        with self._lock:
            return agent_id in self._holds

    def _notify(self, agent_id: str, agent: values.Agent | None) -> None:
        """Tells the holders of ``agent_id`` of its change (None: deleted)."""
        with self._lock:
            listeners = list(self._holds.get(agent_id, ()))
            if agent is None:
                self._holds.pop(agent_id, None)
                metrics.HELD_AGENTS.set(len(self._holds))
        for listener in listeners:
            try:
                listener(agent)
            except Exception:
                logger.warning("cannot tell a holder of agent %s", agent_id, exc_info=True)

    def _write_heartbeat(self, agent_id: str, now: dt.datetime) -> values.Agent:
        _IMMEDIATE.inc()
        revived = case((_T.c.heartbeat_at < now - self._down_time, 1), else_=0)
        stmt = (
            update(_T)
            .where(_T.c.id == agent_id)
            .values(heartbeat_at=now, revision=_T.c.revision + revived)
            .returning(*_T.c)
        )
        return self._write_one(stmt, agent_id, now)

    def flush(self) -> int:
        """Writes the heartbeats held in memory; returns how many. Agents found deleted lose
        their lease, so that their next heartbeat answers NOT_FOUND. On a database error the
        heartbeats are kept for the next flush and the error is raised."""
        with self._flush_lock:
            with self._lock:
                # A held agent's heartbeat is written with the holds, at the flush's time, once
                # the one in the database is a refresh old (or it has one held in memory).
                due = self._clock() - self._hold_refresh
                held = sorted(
                    agent_id
                    for agent_id in self._holds
                    if agent_id in self._pending
                    or (lease := self._leases.get(agent_id)) is None
                    or lease.durable <= due
                )
                beats = {k: v for k, v in self._pending.items() if k not in self._holds}
                self._pending = {}
            if not beats and not held:
                return 0
            start = time.perf_counter()
            try:
                found = self._write_beats(beats)
                if held:
                    found.update(self._write_holds(held))
            except Exception:
                with self._lock:
                    for agent_id, beat in beats.items():
                        if self._pending.get(agent_id, beat) <= beat:
                            self._pending[agent_id] = beat
                metrics.HEARTBEAT_FLUSHES.labels("failed").inc()
                metrics.HEARTBEAT_FLUSH_SECONDS.observe(time.perf_counter() - start)
                raise
            with self._lock:
                for agent_id, beat in beats.items():
                    lease = self._leases.get(agent_id)
                    if lease is None:
                        continue
                    if agent_id in found:
                        lease.written(beat, self._margin)
                    else:
                        del self._leases[agent_id]
                        self._pending.pop(agent_id, None)
                self._prune(self._clock())
            metrics.HEARTBEAT_FLUSHES.labels("ok").inc()
            metrics.HEARTBEAT_FLUSH_ROWS.inc(len(found))
            metrics.HEARTBEAT_FLUSH_SECONDS.observe(time.perf_counter() - start)
            gone = len(beats) + len(held) - len(found)
            if gone:
                logger.info("%d heartbeating agents were deleted meanwhile", gone)
            return len(found)

    def _write_holds(self, held: list[str]) -> set[str]:
        """Writes the heartbeat of every agent held here at this time, one statement per chunk;
        tells the holders of the agents found changed (admin_state_up, revision: re-read) or
        deleted; returns the ids found."""
        now = self._clock()
        dead = now - self._down_time
        seen: dict[str, tuple[bool, int]] = {}
        for at in range(0, len(held), FLUSH_CHUNK):
            ids = held[at : at + FLUSH_CHUNK]
            with sql.write_session(self._factory) as session:
                if self._postgres:
                    params = {"ids": ids, "beat": now, "dead": dead}
                    rows = session.execute(_HOLD_POSTGRES, params).all()
                else:
                    rows = (
                        session.connection()
                        .exec_driver_sql(
                            _HOLD_SQLITE, (_sqlite_time(now), _sqlite_time(dead), json.dumps(ids))
                        )
                        .all()
                    )
            seen.update((row[0], (bool(row[1]), int(row[2]))) for row in rows)
        changed: list[str] = []
        with self._lock:
            for agent_id in held:
                lease = self._leases.get(agent_id)
                if agent_id not in seen or lease is None:
                    continue
                lease.written(now, self._margin)
                if seen[agent_id] != (lease.agent.admin_state_up, lease.agent.revision):
                    changed.append(agent_id)
        for agent_id in held:
            if agent_id not in seen:
                self._forget(agent_id)
                self._notify(agent_id, None)
        if changed:
            for row in self._read(select(_T).where(_T.c.id.in_(changed))):
                agent = self._agent(row, now)
                self._learn(row, agent)
        return set(seen)

    def start_flushing(self) -> None:
        """Starts the thread that flushes every ``flush_interval`` seconds (none when 0)."""
        if self._flush_interval <= 0 or self._flusher is not None:
            return
        self._flusher = threading.Thread(target=self._flush_loop, name="heartbeat-flush")
        self._flusher.daemon = True
        self._flusher.start()

    def close(self) -> None:
        """Stops the flushing thread and writes what it holds (at a graceful stop)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(30)
        try:
            self.flush()
        except Exception:
            logger.warning("cannot write the last heartbeats", exc_info=True)

    def _flush_loop(self) -> None:
        # Flushes start every interval from the first, whatever each takes (a late one is not
        # made up for with a burst).
        due = time.monotonic() + self._flush_interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due = max(due + self._flush_interval, time.monotonic())
            try:
                self.flush()
            except Exception:
                logger.warning("cannot write heartbeats; kept for the next flush", exc_info=True)

    def _write_beats(self, beats: dict[str, dt.datetime]) -> set[str]:
        """Writes the heartbeats, a chunk per transaction; returns the ids found."""
        items = sorted(beats.items())
        found: set[str] = set()
        for at in range(0, len(items), FLUSH_CHUNK):
            chunk = items[at : at + FLUSH_CHUNK]
            ids = [agent_id for agent_id, _ in chunk]
            dead = self._clock() - self._down_time
            with sql.write_session(self._factory) as session:
                if self._postgres:
                    params = {"ids": ids, "beats": [beat for _, beat in chunk], "dead": dead}
                    found.update(session.execute(_FLUSH_POSTGRES, params).scalars())
                    continue
                stored_dead = _sqlite_time(dead)
                result = session.connection().exec_driver_sql(
                    _FLUSH_SQLITE, [(_sqlite_time(b), stored_dead, i) for i, b in chunk]
                )
                if result.rowcount == len(chunk):
                    found.update(ids)
                else:
                    found.update(session.execute(_FOUND, {"ids": ids}).scalars())
        return found

    def _prune(self, now: dt.datetime) -> None:
        """Forgets the leases of agents dead by their last heartbeat (their next one is written
        at once anyway); called with the lock held."""
        dead = now - self._down_time
        stale = [
            agent_id
            for agent_id, lease in self._leases.items()
            if lease.durable < dead
            and (lease.beat is None or lease.beat < dead)
            and agent_id not in self._pending
            and agent_id not in self._holds
        ]
        for agent_id in stale:
            del self._leases[agent_id]

    def _learn(self, row: Row[Any], agent: values.Agent) -> None:
        """Keeps the lease of an agent just written (batching only)."""
        if self._flush_interval <= 0:
            return
        with self._lock:
            lease = self._leases.get(row.id)
            before = None if lease is None else lease.agent
            if lease is None:
                self._leases[row.id] = _Lease(agent, row.heartbeat_at, self._margin)
            else:
                lease.agent = agent
                lease.written(row.heartbeat_at, self._margin)
            held = row.id in self._holds
        if held and (before is None or _change(before) != _change(agent)):
            self._notify(row.id, agent)

    def _forget(self, agent_id: str) -> None:
        with self._lock:
            self._leases.pop(agent_id, None)
            self._pending.pop(agent_id, None)

    def set_admin_state(self, agent_id: str, admin_state_up: bool) -> values.Agent:
        """Allows or forbids binding to an agent (allowing it again moves its revision).
        Raises AgentNotFound."""
        revision: Any = _T.c.revision
        if admin_state_up:
            revision = _T.c.revision + case((_T.c.admin_state_up.is_(False), 1), else_=0)
        stmt = (
            update(_T)
            .where(_T.c.id == agent_id)
            .values(admin_state_up=admin_state_up, revision=revision)
            .returning(*_T.c)
        )
        return self._write_one(stmt, agent_id, self._clock())

    def delete(self, agent_id: str) -> values.Agent:
        """Removes an agent and returns it. Raises AgentNotFound."""
        stmt = delete(_T).where(_T.c.id == agent_id).returning(*_T.c)
        try:
            return self._write_one(stmt, agent_id, self._clock(), keep=False)
        finally:
            self._forget(agent_id)
            self._notify(agent_id, None)

    def get(self, agent_id: str) -> values.Agent:
        """Returns an agent. Raises AgentNotFound."""
        rows = self._read(select(_T).where(_T.c.id == agent_id))
        if not rows:
            raise errors.AgentNotFound(agent_id)
        return self._agent(rows[0], self._clock())

    def list_agents(
        self,
        *,
        host: str = "",
        agent_type: str = "",
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> AgentPage:
        """Returns up to ``limit`` agents ordered by (host, agent_type), after ``after``."""
        rows = self._read(list_statement(host, agent_type, after, limit + 1))
        now = self._clock()
        agents = tuple(self._agent(r, now) for r in rows[:limit])
        more = len(rows) > limit
        return AgentPage(agents, (agents[-1].host, agents[-1].agent_type) if more else None)

    def list_agent_states(
        self,
        *,
        host: str = "",
        agent_type: str = "",
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> AgentStatePage:
        """``list_agents`` without the capabilities: the columns liveness needs only, none of
        the JSON decoded, at a fraction of the cost per agent."""
        rows = self._read(list_statement(host, agent_type, after, limit + 1, _STATE_COLUMNS))
        now = self._clock()
        states = tuple(
            values.AgentState(
                id=r.id,
                agent_type=r.agent_type,
                host=r.host,
                alive=now - self._beat(r.id, r.heartbeat_at, now) <= self._down_time,
                admin_state_up=bool(r.admin_state_up),
                revision=int(r.revision),
            )
            for r in rows[:limit]
        )
        more = len(rows) > limit
        return AgentStatePage(states, (states[-1].host, states[-1].agent_type) if more else None)

    def host_agents(self, host: str) -> tuple[values.Agent, ...]:
        """Returns every agent registered from ``host``, with liveness: one query."""
        rows = self._read(_BY_HOST, {"host": host})
        now = self._clock()
        return tuple(self._agent(r, now) for r in rows)

    def agents_by_host(self, hosts: Sequence[str]) -> dict[str, tuple[values.Agent, ...]]:
        """Returns the agents registered from each of ``hosts``, with liveness, in one query;
        a host without agents maps to ``()``."""
        found: dict[str, list[values.Agent]] = {host: [] for host in hosts}
        now = self._clock()
        for row in self._read(_BY_HOSTS, {"hosts": list(found)}):
            found[row.host].append(self._agent(row, now))
        return {host: tuple(agents) for host, agents in found.items()}

    def raw_agents_by_host(self, hosts: Sequence[str]) -> dict[str, tuple[RawAgent, ...]]:
        """Returns the agent rows of each of ``hosts`` unconverted (``RawAgent``), with
        liveness, in one query; a host without agents maps to ``()``. Cheaper than
        ``agents_by_host`` when most agents were converted before."""
        found: dict[str, list[RawAgent]] = {host: [] for host in hosts}
        now = self._clock()
        down = self._down_time
        for row in self._read(_RAW_BY_HOSTS, {"hosts": list(found)}):
            heartbeat = _stored_time(row[6])
            found[row[2]].append(
                (
                    row[0],
                    row[1],
                    row[2],
                    row[3] or "",
                    row[4] or "",
                    bool(row[5]),
                    row[6],
                    row[7],
                    now - heartbeat <= down,
                    int(row[8]),
                )
            )
        return {host: tuple(rows) for host, rows in found.items()}

    def count_by_type(self) -> dict[tuple[str, bool], int]:
        """Returns the number of agents per (agent_type, alive)."""
        alive = case((_T.c.heartbeat_at >= self._clock() - self._down_time, True), else_=False)
        stmt = select(_T.c.agent_type, alive, func.count()).group_by(_T.c.agent_type, alive)
        return {(row[0], bool(row[1])): int(row[2]) for row in self._read(stmt)}

    def _read(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        with self._reader.connect() as conn:
            return list(conn.execute(stmt, params).all())

    def _write_one(
        self, stmt: Any, agent_id: str, now: dt.datetime, *, keep: bool = True
    ) -> values.Agent:
        with sql.write_session(self._factory) as session:
            row = session.execute(stmt).one_or_none()
        if row is None:
            self._forget(agent_id)
            self._notify(agent_id, None)
            raise errors.AgentNotFound(agent_id)
        agent = self._agent(row, now)
        if keep:
            self._learn(row, agent)
        return agent

    def _beat(self, agent_id: str, written: dt.datetime, now: dt.datetime) -> dt.datetime:
        """The agent's latest heartbeat as this replica knows it."""
        lease = self._leases.get(agent_id)
        if agent_id in self._holds and now > written:
            return now  # held here: alive at every read
        if lease is not None and lease.beat is not None and lease.beat > written:
            return lease.beat  # received here, not yet written
        return written

    def _agent(self, row: Row[Any], now: dt.datetime) -> values.Agent:
        beat = self._beat(row.id, row.heartbeat_at, now)
        return values.Agent(
            id=row.id,
            agent_type=row.agent_type,
            host=row.host,
            binary=row.binary,
            capabilities=convert.capabilities_from_json(row.capabilities or {}),
            admin_state_up=bool(row.admin_state_up),
            alive=now - beat <= self._down_time,
            heartbeat_at=beat.replace(tzinfo=dt.UTC),
            created_at=row.created_at.replace(tzinfo=dt.UTC),
            revision=int(row.revision),
        )


def _change(agent: values.Agent) -> tuple[object, ...]:
    """What a holder of the agent is told about when it changes."""
    return (agent.admin_state_up, agent.revision, agent.capabilities, agent.binary)


def agent_from_raw(raw: RawAgent) -> values.Agent:
    """Returns the Agent of a row read by ``raw_agents_by_host``."""
    agent_id, agent_type, host, binary, caps, admin_state_up, heartbeat, created, alive, rev = raw
    return values.Agent(
        id=agent_id,
        agent_type=agent_type,
        host=host,
        binary=binary,
        capabilities=convert.capabilities_from_json(json.loads(caps) if caps else {}),
        admin_state_up=admin_state_up,
        alive=alive,
        heartbeat_at=_stored_time(heartbeat).replace(tzinfo=dt.UTC),
        created_at=_stored_time(created).replace(tzinfo=dt.UTC),
        revision=rev,
    )


def _sqlite_time(value: dt.datetime) -> str:
    """A naive UTC time as SQLAlchemy's DateTime stores it in SQLite (its default storage
    format, ``YYYY-MM-DD HH:MM:SS.ffffff``), so that stored times compare as text."""
    return value.isoformat(sep=" ", timespec="microseconds")


def _stored_time(value: object) -> dt.datetime:
    """A naive UTC time as the driver returned it: a datetime, or SQLite's ISO text."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
