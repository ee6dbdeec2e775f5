"""The agent registry: L2 agents register, keep alive with heartbeats, and are looked up by host.

One agent per (host, agent_type). Registering again (an agent restart, or two mechmgr replicas
racing on the same agent) updates that row in one ``INSERT ... ON CONFLICT DO UPDATE`` statement,
so the agent keeps its id. An agent is alive while its last sign of life (registration or
heartbeat) is within ``down_time`` seconds of now; liveness is computed on read, never stored.
Times are naive UTC from the process clock: replicas need synchronised clocks (NTP).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ml2_contract import convert, values
from sqlalchemy import (
    Engine,
    Row,
    Table,
    Text,
    bindparam,
    case,
    delete,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.mechmgr import errors
from services.mechmgr.db import models

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
).where(_T.c.host.in_(bindparam("hosts", expanding=True)))
Clock = Callable[[], dt.datetime]
RawAgent = tuple[str, str, str, str, str, bool, object, object, bool]
"""An agent row as read for a check: id, agent_type, host, binary, capabilities (JSON text),
admin_state_up, heartbeat and creation times as stored, and alive (computed at the read).
Equal tuples are the same agent in the same state; ``agent_from_raw`` converts one."""


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


def list_statement(host: str, agent_type: str, after: tuple[str, str] | None, limit: int) -> Any:
    """The statement of one page of agents in (host, agent_type) order.

    A filter fixes its column, so the order and the keyset condition are on the other columns
    only: by host, (agent_type) in the (host, agent_type) unique index; by type, (host) in the
    (agent_type, host) index; neither, (host, agent_type) in the unique index. Each page is one
    range of an index, at any depth.
    """
    order = (_T.c.host, _T.c.agent_type)
    fixed = {"host": host, "agent_type": agent_type}
    return sql.keyset_page(select(_T), order, fixed, after, limit)


class AgentRegistry:
    """Stores agents and judges their liveness. Thread-safe: every call opens its own session."""

    def __init__(
        self, factory: sessionmaker[Session], down_time: float, clock: Clock = utcnow
    ) -> None:
        self._factory = factory
        self._down_time = dt.timedelta(seconds=down_time)
        self._clock = clock
        engine: Engine = factory.kw["bind"]
        postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if postgres else sqlite.insert
        # Reads are single statements: on PostgreSQL they skip BEGIN/ROLLBACK round trips.
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else engine
        )

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
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=[_T.c.host, _T.c.agent_type],
            set_={
                "binary": stmt.excluded.binary,
                "capabilities": stmt.excluded.capabilities,
                "heartbeat_at": stmt.excluded.heartbeat_at,
            },
        ).returning(*_T.c)
        with sql.write_session(self._factory) as session:
            row = session.execute(upsert).one()
        return self._agent(row, now), row.id == new_id

    def heartbeat(self, agent_id: str) -> values.Agent:
        """Records a sign of life. Raises AgentNotFound for an unknown id."""
        now = self._clock()
        stmt = update(_T).where(_T.c.id == agent_id).values(heartbeat_at=now).returning(*_T.c)
        return self._write_one(stmt, agent_id, now)

    def set_admin_state(self, agent_id: str, admin_state_up: bool) -> values.Agent:
        """Allows or forbids binding to an agent. Raises AgentNotFound."""
        stmt = (
            update(_T)
            .where(_T.c.id == agent_id)
            .values(admin_state_up=admin_state_up)
            .returning(*_T.c)
        )
        return self._write_one(stmt, agent_id, self._clock())

    def delete(self, agent_id: str) -> values.Agent:
        """Removes an agent and returns it. Raises AgentNotFound."""
        stmt = delete(_T).where(_T.c.id == agent_id).returning(*_T.c)
        return self._write_one(stmt, agent_id, self._clock())

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

    def _write_one(self, stmt: Any, agent_id: str, now: dt.datetime) -> values.Agent:
        with sql.write_session(self._factory) as session:
            row = session.execute(stmt).one_or_none()
        if row is None:
            raise errors.AgentNotFound(agent_id)
        return self._agent(row, now)

    def _agent(self, row: Row[Any], now: dt.datetime) -> values.Agent:
        return values.Agent(
            id=row.id,
            agent_type=row.agent_type,
            host=row.host,
            binary=row.binary,
            capabilities=convert.capabilities_from_json(row.capabilities or {}),
            admin_state_up=bool(row.admin_state_up),
            alive=now - row.heartbeat_at <= self._down_time,
            heartbeat_at=row.heartbeat_at.replace(tzinfo=dt.UTC),
            created_at=row.created_at.replace(tzinfo=dt.UTC),
        )


def agent_from_raw(raw: RawAgent) -> values.Agent:
    """Returns the Agent of a row read by ``raw_agents_by_host``."""
    agent_id, agent_type, host, binary, caps, admin_state_up, heartbeat, created, alive = raw
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
    )


def _stored_time(value: object) -> dt.datetime:
    """A naive UTC time as the driver returned it: a datetime, or SQLite's ISO text."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
