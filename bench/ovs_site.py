"""A compute node for the dataplane benchmarks: a stack, one lab host with its own Open vSwitch
and the real Open vSwitch agent (``ml2 agent run --type openvswitch``) serving it.

``OvsSite`` starts, in order: the stack (typemgr, the openvswitch and linuxbridge driver
processes, mechmgr, portapi; SQLite files in a temporary directory, free loopback ports), a lab
host (a network namespace with ovsdb-server and ovs-vswitchd on the userspace datapath, bridges
``br-int`` and ``br-eth1``), the agent process for that host (``--netns`` the host's namespace,
``--bridge-mappings physnet1:br-eth1``, ``--datapath-type netdev``), and one VLAN network on
physnet1. Leaving it stops the agent, the stack and Open vSwitch and removes the namespaces,
however it ends. Used by bench/active_latency.py and bench/compute_plug.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import grpc
from bind_bench import create_network
from ml2.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)

from services import launcher
from services.cli import stack
from services.lab import Host, Lab
from services.rpc import channels

HOST_ID = "bench-ovs"
"""The binding host id of the lab host (what the agent registers and the ports bind to)."""
PHYSNET_BRIDGE = "br-eth1"


class OvsSite:
    """The stack, the lab host and its agent; a context manager (see the module's docstring)."""

    def __init__(self, *, log_level: str = "INFO", agent_log_level: str = "INFO") -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="ml2-ovsbench-"))
        self.log_level = log_level
        self.agent_log_level = agent_log_level
        self.cfg = stack.StackConfig(
            data_dir=self.data_dir,
            ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
            metrics_ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
            log_level=log_level,
        )
        self.stack = stack.Stack(self.cfg)
        self.lab = Lab()
        self.host: Host | None = None
        self.agent: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None
        self.network_id = ""
        self.ok = False
        """Set by the caller when the run succeeded: the logs are removed then."""

    # -------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> OvsSite:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        self.stack.start()
        host = self.lab.host("cn")
        assert host.ovs is not None
        host.ovs.add_bridge("br-int")
        host.ovs.add_bridge(PHYSNET_BRIDGE)
        self.host = host
        self.channel = channels.make_channel(self.portapi)
        self.network_id = create_network(self.portapi)

    def start_agent(self, timeout: float = 30.0, *, profile: str = "") -> None:
        """Starts the agent process and waits until mechmgr lists it alive. With ``profile``,
        the agent runs under cProfile and writes its main thread's profile there on exit."""
        assert self.host is not None and self.host.ovs is not None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / "agent.log", "ab")  # noqa: SIM115 - handed to the child
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        argv = [
            sys.executable, *profiler, "-m", "services.cli",
            "agent", "run", "--type", "openvswitch",
            "--host", HOST_ID, "--bridge-mappings", f"physnet1:{PHYSNET_BRIDGE}",
            "--datapath-type", "netdev", "--ovsdb", str(self.host.ovs.db_socket),
            "--netns", self.host.namespace.name, "--mechmgr", self.stack.address("mechmgr"),
            "--portapi", self.portapi, "--metrics-port", "0", "--log-format", "json",
            "--log-level", self.agent_log_level,
        ]  # fmt: skip
        self.agent = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=launcher.python_path_env(
                {k: v for k, v in os.environ.items() if not k.startswith("ML2_")}
            ),
        )
        log.close()
        agents = agent_service_pb2_grpc.AgentServiceStub(
            channels.make_channel(self.stack.address("mechmgr"))
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.agent.poll() is not None:
                raise RuntimeError(f"the agent exited {self.agent.returncode}: {self.agent_log()}")
            reply = agents.ListAgents(agent_service_pb2.ListAgentsRequest(host=HOST_ID), timeout=5)
            if reply.agents and reply.agents[0].alive:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the agent did not register in {timeout:g}s: {self.agent_log()}")

    def close(self) -> None:
        """Stops everything and removes the lab; keeps the logs unless ``ok``."""
        if self.channel is not None:
            self.channel.close()
        if self.agent is not None and self.agent.poll() is None:
            self.agent.terminate()
            try:
                self.agent.wait(15)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
        self.stack.stop()
        self.lab.close()
        if self.ok:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        else:
            print(f"logs kept in {self.log_dir}", file=sys.stderr)

    # ---------------------------------------------------------------------------- helpers

    @property
    def portapi(self) -> str:
        """portapi's address."""
        return self.stack.address("portapi")

    @property
    def log_dir(self) -> Path:
        """Where every process, the agent included, logs."""
        return self.cfg.log_dir

    def agent_log(self, lines: int = 30) -> str:
        """The end of the agent's log."""
        path = self.log_dir / "agent.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def ports(self) -> port_service_pb2_grpc.PortServiceStub:
        """A PortService stub on the site's long-lived channel."""
        assert self.channel is not None
        return port_service_pb2_grpc.PortServiceStub(self.channel)

    @property
    def networks(self) -> network_service_pb2_grpc.NetworkServiceStub:
        """A NetworkService stub on the site's long-lived channel."""
        assert self.channel is not None
        return network_service_pb2_grpc.NetworkServiceStub(self.channel)

    def create_ports(self, n: int, project: str = "bench") -> list[port_pb2.Port]:
        """Creates ``n`` ports of the network without a host."""
        made = []
        for _ in range(n):
            request = port_service_pb2.CreatePortRequest(
                port=port_pb2.Port(network_id=self.network_id, project_id=project)
            )
            made.append(self.ports.CreatePort(request, timeout=30).port)
        return made
