"""Reading and writing ``dynamic_segment_holds``: who uses each dynamic segment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import sql
from services.typemgr.db import transaction
from services.typemgr.db.models import DynamicSegmentHold, NetworkSegment
from services.typemgr.segments import Hold


def _hold(row: DynamicSegmentHold) -> Hold:
    return Hold(segment_id=row.segment_id, holder=row.holder, generation=int(row.generation))


def _upsert_statement(dialect: str) -> Any:
    table = cast(Table, DynamicSegmentHold.__table__)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(
        segment_id=bindparam("segment_id"),
        holder=bindparam("holder"),
        generation=bindparam("generation"),
        created_at=bindparam("created_at"),
    )
    higher = case(
        (statement.excluded.generation > table.c.generation, statement.excluded.generation),
        else_=table.c.generation,
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.segment_id, table.c.holder], set_={"generation": higher}
    )


_UPSERT = {name: _upsert_statement(name) for name in ("postgresql", "sqlite")}


def add(session: Session, segment_id: str, holder: str, generation: int = 0) -> None:
    """Records that ``holder`` uses the segment as of ``generation``; a hold it has already
    keeps the higher of its generation and ``generation``. One statement (an INSERT that raises
    the generation of the hold already there). Raises ``transaction.Retry`` if the segment was
    released meanwhile."""
    statement = _UPSERT[session.get_bind().dialect.name]
    params = {
        "segment_id": segment_id,
        "holder": holder,
        "generation": generation,
        "created_at": datetime.now(UTC),
    }
    try:
        session.connection().execute(statement, params)
    except IntegrityError as exc:
        if is_foreign_key_violation(exc):
            raise transaction.Retry() from None
        raise


def is_foreign_key_violation(exc: IntegrityError) -> bool:
    """Returns True for a foreign key violation on SQLite or PostgreSQL."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23503")
    return "FOREIGN KEY constraint failed" in str(exc.orig)


def of_holder(session: Session, holder: str, *, lock: bool = False) -> list[Hold]:
    """Returns the holder's holds, by segment id; with ``lock``, locked until the transaction
    ends (PostgreSQL)."""
    query = (
        select(DynamicSegmentHold)
        .where(DynamicSegmentHold.holder == holder)
        .order_by(DynamicSegmentHold.segment_id)
    )
    if lock:
        query = query.with_for_update()
    return [_hold(row) for row in session.scalars(query)]


def networks_of_holder(session: Session, holder: str) -> list[str]:
    """Returns the ids of the networks whose dynamic segments the holder holds, sorted."""
    query = (
        select(NetworkSegment.network_id)
        .join(DynamicSegmentHold, DynamicSegmentHold.segment_id == NetworkSegment.id)
        .where(DynamicSegmentHold.holder == holder)
        .distinct()
    )
    return sorted(session.scalars(query))


def confirm(session: Session, holder: str, segment_ids: Sequence[str], generation: int) -> None:
    """Raises the generation of the holder's holds on those segments to ``generation``."""
    if segment_ids:
        session.execute(
            update(DynamicSegmentHold)
            .where(
                DynamicSegmentHold.holder == holder,
                DynamicSegmentHold.segment_id.in_(segment_ids),
                DynamicSegmentHold.generation < generation,
            )
            .values(generation=generation)
        )


def drop(session: Session, holder: str, segment_ids: Sequence[str]) -> None:
    """Deletes the holder's holds on those segments."""
    if segment_ids:
        session.execute(
            delete(DynamicSegmentHold).where(
                DynamicSegmentHold.holder == holder,
                DynamicSegmentHold.segment_id.in_(segment_ids),
            )
        )


def drop_segments(session: Session, segment_ids: Sequence[str]) -> None:
    """Deletes every hold on those segments (their network is being released)."""
    if segment_ids:
        session.execute(
            delete(DynamicSegmentHold).where(DynamicSegmentHold.segment_id.in_(segment_ids))
        )


def count(session: Session, segment_id: str) -> int:
    """Returns the number of holds on the segment."""
    query = select(func.count()).where(DynamicSegmentHold.segment_id == segment_id)
    return int(session.scalar(query) or 0)


Position = tuple[str, str]
"""Where a list of holds resumes: after the hold with this (segment_id, holder)."""


def listed(
    session: Session,
    segment_id: str = "",
    holder: str = "",
    after: Position | None = None,
    limit: int = 1000,
) -> list[Hold]:
    """Returns up to ``limit`` holds on ``segment_id`` and/or of ``holder`` after ``after``,
    by segment then holder."""
    return [
        _hold(row) for row in session.scalars(listed_statement(segment_id, holder, after, limit))
    ]


def listed_statement(segment_id: str, holder: str, after: Position | None, limit: int) -> Any:
    """The statement ``listed`` runs: one range of the primary key (segment_id, holder), or with
    only a holder of the (holder, segment_id) index, at any depth."""
    fixed = {"segment_id": segment_id, "holder": holder}
    return sql.keyset_page(select(DynamicSegmentHold), _LIST_ORDER, fixed, after, limit)


_HOLDS = cast(Table, DynamicSegmentHold.__table__)
_LIST_ORDER = (_HOLDS.c.segment_id, _HOLDS.c.holder)
