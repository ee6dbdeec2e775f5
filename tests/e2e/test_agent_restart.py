"""The simulated agent rides out a restart of a real mechmgr process on the same database."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from ml2.v1 import agent_service_pb2, agent_service_pb2_grpc

from services import launcher
from services.rpc import channels
from tests.e2e.conftest import ML2, child_env, free_port, wait_for


def start_mechmgr(port: int, tmp_path: Path) -> launcher.ServiceProcess:
    env = {
        "MECHMGR_LISTEN": f"127.0.0.1:{port}",
        "MECHMGR_METRICS_PORT": "0",
        "MECHMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'mechmgr.db'}",
        # No driver process is needed to register agents; the address only has to parse.
        "MECHMGR_MECHANISM_DRIVERS": f"openvswitch=127.0.0.1:{free_port()}",
        "MECHMGR_AGENT_DOWN_TIME_SECONDS": "4",
        "MECHMGR_HEARTBEAT_INTERVAL_SECONDS": "1",
    }
    return launcher.start("mechmgr", "services.mechmgr", env, log_dir=tmp_path / "logs")


def test_agent_survives_a_mechmgr_restart(tmp_path: Path) -> None:
    port = free_port()
    mechmgr = start_mechmgr(port, tmp_path)
    log = tmp_path / "agent.log"
    with open(log, "w") as fh:
        agent = subprocess.Popen(
            [
                *ML2,
                "agent",
                "run",
                "--type",
                "openvswitch",
                "--host",
                "compute-r",
                "--bridge-mappings",
                "physnet1:br-eth1",
                "--simulate",
                "--mechmgr",
                f"127.0.0.1:{port}",
                "--log-format",
                "json",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
    channel = channels.make_channel(f"127.0.0.1:{port}")
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)

    def agent_on_host():
        try:
            reply = stub.ListAgents(
                agent_service_pb2.ListAgentsRequest(host="compute-r"), timeout=2
            )
        except Exception:
            return None
        return reply.agents[0] if reply.agents and reply.agents[0].alive else None

    try:
        first = wait_for(agent_on_host, 15)
        assert first, log.read_text()
        outages = log.read_text().count("unreachable")
        assert mechmgr.stop() == 0
        # Heartbeats fail while mechmgr is down; the agent logs the first failure of an outage.
        assert wait_for(lambda: log.read_text().count("unreachable") > outages, 30), log.read_text()
        assert agent.poll() is None, "the agent gave up while mechmgr was down"
        restarted_at = time.time()
        mechmgr = start_mechmgr(port, tmp_path)

        def fresh_heartbeat():
            found = agent_on_host()
            return found if found and found.heartbeat_time.ToSeconds() >= restarted_at else None

        again = wait_for(fresh_heartbeat, 15)
        assert again, log.read_text()
        assert again.id == first.id  # the registry survived; no second registration needed
        events = [json.loads(line)["message"] for line in log.read_text().splitlines()]
        assert any("unreachable" in m and "retrying" in m for m in events), events
        assert any("answers again" in m for m in events), events
    finally:
        channel.close()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0
        mechmgr.stop()


def mechmgr_metric(process: launcher.ServiceProcess, sample: str) -> float:
    url = f"http://127.0.0.1:{process.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
    return 0.0


def test_agent_opens_its_heartbeat_stream_again_after_mechmgr_is_killed(tmp_path: Path) -> None:
    port = free_port()
    mechmgr = start_mechmgr(port, tmp_path)
    log = tmp_path / "agent.log"
    with open(log, "w") as fh:
        agent = subprocess.Popen(
            [
                *ML2,
                "agent",
                "run",
                "--type",
                "openvswitch",
                "--host",
                "compute-k",
                "--bridge-mappings",
                "physnet1:br-eth1",
                "--simulate",
                "--mechmgr",
                f"127.0.0.1:{port}",
                "--log-format",
                "json",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
    streamed = 'ml2_mechmgr_heartbeat_messages_total{rpc="StreamHeartbeats"}'
    try:
        # The agent keeps alive over one stream, which mechmgr holds: not with HeartbeatAgent
        # calls, and with one message only.
        held = "ml2_mechmgr_held_agents"
        assert wait_for(lambda: mechmgr_metric(mechmgr, held) == 1, 15), log.read_text()
        assert mechmgr_metric(mechmgr, streamed) == 1
        assert mechmgr_metric(mechmgr, "ml2_mechmgr_heartbeat_streams") == 1
        assert (
            mechmgr_metric(mechmgr, 'ml2_mechmgr_heartbeat_messages_total{rpc="HeartbeatAgent"}')
            == 0
        )
        mechmgr.process.kill()  # no graceful end of the stream
        mechmgr.process.wait(10)
        assert wait_for(lambda: "unreachable" in log.read_text(), 30), log.read_text()
        assert agent.poll() is None, "the agent gave up while mechmgr was down"
        restarted_at = time.time()
        mechmgr = start_mechmgr(port, tmp_path)
        channel = channels.make_channel(f"127.0.0.1:{port}")
        stub = agent_service_pb2_grpc.AgentServiceStub(channel)

        def fresh_heartbeat():
            reply = stub.ListAgents(
                agent_service_pb2.ListAgentsRequest(host="compute-k"), timeout=5
            )
            found = reply.agents[0] if reply.agents else None
            if found and found.alive and found.heartbeat_time.ToSeconds() >= restarted_at:
                return found
            return None

        try:
            assert wait_for(fresh_heartbeat, 15), log.read_text()
            assert wait_for(lambda: mechmgr_metric(mechmgr, held) == 1, 15)
            assert mechmgr_metric(mechmgr, streamed) == 1
            assert mechmgr_metric(mechmgr, "ml2_mechmgr_heartbeat_streams") == 1
        finally:
            channel.close()
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0
        mechmgr.stop()
