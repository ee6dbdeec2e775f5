"""mechmgr's own Prometheus metrics (the per-RPC ones come from
``ml2_driver_sdk.runtime.metrics``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import metrics as rpc_metrics
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

RESOLUTIONS = Counter(
    "ml2_mechmgr_resolutions_total",
    "Binding resolutions, by resulting state (bound, failed) and vif_type.",
    ["state", "vif_type"],
)
DRIVER_VERDICTS = Counter(
    "ml2_mechmgr_driver_verdicts_total",
    "Mechanism driver verdicts, by driver, outcome and the first decline reason code.",
    ["driver", "outcome", "reason"],
)
BINDING_FAILURES = Counter(
    "ml2_mechmgr_binding_failures_total",
    "Failed binding resolutions, by decline reason code: a failure counts once under each "
    "distinct code in its trace (NO_REASON when it has none), so the codes add up to more "
    "than the failures when drivers gave different reasons.",
    ["reason"],
)
DRIVER_CALL_SECONDS = Histogram(
    "ml2_mechmgr_driver_call_seconds",
    "Time of one ProposeBinding call to a mechanism driver process, failures included.",
    ["driver"],
    buckets=rpc_metrics.LATENCY_BUCKETS,
)
DRIVER_BREAKER_STATE = Gauge(
    "ml2_mechmgr_driver_breaker_state",
    "1 for the state each mechanism driver's circuit breaker is in (closed, open, half_open), "
    "0 for the others.",
    ["driver", "state"],
)
DRIVER_BREAKER_TRANSITIONS = Counter(
    "ml2_mechmgr_driver_breaker_transitions_total",
    "Changes of a mechanism driver's circuit breaker, by driver and the state it entered.",
    ["driver", "state"],
)
BINDABILITY_CACHE = Counter(
    "ml2_mechmgr_bindability_cache_total",
    "Hosts of bindability checks answered from the cache (result=hit) or by asking the "
    "drivers (result=miss); not counted while the cache is off.",
    ["result"],
)
for _result in ("hit", "miss"):
    BINDABILITY_CACHE.labels(_result)  # exported at 0 from the start
DYNAMIC_SEGMENTS_AHEAD = Counter(
    "ml2_mechmgr_dynamic_segments_ahead_total",
    "Resolutions that offered a deeper level a dynamic segment level 0 was offered already "
    "without waiting for typemgr's allocation: result=confirmed when typemgr returned those "
    "segments, differed when it did not and the resolution ran again waiting for it.",
    ["result"],
)
for _result in ("confirmed", "differed"):
    DYNAMIC_SEGMENTS_AHEAD.labels(_result)
DIRECT_DYNAMIC_HOLDS = Counter(
    "ml2_mechmgr_direct_dynamic_holds_total",
    "Resolutions whose levels bound, as offered, dynamic segments not allocated while resolving "
    "(level 0 was offered the network's dynamic segments in use) and that recorded the port's "
    "hold on them with typemgr: result=held when typemgr returned them, differed when it had "
    "released one and the resolution ran again.",
    ["result"],
)
for _result in ("held", "differed"):
    DIRECT_DYNAMIC_HOLDS.labels(_result)
DYNAMIC_SEGMENT_CALL_SECONDS = Histogram(
    "ml2_mechmgr_dynamic_segment_call_seconds",
    "Time of one AllocateDynamicSegment call to typemgr, failures included.",
    buckets=rpc_metrics.LATENCY_BUCKETS,
)

HEARTBEATS = Counter(
    "ml2_mechmgr_heartbeats_total",
    "Agent heartbeats answered, by how they were written: batched (held in memory until the "
    "next flush) or immediate (written before the answer: an agent new to this replica, "
    "revived, or whose written heartbeat would not last until the next flush).",
    ["write"],
)
HEARTBEAT_MESSAGES = Counter(
    "ml2_mechmgr_heartbeat_messages_total",
    "Agent heartbeats answered, by the RPC that carried them: HeartbeatAgent (one call each) or "
    "StreamHeartbeats (one message of a long-lived stream each).",
    ["rpc"],
)
for _rpc in ("HeartbeatAgent", "StreamHeartbeats"):
    HEARTBEAT_MESSAGES.labels(_rpc)  # exported at 0 from the start
HEARTBEAT_STREAMS = Gauge(
    "ml2_mechmgr_heartbeat_streams",
    "StreamHeartbeats streams open on this replica (about one per agent process).",
)
HELD_AGENTS = Gauge(
    "ml2_mechmgr_held_agents",
    "Agents this replica keeps alive for as long as their StreamHeartbeats stream stays open "
    "(held leases): no message per heartbeat interval, their heartbeat written at every flush.",
)
HEARTBEAT_FLUSHES = Counter(
    "ml2_mechmgr_heartbeat_flushes_total",
    "Writes of the heartbeats held in memory, by result (ok, failed: kept for the next one).",
    ["result"],
)
HEARTBEAT_FLUSH_ROWS = Counter(
    "ml2_mechmgr_heartbeat_flush_rows_total",
    "Agents whose heartbeat a flush wrote (agents found deleted meanwhile are not counted).",
)
HEARTBEAT_FLUSH_SECONDS = Histogram(
    "ml2_mechmgr_heartbeat_flush_seconds",
    "Time of one flush of the heartbeats held in memory, failures included.",
    buckets=rpc_metrics.LATENCY_BUCKETS,
)
for _write in ("batched", "immediate"):
    HEARTBEATS.labels(_write)  # exported at 0 from the start
for _result in ("ok", "failed"):
    HEARTBEAT_FLUSHES.labels(_result)


def observe(result: values.BindingResult) -> None:
    """Counts a resolution, each of its verdicts and, for a failure, each reason code."""
    state = "bound" if result.bound else "failed"
    RESOLUTIONS.labels(state, result.vif_type).inc()
    for verdict in result.trace:
        reason = verdict.reasons[0].code if verdict.reasons else ""
        DRIVER_VERDICTS.labels(verdict.driver, verdict.outcome, reason).inc()
    if result.state == vocabulary.FAILED:
        for code in failure_reasons(result):
            BINDING_FAILURES.labels(code).inc()


def failure_reasons(result: values.BindingResult) -> list[str]:
    """Returns the distinct decline reason codes of a failed result, in trace order
    (``NO_REASON`` when its trace has none)."""
    codes = dict.fromkeys(r.code for v in result.trace for r in v.reasons)
    return list(codes) or [vocabulary.NO_REASON]


def breaker_reporter(driver: str, states: Sequence[str], initial: str) -> Callable[[str], None]:
    """Sets the breaker gauge of ``driver`` to ``initial`` and returns the callback that moves
    it to a new state and counts the change."""

    def enter(state: str, *, count: bool = True) -> None:
        for name in states:
            DRIVER_BREAKER_STATE.labels(driver, name).set(1 if name == state else 0)
        if count:
            DRIVER_BREAKER_TRANSITIONS.labels(driver, state).inc()

    for name in states:
        DRIVER_BREAKER_TRANSITIONS.labels(driver, name)  # exported at 0 from the start
    enter(initial, count=False)
    return enter


class AgentsCollector(Collector):
    """Exposes ``ml2_mechmgr_agents{agent_type,alive}``, counted in the database at scrape time
    (every replica reports the same shared registry)."""

    def __init__(self, count: Callable[[], dict[tuple[str, bool], int]]) -> None:
        self._count = count

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Declares the metric without querying the database."""
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Counts agents by type and liveness."""
        family = self._family()
        try:
            counts = self._count()
        except Exception:
            logger.warning("cannot count agents for metrics", exc_info=True)
            return
        for (agent_type, alive), n in sorted(counts.items()):
            family.add_metric([agent_type, "true" if alive else "false"], n)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "ml2_mechmgr_agents",
            "Registered L2 agents, by agent type and whether they are alive.",
            labels=["agent_type", "alive"],
        )


def register_agents_collector(count: Callable[[], dict[tuple[str, bool], int]]) -> None:
    """Adds the agents gauge to the process's default registry."""
    REGISTRY.register(AgentsCollector(count))
