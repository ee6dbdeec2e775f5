"""The example driver's Kubernetes manifest (``examples/acme-switch/deploy``) is valid, probes
the port the driver listens on, and sets only variables the driver or the SDK reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme-switch"
MANIFEST = EXAMPLE / "deploy" / "mechdriver-acme-switch.yaml"


def _docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def test_the_manifest_passes_kubernetes_schema_validation() -> None:
    validate = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validate), "--strict", "-k", "1.30", str(MANIFEST)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deployment_probes_the_driver_port_and_sets_what_the_driver_reads() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _docs()}
    deployment = docs[("Deployment", "mechdriver-acme-switch")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    port = int(env["MECHDRIVER_LISTEN"]["value"].rpartition(":")[2])
    assert container["readinessProbe"]["grpc"]["port"] == port
    assert container["livenessProbe"]["grpc"]["port"] == port
    assert container["command"] == ["python", "-m", "acme_switch"]
    read = "\n".join(
        p.read_text() for p in [*EXAMPLE.rglob("acme_switch/*.py"), *(ROOT / "sdk").rglob("*.py")]
    )
    for name in env:
        assert re.search(rf"\b{name}\b", read), f"nothing reads {name}"
    ref = env["ACME_SWITCH_TOPOLOGY"]["valueFrom"]["configMapKeyRef"]
    assert ref["key"] in docs[("ConfigMap", ref["name"])]["data"]
    service = docs[("Service", "mechdriver-acme-switch")]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert port in [p["port"] for p in service["spec"]["ports"]]
