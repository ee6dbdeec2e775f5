"""A tiny run of the idle soak, so that it keeps working (its real run idles for minutes)."""

from __future__ import annotations

import re
import subprocess
import sys

from services.launcher import REPO_ROOT
from tests.e2e.conftest import child_env


def test_idle_soak_reports_every_bind() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "idle_soak.py"),
            "--idle-seconds",
            "1",
            "--binds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    binds = re.findall(r"bind (\d): after (\d+)s idle: BOUND vif_type=ovs latency=", proc.stdout)
    assert [number for number, _ in binds] == ["1", "2", "3"], proc.stdout
    assert [int(idle) for _, idle in binds][1:] >= [1, 1], proc.stdout
    assert "3 binds, 3 BOUND, 0 failed" in proc.stdout
    assert "no process logged a refused keepalive ping" in proc.stdout
