"""The hold outbox (``hold_syncs``): what typemgr still has to be told about a port's dynamic
segment holds.

A change that decides which dynamic segments a port uses (a committed binding that may concern
them, an unbinding, a deletion) records them here in its own transaction. portapi then tells
typemgr, before answering or, for a first hierarchical binding, right after (``binding``), and
deletes the row; if it cannot (typemgr unreachable, or portapi stopped between the two), the
row stays and ``HoldSyncRetrier`` sends it again later. So a hold is never left behind for good,
and, since every sync carries the binding generation it was decided for, a late or repeated one
never drops a hold a newer binding took.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from services.portapi.db.codec import dumps, now
from services.portapi.db.models import hold_syncs

_T = hold_syncs.c


@dataclass(frozen=True)
class PendingSync:
    """One port's holds as of one generation (0: the port is gone, it holds nothing)."""

    port_id: str
    segment_ids: tuple[str, ...]
    generation: int


def record(session: Session, pending: PendingSync) -> None:
    """Makes ``pending`` the port's pending sync, replacing an older one. The caller's
    transaction holds the port's row, so writers of one port take turns."""
    connection = session.connection()
    connection.execute(delete(hold_syncs).where(_T.port_id == pending.port_id))
    connection.execute(
        insert(hold_syncs).values(
            port_id=pending.port_id,
            segment_ids=dumps(list(pending.segment_ids)),
            generation=pending.generation,
            written_at=now(),
        )
    )


def has_newer(session: Session, pending: PendingSync) -> bool:
    """True if the port's pending sync is newer than ``pending`` (a higher generation, or 0:
    the port is gone)."""
    found = (
        session.connection()
        .execute(select(_T.generation).where(_T.port_id == pending.port_id))
        .first()
    )
    if found is None:
        return False
    generation = int(found.generation)
    return generation == 0 or generation > pending.generation


def done(session: Session, pending: PendingSync) -> None:
    """Deletes the port's pending sync if it is still ``pending`` (a newer one stays)."""
    session.connection().execute(
        delete(hold_syncs).where(_T.port_id == pending.port_id, _T.generation == pending.generation)
    )


def due(session: Session, written_before: datetime, limit: int) -> list[PendingSync]:
    """Returns up to ``limit`` pending syncs written before ``written_before``, oldest first."""
    rows = session.connection().execute(
        select(_T.port_id, _T.segment_ids, _T.generation)
        .where(_T.written_at < written_before)
        .order_by(_T.written_at, _T.port_id)
        .limit(limit)
    )
    return [
        PendingSync(row.port_id, tuple(json.loads(row.segment_ids)), int(row.generation))
        for row in rows
    ]
