"""A real L2 agent's HTTP port answers the probes a Kubernetes DaemonSet gives it.

``/healthz`` (liveness) stays 200 while the agent waits for mechmgr: restarting it would not
bring mechmgr back. ``/readyz`` (readiness, which paces a rolling update) is 503 until the agent
has registered and reconciled the first snapshot of its host's ports, then 200. ``/metrics``
still serves the agent's series beside them.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.lab import Host, Lab
from tests.e2e.conftest import ML2, child_env, free_port, start_up, wait_for


def _get(port: int, path: str) -> tuple[int, str] | None:
    """(status, body) of ``GET path`` on the agent's port; None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return int(reply.status), reply.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()
    except OSError:
        return None


class Agent:
    """``ml2 agent run --type linuxbridge`` managing ``host``'s namespace."""

    def __init__(self, host: Host, mechmgr: str, portapi: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.host_id = f"probe-{uuid.uuid4().hex[:6]}"
        argv = [
            *ML2,
            *("agent", "run", "--type", "linuxbridge", "--host", self.host_id),
            *("--netns", host.namespace.name, "--mechmgr", mechmgr, "--portapi", portapi),
            *("--metrics-host", "127.0.0.1", "--metrics-port", str(self.port)),
        ]
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(),
            )

    def answer(self, path: str) -> tuple[int, str] | None:
        """What ``path`` answers now; fails with the agent's log if it has exited."""
        assert self.process.poll() is None, self.log.read_text()
        return _get(self.port, path)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def host() -> Iterator[Host]:
    with Lab() as lab:
        yield lab.host("pr1", underlay=lab.underlay(), ovs=False)


def test_probes_follow_registration_and_the_first_snapshot(host: Host, tmp_path: Path) -> None:
    # No mechmgr yet: alive, not ready.
    mechmgr_port = free_port()
    agent = Agent(host, f"127.0.0.1:{mechmgr_port}", "127.0.0.1:1", tmp_path / "agent.log")
    try:
        health = wait_for(lambda: agent.answer("/healthz"), 30)
        assert health is not None, agent.log.read_text()
        assert health[0] == 200, health
        ready = agent.answer("/readyz")
        assert ready is not None and ready[0] == 503, ready
        assert "not registered" in ready[1]
        metrics = agent.answer("/metrics")
        assert metrics is not None and metrics[0] == 200
        assert "ml2_agent_ports_wired" in metrics[1]
        assert "ml2_agent_ports_wiring_failed" in metrics[1]
        info = f'ml2_agent_info{{agent_type="linuxbridge",host="{agent.host_id}"}} 1.0'
        assert info in metrics[1]
    finally:
        assert agent.stop() == 0, agent.log.read_text()

    # With the stack running: ready once registered and synced.
    (tmp_path / "stack").mkdir()
    up = start_up(tmp_path / "stack")
    agent = Agent(host, up.mechmgr, up.portapi, tmp_path / "agent2.log")
    try:
        ready = wait_for(lambda: (r := agent.answer("/readyz")) and r[0] == 200 and r, 60)
        assert ready, (agent.answer("/readyz"), agent.log.read_text())
        assert "wires" in ready[1]
        health = agent.answer("/healthz")
        assert health is not None and health[0] == 200, health
    finally:
        assert agent.stop() == 0, agent.log.read_text()
        assert up.stop() == 0, up.err()
