"""The Prometheus rules, their unit tests, the scrape configuration and the Grafana dashboard are
valid, and name only metrics the processes export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.agent import config as agent_config
from services.cli import stack

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "modular-l2.json"
METRIC = re.compile(r"\bml2_[a-z0-9_]+\b")
RECORDED = re.compile(r"\bml2:[a-z0-9_:]+\b")
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool comes with Debian's prometheus package (scripts/test-tools installs it)"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


DECLARED = re.compile(
    r'\b(?:Counter|Gauge|Histogram|Summary|Info|\w*MetricFamily)\(\s*"(ml2_[a-z0-9_]+)"'
)
"""A metric's declaration anywhere in the services (the agent runtime declares its own)."""


def exported_metrics() -> set[str]:
    """Metric names declared in the services' and the SDK's metrics modules and constructors."""
    names: set[str] = set()
    for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "sdk").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        if path.name == "metrics.py":
            names.update(re.findall(r'"(ml2_[a-z0-9_]+)"', text))
        names.update(DECLARED.findall(text))
    return names


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for panel in dash["panels"] for t in panel["targets"]]


def recording_rules() -> set[str]:
    groups = yaml.safe_load((PROM / "rules.yml").read_text(encoding="utf-8"))["groups"]
    return {rule["record"] for g in groups for rule in g["rules"] if "record" in rule}


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass() -> None:
    result = promtool("test", "rules", "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_config_is_valid_and_scrapes_the_default_metrics_ports() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROM / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"][0] for job in config["scrape_configs"]
    }
    for process in ("portapi", "typemgr", "mechmgr", "openvswitch", "linuxbridge"):
        job = f"ml2-{process}" if process in stack.CORE_SERVICES else f"ml2-mechdriver-{process}"
        assert targets[job] == f"127.0.0.1:{stack.DEFAULT_PORTS[process][1]}", job
    for agent_type, port in agent_config.DEFAULT_METRICS_PORTS.items():
        job = f"ml2-agent-{agent_type}"
        assert targets[job] == f"{agent_config.DEFAULT_METRICS_HOST}:{port}", job


def test_agent_metrics_are_declared() -> None:
    """The agents' series the rules and dashboard use exist under these names."""
    assert {
        "ml2_agent_ports_wired",
        "ml2_agent_ports_wiring_failed",
        "ml2_agent_wiring_seconds",
        "ml2_agent_resyncs_total",
        "ml2_agent_errors_total",
        "ml2_agent_device_reports_total",
        "ml2_agent_info",
    } <= exported_metrics()


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": expr}
                    for i, expr in enumerate(dashboard_exprs())
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_metric_named_is_exported_or_recorded(source: str) -> None:
    if source == "rules":
        text = (PROM / "rules.yml").read_text(encoding="utf-8")
    else:
        text = "\n".join(dashboard_exprs())
    exported = exported_metrics()
    recorded = recording_rules()

    unknown = {m for m in METRIC.findall(text) if _base(m) not in exported}
    unrecorded = set(RECORDED.findall(text)) - recorded

    assert not unknown, f"metrics no process exports: {sorted(unknown)}"
    assert not unrecorded, f"recording rules that do not exist: {sorted(unrecorded)}"
