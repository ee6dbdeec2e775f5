"""typemgr's Prometheus metrics.

Counters and the latency histogram are updated as allocations happen. The gauges of allocated
ids are computed at scrape time by ``PoolCollector`` with one grouped COUNT over the allocated
rows (the table holds only ids in use, so this stays cheap).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.rpc.metrics import LATENCY_BUCKETS
from services.typemgr.db import allocation
from services.typemgr.segments import IdRange

logger = logging.getLogger(__name__)

ALLOCATIONS = Counter(
    "ml2_typemgr_allocations_total",
    "Segment reservations by network type and result (allocated, in_use, exhausted, contention).",
    ["network_type", "result"],
)
ALLOCATION_SECONDS = Histogram(
    "ml2_typemgr_allocation_seconds",
    "Time to reserve one segment (specific id, pool id or physical network), by network type.",
    ["network_type"],
    buckets=LATENCY_BUCKETS,
)
CONFLICT_RETRIES = Counter(
    "ml2_typemgr_allocation_conflict_retries_total",
    "Pool ids a concurrent caller took between the search and the insert, by network type.",
    ["network_type"],
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


class PoolCollector(Collector):
    """Reports, per pool, the ids allocated (all, and inside the tenant ranges) and the size of
    the tenant ranges."""

    def __init__(
        self, factory: sessionmaker[Session], ranges: Iterable[tuple[str, IdRange]]
    ) -> None:
        self.factory = factory
        self.sizes: dict[allocation.Pool, int] = {}
        for network_type, id_range in ranges:
            pool = allocation.Pool(network_type, id_range.physical_network)
            self.sizes[pool] = self.sizes.get(pool, 0) + id_range.size

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["network_type", "physical_network"]
        allocated = GaugeMetricFamily(
            "ml2_typemgr_allocated_ids",
            "Segmentation ids in use (flat: physical networks in use), by type and physnet.",
            labels=labels,
        )
        in_pool = GaugeMetricFamily(
            "ml2_typemgr_pool_allocated_ids",
            "Segmentation ids in use inside the configured tenant ranges.",
            labels=labels,
        )
        size = GaugeMetricFamily(
            "ml2_typemgr_pool_ids",
            "Segmentation ids in the configured tenant ranges.",
            labels=labels,
        )
        try:
            with sql.read_session(self.factory) as session:
                counts = allocation.allocated_counts(session)
                counts_in_pool = allocation.allocated_in_ranges(session)
        except Exception:
            logger.warning("cannot count allocated ids for metrics", exc_info=True)
            return
        for pool in sorted(
            set(counts) | set(self.sizes), key=lambda p: (p.network_type, p.physical_network)
        ):
            values = [pool.network_type, pool.physical_network]
            allocated.add_metric(values, counts.get(pool, 0))
            if pool in self.sizes:
                in_pool.add_metric(values, counts_in_pool.get(pool, 0))
                size.add_metric(values, self.sizes[pool])
        yield allocated
        yield in_pool
        yield size
