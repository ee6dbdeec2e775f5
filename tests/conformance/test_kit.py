"""The conformance kit passes every shipped driver process and fails a broken one by the rule
it breaks, with the request and the answer as evidence."""

from __future__ import annotations

import pytest
from ml2_driver_sdk import conformance

from tests.conformance.conftest import SHIPPED, Start


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_shipped_driver_passes_every_check(start_driver: Start, name: str) -> None:
    module, env = SHIPPED[name]
    proc = start_driver(name, module, env)

    report = conformance.run(proc.address)

    assert [r.id for r in report.results] == list(conformance.CHECK_IDS)
    assert report.passed, report.text()


@pytest.mark.parametrize(
    ("fault", "rule", "said"),
    [
        ("wrong-segment", "binds-only-offered-segments", "which was not offered"),
        ("bad-decline", "declines-with-vocabulary", "'CANNOT', which is not in the vocabulary"),
        ("undescribed-vif", "describes-consistently", "vif_type 'tap', which it does not describe"),
        ("slow-when-dead", "answers-within-deadline", "agent is dead): no answer within 0.3s"),
        ("oversized-crash", "tolerates-oversized-request", "2000 segments and 300 agents: "),
        ("racy", "concurrent-calls", "concurrent calls: answered"),
    ],
)
def test_a_broken_driver_fails_exactly_the_rule_it_breaks(
    start_driver: Start, fault: str, rule: str, said: str
) -> None:
    proc = start_driver(fault, "tests.conformance.broken_driver", {"BROKEN_RULE": fault})

    report = conformance.run(proc.address, deadline=0.3)

    assert report.failed() == [rule], report.text()
    (failed,) = [r for r in report.results if not r.passed]
    assert said in failed.reason
    assert failed.evidence
    evidence = failed.evidence[0].to_json()
    assert evidence["rpc"] == "ProposeBinding"
    assert evidence["request"]["segments_to_bind"]
    assert "reply" in evidence or evidence["code"] in ("DEADLINE_EXCEEDED", "INTERNAL")


@pytest.mark.parametrize(
    ("fault", "rule", "said"),
    [
        ("raises-on-empty", "tolerates-empty-request", "an empty request: answered UNKNOWN"),
        (
            "service-not-serving",
            "health",
            "service 'ml2.v1.MechanismDriverService': NOT_SERVING, not SERVING",
        ),
        ("batch-differs", "deterministic", "in a ProposeBindings batch: answered unlike alone"),
    ],
)
def test_a_driver_without_serve_py_fails_exactly_the_rule_it_breaks(
    start_driver: Start, fault: str, rule: str, said: str
) -> None:
    proc = start_driver(fault, "tests.conformance.raw_driver", {"BROKEN_RULE": fault})

    report = conformance.run(proc.address)

    assert report.failed() == [rule], report.text()
    (failed,) = [r for r in report.results if not r.passed]
    assert said in failed.reason


def test_a_decline_without_a_message_is_named(start_driver: Start) -> None:
    proc = start_driver("bad", "tests.conformance.broken_driver", {"BROKEN_RULE": "bad-decline"})

    (result,) = conformance.run(proc.address, only=["declines-with-vocabulary"]).results

    assert not result.passed
    assert "without a message" in result.reason


def test_nothing_at_the_address_fails_every_check_saying_so() -> None:
    report = conformance.run("127.0.0.1:1", deadline=0.5)

    assert report.failed() == list(conformance.CHECK_IDS)
    assert all("DescribeDriver failed (UNAVAILABLE" in r.reason for r in report.results)
