"""The real Open vSwitch agent (``ml2 agent run --type openvswitch``, a process of its own)
against the real stack (typemgr, mechmgr, the openvswitch driver, portapi) and lab hosts with
their own Open vSwitch.

The agents run outside their hosts' namespaces, as the agent may: they reach Open vSwitch by
its OVSDB socket and management sockets, and the host's netlink by ``--netns``. The VIF
driver's part (plugging the device with ``external_ids:iface-id``) is done by the lab.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ml2.v1 import port_pb2, port_service_pb2, segment_pb2

from services import launcher
from services.lab import Host, Lab, Vm
from tests.integration.test_portapi import TIMEOUT, PortApi, Stack, start_stack


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """typemgr, mechmgr and the driver processes on SQLite."""
    yield from start_stack("sqlite", tmp_path_factory.mktemp("sqlite"), request)


@pytest.fixture(scope="module")
def portapi(stack: Stack) -> PortApi:
    return stack.start_portapi("portapi", stack.urls["portapi"])


class AgentProcess:
    """One ``python -m services.agent`` process for a lab host (Open vSwitch unless ``argv``
    says otherwise)."""

    def __init__(
        self,
        stack: Stack,
        portapi: PortApi,
        host: Host,
        log: Path,
        name: str,
        argv: list[str] | None = None,
    ) -> None:
        self.name = name
        self.log = log
        common = [
            *("--mechmgr", stack.processes["mechmgr"].address),
            *("--portapi", portapi.process.address),
            *("--metrics-port", "0", "--log-format", "json"),
        ]
        if argv is None:
            assert host.ovs is not None
            argv = [
                *("--type", "openvswitch", "--host", name),
                *("--ovsdb", str(host.ovs.db_socket), "--datapath-type", "netdev"),
                *("--tunnel-types", "vxlan", "--local-ip", host.ip),
                *("--netns", host.namespace.name),
            ]
        self.argv = [sys.executable, "-m", "services.agent", *argv, *common]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=launcher.python_path_env(
                    {k: v for k, v in os.environ.items() if not k.startswith("ML2_")}
                ),
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                return -9
        return self.process.returncode


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    codes = {a.name: a.stop() for a in started}
    assert all(code in (0, -9) for code in codes.values()), codes


WAIT = 45.0
"""How long an agent may take to act: generous, as the machine may be busy with other tests."""


def _wait(what: str, check: Callable[[], Any], agents: list[AgentProcess]) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)  # polling the port's status until the deadline
    logs = "\n".join(f"--- {a.name}\n{a.log.read_text()[-4000:]}" for a in agents)
    raise AssertionError(f"{what} did not happen in {WAIT}s\n{logs}")


def _status(portapi: PortApi, port_id: str) -> int:
    return int(portapi.get_port(port_id).status)


def _plug(vm: Vm, port: Any) -> None:
    assert vm.host.ovs is not None
    vm.host.ovs.plug("br-int", vm.tap, iface_id=port.id, mac=vm.mac)


def _tag(host: Host, vm: Vm) -> str:
    assert host.ovs is not None
    return host.ovs.vsctl("get", "Port", vm.tap, "tag").strip()


def _vxlan_network(portapi: PortApi, project: str) -> Any:
    return portapi.create_network(project, segment_pb2.SegmentSpec(network_type="vxlan"))


def test_bound_ports_are_wired_active_and_reach_each_other_over_vxlan(
    stack: Stack, portapi: PortApi, lab: Lab, agents: list[AgentProcess], tmp_path: Path
) -> None:
    project = f"proj-{uuid.uuid4().hex[:8]}"
    underlay = lab.underlay()
    hosts = [lab.host(n, underlay=underlay) for n in ("a", "b")]
    names = [f"{lab.prefix}-{h.name}" for h in hosts]
    for host, name in zip(hosts, names, strict=True):
        agent = AgentProcess(stack, portapi, host, tmp_path / f"{name}.log", name)
        agents.append(agent)
        agent.start()
    net = _vxlan_network(portapi, project)
    vms = []
    ports = []
    for i, (host, name) in enumerate(zip(hosts, names, strict=True)):
        vm = lab.vm(host, f"vm{i}", f"192.168.70.{i + 1}/24")
        port = _wait(
            f"binding a port on {name}",
            lambda name=name, vm=vm: _bound(portapi, net.id, name, vm.mac),
            agents,
        )
        _plug(vm, port)
        vms.append(vm)
        ports.append(port)
    for port in ports:
        _wait(
            f"port {port.id} ACTIVE",
            lambda port=port: _status(portapi, port.id) == port_pb2.PORT_STATUS_ACTIVE,
            agents,
        )
    vms[0].wait_ping(vms[1], timeout=WAIT)

    # Unbinding the port takes it off the network: DOWN, dead VLAN, no traffic.
    portapi.set_host(ports[1].id, "")
    _wait("the unbound port's dead VLAN", lambda: _tag(hosts[1], vms[1]) == "4095", agents)
    vms[0].wait_no_ping(vms[1])
    _wait(
        "the unbound port DOWN",
        lambda: _status(portapi, ports[1].id) == port_pb2.PORT_STATUS_DOWN,
        agents,
    )

    # Bound to the other host (a migration), it is isolated on the first.
    portapi.set_host(ports[0].id, names[1])
    _wait("the moved port's dead VLAN", lambda: _tag(hosts[0], vms[0]) == "4095", agents)


def _bound(portapi: PortApi, network_id: str, host: str, mac: str) -> Any:
    """Creates a port bound to ``host`` once the host's agent is registered (binding fails
    before); returns it when bound."""
    port = portapi.create_port(network_id, host=host, mac_address=mac)
    if port.binding.vif_type == "ovs":
        return port
    portapi.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id=port.id), timeout=TIMEOUT)
    return None


def test_a_restarted_agent_keeps_what_is_bound_and_isolates_what_was_deleted(
    stack: Stack, portapi: PortApi, lab: Lab, agents: list[AgentProcess], tmp_path: Path
) -> None:
    project = f"proj-{uuid.uuid4().hex[:8]}"
    host = lab.host("a", underlay=lab.underlay())
    name = f"{lab.prefix}-a"
    agent = AgentProcess(stack, portapi, host, tmp_path / "agent.log", name)
    agents.append(agent)
    agent.start()
    net = portapi.create_network(project, segment_pb2.SegmentSpec(network_type="vxlan"))
    vm1 = lab.vm(host, "vm1", "192.168.71.1/24")
    vm2 = lab.vm(host, "vm2", "192.168.71.2/24")
    kept = _wait("binding", lambda: _bound(portapi, net.id, name, vm1.mac), [agent])
    doomed = portapi.create_port(net.id, host=name, mac_address=vm2.mac)
    _plug(vm1, kept)
    _plug(vm2, doomed)
    for port in (kept, doomed):
        _wait(
            f"port {port.id} ACTIVE",
            lambda port=port: _status(portapi, port.id) == port_pb2.PORT_STATUS_ACTIVE,
            [agent],
        )
    vm1.wait_ping(vm2)
    tag = _tag(host, vm1)

    agent.kill()
    portapi.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id=doomed.id), timeout=TIMEOUT)
    assert vm1.ping(vm2, count=3)  # the dataplane does not need the agent
    agent.start()
    _wait("the deleted port's dead VLAN", lambda: _tag(host, vm2) == "4095", [agent])
    assert _tag(host, vm1) == tag
    assert _status(portapi, kept.id) == port_pb2.PORT_STATUS_ACTIVE
    vm1.wait_no_ping(vm2)

    # The VIF driver unplugs the device: the port goes DOWN, saying why.
    assert host.ovs is not None
    host.ovs.unplug("br-int", vm1.tap)
    _wait(
        "the unplugged port DOWN",
        lambda: _status(portapi, kept.id) == port_pb2.PORT_STATUS_DOWN,
        [agent],
    )
    # Plugged again, it is wired again.
    _plug(vm1, kept)
    _wait(
        "the replugged port ACTIVE",
        lambda: _status(portapi, kept.id) == port_pb2.PORT_STATUS_ACTIVE,
        [agent],
    )


def test_open_vswitch_and_linux_bridge_hosts_share_a_vxlan_network(
    stack: Stack, portapi: PortApi, lab: Lab, agents: list[AgentProcess], tmp_path: Path
) -> None:
    """l2-population across agent kinds: the Open vSwitch host tunnels to the Linux bridge
    host's local_ip and back, over the same VNI and UDP port."""
    project = f"proj-{uuid.uuid4().hex[:8]}"
    underlay = lab.underlay()
    ovs_host = lab.host("o", underlay=underlay)
    lb_host = lab.host("l", underlay=underlay, ovs=False)
    ovs_name, lb_name = f"{lab.prefix}-o", f"{lab.prefix}-l"
    ovs_agent = AgentProcess(stack, portapi, ovs_host, tmp_path / "ovs.log", ovs_name)
    lb_argv = [
        *("--type", "linuxbridge", "--host", lb_name, "--netns", lb_host.namespace.name),
        *("--tunnel-types", "vxlan", "--local-ip", lb_host.ip),
    ]
    lb_agent = AgentProcess(stack, portapi, lb_host, tmp_path / "lb.log", lb_name, lb_argv)
    for agent in (ovs_agent, lb_agent):
        agents.append(agent)
        agent.start()
    net = _vxlan_network(portapi, project)
    ovs_vm = lab.vm(ovs_host, "vm1", "192.168.72.1/24")
    ovs_port = _wait(
        "binding on Open vSwitch", lambda: _bound(portapi, net.id, ovs_name, ovs_vm.mac), agents
    )
    _plug(ovs_vm, ovs_port)

    def bound_lb() -> Any:
        port = portapi.create_port(net.id, host=lb_name)
        if port.binding.vif_type == "bridge":
            return port
        portapi.ports.DeletePort(
            port_service_pb2.DeletePortRequest(port_id=port.id), timeout=TIMEOUT
        )
        return None

    lb_port = _wait("binding on Linux bridge", bound_lb, agents)
    lb_vm = lab.vm(
        lb_host, "vm2", "192.168.72.2/24", mac=lb_port.mac_address, tap=f"tap{lb_port.id[:11]}"
    )
    for port in (ovs_port, lb_port):
        _wait(
            f"port {port.id} ACTIVE",
            lambda port=port: _status(portapi, port.id) == port_pb2.PORT_STATUS_ACTIVE,
            agents,
        )
    ovs_vm.wait_ping(lb_vm, timeout=WAIT)


