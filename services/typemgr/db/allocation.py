"""Reserving and releasing segmentation ids, storing only the ids in use.

Two paths, as in Neutron:

* ``allocate_specific`` reserves a given id (a provider segment, or a flat network's physical
  network): one INSERT under the primary key; a conflict means the id is taken.
* ``allocate_from_pool`` picks a free id of a pool: a random probe inside the pool's ranges,
  then a gap search from there (SQL over the allocated ids of the range, never over every
  possible id), then an INSERT. A unique violation means a concurrent caller took that id first;
  the attempt is undone with a SAVEPOINT and retried with a new probe, a bounded number of times.

Both run inside the caller's transaction, so everything a request reserves commits or rolls back
together. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from services import sql
from services.typemgr.db.models import SegmentAllocation, SegmentRange
from services.typemgr.segments import IdRange

logger = logging.getLogger(__name__)

MAX_POOL_ATTEMPTS = 32
"""How many ids a pool allocation tries before giving up to concurrent callers."""

_random = random.SystemRandom()


class IdTaken(Exception):
    """The id asked for is already allocated."""


class NoRanges(Exception):
    """The pool has no range at all: nothing can ever be allocated from it."""


class Contention(Exception):
    """Concurrent callers took every candidate in ``MAX_POOL_ATTEMPTS`` tries."""


@dataclass(frozen=True)
class Pool:
    """One allocation pool: a network type on a physical network (``""`` for tunnels)."""

    network_type: str
    physical_network: str


def allocate_specific(session: Session, pool: Pool, segmentation_id: int, segment_id: str) -> None:
    """Reserves ``segmentation_id`` of ``pool`` for ``segment_id``, whether or not the id lies in
    a range. Raises IdTaken if it is already allocated."""
    if not _try_insert(session, pool, segmentation_id, segment_id):
        raise IdTaken()


def allocate_from_pool(
    session: Session,
    pool: Pool,
    segment_id: str,
    on_conflict: Callable[[], None] | None = None,
) -> int | None:
    """Reserves a free id of ``pool``'s ranges for ``segment_id`` and returns it; None if every
    id of every range is allocated. Raises NoRanges if the pool has no range, Contention after
    ``MAX_POOL_ATTEMPTS`` lost races; calls ``on_conflict`` after each one."""
    ranges = pool_ranges(session, pool)
    if not ranges:
        raise NoRanges()
    for _attempt in range(MAX_POOL_ATTEMPTS):
        candidate = find_free_id(session, pool, ranges)
        if candidate is None:
            return None
        if _try_insert(session, pool, candidate, segment_id):
            return candidate
        logger.debug("id %s of %s was taken concurrently, retrying", candidate, pool)
        if on_conflict is not None:
            on_conflict()
    raise Contention()


def pool_ranges(session: Session, pool: Pool) -> list[IdRange]:
    """Returns the stored ranges of ``pool``, lowest first."""
    rows = session.execute(
        select(SegmentRange.minimum, SegmentRange.maximum)
        .where(
            SegmentRange.network_type == pool.network_type,
            SegmentRange.physical_network == pool.physical_network,
        )
        .order_by(SegmentRange.minimum)
    ).all()
    return [IdRange(pool.physical_network, int(low), int(high)) for low, high in rows]


def find_free_id(session: Session, pool: Pool, ranges: list[IdRange]) -> int | None:
    """Returns a free id of ``ranges`` or None if all are allocated.

    Starts at a random id (so that concurrent callers rarely pick the same one), searches
    upwards to the end of its range and through the later ranges, then wraps around to the
    earlier ranges and the start of its own range.
    """
    index, start = _locate(ranges, _random.randrange(sum(r.size for r in ranges)))
    first = ranges[index]
    windows = [
        (start, first.maximum),
        *((r.minimum, r.maximum) for r in ranges[index + 1 :]),
        *((r.minimum, r.maximum) for r in ranges[:index]),
        (first.minimum, start - 1),
    ]
    for low, high in windows:
        if low <= high:
            found = first_free_id(session, pool, low, high)
            if found is not None:
                return found
    return None


def _locate(ranges: list[IdRange], offset: int) -> tuple[int, int]:
    """Returns (index of the range, id) of the ``offset``-th id of ``ranges`` taken in order."""
    for index, id_range in enumerate(ranges):
        if offset < id_range.size:
            return index, id_range.minimum + offset
        offset -= id_range.size
    raise ValueError(f"offset {offset} beyond the ranges")


def first_free_id(session: Session, pool: Pool, low: int, high: int) -> int | None:
    """Returns the smallest free id in ``low..high``, or None if all are allocated.

    The cost depends on the number of allocated ids in the window, not its width: ``low``
    itself is probed, else the first allocated id whose successor is free is found with one
    query over the allocated ids of the window.
    """
    if not _is_allocated(session, pool, low):
        return low
    current = aliased(SegmentAllocation)
    following = aliased(SegmentAllocation)
    successor_taken = exists().where(
        following.network_type == current.network_type,
        following.physical_network == current.physical_network,
        following.segmentation_id == current.segmentation_id + 1,
    )
    found = session.execute(
        select(func.min(current.segmentation_id) + 1).where(
            current.network_type == pool.network_type,
            current.physical_network == pool.physical_network,
            current.segmentation_id >= low,
            current.segmentation_id < high,
            ~successor_taken,
        )
    ).scalar()
    return None if found is None else int(found)


def _is_allocated(session: Session, pool: Pool, segmentation_id: int) -> bool:
    query = select(
        exists().where(
            SegmentAllocation.network_type == pool.network_type,
            SegmentAllocation.physical_network == pool.physical_network,
            SegmentAllocation.segmentation_id == segmentation_id,
        )
    )
    return bool(session.execute(query).scalar())


def _try_insert(session: Session, pool: Pool, segmentation_id: int, segment_id: str) -> bool:
    """Inserts the allocation inside a SAVEPOINT; returns False (and leaves the transaction
    usable) if the id is already allocated."""
    try:
        with session.begin_nested():
            session.execute(
                insert(SegmentAllocation).values(
                    network_type=pool.network_type,
                    physical_network=pool.physical_network,
                    segmentation_id=segmentation_id,
                    segment_id=segment_id,
                )
            )
    except IntegrityError as exc:
        if sql.is_unique_violation(exc):
            return False
        raise
    return True


def release(session: Session, segment_ids: Iterable[str]) -> int:
    """Frees the ids held by the given segments; returns how many were freed."""
    ids = list(segment_ids)
    if not ids:
        return 0
    result = session.execute(delete(SegmentAllocation).where(SegmentAllocation.segment_id.in_(ids)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def allocated_counts(session: Session) -> dict[Pool, int]:
    """Returns the number of allocated ids per pool (including ids outside every range)."""
    rows = session.execute(
        select(
            SegmentAllocation.network_type,
            SegmentAllocation.physical_network,
            func.count(),
        ).group_by(SegmentAllocation.network_type, SegmentAllocation.physical_network)
    ).all()
    return {Pool(t, p): int(n) for t, p, n in rows}


def allocated_in_ranges(session: Session) -> dict[Pool, int]:
    """Returns the number of allocated ids per pool that lie inside one of its ranges."""
    rows = session.execute(
        select(
            SegmentAllocation.network_type,
            SegmentAllocation.physical_network,
            func.count(),
        )
        .join(
            SegmentRange,
            and_(
                SegmentRange.network_type == SegmentAllocation.network_type,
                SegmentRange.physical_network == SegmentAllocation.physical_network,
                SegmentAllocation.segmentation_id.between(
                    SegmentRange.minimum, SegmentRange.maximum
                ),
            ),
        )
        .group_by(SegmentAllocation.network_type, SegmentAllocation.physical_network)
    ).all()
    return {Pool(t, p): int(n) for t, p, n in rows}
