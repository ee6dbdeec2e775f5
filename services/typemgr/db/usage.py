"""Reading allocated ids with where they stand: their segment, network and range; and counting
them per pool and per range for the metrics.

``listed`` pages through ``segment_allocations`` in primary key order, so it reads one page of
the index per call; with ``outside_ranges`` it keeps only the ids no range of their pool holds
(provider ids given outside the ranges, ids left by a range that was shrunk or deleted). A flat
network's allocation holds its physical network, not an id: it is never outside a range.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from sqlalchemy import Table, and_, func, literal, select
from sqlalchemy.orm import Session

from services import sql
from services.typemgr import segments
from services.typemgr.db import ranges as range_rows
from services.typemgr.db.models import NetworkSegment, SegmentAllocation, SegmentRange
from services.typemgr.ranges import Allocation
from services.typemgr.ranges import SegmentRange as Range

PoolKey = tuple[str, str]
"""``(network_type, physical_network)``."""

Position = tuple[str, str, int]
"""Where a page resumes: after the id with this (type, physical network, id)."""


def listed(
    session: Session,
    network_type: str,
    physical_network: str,
    outside_ranges: bool,
    after: Position | None,
    limit: int,
) -> list[Allocation]:
    """Returns up to ``limit`` allocated ids matching the filters after ``after``, in primary
    key order, each with its segment, network and range (empty when outside every range).

    The primary key (network_type, physical_network, segmentation_id) serves the order with or
    without a type filter, (physical_network, network_type, segmentation_id) with only a
    physical network filter. ``outside_ranges`` is checked on the ids the index yields (each
    looks its range up in the pool index), so a page of it costs the ids read to fill it.
    """
    query = listed_statement(network_type, physical_network, outside_ranges, after, limit)
    return [
        _allocation(row, network_id, range_id)
        for row, network_id, range_id in session.execute(query)
    ]


def listed_statement(
    network_type: str,
    physical_network: str,
    outside_ranges: bool,
    after: Position | None,
    limit: int,
) -> Any:
    """The statement ``listed`` runs."""
    a, s, r = SegmentAllocation, NetworkSegment, SegmentRange
    query = (
        select(a, s.network_id, r.id)
        .join(s, s.id == a.segment_id)
        .join(
            r,
            and_(
                r.network_type == a.network_type,
                r.physical_network == a.physical_network,
                a.segmentation_id.between(r.minimum, r.maximum),
            ),
            isouter=True,
        )
    )
    if outside_ranges:
        # ``network_type || ''``: checked on the rows the index yields, not used to search it,
        # where SQLite would search each type from its start and lose the page's position.
        range_type = (a.network_type + literal("")).in_(segments.RANGE_TYPES)
        query = query.where(r.id.is_(None), range_type)
    fixed = {"network_type": network_type, "physical_network": physical_network}
    return sql.keyset_page(query, _LIST_ORDER, fixed, after, limit)


def _allocation(row: SegmentAllocation, network_id: str, range_id: str | None) -> Allocation:
    return Allocation(
        network_type=row.network_type,
        physical_network=row.physical_network,
        segmentation_id=int(row.segmentation_id),
        segment_id=row.segment_id,
        network_id=network_id,
        segment_range_id=range_id or "",
        allocated_at=row.allocated_at,
    )


_ALLOCATIONS = cast(Table, SegmentAllocation.__table__)
_LIST_ORDER = (
    _ALLOCATIONS.c.network_type,
    _ALLOCATIONS.c.physical_network,
    _ALLOCATIONS.c.segmentation_id,
)


def allocated_counts(session: Session) -> dict[PoolKey, int]:
    """Returns the number of allocated ids per pool, inside the ranges or not (one grouped
    count over the primary key)."""
    a = SegmentAllocation
    query = select(a.network_type, a.physical_network, func.count()).group_by(
        a.network_type, a.physical_network
    )
    return {(t, p): int(n) for t, p, n in session.execute(query)}


def ranges_with_usage(session: Session) -> list[Range]:
    """Returns every range with the number of allocated ids inside it (two queries: the ranges,
    then one grouped count of the allocated ids inside each)."""
    every = [range_rows.to_range(row) for row in session.scalars(select(SegmentRange))]
    used = range_rows.usage(session, every)
    return [
        dataclasses.replace(r, used=used.get(r.id, 0))
        for r in sorted(every, key=lambda r: (r.network_type, r.physical_network, r.minimum))
    ]
