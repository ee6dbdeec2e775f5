"""A network's tenant segment in one statement, one round trip, on PostgreSQL.

The general path (``db.allocation`` inside ``segment_manager``) spends six round trips on a new
network's tenant segment: BEGIN, the ranges, the gap search, the allocation, the segment and
COMMIT. On PostgreSQL one statement can do what the common case needs, in autocommit:

1. ``pool``: the first of the candidate pools (the project's own ranges on each physical
   network, then the shared ones) that has a range;
2. ``start``: the id at a random offset of that pool's ranges (``:frac`` of their total size),
   and the end of a window of ``:span`` ids after it, within its range;
3. ``candidate``: that id if it is free; otherwise a random id of the first gap after it in the
   window, found by walking the allocated ids of the window in index order with ``LEAD`` until
   one is not followed by the next id (the walk stops at the first gap);
4. the allocation row (``ON CONFLICT DO NOTHING``: a concurrent caller may have taken the id)
   and the segment row, from the allocation's result.

Every step is the general path's first step, so the ids it hands out are spread the same way.
When a step finds nothing (no range, a window of allocated ids only, an id taken concurrently,
a network that already has segments) the statement inserts nothing and returns no row, and the
caller runs the general path, which covers every case: the same pools in the same order, the
gap search over all the ranges, retries and errors. The statement is atomic: both rows or
neither.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

SPAN = 4096
"""How many ids after the random start the statement looks at. The walk stops at the first gap,
so a wide window costs nothing where ids are sparse; in a 99.9 % full pool the first gap lies
within it 98 times in 100."""

_random = random.SystemRandom()

# The owner rule of db.allocation.pool_ranges: shared ranges for "", else that project's own.
_OWNED = (
    "r.network_type = :network_type AND r.physical_network = {pool}.physnet AND "
    "(({pool}.owner = '' AND r.shared) OR "
    "({pool}.owner <> '' AND NOT r.shared AND r.project_id = {pool}.owner))"
)

_STATEMENT = text(
    f"""
WITH candidates AS (
    SELECT c.physnet, c.owner, c.mtu, c.priority
    FROM unnest(CAST(:physnets AS text[]), CAST(:owners AS text[]), CAST(:mtus AS integer[]))
        WITH ORDINALITY AS c(physnet, owner, mtu, priority)
),
pool AS (
    SELECT c.physnet, c.owner, c.mtu
    FROM candidates c
    WHERE EXISTS (SELECT 1 FROM segment_ranges r WHERE {_OWNED.format(pool="c")})
    ORDER BY c.priority
    LIMIT 1
),
ranges AS (
    SELECT r.minimum, r.maximum,
        CAST(SUM(r.maximum - r.minimum + 1) OVER (ORDER BY r.minimum) AS bigint) AS upto,
        CAST(SUM(r.maximum - r.minimum + 1) OVER () AS bigint) AS total
    FROM segment_ranges r, pool
    WHERE {_OWNED.format(pool="pool")}
),
start AS MATERIALIZED (
    SELECT pool.physnet, pool.mtu, s.id, LEAST(s.maximum, s.id + :span - 1) AS last
    FROM pool, (
        SELECT ranges.minimum,
            ranges.maximum,
            ranges.maximum - (ranges.upto - 1 - CAST(floor(:frac * ranges.total) AS bigint)) AS id
        FROM ranges
        WHERE ranges.upto > CAST(floor(:frac * ranges.total) AS bigint)
        ORDER BY ranges.minimum
        LIMIT 1
    ) s
),
probe AS MATERIALIZED (
    SELECT start.*, (
        SELECT a.segmentation_id
        FROM segment_allocations a
        WHERE a.network_type = :network_type AND a.physical_network = start.physnet
            AND a.segmentation_id >= start.id
        ORDER BY a.segmentation_id
        LIMIT 1
    ) AS first_taken
    FROM start
),
candidate AS MATERIALIZED (
    SELECT probe.physnet, probe.mtu, CASE
        WHEN probe.first_taken IS NULL OR probe.first_taken > probe.id THEN probe.id
        ELSE (
            SELECT t.id + 1 + CAST(
                floor(:gap_frac * (LEAST(COALESCE(t.next - 1, probe.last), probe.last) - t.id))
                AS bigint)
            FROM (
                SELECT a.segmentation_id AS id,
                    LEAD(a.segmentation_id) OVER (ORDER BY a.segmentation_id) AS next
                FROM segment_allocations a
                WHERE a.network_type = :network_type AND a.physical_network = probe.physnet
                    AND a.segmentation_id BETWEEN probe.id AND probe.last
            ) t
            WHERE (t.next IS NULL OR t.next > t.id + 1) AND t.id < probe.last
            ORDER BY t.id
            LIMIT 1
        )
    END AS id
    FROM probe
),
allocated AS (
    INSERT INTO segment_allocations
        (network_type, physical_network, segmentation_id, segment_id, allocated_at)
    SELECT :network_type, candidate.physnet, candidate.id, :segment_id, :now
    FROM candidate
    WHERE candidate.id IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING physical_network, segmentation_id
)
INSERT INTO network_segments
    (id, network_id, network_type, physical_network, segmentation_id, mtu, is_dynamic,
     segment_index, created_at)
SELECT :segment_id, :network_id, :network_type, allocated.physical_network,
    allocated.segmentation_id, candidate.mtu, false, 0, :now
FROM allocated, candidate
RETURNING physical_network, segmentation_id, mtu
"""
)


@dataclass(frozen=True)
class Candidate:
    """A pool to allocate from, in priority order: its physical network (``""`` for tunnels),
    its owner (``""`` for the shared ranges, else a project) and the MTU of its segments."""

    physical_network: str
    owner: str
    mtu: int


@dataclass(frozen=True)
class Allocated:
    """What the statement stored."""

    physical_network: str
    segmentation_id: int
    mtu: int


def allocate_tenant_segment(
    connection: Connection,
    *,
    network_id: str,
    segment_id: str,
    network_type: str,
    candidates: Sequence[Candidate],
) -> Allocated | None:
    """Stores segment ``segment_id`` (index 0, static) of ``network_id`` with an id of the first
    candidate pool that has ranges, in one autocommitted statement; returns what it stored, or
    None when the general path must decide (see the module's description). Raises the
    database's IntegrityError if the network already has a static segment at index 0."""
    row = connection.execute(
        _STATEMENT,
        {
            "network_type": network_type,
            "physnets": [c.physical_network for c in candidates],
            "owners": [c.owner for c in candidates],
            "mtus": [c.mtu for c in candidates],
            "frac": _random.random(),
            "gap_frac": _random.random(),
            "span": SPAN,
            "segment_id": segment_id,
            "network_id": network_id,
            "now": datetime.now(UTC),
        },
    ).first()
    if row is None:
        return None
    return Allocated(row.physical_network, int(row.segmentation_id), int(row.mtu))
