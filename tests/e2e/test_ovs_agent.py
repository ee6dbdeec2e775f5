"""The real Open vSwitch agent, ``ml2 agent run --type openvswitch``, against ``ml2 up``.

One lab host with its own Open vSwitch; the agent runs outside the host's namespace (its OVSDB
socket and ``--netns``). A bound port whose device is plugged goes ACTIVE. When the agent is
paused past the agent down time, portapi takes its port DOWN (its agent is dead); resumed, the
agent sees the port DOWN although it is still wired, and reports it UP again.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ml2.v1 import (
    binding_pb2,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)

from services.lab import Lab
from services.rpc import channels
from tests.e2e.conftest import ML2, UpProcess, child_env, running_up, wait_for

TIMEOUT = 15.0
KEEPALIVE = {"ML2_GRPC_KEEPALIVE_TIME_SECONDS": "1", "ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS": "2"}
"""The stack's and the agent's keepalive: a paused agent holds its lease until mechmgr's ping
goes unanswered, within 3 s here rather than the default's 40."""


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    with running_up(
        tmp_path,
        *("--mechanism-drivers", "openvswitch"),
        *("--agent-down-time", "3", "--heartbeat-interval", "1"),
        *("--agent-check-interval", "0.5"),
        env=KEEPALIVE,
    ) as stack:
        yield stack


def test_a_paused_agent_takes_its_port_down_and_back_up(up: UpProcess, tmp_path: Path) -> None:
    host_id = f"ovs-{uuid.uuid4().hex[:6]}"
    channel = channels.make_channel(up.portapi)
    networks = network_service_pb2_grpc.NetworkServiceStub(channel)
    ports = port_service_pb2_grpc.PortServiceStub(channel)
    log = tmp_path / "agent.log"
    agent: subprocess.Popen[bytes] | None = None
    try:
        with Lab() as lab:
            host = lab.host("a", underlay=lab.underlay())
            assert host.ovs is not None
            argv = [
                *ML2,
                *("agent", "run", "--type", "openvswitch", "--host", host_id),
                *("--ovsdb", str(host.ovs.db_socket), "--datapath-type", "netdev"),
                *("--tunnel-types", "vxlan", "--local-ip", host.ip),
                *("--netns", host.namespace.name),
                *("--mechmgr", up.mechmgr, "--portapi", up.portapi),
                *("--metrics-port", "0", "--log-format", "json"),
            ]
            with open(log, "w") as out:
                agent = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=child_env(**KEEPALIVE),
                )  # fmt: skip
            request = network_service_pb2.CreateNetworkRequest(
                network=network_pb2.Network(name="n", project_id="p", admin_state_up=True)
            )
            net = networks.CreateNetwork(request, timeout=TIMEOUT).network

            def bound() -> Any:
                port = port_pb2.Port(
                    network_id=net.id,
                    admin_state_up=True,
                    binding=binding_pb2.PortBinding(host_id=host_id),
                )
                created = ports.CreatePort(
                    port_service_pb2.CreatePortRequest(port=port), timeout=TIMEOUT
                ).port
                if created.binding.vif_type == "ovs":
                    return created
                ports.DeletePort(
                    port_service_pb2.DeletePortRequest(port_id=created.id), timeout=TIMEOUT
                )
                return None

            port = wait_for(bound, 60)
            assert port, log.read_text()
            vm = lab.vm(host, "vm1", "192.168.95.1/24", mac=port.mac_address)
            host.ovs.plug("br-int", vm.tap, iface_id=port.id, mac=vm.mac)

            def status() -> int:
                request = port_service_pb2.GetPortRequest(port_id=port.id)
                return int(ports.GetPort(request, timeout=TIMEOUT).port.status)

            assert wait_for(lambda: status() == port_pb2.PORT_STATUS_ACTIVE, 30), log.read_text()
            agent.send_signal(signal.SIGSTOP)
            try:
                assert wait_for(lambda: status() == port_pb2.PORT_STATUS_DOWN, 30)
            finally:
                agent.send_signal(signal.SIGCONT)
            assert wait_for(lambda: status() == port_pb2.PORT_STATUS_ACTIVE, 30), log.read_text()
            assert "reporting UP again" in log.read_text()
    finally:
        channel.close()
        if agent is not None:
            agent.terminate()
            assert agent.wait(30) == 0, log.read_text()
