"""Helpers for the end-to-end tests: run ``ml2`` as a real subprocess, start ``ml2 up``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, json_format
from ml2.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_pb2,
)

from services import launcher
from services.rpc import channels

ML2 = [sys.executable, "-m", "services.cli"]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: this one's, with the source tree importable and no
    ML2_* settings leaking in from the developer's shell but the tests' ``ML2_AUTH_DISABLED``
    (tests/conftest.py), which a process given authentication settings ignores."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith("ML2_") or k == "ML2_AUTH_DISABLED"
    }
    return launcher.python_path_env({**base, **extra})


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, timeout: float, interval: float = 0.2) -> Any:
    """Polls ``condition()`` until it returns something truthy; returns it, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def pid_running(pid: int) -> bool:
    """True if a process with ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Result:
    """What a finished ``ml2`` command did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The parsed JSON of stdout."""
        return json.loads(self.out)


@dataclass
class UpProcess:
    """A running ``ml2 up`` and what it printed."""

    process: subprocess.Popen[str]
    data_dir: Path
    portapi: str
    mechmgr: str
    typemgr: str
    out_path: Path
    err_path: Path
    pids: dict[str, int] = field(default_factory=dict)
    auth: bool = False

    @property
    def admin_token(self) -> Path:
        """The administrator's token ``ml2 up`` wrote (with authentication on)."""
        return self.data_dir / "auth" / "tokens" / "admin.token"

    def token(self, name: str) -> str:
        """The token ``ml2 up`` wrote for ``name`` (``admin``, ``portapi``, ``member-demo``)."""
        return (self.data_dir / "auth" / "tokens" / f"{name}.token").read_text().strip()

    def out(self) -> str:
        return self.out_path.read_text()

    def err(self) -> str:
        return self.err_path.read_text()

    def ml2(self, *args: str, timeout: float = 60) -> Result:
        """Runs a client command against this stack, with authentication on with the token
        the command finds in the stack's data dir by itself (the administrator's; the compute
        service's for the commands that bind as a compute node)."""
        env = child_env(ML2_DATA_DIR=str(self.data_dir)) if self.auth else None
        return run_ml2(
            *args,
            "--portapi",
            self.portapi,
            "--mechmgr",
            self.mechmgr,
            "--typemgr",
            self.typemgr,
            timeout=timeout,
            env=env,
        )

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then waits; returns ml2 up's exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def run_ml2(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> Result:
    """Runs ``ml2 ARGS`` to completion."""
    proc = subprocess.run(
        [*ML2, *args], capture_output=True, text=True, timeout=timeout, env=env or child_env()
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


_ROW = re.compile(r"^(\S+)\s+127\.0\.0\.1:\d+\s+http://\S+\s+(\d+)\s", re.M)


_EXPORT = re.compile(r"^\s+export (ML2_\w+_ADDRESS)=(\S+)$", re.M)


@contextmanager
def running_up(
    tmp_path: Path, *extra: str, auth: bool = False, env: dict[str, str] | None = None
) -> Iterator[UpProcess]:
    """``start_up`` for the length of a ``with`` block: the stack must then stop cleanly."""
    stack = start_up(tmp_path, *extra, auth=auth, env=env)
    try:
        yield stack
    finally:
        assert stack.stop() == 0, stack.err()


def start_up(
    tmp_path: Path,
    *extra: str,
    timeout: float = 60,
    auth: bool = False,
    env: dict[str, str] | None = None,
) -> UpProcess:
    """Starts ``ml2 up --free-ports`` on a temporary data dir and waits until it is up; the
    addresses come from the ``export`` lines it prints, so no port is picked here and lost to
    another program before the stack binds it. ``auth``: with its default authentication
    (the tests that do not test it call with plain channels, and run it with ``--no-auth``).
    ``env``: variables ``ml2 up`` gets besides ``child_env``'s."""
    argv = ["up", "--data-dir", str(tmp_path / "data"), "--free-ports", *extra]
    if not auth:
        argv.append("--no-auth")
    out_path, err_path = tmp_path / "up.out", tmp_path / "up.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            [*ML2, *argv],
            stdout=out,
            stderr=err,
            text=True,
            env=child_env(**(env or {})),
            stdin=subprocess.DEVNULL,
        )
    up = UpProcess(process, tmp_path / "data", "", "", "", out_path, err_path, auth=auth)

    def printed() -> dict[str, str]:
        return dict(_EXPORT.findall(up.out()))

    if not wait_for(lambda: len(printed()) == 3 or process.poll() is not None, timeout):
        up.stop()
        pytest.fail(f"ml2 up did not come up in {timeout}s:\n{up.out()}\n{up.err()}")
    if process.poll() is not None:
        pytest.fail(f"ml2 up exited with {process.returncode}:\n{up.out()}\n{up.err()}")
    addresses = printed()
    up.portapi = addresses["ML2_PORTAPI_ADDRESS"]
    up.mechmgr = addresses["ML2_MECHMGR_ADDRESS"]
    up.typemgr = addresses["ML2_TYPEMGR_ADDRESS"]
    up.pids = {name: int(pid) for name, pid in _ROW.findall(up.out())}
    return up


