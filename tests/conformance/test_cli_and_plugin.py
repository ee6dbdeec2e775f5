"""``ml2 driver check`` and the pytest plugin, run against real driver processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ml2_driver_sdk import conformance

from services import launcher
from services.cli import main
from tests.conformance.conftest import SHIPPED, Start


def test_driver_check_prints_a_pass_line_per_check_and_exits_0(
    start_driver: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    module, env = SHIPPED["linuxbridge"]
    proc = start_driver("linuxbridge", module, env)

    status = main.run(["driver", "check", proc.address, "--deadline", "2"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0] == f"driver linuxbridge at {proc.address} (deadline 2s)"
    assert [line.split()[:2] for line in lines[1:-1]] == [
        ["PASS", check] for check in conformance.CHECK_IDS
    ]
    assert lines[-1] == "10 of 10 checks passed"


def test_driver_check_names_the_broken_rule_and_exits_1(
    start_driver: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = start_driver("bad", "tests.conformance.broken_driver", {"BROKEN_RULE": "bad-decline"})

    status = main.run(["driver", "check", proc.address])

    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert status == 1
    assert len(failed) == 1
    assert failed[0].split()[1] == "declines-with-vocabulary"
    assert "'CANNOT', which is not in the vocabulary" in failed[0]
    assert out.splitlines()[-1] == "9 of 10 checks passed"


def test_driver_check_json_has_every_check_with_its_evidence(
    start_driver: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = start_driver("ws", "tests.conformance.broken_driver", {"BROKEN_RULE": "wrong-segment"})

    status = main.run(["--json", "driver", "check", proc.address])

    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert (report["address"], report["driver"], report["passed"]) == (
        proc.address,
        "openvswitch",
        False,
    )
    by_id = {c["id"]: c for c in report["checks"]}
    assert list(by_id) == list(conformance.CHECK_IDS)
    assert [i for i, c in by_id.items() if not c["passed"]] == ["binds-only-offered-segments"]
    broken = by_id["binds-only-offered-segments"]
    assert "which was not offered" in broken["reason"]
    evidence = broken["evidence"][0]
    assert evidence["reply"]["complete"]["segment_id"] == "conformance-net-1"
    offered = [s["id"] for s in evidence["request"]["segments_to_bind"]]
    assert "conformance-net-1" not in offered
    assert all(0 < len(c["evidence"]) <= 16 for c in report["checks"])


def test_driver_check_refuses_a_malformed_code_or_deadline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main.run(["driver", "check", "127.0.0.1:1", "--code", "lower"]) == 2
    assert "UPPER_SNAKE_CASE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main.run(["driver", "check", "127.0.0.1:1", "--deadline", "0"])
    assert exit_.value.code == 2


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_own.py").write_text("def test_the_drivers_own_test():\n    pass\n")
    plugin = ["-p", "ml2_driver_sdk.conformance.pytest_plugin", "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, "-q", "-rA", *args],
        cwd=tmp_path,
        env=launcher.python_path_env({"PATH": "/usr/bin:/bin"}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_pytest_plugin_makes_each_check_a_passing_test_of_a_shipped_driver(
    start_driver: Start, tmp_path: Path
) -> None:
    module, env = SHIPPED["openvswitch"]
    proc = start_driver("openvswitch", module, env)

    run = _pytest(tmp_path, "--ml2-driver-address", proc.address)

    assert run.returncode == 0, run.stdout + run.stderr
    for check in conformance.CHECK_IDS:
        assert f"PASSED ml2-conformance::{check}" in run.stdout
    assert "11 passed" in run.stdout


def test_the_pytest_plugin_fails_the_item_of_the_broken_rule_only(
    start_driver: Start, tmp_path: Path
) -> None:
    proc = start_driver("bad", "tests.conformance.broken_driver", {"BROKEN_RULE": "bad-decline"})

    run = _pytest(tmp_path, "--ml2-driver-address", proc.address)

    assert run.returncode == 1
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and " ml2-conformance::declines-with-vocabulary" in failed[0]
    assert "10 passed" in run.stdout


def test_the_pytest_plugin_takes_the_address_from_an_overridden_fixture(
    start_driver: Start, tmp_path: Path
) -> None:
    module, env = SHIPPED["noop"]
    proc = start_driver("noop", module, env)
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture(scope='session')\n"
        f"def ml2_driver_address():\n    return {proc.address!r}\n"
    )

    run = _pytest(tmp_path, "-k", "health or deterministic")

    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASSED ml2-conformance::health" in run.stdout
    assert "PASSED ml2-conformance::deterministic" in run.stdout
    assert "2 passed" in run.stdout


def test_the_pytest_plugin_skips_the_checks_without_an_address(tmp_path: Path) -> None:
    run = _pytest(tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 10 skipped" in run.stdout
