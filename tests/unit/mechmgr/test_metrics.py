"""mechmgr's binding metrics, read from the process's registry."""

from __future__ import annotations

from ml2_contract import values, vocabulary
from prometheus_client import REGISTRY

from services.mechmgr import metrics


def failures(reason: str) -> float:
    value = REGISTRY.get_sample_value("ml2_mechmgr_binding_failures_total", {"reason": reason})
    return value or 0.0


def decline(driver: str, *codes: str) -> values.Verdict:
    reasons = tuple(values.DeclineReason(code, code.lower()) for code in codes)
    return values.Verdict(0, driver, vocabulary.DECLINE, reasons=reasons)


def test_a_failure_counts_once_under_each_distinct_reason_code():
    before = {code: failures(code) for code in ("NO_AGENT", "PHYSNET_NOT_MAPPED", "NO_REASON")}
    failed = values.BindingResult(
        vocabulary.FAILED,
        vocabulary.VIF_TYPE_BINDING_FAILED,
        trace=(
            decline("openvswitch", "PHYSNET_NOT_MAPPED", "PHYSNET_NOT_MAPPED"),
            decline("linuxbridge", "NO_AGENT"),
            decline("noop", "NO_AGENT"),
        ),
    )
    bound = values.BindingResult(vocabulary.BOUND, "ovs", trace=(decline("lb", "NO_AGENT"),))
    silent = values.BindingResult(vocabulary.FAILED, vocabulary.VIF_TYPE_BINDING_FAILED)

    for result in (failed, bound, silent):
        metrics.observe(result)

    assert failures("PHYSNET_NOT_MAPPED") - before["PHYSNET_NOT_MAPPED"] == 1
    assert failures("NO_AGENT") - before["NO_AGENT"] == 1
    assert failures("NO_REASON") - before["NO_REASON"] == 1