class AgentProcess:
    """A simulated agent run with ``ml2 agent run --simulate``."""

    def __init__(
        self,
        mechmgr: str,
        agent_type: str,
        host: str,
        *extra: str,
        log: Path,
        data_dir: Path | None = None,
    ) -> None:
        """``data_dir``: the ``ml2 up`` data dir whose key mints the agent's token."""
        self.log = log
        if data_dir is not None:
            extra = (*extra, "--data-dir", str(data_dir))
        with open(log, "w") as fh:
            self.process = subprocess.Popen(
                [
                    *ML2,
                    "agent",
                    "run",
                    "--type",
                    agent_type,
                    "--host",
                    host,
                    *extra,
                    "--simulate",
                    "--mechmgr",
                    mechmgr,
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=child_env(),
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[AgentProcess]]:
    """Agent processes a test starts; stopped at the end."""
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.stop()


def create_vlan_network(channel: grpc.Channel, name: str) -> network_pb2.Network:
    """A network of project ``p`` with one VLAN segment on physnet1, through portapi."""
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name=name, project_id="p", admin_state_up=True),
        segments=[segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")],
    )
    return (
        network_service_pb2_grpc.NetworkServiceStub(channel)
        .CreateNetwork(request, timeout=5)
        .network
    )


def bind_new_port(
    ports: port_service_pb2_grpc.PortServiceStub, network_id: str, host: str, timeout: float = 15
) -> port_pb2.Port:
    """Creates a port of project ``p`` on the network and binds it to ``host``."""
    port = ports.CreatePort(
        port_service_pb2.CreatePortRequest(
            port=port_pb2.Port(network_id=network_id, project_id="p")
        ),
        timeout=5,
    ).port
    port.binding.host_id = host
    return ports.UpdatePort(
        port_service_pb2.UpdatePortRequest(
            port=port, update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"])
        ),
        timeout=timeout,
    ).port


