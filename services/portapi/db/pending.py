"""The statements of the reconciler: finding work a request left unfinished, claiming it, and
the outbox of segment releases typemgr still owes (``network_releases``).

Work is *pending* from the time its ``pending_since`` column says; work pending for longer than
the grace period (older than ``cutoff``) was abandoned. A replica claims one item by moving its
``pending_since`` to now with a compare-and-set on ``pending_since < cutoff`` (or, for a network,
by deleting it on the same condition): the row count says whether it won, so of several
replicas exactly one takes each item, and an item whose claimer stops is claimed again one
grace period later. The same statements serve SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from services.portapi import resources as r
from services.portapi.db import codec, models

N = models.networks
B = models.port_bindings
R = models.network_releases

_UNFINISHED = (r.NETWORK_CREATING, r.NETWORK_DELETING)


def _due(session: Session, table: Table, key: str, cutoff: datetime, limit: int) -> list[str]:
    """Returns the ``key`` of up to ``limit`` rows of ``table`` pending since before ``cutoff``,
    longest pending first."""
    stmt = (
        select(table.c[key])
        .where(table.c.pending_since < cutoff)
        .order_by(table.c.pending_since, table.c[key])
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def _claim(
    session: Session, table: Table, key: str, value: str, cutoff: datetime, now: datetime
) -> bool:
    """Moves the pending time of the row of ``table`` whose ``key`` is ``value`` to ``now`` if it
    is pending since before ``cutoff``; returns whether it did (whether this replica won it)."""
    stmt = (
        update(table)
        .where(table.c[key] == value, table.c.pending_since < cutoff)
        .values(pending_since=now)
    )
    return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]


def due_bindings(session: Session, cutoff: datetime, limit: int) -> list[str]:
    """Returns up to ``limit`` ports whose binding has waited for a result since before
    ``cutoff``, longest waiting first."""
    return _due(session, B, "port_id", cutoff, limit)


def claim_binding(session: Session, port_id: str, cutoff: datetime, now: datetime) -> bool:
    """Claims the port's pending binding (its pending time becomes ``now``) if it still waits
    since before ``cutoff``."""
    return _claim(session, B, "port_id", port_id, cutoff, now)


def due_networks(session: Session, cutoff: datetime, limit: int) -> list[str]:
    """Returns up to ``limit`` networks left CREATING or DELETING since before ``cutoff``."""
    stmt = (
        select(N.c.id)
        .where(N.c.pending_since < cutoff, N.c.status.in_(_UNFINISHED))
        .order_by(N.c.pending_since, N.c.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def abandon_network(
    session: Session, network_id: str, cutoff: datetime, now: datetime
) -> str | None:
    """Deletes the network if it is still CREATING or DELETING since before ``cutoff`` and
    records the release of its segments (pending from ``now``); returns the status it had, or
    None if another replica or a request got to it first. Such a network has no ports (only
    ACTIVE networks take ports, and deletion starts only without any)."""
    stmt = (
        delete(N)
        .where(N.c.id == network_id, N.c.pending_since < cutoff, N.c.status.in_(_UNFINISHED))
        .returning(N.c.status)
    )
    status = session.execute(stmt).scalar_one_or_none()
    if status is not None:
        record_release(session, network_id, now)
    return status


def record_release(session: Session, network_id: str, now: datetime | None = None) -> None:
    """Records that typemgr must release the network's segments, pending from ``now`` (the
    current time by default)."""
    session.execute(delete(R).where(R.c.network_id == network_id))
    stamp = codec.now() if now is None else now
    session.execute(insert(R).values(network_id=network_id, pending_since=stamp))


def due_releases(session: Session, cutoff: datetime, limit: int) -> list[str]:
    """Returns up to ``limit`` networks whose release has been pending since before
    ``cutoff``, longest pending first."""
    return _due(session, R, "network_id", cutoff, limit)


def claim_release(session: Session, network_id: str, cutoff: datetime, now: datetime) -> bool:
    """Claims the network's pending release (its pending time becomes ``now``) if it is pending
    since before ``cutoff``."""
    return _claim(session, R, "network_id", network_id, cutoff, now)


def release_done(session: Session, network_id: str) -> None:
    """Deletes the network's pending release: typemgr released its segments."""
    session.execute(delete(R).where(R.c.network_id == network_id))
