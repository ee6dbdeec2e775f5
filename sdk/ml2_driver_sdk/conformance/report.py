"""What the kit found: one ``Result`` per check, gathered in a ``Report`` that prints as lines
for people or as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ml2_driver_sdk.conformance import probe


@dataclass(frozen=True)
class Failure:
    """One broken rule: what was wrong and the call that shows it (None if no call does)."""

    message: str
    exchange: probe.Exchange | None = None


@dataclass(frozen=True)
class Result:
    """The outcome of one check. ``evidence`` holds the calls that broke the rule when it
    failed, and the first call of each kind of request it sent when it passed (at most
    ``MOST_EVIDENCE``)."""

    id: str
    description: str
    passed: bool
    reason: str = ""
    evidence: tuple[probe.Exchange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Returns the result as a JSON object."""
        return {
            "id": self.id,
            "description": self.description,
            "passed": self.passed,
            "reason": self.reason,
            "evidence": [e.to_json() for e in self.evidence],
        }


def result(
    check_id: str, description: str, failures: list[Failure], made: list[probe.Exchange]
) -> Result:
    """Returns a passing result if ``failures`` is empty, else a failing one whose reason is the
    first failures and whose evidence is their calls."""
    if not failures:
        return Result(check_id, description, True, evidence=_samples(made))
    reason = "; ".join(f.message for f in failures[:3])
    if len(failures) > 3:
        reason += f"; and {len(failures) - 3} more"
    evidence = tuple(f.exchange for f in failures if f.exchange is not None)[:MOST_EVIDENCE]
    return Result(check_id, description, False, reason, evidence)


MOST_EVIDENCE = 16
"""Most calls kept as the evidence of a check: of a failing one, the first that broke its rule;
of a passing one, the first of each kind of request."""


def _samples(made: list[probe.Exchange]) -> tuple[probe.Exchange, ...]:
    seen: set[tuple[str, str]] = set()
    kept: list[probe.Exchange] = []
    for exchange in made:
        kind = (exchange.rpc, exchange.note)
        if kind not in seen and len(kept) < MOST_EVIDENCE:
            seen.add(kind)
            kept.append(exchange)
    return tuple(kept)


@dataclass(frozen=True)
class Report:
    """Every check's result against the driver at ``address`` (named ``driver`` if it said)."""

    address: str
    driver: str
    deadline: float
    results: tuple[Result, ...]

    @property
    def passed(self) -> bool:
        """True if every check passed."""
        return all(r.passed for r in self.results)

    def failed(self) -> list[str]:
        """The ids of the checks that failed."""
        return [r.id for r in self.results if not r.passed]

    def to_json(self) -> dict[str, Any]:
        """Returns the report as a JSON object."""
        return {
            "address": self.address,
            "driver": self.driver,
            "deadline_seconds": self.deadline,
            "passed": self.passed,
            "checks": [r.to_json() for r in self.results],
        }

    def json_text(self) -> str:
        """Returns the report as indented JSON."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False)

    def text(self) -> str:
        """Returns one line per check, PASS with what it checked or FAIL with why, and a total."""
        name = self.driver or "(no description)"
        lines = [f"driver {name} at {self.address} (deadline {self.deadline:g}s)"]
        width = max((len(r.id) for r in self.results), default=0)
        for r in self.results:
            verdict = "PASS" if r.passed else "FAIL"
            lines.append(f"{verdict}  {r.id:<{width}}  {r.description if r.passed else r.reason}")
        passed = sum(r.passed for r in self.results)
        lines.append(f"{passed} of {len(self.results)} checks passed")
        return "\n".join(lines)
