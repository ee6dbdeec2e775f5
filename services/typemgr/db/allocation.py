"""Reserving and releasing segmentation ids, storing only the ids in use.

Two paths, as in Neutron:

* ``allocate_specific`` reserves a given id (a provider segment, or a flat network's physical
  network): one INSERT under the primary key; a conflict means the id is taken.
* ``allocate_from_pool`` picks a free id of a pool's shared ranges, or of the ranges reserved
  for one project, and INSERTs it. A unique violation means a concurrent caller took that
  id first; the attempt is undone with a SAVEPOINT and retried, a bounded number of times.

Finding a free id never looks at every possible id, nor at every allocated one:

1. ``RANDOM_PROBES`` random ids of the ranges are checked in one indexed ``IN`` query. While
   the pool is less than about 85% full this almost always finds one, and it keeps the
   allocated ids spread evenly over the ranges, so that free ids stay close to any point.
2. Otherwise a gap search starts at a random id and wraps around the ranges. From an allocated
   id it looks for the end of the run of allocated ids: first with one ``NOT EXISTS (id + 1)``
   query over the next ``SHORT_RUN`` allocated ids, then, for a longer run, by galloping with
   ``ORDER BY id LIMIT 1 OFFSET n`` probes on the primary key index (a run of n ids is dense
   exactly when the n-th allocated id after its start is start + n), doubling n until the run
   ends and halving it to find where. The work is proportional to the length of the run the
   probe landed in, read from the index only, never to the size of the ranges.

Both paths run inside the caller's transaction, so everything a request reserves commits or
rolls back together. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from services import sql
from services.typemgr.db.models import SegmentAllocation, SegmentRange
from services.typemgr.segments import IdRange

logger = logging.getLogger(__name__)

MAX_POOL_ATTEMPTS = 32
"""How many ids a pool allocation tries before giving up to concurrent callers."""
RANDOM_PROBES = 32
"""How many random ids are checked at once before searching for a gap."""
SHORT_RUN = 64
"""How many allocated ids after the start the first gap query looks at."""

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
    *,
    owner: str = "",
    on_conflict: Callable[[], None] | None = None,
) -> int | None:
    """Reserves a free id of ``pool`` for ``segment_id`` and returns it: from the shared ranges
    when ``owner`` is empty, else from the ranges reserved for project ``owner``. Returns None
    if every id of those ranges is allocated (or there are none). Raises NoRanges if the pool
    has no range at all, Contention after ``MAX_POOL_ATTEMPTS`` lost races; calls
    ``on_conflict`` after each one."""
    ranges = pool_ranges(session, pool, owner)
    if not ranges:
        return None
    return _allocate_in(session, pool, ranges, segment_id, on_conflict)


def _allocate_in(
    session: Session,
    pool: Pool,
    ranges: list[IdRange],
    segment_id: str,
    on_conflict: Callable[[], None] | None,
) -> int | None:
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


def pool_ranges(session: Session, pool: Pool, owner: str = "") -> list[IdRange]:
    """Returns the shared ranges of ``pool`` (``owner`` empty) or those reserved for project
    ``owner``, lowest first. Raises NoRanges if the pool has no range at all, whoever owns
    it."""
    rows = session.execute(
        select(
            SegmentRange.minimum, SegmentRange.maximum, SegmentRange.shared, SegmentRange.project_id
        )
        .where(
            SegmentRange.network_type == pool.network_type,
            SegmentRange.physical_network == pool.physical_network,
        )
        .order_by(SegmentRange.minimum)
    ).all()
    if not rows:
        raise NoRanges()
    return [
        IdRange(pool.physical_network, int(r.minimum), int(r.maximum))
        for r in rows
        if (r.shared if not owner else (not r.shared and r.project_id == owner))
    ]


def find_free_id(session: Session, pool: Pool, ranges: Sequence[IdRange]) -> int | None:
    """Returns a free id of ``ranges`` or None if all are allocated: one of a batch of random
    ids if any is free, else the first free id found searching upwards from a random id,
    through the later ranges, then wrapping around to the earlier ones."""
    found = _random_free_id(session, pool, ranges)
    if found is not None:
        return found
    index, start = _locate(ranges, _random.randrange(_total(ranges)))
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


def _total(ranges: Sequence[IdRange]) -> int:
    return sum(r.size for r in ranges)


def _random_free_id(session: Session, pool: Pool, ranges: Sequence[IdRange]) -> int | None:
    """Checks up to RANDOM_PROBES distinct random ids of ``ranges`` in one query; returns a free
    one, or None if all were taken."""
    total = _total(ranges)
    offsets = _random.sample(range(total), min(RANDOM_PROBES, total))
    candidates = [_locate(ranges, offset)[1] for offset in offsets]
    taken = set(
        session.scalars(
            select(SegmentAllocation.segmentation_id).where(
                SegmentAllocation.network_type == pool.network_type,
                SegmentAllocation.physical_network == pool.physical_network,
                SegmentAllocation.segmentation_id.in_(candidates),
            )
        )
    )
    return next((c for c in candidates if c not in taken), None)


def _locate(ranges: Sequence[IdRange], offset: int) -> tuple[int, int]:
    """Returns (index of the range, id) of the ``offset``-th id of ``ranges`` taken in order."""
    for index, id_range in enumerate(ranges):
        if offset < id_range.size:
            return index, id_range.minimum + offset
        offset -= id_range.size
    raise ValueError(f"offset {offset} beyond the ranges")


def first_free_id(session: Session, pool: Pool, low: int, high: int) -> int | None:
    """Returns the smallest free id in ``low..high``, or None if all are allocated.

    The cost depends on the length of the run of allocated ids starting at ``low``, never on
    the width of the window: ``low`` itself is probed, then the end of its run is found.
    """
    if not _is_allocated(session, pool, low):
        return low
    end = _run_end(session, pool, low, high)
    return end + 1 if end < high else None


def _run_end(session: Session, pool: Pool, start: int, high: int) -> int:
    """Returns the largest ``end <= high`` such that every id of ``start..end`` is allocated;
    ``start`` must be allocated."""
    short_limit = min(high, start + SHORT_RUN)
    last = _last_before_gap(session, pool, start, short_limit)
    if last is not None:
        return min(last, high)
    return _gallop(session, pool, short_limit, high)


def _last_before_gap(session: Session, pool: Pool, low: int, limit: int) -> int | None:
    """Returns the first allocated id in ``low..limit - 1`` whose successor is free; None when
    every id of ``low..limit`` is allocated (``low`` must be). Reads at most ``limit - low``
    index entries."""
    current = aliased(SegmentAllocation)
    following = aliased(SegmentAllocation)
    successor_taken = exists().where(
        following.network_type == current.network_type,
        following.physical_network == current.physical_network,
        following.segmentation_id == current.segmentation_id + 1,
    )
    found = session.scalars(
        select(current.segmentation_id)
        .where(
            current.network_type == pool.network_type,
            current.physical_network == pool.physical_network,
            current.segmentation_id >= low,
            current.segmentation_id < limit,
            ~successor_taken,
        )
        .order_by(current.segmentation_id)
        .limit(1)
    ).first()
    return None if found is None else int(found)


def _gallop(session: Session, pool: Pool, start: int, high: int) -> int:
    """Returns the end of the run of allocated ids through ``start`` (allocated), at most
    ``high``: doubles the stride while the ids stay dense, then halves it once a gap is known
    to lie within the stride."""
    end, limit, step, gap_known = start, high, SHORT_RUN, False
    while end < limit:
        step = min(step, limit - end)
        if _dense(session, pool, end, step):
            end += step
            if not gap_known:
                step *= 2
        else:
            limit, gap_known = end + step - 1, True
            step = max(step // 2, 1)
    return end


def _dense(session: Session, pool: Pool, after: int, count: int) -> bool:
    """Returns True if every id of ``after + 1 .. after + count`` is allocated: the count-th
    allocated id above ``after`` is ``after + count`` exactly then (ids are unique)."""
    found = session.scalars(
        select(SegmentAllocation.segmentation_id)
        .where(
            SegmentAllocation.network_type == pool.network_type,
            SegmentAllocation.physical_network == pool.physical_network,
            SegmentAllocation.segmentation_id > after,
        )
        .order_by(SegmentAllocation.segmentation_id)
        .offset(count - 1)
        .limit(1)
    ).first()
    return found is not None and int(found) == after + count


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
    """Frees the ids held by the given segments; returns how many were freed. An id outside
    every range is simply no longer allocated: it never enters a pool."""
    ids = list(segment_ids)
    if not ids:
        return 0
    result = session.execute(delete(SegmentAllocation).where(SegmentAllocation.segment_id.in_(ids)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