def test_the_agent_rides_out_a_portapi_restart(
    stack: Stack, lab: Lab, agents: list[AgentProcess], tmp_path: Path
) -> None:
    """The watch breaks when portapi stops; the agent resumes after the last revision it saw
    when portapi is back, and wires a port bound meanwhile."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'portapi.db'}"

    def start_portapi() -> PortApi:
        env = {
            "PORTAPI_LISTEN": f"127.0.0.1:{port}",
            "PORTAPI_METRICS_PORT": "0",
            "PORTAPI_DATABASE_URL": url,
            "PORTAPI_TYPEMGR_ADDRESS": stack.processes["typemgr"].address,
            "PORTAPI_MECHMGR_ADDRESS": stack.processes["mechmgr"].address,
        }
        process = launcher.start("portapi-r", "services.portapi", env, log_dir=tmp_path)
        return PortApi(process, stack.channel(process.address))

    portapi = start_portapi()
    try:
        project = f"proj-{uuid.uuid4().hex[:8]}"
        host = lab.host("a", underlay=lab.underlay())
        name = f"{lab.prefix}-a"
        agent = AgentProcess(stack, portapi, host, tmp_path / "agent.log", name)
        agents.append(agent)
        agent.start()
        net = _vxlan_network(portapi, project)
        vm1 = lab.vm(host, "vm1", "192.168.73.1/24")
        vm2 = lab.vm(host, "vm2", "192.168.73.2/24")
        first = _wait("binding", lambda: _bound(portapi, net.id, name, vm1.mac), [agent])
        _plug(vm1, first)
        _wait(
            "the first port ACTIVE",
            lambda: _status(portapi, first.id) == port_pb2.PORT_STATUS_ACTIVE,
            [agent],
        )
        assert portapi.process.stop() == 0
        portapi = start_portapi()
        second = portapi.create_port(net.id, host=name, mac_address=vm2.mac)
        _plug(vm2, second)
        _wait(
            "the port bound after the restart ACTIVE",
            lambda: _status(portapi, second.id) == port_pb2.PORT_STATUS_ACTIVE,
            [agent],
        )
        vm1.wait_ping(vm2)
    finally:
        portapi.process.stop()


def _metric(agent: AgentProcess, name: str) -> float | None:
    """A sample of the agent's /metrics (its port is in its start-up log line)."""
    for line in agent.log.read_text().splitlines():
        if '"metrics_port"' in line:
            port = json.loads(line)["metrics_port"]
            break
    else:
        return None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_vlan_ports_reach_each_other_through_the_mapped_bridges(
    stack: Stack, portapi: PortApi, lab: Lab, agents: list[AgentProcess], tmp_path: Path
) -> None:
    """Two hosts map physnet1 to br-eth1, whose uplink is on one physical switch: a VLAN
    network's ports ping through it (tagged with the provider id on the wire), and the
    agents' metrics count what they wired."""
    project = f"proj-{uuid.uuid4().hex[:8]}"
    phys = lab.switch("p")
    hosts = [lab.host(n) for n in ("a", "b")]
    names = [f"{lab.prefix}-{h.name}" for h in hosts]
    for host, name in zip(hosts, names, strict=True):
        assert host.ovs is not None
        host.ovs.add_bridge("br-eth1")
        host.ovs.vsctl("add-port", "br-eth1", host.uplink(phys))
        argv = [
            *("--type", "openvswitch", "--host", name),
            *("--ovsdb", str(host.ovs.db_socket), "--datapath-type", "netdev"),
            *("--bridge-mappings", "physnet1:br-eth1"),
        ]
        agent = AgentProcess(stack, portapi, host, tmp_path / f"{name}.log", name, argv)
        agents.append(agent)
        agent.start()
    spec = segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
    net = portapi.create_network(project, spec)
    vms = [lab.vm(h, f"vm{i}", f"192.168.74.{i + 1}/24") for i, h in enumerate(hosts)]
    for vm, name in zip(vms, names, strict=True):
        port = _wait(
            f"binding on {name}",
            lambda vm=vm, name=name: _bound(portapi, net.id, name, vm.mac),
            agents,
        )
        _plug(vm, port)
        _wait(
            f"port {port.id} ACTIVE",
            lambda port=port: _status(portapi, port.id) == port_pb2.PORT_STATUS_ACTIVE,
            agents,
        )
    vms[0].wait_ping(vms[1], timeout=WAIT)
    vlan = net.segments[0].segmentation_id if net.segments else 0
    assert hosts[0].ovs is not None
    if vlan:
        assert f"mod_vlan_vid:{vlan}" in hosts[0].ovs.ofctl("dump-flows", "br-eth1")
    assert _metric(agents[0], "ml2_agent_ports_wired") == 1.0
    assert (_metric(agents[0], "ml2_agent_wiring_seconds_count") or 0) >= 1
