"""The allocation benchmark's quick mode runs end to end (real typemgr processes on SQLite) and
reports sane figures: every phase allocated, nothing failed, no id handed out twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_allocation_benchmark_reports_every_phase() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "alloc_bench.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    phases = report["phases"]
    assert {(p["pool"], p["clients"]) for p in phases} == {
        (pool, clients) for pool in ("vlan 4094", "vxlan 20000") for clients in (1, 4)
    }
    fills = sorted({float(p["fill"].rstrip("%")) for p in phases})
    assert fills[0] == 0.0 and fills[-1] >= 98.0, fills
    for phase in phases:
        assert phase["allocations"] > 0, phase
        assert (phase["failures"], phase["duplicates"]) == (0, 0), phase
        assert phase["per_second"] > 0 and 0 < phase["p50_ms"] <= phase["p99_ms"], phase
    first = report["first_allocation"]["sqlite"]
    assert 0 < first["api_seconds"] < first["cold_start_seconds"]
