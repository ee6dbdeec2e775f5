"""Reserving and releasing segmentation ids, storing only the ids in use.

Two paths, as in Neutron:

* ``allocate_specific`` reserves a given id (a provider segment, or a flat network's physical
  network): one INSERT under the primary key; a conflict means the id is taken.
* ``allocate_from_pool`` picks a free id of a pool's shared ranges, or of the ranges reserved
  for one project, and INSERTs it. A unique violation means a concurrent caller took that
  id first (``INSERT ... ON CONFLICT DO NOTHING`` inserted nothing); another id is tried, a
  bounded number of times.

Finding a free id never looks at every possible id, nor at every allocated one. It starts at a
random id of the ranges; if that id is free it is taken (so that allocated ids stay spread
evenly and concurrent callers rarely meet). Otherwise one indexed query reads the next
``FIRST_WINDOW`` allocated ids, then if need be the next ``WINDOW``, and finds the first gap
among them; a random id of that gap is taken. Only when those ids are all consecutive does the
search gallop along the
primary key index with ``ORDER BY id LIMIT 1 OFFSET n`` probes (a run of n ids is dense exactly
when the n-th allocated id after its start is start + n), doubling n until the run ends and
halving it to find where. The search wraps around the ranges. Its work is proportional to the
run of allocated ids the random start landed in, read from the index, never to the size of the
ranges.

Both paths run inside the caller's transaction, so everything a request reserves commits or
rolls back together. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.typemgr.db.models import SegmentAllocation, SegmentRange
from services.typemgr.segments import IdRange

logger = logging.getLogger(__name__)

MAX_POOL_ATTEMPTS = 32
"""How many ids a pool allocation tries before giving up to concurrent callers."""
FIRST_WINDOW = 16
"""How many allocated ids the first query of a search reads: runs are short in most pools."""
WINDOW = 256
"""How many allocated ids a further query reads into Python; longer runs are skipped by
galloping."""

_random = random.SystemRandom()

# The statements of the allocation path are built once: building a statement and its cache key
# costs more CPU than running it. Every call passes its values as parameters.
_ALLOCATIONS = cast(Table, SegmentAllocation.__table__)
_A = _ALLOCATIONS.c
_R = cast(Table, SegmentRange.__table__).c
_IN_POOL = (
    _A.network_type == bindparam("network_type"),
    _A.physical_network == bindparam("physical_network"),
)
_POOL_RANGES = (
    select(_R.minimum, _R.maximum, _R.shared, _R.project_id)
    .where(
        _R.network_type == bindparam("network_type"),
        _R.physical_network == bindparam("physical_network"),
    )
    .order_by(_R.minimum)
)
_ALLOCATED_FROM = (
    select(_A.segmentation_id)
    .where(*_IN_POOL, _A.segmentation_id >= bindparam("low"))
    .where(_A.segmentation_id <= bindparam("high"))
    .order_by(_A.segmentation_id)
    .limit(bindparam("limit"))
)
_NTH_ABOVE = (
    select(_A.segmentation_id)
    .where(*_IN_POOL, _A.segmentation_id > bindparam("after"))
    .order_by(_A.segmentation_id)
    .offset(bindparam("skip"))
    .limit(1)
)


def _insert_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(_ALLOCATIONS).on_conflict_do_nothing().returning(_A.segmentation_id)


_INSERT = {name: _insert_statement(name) for name in ("postgresql", "sqlite")}
_RELEASE = delete(_ALLOCATIONS).where(_A.segment_id.in_(bindparam("segment_ids", expanding=True)))


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
    rows = session.connection().execute(_POOL_RANGES, _pool_params(pool)).all()
    if not rows:
        raise NoRanges()
    return [
        IdRange(pool.physical_network, int(r.minimum), int(r.maximum))
        for r in rows
        if (r.shared if not owner else (not r.shared and r.project_id == owner))
    ]


def find_free_id(session: Session, pool: Pool, ranges: Sequence[IdRange]) -> int | None:
    """Returns a free id of ``ranges`` or None if all are allocated: a random id if it is free,
    else a random id of the first gap after it, searching upwards through the later ranges and
    wrapping around to the earlier ones."""
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
            gap = first_gap(session, pool, low, high)
            if gap is not None:
                return low if gap[0] == low else _random.randint(gap[0], gap[1])
    return None


def _locate(ranges: Sequence[IdRange], offset: int) -> tuple[int, int]:
    """Returns (index of the range, id) of the ``offset``-th id of ``ranges`` taken in order."""
    for index, id_range in enumerate(ranges):
        if offset < id_range.size:
            return index, id_range.minimum + offset
        offset -= id_range.size
    raise ValueError(f"offset {offset} beyond the ranges")


def first_free_id(session: Session, pool: Pool, low: int, high: int) -> int | None:
    """Returns the smallest free id in ``low..high``, or None if all are allocated."""
    gap = first_gap(session, pool, low, high)
    return None if gap is None else gap[0]


def first_gap(session: Session, pool: Pool, low: int, high: int) -> tuple[int, int] | None:
    """Returns the first run of free ids in ``low..high`` as (first, last), or None if every id
    is allocated. The cost depends on how many ids after ``low`` are allocated in a row, never
    on the width of the window. A gap that a concurrent caller fills while it is being looked
    for is passed over, never mistaken for the end of the window."""
    limit = FIRST_WINDOW
    while low <= high:
        ids = _allocated_from(session, pool, low, high, limit)
        expected = low
        for seg_id in ids:
            if seg_id > expected:
                return expected, seg_id - 1
            expected = seg_id + 1
        if len(ids) < limit:
            return (expected, high) if expected <= high else None
        low = ids[-1] + 1 if limit < WINDOW else _skip_run(session, pool, ids[-1], high) + 1
        limit = WINDOW
    return None


def _skip_run(session: Session, pool: Pool, start: int, high: int) -> int:
    """Returns ``end >= start`` such that ``start..end`` are all allocated and, when the check
    was made, a free id lay within the next WINDOW ids (or ``end == high``). Gallops with
    doubling strides while the ids stay dense, then halves the stride that holds a free id
    until it is at most one window."""
    end, step = start, 2 * WINDOW
    while True:
        step = min(step, high - end)
        if step <= 0:
            return end
        if not _dense(session, pool, end, step):
            break
        end, step = end + step, step * 2
    bound = end + step  # a free id lies in end + 1 .. bound
    while bound - end > WINDOW:
        half = (bound - end) // 2
        if _dense(session, pool, end, half):
            end += half
        else:
            bound = end + half
    return end


def _allocated_from(session: Session, pool: Pool, low: int, high: int, limit: int) -> list[int]:
    """Returns the first ``limit`` allocated ids of ``low..high``, ascending (an index range
    scan that stops after ``limit`` entries)."""
    params = {**_pool_params(pool), "low": low, "high": high, "limit": limit}
    return [int(seg_id) for seg_id in session.connection().scalars(_ALLOCATED_FROM, params)]


def _dense(session: Session, pool: Pool, after: int, count: int) -> bool:
    """Returns True if every id of ``after + 1 .. after + count`` is allocated: the count-th
    allocated id above ``after`` is ``after + count`` exactly then (ids are unique)."""
    params = {**_pool_params(pool), "after": after, "skip": count - 1}
    found = session.connection().scalars(_NTH_ABOVE, params).first()
    return found is not None and int(found) == after + count


def _try_insert(session: Session, pool: Pool, segmentation_id: int, segment_id: str) -> bool:
    """Inserts the allocation; returns False (and leaves the transaction usable) if the id is
    already allocated. ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: on PostgreSQL a
    concurrent uncommitted insert of the same id is waited for, then decides."""
    connection = session.connection()
    values = {
        **_pool_params(pool),
        "segmentation_id": segmentation_id,
        "segment_id": segment_id,
        "allocated_at": datetime.now(UTC),
    }
    return connection.execute(_INSERT[connection.dialect.name], values).first() is not None


def release(session: Session, segment_ids: Iterable[str]) -> int:
    """Frees the ids held by the given segments; returns how many were freed. An id outside
    every range is simply no longer allocated: it never enters a pool."""
    ids = list(segment_ids)
    if not ids:
        return 0
    result = session.connection().execute(_RELEASE, {"segment_ids": ids})
    return int(result.rowcount or 0)


def _pool_params(pool: Pool) -> dict[str, Any]:
    return {"network_type": pool.network_type, "physical_network": pool.physical_network}
