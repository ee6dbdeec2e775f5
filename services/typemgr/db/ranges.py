"""Reading and writing ``segment_ranges`` rows, and counting the allocated ids inside them.

Every write of ranges takes ``lock`` first: on PostgreSQL a transaction-scoped advisory lock,
so that two replicas creating overlapping ranges at once take turns and the second sees the
first; on SQLite the write transaction (``BEGIN IMMEDIATE``) already serialises writers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from services import sql
from services.typemgr.db.models import SegmentAllocation, SegmentRange
from services.typemgr.ranges import RangeFilters
from services.typemgr.ranges import SegmentRange as Range

# An arbitrary constant, the same in every replica: "ranges" in ASCII.
_RANGES_LOCK_KEY = 0x72616E676573

PoolKey = tuple[str, str]
"""``(network_type, physical_network)``."""
ListPosition = tuple[str, str, int]
"""Where a list page resumes: after the range with this (type, physical network, minimum)."""


def lock(session: Session) -> None:
    """Serialises range writers until the transaction ends (PostgreSQL; SQLite needs nothing)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RANGES_LOCK_KEY})


def to_range(row: SegmentRange, used: int = 0) -> Range:
    """Returns the value form of a row."""
    return Range(
        id=row.id,
        name=row.name,
        network_type=row.network_type,
        physical_network=row.physical_network,
        minimum=int(row.minimum),
        maximum=int(row.maximum),
        shared=row.shared,
        project_id=row.project_id,
        default=row.is_default,
        used=used,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def add(session: Session, found: Range) -> None:
    """Stores a new range."""
    now = datetime.now(UTC)
    session.execute(
        insert(SegmentRange).values(
            id=found.id,
            name=found.name,
            network_type=found.network_type,
            physical_network=found.physical_network,
            minimum=found.minimum,
            maximum=found.maximum,
            shared=found.shared,
            project_id=found.project_id,
            is_default=found.default,
            created_at=now,
            updated_at=now,
        )
    )


def get(session: Session, range_id: str) -> Range | None:
    """Returns the range with that id, without usage, or None."""
    row = session.get(SegmentRange, range_id)
    return None if row is None else to_range(row)


def change(session: Session, range_id: str, values: dict[str, Any]) -> None:
    """Sets columns of one range and its update time."""
    values = {**values, "updated_at": datetime.now(UTC)}
    session.execute(update(SegmentRange).where(SegmentRange.id == range_id).values(**values))


def remove(session: Session, range_ids: Sequence[str]) -> None:
    """Deletes the ranges with those ids."""
    if range_ids:
        session.execute(delete(SegmentRange).where(SegmentRange.id.in_(range_ids)))


def of_pool(session: Session, pool: PoolKey) -> list[Range]:
    """Returns every range of a pool, lowest first, without usage."""
    query = _in_pool(select(SegmentRange), pool).order_by(SegmentRange.minimum)
    return [to_range(row) for row in session.scalars(query)]


def defaults(session: Session) -> list[Range]:
    """Returns every default range."""
    query = select(SegmentRange).where(SegmentRange.is_default.is_(True))
    return [to_range(row) for row in session.scalars(query)]


def overlapping(
    session: Session, pool: PoolKey, low: int, high: int, exclude: str = ""
) -> Range | None:
    """Returns a range of the pool sharing an id with ``low..high`` (other than ``exclude``)."""
    query = _in_pool(select(SegmentRange), pool).where(
        SegmentRange.minimum <= high, SegmentRange.maximum >= low, SegmentRange.id != exclude
    )
    row = session.scalars(query.order_by(SegmentRange.minimum).limit(1)).first()
    return None if row is None else to_range(row)


def listed(
    session: Session, filters: RangeFilters, after: ListPosition | None, limit: int
) -> list[Range]:
    """Returns up to ``limit`` ranges matching ``filters`` after ``after``, in list order
    (network_type, physical_network, minimum).

    The pool index (network_type, physical_network, minimum) serves the order with or without a
    type filter, (physical_network, network_type, minimum) with only a physical network filter;
    the project, shared and default filters are checked on the rows the index yields.
    """
    return [to_range(row) for row in session.scalars(listed_statement(filters, after, limit))]


def listed_statement(filters: RangeFilters, after: ListPosition | None, limit: int) -> Any:
    """The statement ``listed`` runs."""
    query = select(SegmentRange)
    if filters.project_id:
        query = query.where(SegmentRange.project_id == filters.project_id)
    if filters.shared is not None:
        query = query.where(SegmentRange.shared.is_(filters.shared))
    if filters.default is not None:
        query = query.where(SegmentRange.is_default.is_(filters.default))
    fixed = {
        "network_type": filters.network_type,
        "physical_network": filters.physical_network,
    }
    return sql.keyset_page(query, _LIST_ORDER, fixed, after, limit)


_RANGES = cast(Table, SegmentRange.__table__)
_LIST_ORDER = (_RANGES.c.network_type, _RANGES.c.physical_network, _RANGES.c.minimum)


def usage(session: Session, found: Iterable[Range]) -> dict[str, int]:
    """Returns the number of allocated ids inside each range, by range id (one query)."""
    ids = [r.id for r in found]
    if not ids:
        return {}
    a = SegmentAllocation
    query = (
        select(SegmentRange.id, func.count(a.segmentation_id))
        .join(
            a,
            and_(
                a.network_type == SegmentRange.network_type,
                a.physical_network == SegmentRange.physical_network,
                a.segmentation_id.between(SegmentRange.minimum, SegmentRange.maximum),
            ),
            isouter=True,
        )
        .where(SegmentRange.id.in_(ids))
        .group_by(SegmentRange.id)
    )
    return {range_id: int(count) for range_id, count in session.execute(query)}


def count_allocated(session: Session, pool: PoolKey, low: int, high: int) -> int:
    """Returns the number of allocated ids of the pool in ``low..high``."""
    if low > high:
        return 0
    query = select(func.count()).select_from(SegmentAllocation)
    return int(session.scalar(_allocated_between(query, pool, low, high)) or 0)


def allocated_ids(session: Session, pool: PoolKey, low: int, high: int, limit: int) -> list[int]:
    """Returns up to ``limit`` allocated ids of the pool in ``low..high``, lowest first."""
    if low > high or limit <= 0:
        return []
    query = select(SegmentAllocation.segmentation_id)
    query = _allocated_between(query, pool, low, high)
    query = query.order_by(SegmentAllocation.segmentation_id).limit(limit)
    return [int(seg_id) for seg_id in session.scalars(query)]


def _allocated_between(query: Any, pool: PoolKey, low: int, high: int) -> Any:
    return query.where(
        SegmentAllocation.network_type == pool[0],
        SegmentAllocation.physical_network == pool[1],
        SegmentAllocation.segmentation_id.between(low, high),
    )


def _in_pool(query: Any, pool: PoolKey) -> Any:
    return query.where(
        SegmentRange.network_type == pool[0], SegmentRange.physical_network == pool[1]
    )
