"""A tiny run of the hierarchical binding benchmark, so that it keeps working; nothing here is
timed against its target."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import run_bench


@pytest.mark.parametrize("level0", ["sdn-controller", "noop"])
def test_hierarchy_benchmark_binds_over_one_and_two_levels(level0: str) -> None:
    figures = run_bench("hierarchy_bench.py", "--level0", level0, "--ports", "3", "--warmup", "0")
    assert figures["level0"] == level0
    assert figures["one_level"]["binds"] == figures["two_levels"]["binds"] == 3
    assert 0 < figures["one_level"]["p50_ms"] <= figures["one_level"]["p99_ms"]
    assert 0 < figures["two_levels"]["p50_ms"] <= figures["two_levels"]["p99_ms"]
