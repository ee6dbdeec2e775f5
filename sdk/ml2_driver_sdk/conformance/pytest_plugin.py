"""The conformance kit as a pytest plugin: each check is its own test item, named by its id.

A driver's repository enables it in its top-level ``conftest.py``::

    pytest_plugins = ["ml2_driver_sdk.conformance.pytest_plugin"]

(or with ``-p ml2_driver_sdk.conformance.pytest_plugin``) and says
where its driver runs, either with ``--ml2-driver-address HOST:PORT`` or by overriding the
session fixture ``ml2_driver_address`` (e.g. to start the driver process and return its address).
The items ``ml2-conformance::<check id>`` are added to the run; each fails with the check's
reason and evidence. ``--ml2-driver-deadline``, ``--ml2-driver-host`` and ``--ml2-driver-code``
are those of ``ml2 driver check``. Without an address the items are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from ml2_driver_sdk.conformance import checks
from ml2_driver_sdk.conformance.report import Report, Result

NODE = "ml2-conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ml2-conformance", "ml2 mechanism driver conformance")
    group.addoption(
        "--ml2-driver-address", default="", metavar="HOST:PORT", help="the driver process to check"
    )
    group.addoption(
        "--ml2-driver-deadline",
        type=float,
        default=checks.DEFAULT_DEADLINE,
        metavar="SECONDS",
        help="the deadline every call must be answered within",
    )
    group.addoption("--ml2-driver-host", default=checks.DEFAULT_HOST, help="the host to bind on")
    group.addoption(
        "--ml2-driver-code",
        action="append",
        default=[],
        metavar="CODE",
        help="a decline code of the driver's own (repeatable)",
    )


@pytest.fixture(scope="session")
def ml2_driver_address(request: pytest.FixtureRequest) -> str:
    """The address of the driver process to check: ``--ml2-driver-address``. Override it (in
    session scope) to start the driver yourself."""
    address = str(request.config.getoption("--ml2-driver-address"))
    if not address:
        pytest.skip("no driver to check: pass --ml2-driver-address or override ml2_driver_address")
    return address


@pytest.fixture(scope="session")
def ml2_conformance_report(request: pytest.FixtureRequest, ml2_driver_address: str) -> Report:
    """The kit's report on the driver at ``ml2_driver_address``, made once per session."""
    config = request.config
    return checks.run(
        ml2_driver_address,
        deadline=float(config.getoption("--ml2-driver-deadline")),
        host=str(config.getoption("--ml2-driver-host")),
        extra_codes=list(config.getoption("--ml2-driver-code")),
    )


class ConformanceFailed(AssertionError):
    """A conformance check failed; the message is its reason and evidence."""


def _check(check_id: str, ml2_conformance_report: Report) -> None:
    result = next(r for r in ml2_conformance_report.results if r.id == check_id)
    if not result.passed:
        raise ConformanceFailed(_failure_text(result))


def _failure_text(result: Result) -> str:
    evidence = json.dumps([e.to_json() for e in result.evidence[:3]], indent=2)
    return f"{result.id}: {result.reason}\nevidence:\n{evidence}"


class _Checks(pytest.Collector):
    """The collector of the conformance items, one per check."""

    def collect(self) -> Iterator[pytest.Item]:
        for check in checks.CHECKS:
            yield pytest.Function.from_parent(
                self, name=check.id, callobj=_bound(check.id), originalname=check.id
            )


def _bound(check_id: str) -> Any:
    def test(ml2_conformance_report: Report) -> None:
        _check(check_id, ml2_conformance_report)

    test.__doc__ = next(c.description for c in checks.CHECKS if c.id == check_id)
    test.__name__ = check_id
    return test


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Adds the conformance items first, so that ``-k`` and ``-m`` select among them too."""
    items.extend(_Checks.from_parent(session, name=NODE, nodeid=NODE).collect())