def run_bench(script: str, *args: str, timeout: float = 100) -> Any:
    """Runs a benchmark with tiny parameters; within pytest's own per-test timeout, so that a
    run that hangs fails here with what the benchmark printed so far."""
    try:
        proc = subprocess.run(
            [sys.executable, str(launcher.REPO_ROOT / "bench" / script), *args, "--json"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
        )
    except subprocess.TimeoutExpired as exc:
        printed = [_text(exc.stdout), _text(exc.stderr)]
        raise AssertionError(
            f"{script} did not finish in {timeout:.0f}s:\n" + "\n".join(printed)
        ) from None
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def start_live_agent(
    up: UpProcess, agents: list[AgentProcess], log_dir: Path, kind: str, host: str, *extra: str
) -> AgentProcess:
    """Starts a simulated agent of ``kind`` on ``host`` and waits until mechmgr counts it
    alive; it is stopped with ``agents`` at the end of the test."""
    return start_live_agents(up, agents, log_dir, [(kind, host, *extra)])[0]


def start_live_agents(
    up: UpProcess, agents: list[AgentProcess], log_dir: Path, specs: list[tuple[str, ...]]
) -> list[AgentProcess]:
    """Starts one simulated agent per ``(kind, host, *options)`` of ``specs``, all at once, and
    waits until mechmgr counts every one alive (asking its AgentService, not the CLI); they are
    stopped with ``agents`` at the end of the test."""
    started = []
    for kind, host, *extra in specs:
        agent = AgentProcess(
            up.mechmgr,
            kind,
            host,
            *extra,
            log=log_dir / f"agent-{host}.log",
            data_dir=up.data_dir if up.auth else None,
        )
        agents.append(agent)
        started.append(agent)
    waiting = {host for _, host, *_ in specs}
    channel = channels.make_channel(up.mechmgr)
    registry = agent_service_pb2_grpc.AgentServiceStub(channel)
    metadata = (("authorization", f"Bearer {up.token('admin')}"),) if up.auth else None

    def alive() -> bool:
        for host in sorted(waiting):
            try:
                listed = registry.ListAgents(
                    agent_service_pb2.ListAgentsRequest(host=host), timeout=5, metadata=metadata
                )
            except grpc.RpcError:
                return False
            if any(agent.alive for agent in listed.agents):
                waiting.discard(host)
        return not waiting

    try:
        if not wait_for(alive, 60):
            logs = "\n".join(a.log.read_text() for a in started if a.log.exists())
            raise AssertionError(f"not alive on {sorted(waiting)}:\n{logs}")
    finally:
        channel.close()
    return started


def bind_port(
    ports: port_service_pb2_grpc.PortServiceStub,
    network_id: str,
    host: str,
    vnic_type: int = 1,
    profile: dict[str, Any] | None = None,
) -> port_pb2.Port:
    """Creates a port of project ``p`` with ``vnic_type`` (``binding_pb2.VnicType``, normal by
    default) and ``profile``, then binds it to ``host`` as a compute node does; returns the port
    as UpdatePort answers it."""
    port = port_pb2.Port(network_id=network_id, project_id="p")
    port.binding.vnic_type = vnic_type  # type: ignore[assignment]
    port.binding.profile.update(profile or {})
    created = ports.CreatePort(port_service_pb2.CreatePortRequest(port=port), timeout=5).port
    created.binding.host_id = host
    return ports.UpdatePort(
        port_service_pb2.UpdatePortRequest(
            port=created, update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"])
        ),
        timeout=15,
    ).port


def vif_details_of(port: port_pb2.Port) -> dict[str, Any]:
    """The port's vif_details as the compute node reads them (JSON)."""
    return json_format.MessageToDict(port.binding.vif_details)


def decline_codes(port: port_pb2.Port) -> set[tuple[str, str]]:
    """Every (driver, reason code) of the port's binding trace."""
    return {(v.driver, r.code) for v in port.binding.trace for r in v.reasons}


@pytest.fixture
def driver_processes(tmp_path: Path) -> Iterator[Any]:
    """Starts shipped drivers with ``python -m`` on free ports: ``start(name, **env)`` returns
    the address; each must exit cleanly after the test."""
    started: list[launcher.ServiceProcess] = []

    def start(name: str, **env: str) -> str:
        module = f"services.drivers.{name.replace('-', '_')}"
        settings = {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0", **env}
        proc = launcher.start(name, module, settings, log_dir=tmp_path / "logs")
        started.append(proc)
        return proc.address

    yield start
    for proc in started:
        assert proc.stop() == 0, proc.log_tail()
