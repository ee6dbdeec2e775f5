"""The statements of the rebinder (``services.portapi.rebind``): which agent revisions were
handled, claiming a newer one, and marking a host's failed bindings pending.

A replica claims an agent's revision with one upsert that inserts the agent's row or moves its
revision forward only if the stored one is older (``ON CONFLICT ... DO UPDATE ... WHERE``); the
row it returns says whether this replica won. In the same transaction it marks the failed
bindings of the agent's host pending (``pending_since``, the reconciler's column): the claim and
the work it owes are committed together, so a replica that stops before retrying them leaves
them to the reconciler, exactly as a request interrupted while binding does. The same
statements serve SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ml2_contract import vocabulary
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.portapi.db import models

A = models.agent_rebinds
B = models.port_bindings


def handled(session: Session) -> dict[str, int]:
    """Returns the revision handled of every agent recorded, by agent id."""
    return {row.agent_id: int(row.revision) for row in session.execute(select(A))}


def claim(session: Session, agent_id: str, host: str, revision: int, now: datetime) -> bool:
    """Records ``revision`` as the agent's handled one if no replica handled it (or a newer
    one) yet; returns whether this call did."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = insert(A).values(agent_id=agent_id, host=host, revision=revision, rebound_at=now)
    stmt = values.on_conflict_do_update(
        index_elements=[A.c.agent_id],
        set_={"host": host, "revision": revision, "rebound_at": now},
        where=A.c.revision < revision,
    ).returning(A.c.agent_id)
    return session.execute(stmt).first() is not None


def mark_failed_pending(session: Session, host: str, now: datetime) -> list[str]:
    """Marks every failed binding of ``host`` not already pending as pending since ``now``;
    returns their port ids, in id order."""
    stmt = (
        update(B)
        .where(B.c.host_id == host, B.c.state == vocabulary.FAILED, B.c.pending_since.is_(None))
        .values(pending_since=now)
        .returning(B.c.port_id)
    )
    return sorted(session.execute(stmt).scalars())


def in_flight(session: Session, host: str) -> list[str]:
    """Returns the ports of ``host`` whose binding is being resolved (pending, no result yet),
    in id order."""
    stmt = select(B.c.port_id).where(
        B.c.host_id == host, B.c.state == vocabulary.UNBOUND, B.c.pending_since.is_not(None)
    )
    return sorted(session.execute(stmt).scalars())


def mark_one_failed_pending(session: Session, port_id: str, now: datetime) -> bool:
    """Marks the port's binding pending since ``now`` if it failed and is not pending; returns
    whether it did."""
    stmt = (
        update(B)
        .where(B.c.port_id == port_id, B.c.state == vocabulary.FAILED, B.c.pending_since.is_(None))
        .values(pending_since=now)
    )
    return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]


def forget(session: Session, agent_ids: Sequence[str]) -> None:
    """Deletes the rows of agents mechmgr no longer lists."""
    if agent_ids:
        session.execute(delete(A).where(A.c.agent_id.in_(list(agent_ids))))
