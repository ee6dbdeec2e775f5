"""Prometheus metrics of portapi's binding flow (per-RPC counts and latencies come from the
shared server interceptor)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta

from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime.metrics import LATENCY_BUCKETS
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

BINDINGS = Counter(
    "ml2_portapi_bindings_total",
    "Binding results committed, by state (BOUND, FAILED), vif_type and the first decline reason "
    "of a failed binding (empty when bound).",
    ["state", "vif_type", "reason"],
)
DECLINES = Counter(
    "ml2_portapi_binding_declines_total",
    "Decline reasons in the traces of committed bindings, by driver and reason code.",
    ["driver", "reason"],
)
BIND_LATENCY = Histogram(
    "ml2_portapi_bind_seconds",
    "Time from recording a port's binding inputs to committing its result, retries included.",
    buckets=LATENCY_BUCKETS,
)
RESOLVE_LATENCY = Histogram(
    "ml2_portapi_resolve_seconds",
    "Duration of the ResolveBinding calls to mechmgr, by outcome (ok, unavailable, error, "
    "deadline: the caller's deadline cut it short).",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
CAS_RETRIES = Counter(
    "ml2_portapi_binding_cas_retries_total",
    "Binding results discarded because the binding inputs changed while they were resolved.",
)
LOST_RESOLUTION_SYNCS = Counter(
    "ml2_portapi_lost_resolution_hold_syncs_total",
    "Hold syncs sent after a resolution that may have allocated dynamic segments was not "
    "committed (a newer or concurrent one won), stating the holds of the committed binding.",
)
HOLD_SYNCS = Counter(
    "ml2_portapi_hold_syncs_total",
    "SyncDynamicSegmentHolds calls to typemgr, by result (synced, failed) and by whether they "
    "were sent before the answer (now), after it (deferred), or again from the hold outbox "
    "(retry).",
    ["result", "when"],
)
SEGMENT_CHANGE_WAITS = Counter(
    "ml2_portapi_segment_change_waits_total",
    "Bindings whose driver cannot follow a new segmentation id that waited for their network to "
    "finish getting one, by outcome (done: bound again after it; gave_up: left pending).",
    ["outcome"],
)
BIND_ABORTS = Counter(
    "ml2_portapi_binding_aborts_total",
    "Bind requests that gave up with ABORTED after PORTAPI_BIND_MAX_TRIES lost compare-and-sets.",
)

RECONCILER_REPAIRS = Counter(
    "ml2_portapi_reconciler_repairs_total",
    "Interrupted work the reconciler took over, by kind (binding, network_create, "
    "network_delete, network_release) and result (repaired; superseded: a request finished it "
    "first; failed: a peer or the database failed, tried again after the grace period).",
    ["kind", "result"],
)
RECONCILER_PASSES = Counter(
    "ml2_portapi_reconciler_passes_total",
    "Reconciler passes, by result (ok, failed: the database could not be read).",
    ["result"],
)


EVENTS_WRITTEN = Counter(
    "ml2_portapi_port_events_total",
    "Port events committed by this process, by type (CREATED, UPDATED, DELETED, VIF_PLUGGED, "
    "VIF_UNPLUGGED).",
    ["type"],
)
WATCHERS = Gauge(
    "ml2_portapi_watchers",
    "WatchPorts streams open on this process.",
)
EVENTS_DELIVERED = Counter(
    "ml2_portapi_watch_events_delivered_total",
    "Port events sent to WatchPorts streams (snapshots excluded).",
)
RESYNCS = Counter(
    "ml2_portapi_watch_resyncs_total",
    "WatchPorts streams ended with RESYNC, by reason (pruned: the history asked for is no "
    "longer kept; overflow: the watcher fell too far behind; ahead: it asked for a revision "
    "from the future).",
    ["reason"],
)
DEVICE_REPORTS = Counter(
    "ml2_portapi_device_reports_total",
    "Device reports of L2 agents, by result (APPLIED, NOT_FOUND, NOT_BOUND_HERE, "
    "STALE_GENERATION) and reported state (UP, DOWN, ERROR).",
    ["result", "state"],
)
AGENT_DOWN_PORTS = Counter(
    "ml2_portapi_agent_down_ports_total",
    "ACTIVE or BUILD ports taken DOWN because the agent that reported them died or was removed.",
)
AGENT_CHANGES = Counter(
    "ml2_portapi_agent_changes_total",
    "Agent changes (mechmgr's Agent.revision moved, or an agent never seen) whose host's failed "
    "bindings this replica claimed to retry, by change (new, changed).",
    ["change"],
)
FAILED_PORT_REBINDS = Counter(
    "ml2_portapi_failed_port_rebinds_total",
    "Failed bindings retried after an agent of their host changed, by result (bound; failed: "
    "still binding_failed; superseded: an update or another replica committed first; error: "
    "the database or a peer failed, left to the reconciler).",
    ["result"],
)
REBIND_PASSES = Counter(
    "ml2_portapi_rebind_passes_total",
    "Passes of the rebinder, by result (ok; failed: mechmgr or the database could not be "
    "asked, nothing was claimed).",
    ["result"],
)
AGENT_CHECKS = Counter(
    "ml2_portapi_agent_checks_total",
    "Passes of the agent liveness check, by result (ok; failed: mechmgr or the database could "
    "not be asked, no port was changed).",
    ["result"],
)
EVENTS_PRUNED = Counter(
    "ml2_portapi_port_events_pruned_total",
    "Port events deleted from the log by retention.",
)

STUCK_IN_BUILD_SECONDS = 300.0
"""How long a port may stay in BUILD before ml2_portapi_ports_stuck_in_build counts it."""


class PortStatusCollector(Collector):
    """Exposes ``ml2_portapi_ports{status}`` and ``ml2_portapi_ports_stuck_in_build``, counted in
    the database at scrape time (every replica reports the whole database's counts)."""

    def __init__(
        self,
        counts: Callable[[], dict[str, int]],
        stuck: Callable[[timedelta], int],
    ) -> None:
        self._counts = counts
        self._stuck = stuck

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_status = GaugeMetricFamily(
            "ml2_portapi_ports", "Ports, by status (DOWN, BUILD, ACTIVE, ERROR).", labels=["status"]
        )
        stuck = GaugeMetricFamily(
            "ml2_portapi_ports_stuck_in_build",
            f"Ports in BUILD for more than {STUCK_IN_BUILD_SECONDS:g} s: bound, but their "
            "host's agent has not reported them wired.",
        )
        try:
            counts = self._counts()
            stuck_count = self._stuck(timedelta(seconds=STUCK_IN_BUILD_SECONDS))
        except Exception:  # a scrape must not fail because the database is away
            return
        for name in ("DOWN", "BUILD", "ACTIVE", "ERROR"):
            by_status.add_metric([name], counts.get(name, 0))
        stuck.add_metric([], stuck_count)
        yield by_status
        yield stuck

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


def count_events(types: Sequence[str]) -> None:
    """Counts the port events one transaction committed (a commit listener)."""
    for kind in types:
        EVENTS_WRITTEN.labels(kind).inc()


def register_port_status(collector: PortStatusCollector) -> None:
    """Registers the collector with the default registry (once per process)."""
    REGISTRY.register(collector)


def record_result(result: values.BindingResult, seconds: float) -> None:
    """Counts one committed binding result and observes its latency."""
    BINDINGS.labels(result.state, result.vif_type, result.primary_reason()).inc()
    BIND_LATENCY.observe(seconds)
    if result.state == vocabulary.FAILED:
        for verdict in result.trace:
            for reason in verdict.reasons:
                DECLINES.labels(verdict.driver, reason.code).inc()
