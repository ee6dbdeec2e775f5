"""Prometheus metrics of portapi's binding flow (per-RPC counts and latencies come from the
shared server interceptor)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from ml2_contract import values, vocabulary
from services.rpc.metrics import LATENCY_BUCKETS

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
HOLD_SYNCS = Counter(
    "ml2_portapi_hold_syncs_total",
    "SyncDynamicSegmentHolds calls to typemgr, by result (synced, failed) and by whether they "
    "followed a change at once (now) or were sent again from the hold outbox (retry).",
    ["result", "when"],
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


def record_result(result: values.BindingResult, seconds: float) -> None:
    """Counts one committed binding result and observes its latency."""
    BINDINGS.labels(result.state, result.vif_type, result.primary_reason()).inc()
    BIND_LATENCY.observe(seconds)
    if result.state == vocabulary.FAILED:
        for verdict in result.trace:
            for reason in verdict.reasons:
                DECLINES.labels(verdict.driver, reason.code).inc()
