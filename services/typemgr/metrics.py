"""typemgr's Prometheus metrics.

Counters and histograms are updated as allocations happen. The pool gauges are computed at
scrape time by ``PoolCollector`` from the database, so every replica reports the same figures
and ranges created at run time show up at once: range sizes come from ``segment_ranges``, used
ids from one grouped count of the allocated ids inside each range (the table holds only ids in
use, and each count is an index range scan). Results are kept for ``POOL_CACHE_SECONDS`` so that
several scrapers do not repeat the counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ml2_driver_sdk.runtime.metrics import LATENCY_BUCKETS
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr.db import usage
from services.typemgr.ranges import SegmentRange

logger = logging.getLogger(__name__)

POOL_CACHE_SECONDS = 5.0
"""How long computed pool figures are reused before the database is counted again."""

ALLOCATIONS = Counter(
    "ml2_typemgr_allocations_total",
    "Segment reservations by network type and result "
    "(allocated, in_use, exhausted, no_range, contention, error).",
    ["network_type", "result"],
)
ALLOCATION_SECONDS = Histogram(
    "ml2_typemgr_allocation_seconds",
    "Time to reserve one segment (specific id, pool id or physical network), by network type.",
    ["network_type"],
    buckets=LATENCY_BUCKETS,
)
ALLOCATION_ATTEMPTS = Histogram(
    "ml2_typemgr_allocation_attempts",
    "Ids tried by one pool allocation (1 = no concurrent caller took the chosen id first).",
    ["network_type"],
    buckets=(1, 2, 3, 5, 8, 13, 21, 32),
)
CONFLICT_RETRIES = Counter(
    "ml2_typemgr_allocation_conflict_retries_total",
    "Pool ids a concurrent caller took between the search and the insert, by network type.",
    ["network_type"],
)
SINGLE_STATEMENT = Counter(
    "ml2_typemgr_single_statement_allocations_total",
    "Tenant segments tried in one statement (PostgreSQL), by network type and result: "
    "allocated, or general (the general path decided: no range in the first pool, a dense "
    "window, an id taken concurrently).",
    ["network_type", "result"],
)
TRANSACTION_RETRIES = Counter(
    "ml2_typemgr_transaction_retries_total",
    "Request transactions run again after losing a race (concurrent creation, deadlock, lock).",
)
RELEASES = Counter(
    "ml2_typemgr_released_segments_total",
    "Segments released, by network type.",
    ["network_type"],
)

_POOL = ["network_type", "physical_network"]
_RANGE = [*_POOL, "range_id", "range_name", "project_id"]


@dataclass(frozen=True)
class PoolFigures:
    """One reading of the database: allocated ids per pool, and every range with its usage."""

    allocated: dict[tuple[str, str], int]
    ranges: list[SegmentRange]


class PoolCollector(Collector):
    """Reports allocated and available ids per type and physical network, and per range."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self._lock = threading.Lock()
        self._cached: tuple[float, PoolFigures] | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self._figures()
        if figures is None:
            return
        yield from pool_families(figures)
        yield from range_families(figures.ranges)

    def _figures(self) -> PoolFigures | None:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < POOL_CACHE_SECONDS:
                return self._cached[1]
            try:
                with sql.read_session(self.factory) as session:
                    figures = PoolFigures(
                        usage.allocated_counts(session), usage.ranges_with_usage(session)
                    )
            except Exception:
                logger.warning("cannot count allocated ids for metrics", exc_info=True)
                return None
            self._cached = (now, figures)
            return figures


def pool_families(figures: PoolFigures) -> Iterator[GaugeMetricFamily]:
    """Yields the per-pool gauges."""
    allocated = _gauge(
        "ml2_typemgr_allocated_ids",
        "Ids in use, inside the ranges or not (flat: physical networks in use).",
        _POOL,
    )
    in_ranges = _gauge("ml2_typemgr_pool_allocated_ids", "Ids in use inside the ranges.", _POOL)
    size = _gauge("ml2_typemgr_pool_ids", "Ids in the ranges of the pool (every owner).", _POOL)
    free = _gauge("ml2_typemgr_pool_available_ids", "Free ids in the ranges of the pool.", _POOL)
    outside = _gauge(
        "ml2_typemgr_outside_range_ids",
        "Ids in use outside every range: provider ids, and ids left by shrunk or deleted ranges.",
        _POOL,
    )
    sizes: dict[tuple[str, str], int] = {}
    used: dict[tuple[str, str], int] = {}
    for r in figures.ranges:
        key = (r.network_type, r.physical_network)
        sizes[key] = sizes.get(key, 0) + r.size
        used[key] = used.get(key, 0) + r.used
    for key in sorted(set(figures.allocated) | set(sizes)):
        total = figures.allocated.get(key, 0)
        allocated.add_metric(list(key), total)
        if key in sizes:
            in_ranges.add_metric(list(key), used[key])
            size.add_metric(list(key), sizes[key])
            free.add_metric(list(key), sizes[key] - used[key])
        if key[0] != "flat":
            outside.add_metric(list(key), total - used.get(key, 0))
    yield from (allocated, in_ranges, size, free, outside)


def range_families(ranges: list[SegmentRange]) -> Iterator[GaugeMetricFamily]:
    """Yields the per-range gauges."""
    size = _gauge("ml2_typemgr_range_ids", "Ids in the range.", _RANGE)
    used = _gauge("ml2_typemgr_range_allocated_ids", "Ids in use in the range.", _RANGE)
    free = _gauge("ml2_typemgr_range_available_ids", "Free ids in the range.", _RANGE)
    for r in ranges:
        labels = [r.network_type, r.physical_network, r.id, r.name, r.project_id]
        size.add_metric(labels, r.size)
        used.add_metric(labels, r.used)
        free.add_metric(labels, r.available)
    yield from (size, used, free)


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)
