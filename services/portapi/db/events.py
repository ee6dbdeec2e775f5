"""The port event log: statements that write, read and prune ``port_events``, and the revision
counter that orders them.

Why a one-row counter. Every transaction that changes ports takes its events' revisions with
``UPDATE port_event_counter SET revision = revision + n ... RETURNING revision`` just before it
inserts them, in the same transaction. The update row-locks the counter until the
transaction ends, so a second writer waits for the first to commit (or roll back, which also
rolls the counter back) before it takes the next number. Hence, across every replica sharing
the database:

* revisions are dense: a rolled-back transaction gives its number back, so revision n + 1 is
  never committed without n;
* revisions are in commit order: n + 1 is taken only after the transaction of n committed, so
  any reader that sees n + 1 also sees n.

A watcher that has read up to revision p can therefore ask for ``revision > p`` at any moment
and never skip an event that commits later with a smaller revision (the failure of sequences
and autoincrement keys, whose numbers are taken at insert and committed in any order), and a
missing p + 1 can only mean that it was pruned. The price is that port writes commit one at a
time; the lock is taken last in each transaction (after the port rows are locked and written),
so it is held only for the event insert and the commit, and it can never be part of a lock
cycle. SQLite serialises its write transactions anyway (``BEGIN IMMEDIATE``).

On PostgreSQL the writer also sends ``NOTIFY ml2_port_events`` in the committing transaction
(delivered at commit, dropped on rollback), which wakes the other replicas' hubs (``watch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from services.portapi.db import models

E = models.port_events
C = models.port_event_counter

CHANNEL = "ml2_port_events"
"""The PostgreSQL notification channel of new port events."""

PENDING = "ml2_port_events_pending"
"""``Session.info`` key: the events a transaction staged, written by ``flush``."""


@dataclass(frozen=True)
class StoredEvent:
    """One row of the event log."""

    revision: int
    port_id: str
    type: str
    port: bytes
    network_id: str
    host_id: str
    previous_host_id: str
    time: datetime


def stage(
    session: Session,
    *,
    port_id: str,
    type: str,
    port: bytes,
    network_id: str,
    host_id: str,
    previous_host_id: str,
) -> None:
    """Queues an event to be written when the transaction's work is done (``flush``)."""
    session.info.setdefault(PENDING, []).append(
        {
            "port_id": port_id,
            "type": type,
            "port": port,
            "network_id": network_id,
            "host_id": host_id,
            "previous_host_id": previous_host_id,
        }
    )


def flush(session: Session, time: datetime) -> list[str]:
    """Writes the transaction's staged events, each with the next revision, and on PostgreSQL
    notifies the other replicas at commit. Returns their types.

    Called last in the transaction (``repository.run_write``), after every port row it changes
    is locked and written, so that the counter's lock is the last one taken and held briefly.
    """
    staged = session.info.pop(PENDING, [])
    if not staged:
        return []
    first = int(session.execute(_TAKE_REVISIONS, {"n": len(staged)}).scalar_one()) - len(staged)
    session.execute(
        _INSERT,
        [{**event, "revision": first + i + 1, "time": time} for i, event in enumerate(staged)],
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))
    return [event["type"] for event in staged]


_TAKE_REVISIONS = (
    update(C)
    .where(C.c.id == 1)
    .values(revision=C.c.revision + bindparam("n"))
    .returning(C.c.revision)
)
_INSERT = E.insert()


def current_revision(session: Session) -> int:
    """Returns the revision of the newest event ever written (0 before the first)."""
    return int(session.execute(select(C.c.revision).where(C.c.id == 1)).scalar_one())


def oldest_revision(session: Session) -> int:
    """Returns the revision of the oldest event kept; one more than the current revision when
    none is kept."""
    oldest = session.execute(select(func.min(E.c.revision))).scalar_one_or_none()
    if oldest is not None:
        return int(oldest)
    return current_revision(session) + 1


def read_after(session: Session, revision: int, limit: int) -> list[StoredEvent]:
    """Returns the events with revisions from ``revision + 1`` to ``revision + limit``, in
    order. Revisions are dense, so these are the next ``limit`` events unless some of them were
    pruned; an empty answer with a newer ``current_revision`` means all of them were.

    The range, rather than ``LIMIT``, lets the database find them through the primary key
    whatever it knows of the table: without statistics (a new or freshly pruned log)
    PostgreSQL planned ``revision > x ... LIMIT n`` as a scan of the whole log."""
    rows = session.execute(_READ_AFTER, {"after": revision, "last": revision + limit})
    return [StoredEvent(**row._mapping) for row in rows]


_READ_AFTER = (
    select(
        E.c.revision,
        E.c.port_id,
        E.c.type,
        E.c.port,
        E.c.network_id,
        E.c.host_id,
        E.c.previous_host_id,
        E.c.time,
    )
    .where(E.c.revision > bindparam("after"), E.c.revision <= bindparam("last"))
    .order_by(E.c.revision)
)


def prune(session: Session, keep: int, before: datetime) -> int:
    """Deletes the events that are not among the newest ``keep`` or were written before
    ``before``; returns how many."""
    newest = current_revision(session)
    stmt = delete(E).where(or_(E.c.revision <= newest - keep, E.c.time < before))
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def revisions(session: Session) -> Sequence[int]:
    """Returns every kept revision in order (for tests and diagnostics)."""
    return [int(r) for r in session.execute(select(E.c.revision).order_by(E.c.revision)).scalars()]
