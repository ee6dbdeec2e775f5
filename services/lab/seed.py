"""The seed's scenario proven by packets: one network reached through Open vSwitch on some
hosts and Linux bridging on another, the server choosing the mechanism for each host.

Three lab hosts share one underlay and one physical network (``physnet1``, a switch of its
own): ``ovs1`` and ``ovs2`` run the real Open vSwitch agent (userspace datapath, ``br-int``,
``br-eth1`` mapped to physnet1 with the host's ``eth1`` in it, VXLAN from the underlay address),
``lb1`` the real Linux bridge agent (``eth1`` mapped to physnet1, VXLAN). Each agent is its own
``ml2 agent run`` process, managing its host's namespace from outside. Ports are plugged by the
compute node's generic VIF driver (``services.compute``), which binds the port to the host,
plugs what the binding says into an instance namespace and waits until the port is ACTIVE.
Then the packets speak:

1. a VXLAN and a flat network with an instance on every host: every pair pings;
2. two VLAN networks on physnet1 (different VLAN ids, the same IP subnet) on the OVS hosts:
   instances ping within a network and never across, so only L2 separates them;
3. a VLAN port bound to lb1 fails with the Linux bridge agent's reason: this kernel has no
   VLAN devices, so the agent leaves vlan out of its network types;
4. unplugging a port stops its traffic, and the others keep theirs;
5. SIGKILL of ovs2's agent: once mechmgr's agent down time has passed, portapi takes its ports
   DOWN (the flows the agent left keep forwarding meanwhile); a new agent process brings them
   back to ACTIVE, and traffic flows.

The plugs go one by one and only the waits for ACTIVE run side by side (entering a namespace
forks a pyroute2 helper, which gRPC warns about while other threads are in a call).

``SeedScenario`` runs these steps against a running control plane (portapi and mechmgr
addresses, as ``ml2 up`` prints them), telling each step through ``say`` and recording every
expectation, ping, and timing in an ``Outcome``. ``ml2 demo --dataplane`` and the end-to-end
test both run it. Everything it starts (agents, namespaces, Open vSwitch daemons) goes when the
``Lab`` and the scenario close, even after a failure.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from ml2.v1 import (
    admin_state_pb2,
    agent_pb2,
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
from services.compute import config as compute_config
from services.compute import driver as compute_driver
from services.compute import waiting
from services.lab.netns import LabError, Namespace
from services.lab.ovs import SCHEMA
from services.lab.topology import Host, Lab
from services.rpc import channels

PHYSNET = "physnet1"
PHYS_BRIDGE = "br-eth1"
"""The Open vSwitch hosts' bridge for physnet1 (``bridge_mappings``), holding ``eth1``."""
PHYS_IFACE = "eth1"
"""Every host's link to the physnet1 switch; the Linux bridge host maps it directly."""
OVS_HOSTS = ("ovs1", "ovs2")
LB_HOST = "lb1"
KILLED_HOST = "ovs2"
"""The host whose agent is killed and restarted."""

SUBNETS = {"vxlan": "10.10.1", "flat": "10.10.2", "red": "10.10.3", "blue": "10.10.3"}
"""Each network's instances' /24; the VLAN networks share one, so only L2 can keep them
apart."""

ACTIVE_TIMEOUT = 60.0
"""The deadline of every wait for a port's status: generous, for a loaded machine."""
PING_TIMEOUT = 30.0
"""How long the first ping of a fresh path may keep failing (ARP, flow setup, l2-population)."""
RPC_TIMEOUT = 30.0

_PING_COUNTS = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_PING_RTT = re.compile(r"= [\d.]+/([\d.]+)/")

T = TypeVar("T")


# ------------------------------------------------------------------------------ prerequisites


OVS_PROGRAMS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl")
"""The Open vSwitch programs the lab and the agent run."""


def missing_prerequisites(
    *,
    euid: int | None = None,
    which: Callable[[str], str | None] = shutil.which,
    schema: Path = SCHEMA,
) -> list[str]:
    """What this machine lacks to run the scenario, one sentence each saying how to get it;
    empty when nothing is missing. ``euid``, ``which`` and ``schema`` stand for this process's
    user, the PATH lookup and Open vSwitch's schema file (tests give others)."""
    missing = []
    if (os.geteuid() if euid is None else euid) != 0:
        missing.append(
            "root: the lab creates network namespaces, veth pairs and bridges and starts Open "
            "vSwitch; run it as root (sudo)"
        )
    ovs = [p for p in OVS_PROGRAMS if which(p) is None]
    if ovs or not schema.is_file():
        absent = ", ".join(ovs) if ovs else f"its database schema {schema}"
        missing.append(
            f"Open vSwitch ({absent} not found): install it with "
            "`apt-get install openvswitch-switch` (the lab runs its own daemons, on the "
            "userspace datapath; no kernel module or service is needed)"
        )
    if which("ping") is None:
        missing.append("ping: install it with `apt-get install iputils-ping`")
    if which("ip") is None:
        missing.append("ip: install it with `apt-get install iproute2`")
    return missing


# ------------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class Check:
    """One expectation and whether it held."""

    ok: bool
    what: str


@dataclass(frozen=True)
class Ping:
    """One ping between two instances (or to an address that should not answer)."""

    source: str
    target: str
    address: str
    sent: int
    received: int
    rtt_ms: float = 0.0
    """The average round trip, when something came back."""

    @property
    def loss(self) -> int:
        """Lost packets, in percent."""
        return 100 if not self.sent else round(100 * (self.sent - self.received) / self.sent)

    def text(self) -> str:
        """``vx-ovs1 -> vx-lb1 (10.10.1.3): 3/3 received, 0% loss, avg 0.412 ms``."""
        rtt = f", avg {self.rtt_ms:.3f} ms" if self.received else ""
        return (
            f"{self.source} -> {self.target} ({self.address}): {self.received}/{self.sent} "
            f"received, {self.loss}% loss{rtt}"
        )


@dataclass(frozen=True)
class Timing:
    """How long something took, in seconds."""

    what: str
    seconds: float


@dataclass
class Outcome:
    """Everything the scenario expected, measured and saw."""

    checks: list[Check] = field(default_factory=list)
    pings: list[Ping] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)

    @property
    def all_held(self) -> bool:
        """True if there was at least one expectation and every one held."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> list[Check]:
        """The expectations that did not hold."""
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        """Every expectation, ping and timing, one line each."""
        lines = [f"expectations: {sum(c.ok for c in self.checks)} of {len(self.checks)} held"]
        lines += [f"  {'ok  ' if c.ok else 'FAIL'}  {c.what}" for c in self.checks]
        lines.append("pings:")
        lines += [f"  {p.text()}" for p in self.pings]
        lines.append("timings:")
        lines += [f"  {t.what}: {t.seconds:.2f} s" for t in self.timings]
        return "\n".join(lines)


class StepFailed(RuntimeError):
    """A step cannot go on (its expectation is recorded); the later steps are skipped."""


# ---------------------------------------------------------------------------------- pieces


@dataclass
class AgentProcess:
    """One ``ml2 agent run`` process for a lab host; ``start`` again after ``kill`` restarts
    it with the same arguments."""

    host: Host
    host_id: str
    agent_type: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Starts the process, appending to its log."""
        env = launcher.python_path_env({**os.environ, "ML2_LOG_FORMAT": "json"})
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )

    @property
    def pid(self) -> int:
        """The process id of the running (or last) process; 0 before the first start."""
        return self.process.pid if self.process is not None else 0

    def kill(self) -> None:
        """SIGKILL, as a crash would end it: no goodbye to anyone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then waits (SIGKILL after ``timeout``); returns the exit status, None when
        it never ran."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the agent's log, for a failure's message."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Instance:
    """An instance plugged (or to be plugged) on a host: its namespace, port and address."""

    name: str
    network: str
    host: Host
    host_id: str
    namespace: Namespace
    ip: str
    port_id: str = ""
    plugged: bool = False
    started: float = 0.0
    """When the plug began (``time.time()``)."""
    active_seconds: float = 0.0
    """From the plug's start to the port being ACTIVE."""


def status_time(port: port_pb2.Port) -> float:
    """When the port's status last changed (its update time, which a status change sets), as
    ``time.time()`` counts."""
    return float(port.update_time.ToNanoseconds()) / 1e9


def parallel(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Runs ``calls`` at once, each in a daemon thread (so an interrupt does not wait for
    them); returns each one's result or exception, in order."""
    results: list[T | BaseException] = [RuntimeError("did not finish")] * len(calls)

    def run(index: int, call: Callable[[], T]) -> None:
        try:
            results[index] = call()
        except BaseException as err:  # reported to the caller, who decides
            results[index] = err

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    return results


def ping(source: Instance, target: Instance, *, count: int = 3, wait: float = 1.0) -> Ping:
    """Pings ``target`` from ``source``'s namespace ``count`` times and counts the answers."""
    result = source.namespace.run(
        ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", f"{wait:g}", target.ip],
        check=False,
        timeout=count * (wait + 1.0) + 10.0,
    )
    counts = _PING_COUNTS.search(result.stdout)
    rtt = _PING_RTT.search(result.stdout)
    sent, received = (int(counts[1]), int(counts[2])) if counts else (count, 0)
    return Ping(source.name, target.name, target.ip, sent, received, float(rtt[1]) if rtt else 0.0)


def wait_ping(source: Instance, target: Instance, timeout: float = PING_TIMEOUT) -> Ping:
    """Waits until ``target`` answers one ping (a fresh path's first packets may go to ARP,
    flow setup and l2-population), then pings three times and returns that count."""
    deadline = time.monotonic() + timeout
    while not ping(source, target, count=1, wait=0.5).received:
        if time.monotonic() > deadline:
            break
    return ping(source, target)


# -------------------------------------------------------------------------------- scenario


class SeedScenario:
    """The scenario's steps on ``lab`` against the control plane at ``portapi``/``mechmgr``.

    ``say`` gets each line of the story; ``log_dir`` the agents' logs. ``run`` returns the
    Outcome; ``close`` stops the agents and closes the channels (the lab is the caller's).
    """

    def __init__(
        self,
        lab: Lab,
        portapi: str,
        mechmgr: str,
        log_dir: Path,
        *,
        say: Callable[[str], None] = print,
        agent_down_time: float = 5.0,
        heartbeat_interval: float = 1.0,
        cancel: threading.Event | None = None,
    ) -> None:
        self.lab = lab
        self.portapi_address, self.mechmgr_address = portapi, mechmgr
        self.log_dir = log_dir
        self.say = say
        self.agent_down_time = agent_down_time
        self.heartbeat_interval = heartbeat_interval
        self.cancel = cancel or threading.Event()
        """Set (by a signal handler, say) to stop before the next step and in waits."""
        self.outcome = Outcome()
        self._portapi = channels.make_channel(portapi)
        self._mechmgr = channels.make_channel(mechmgr)
        self.ports = port_service_pb2_grpc.PortServiceStub(self._portapi)
        self.networks = network_service_pb2_grpc.NetworkServiceStub(self._portapi)
        self.registry = agent_service_pb2_grpc.AgentServiceStub(self._mechmgr)
        self.hosts: dict[str, Host] = {}
        self.agents: dict[str, AgentProcess] = {}
        self.instances: dict[str, Instance] = {}
        self.network_ids: dict[str, str] = {}

    # -------------------------------------------------------------------------- plumbing

    def host_id(self, name: str) -> str:
        """The binding host id of lab host ``name``: its namespace's name, as a host's
        hostname would be."""
        return self.hosts[name].namespace.name

    def expect(self, ok: bool, what: str) -> bool:
        """Records one expectation; tells it when it does not hold."""
        self.outcome.checks.append(Check(bool(ok), what))
        if not ok:
            self.say(f"   !! expected: {what}")
        return bool(ok)

    def require(self, ok: bool, what: str, detail: str = "") -> None:
        """Records an expectation the next steps depend on; StepFailed when it does not hold."""
        if not self.expect(ok, what):
            raise StepFailed(f"{what}{': ' + detail if detail else ''}")

    def timing(self, what: str, seconds: float) -> None:
        """Records how long ``what`` took."""
        self.outcome.timings.append(Timing(what, seconds))

    def get_port(self, port_id: str) -> port_pb2.Port:
        """The port as portapi has it now."""
        request = port_service_pb2.GetPortRequest(port_id=port_id)
        port: port_pb2.Port = self.ports.GetPort(request, timeout=RPC_TIMEOUT).port
        return port

    def list_agents(self) -> dict[str, agent_pb2.Agent]:
        """The registered agents of this lab's hosts, by host id."""
        ids = {self.host_id(n) for n in self.hosts}
        reply = self.registry.ListAgents(agent_service_pb2.ListAgentsRequest(), timeout=RPC_TIMEOUT)
        return {a.host: a for a in reply.agents if a.host in ids}

    def wait_statuses(
        self, port_ids: Iterable[str], status: int, since: float, timeout: float = ACTIVE_TIMEOUT
    ) -> dict[str, tuple[float, port_pb2.Port]]:
        """Polls the ports until each has ``status``; returns, for those that reached it, the
        port and the seconds from ``since`` (``time.time()``) to its status change. Stops at
        ``timeout``."""
        deadline = time.monotonic() + timeout
        pending = set(port_ids)
        reached: dict[str, tuple[float, port_pb2.Port]] = {}
        while pending and time.monotonic() < deadline and not self.cancel.is_set():
            for port_id in sorted(pending):
                port = self.get_port(port_id)
                if port.status == status:
                    reached[port_id] = (status_time(port) - since, port)
                    pending.discard(port_id)
            if pending:
                time.sleep(0.1)
        return reached

    def close(self) -> None:
        """Stops every agent still running and closes the channels."""
        for agent in self.agents.values():
            agent.stop()
        self._portapi.close()
        self._mechmgr.close()

    # ------------------------------------------------------------------------------ steps

    def run(self) -> Outcome:
        """Runs every step in order; a step that cannot go on skips the rest. Returns the
        Outcome (``all_held`` tells whether the scenario proved what it should)."""
        steps = [
            self.build_hosts,
            self.start_agents,
            self.create_networks,
            self.plug_instances,
            self.ping_vxlan_and_flat,
            self.check_vlan_isolation,
            self.bind_vlan_on_linux_bridge,
            self.unplug_one,
            self.kill_and_restart_agent,
        ]
        for step in steps:
            if self.cancel.is_set():
                self.say("   (cancelled)")
                break
            try:
                step()
            except StepFailed as err:
                self.say(f"   !! cannot go on: {err}")
                break
            except (grpc.RpcError, LabError, compute_driver.ComputeError) as err:
                detail = err.details() if isinstance(err, grpc.Call) else str(err)
                self.expect(False, f"step {step.__name__} runs without errors (got: {detail})")
                break
        return self.outcome

    def build_hosts(self) -> None:
        """Underlay, physnet1 switch, two Open vSwitch hosts and one Linux bridge host."""
        self.say("\n1. Building the hosts: network namespaces on one underlay and physnet1")
        lab = self.lab
        underlay = lab.underlay()
        physnet = lab.switch("p1")
        for name in OVS_HOSTS:
            host = lab.host(name, underlay=underlay)
            assert host.ovs is not None
            host.ovs.add_bridge(PHYS_BRIDGE)
            host.uplink(physnet, PHYS_IFACE)
            host.ovs.vsctl("--may-exist", "add-port", PHYS_BRIDGE, PHYS_IFACE)
            self.hosts[name] = host
            self.say(
                f"   {name:<5} namespace {host.namespace.name}: Open vSwitch {host.ovs.directory}"
                f" (userspace datapath), underlay {host.ip} on br-phy, {PHYS_IFACE} in "
                f"{PHYS_BRIDGE}"
            )
        host = lab.host(LB_HOST, underlay=underlay, ovs=False)
        host.uplink(physnet, PHYS_IFACE)
        self.hosts[LB_HOST] = host
        self.say(
            f"   {LB_HOST:<5} namespace {host.namespace.name}: Linux bridges, underlay "
            f"{host.ip} on eth0, {PHYS_IFACE} for {PHYSNET}"
        )

    def _agent_argv(self, name: str) -> tuple[str, list[str]]:
        host = self.hosts[name]
        common = [
            *("--host", self.host_id(name), "--netns", host.namespace.name),
            *("--tunnel-types", "vxlan", "--local-ip", host.ip),
            *("--mechmgr", self.mechmgr_address, "--portapi", self.portapi_address),
            *("--metrics-port", "0", "--resync-interval", "5", "--log-format", "json"),
        ]
        if host.ovs is None:
            kind = "linuxbridge"
            own = ["--interface-mappings", f"{PHYSNET}:{PHYS_IFACE}"]
        else:
            kind = "openvswitch"
            own = [
                *("--bridge-mappings", f"{PHYSNET}:{PHYS_BRIDGE}", "--datapath-type", "netdev"),
                *("--ovsdb", host.ovs.db_endpoint, "--ovs-rundir", str(host.ovs.rundir)),
            ]
        argv = [sys.executable, "-m", "services.cli", "agent", "run", "--type", kind]
        return kind, [*argv, *own, *common]

    def start_agents(self) -> None:
        """One real agent process per host; waits until each is registered and alive."""
        self.say("\n2. Starting the agents (ml2 agent run), each its own process")
        for name in self.hosts:
            kind, argv = self._agent_argv(name)
            agent = AgentProcess(
                self.hosts[name], self.host_id(name), kind, argv, self.log_dir / f"agent-{name}.log"
            )
            agent.start()
            self.agents[name] = agent
            self.say(f"   {kind:<12} on {self.host_id(name)} (pid {agent.pid})")
        start = time.monotonic()
        found: dict[str, agent_pb2.Agent] = {}
        while time.monotonic() - start < ACTIVE_TIMEOUT:
            found = {h: a for h, a in self.list_agents().items() if a.alive}
            dead = [a for a in self.agents.values() if a.process and a.process.poll() is not None]
            if len(found) == len(self.hosts) or dead:
                break
            time.sleep(0.2)
        self.timing("agents registered and alive", time.monotonic() - start)
        missing = [a for a in self.agents.values() if a.host_id not in found]
        self.require(
            not missing,
            "every agent registers with mechmgr and is alive",
            "; ".join(f"{a.host_id}: {a.log_tail(5)}" for a in missing),
        )
        for name in self.hosts:
            caps = found[self.host_id(name)].capabilities
            self.say(
                f"   {self.host_id(name)}: network types {', '.join(caps.network_types)}; "
                f"tunnels {', '.join(caps.tunnel_types)} from {caps.local_ip}"
            )
        lb = found[self.host_id(LB_HOST)].capabilities
        self.expect(
            "vlan" not in lb.network_types and "flat" in lb.network_types,
            "the Linux bridge agent offers flat and vxlan but not vlan (no VLAN devices here)",
        )
        self.expect(
            all("vlan" in found[self.host_id(n)].capabilities.network_types for n in OVS_HOSTS),
            "the Open vSwitch agents offer vlan",
        )

    def create_networks(self) -> None:
        """A tenant VXLAN network, a flat and two VLAN provider networks on physnet1."""
        self.say("\n3. Creating the networks")
        specs: dict[str, list[segment_pb2.SegmentSpec]] = {
            "vxlan": [],
            "flat": [segment_pb2.SegmentSpec(network_type="flat", physical_network=PHYSNET)],
            "red": [segment_pb2.SegmentSpec(network_type="vlan", physical_network=PHYSNET)],
            "blue": [segment_pb2.SegmentSpec(network_type="vlan", physical_network=PHYSNET)],
        }
        segments: dict[str, segment_pb2.Segment] = {}
        for name, spec in specs.items():
            request = network_service_pb2.CreateNetworkRequest(
                network=network_pb2.Network(
                    name=f"seed-{name}",
                    project_id="seed",
                    admin_state=admin_state_pb2.ADMIN_STATE_UP,
                ),
                segments=spec,
            )
            network = self.networks.CreateNetwork(request, timeout=RPC_TIMEOUT).network
            self.network_ids[name] = network.id
            [segment] = network.segments
            segments[name] = segment
            where = f" on {segment.physical_network}" if segment.physical_network else ""
            ident = f" {segment.segmentation_id}" if segment.segmentation_id else ""
            self.say(
                f"   seed-{name:<5} {network.id}: {segment.network_type}{ident}{where}, "
                f"mtu {network.mtu}, instances in {SUBNETS[name]}.0/24"
            )
        self.expect(
            segments["red"].segmentation_id != segments["blue"].segmentation_id
            and segments["red"].network_type == segments["blue"].network_type == "vlan",
            "the two VLAN networks get different VLAN ids on the same physical network",
        )

    def plug_instances(self) -> None:
        """An instance per host on the VXLAN and flat networks, per OVS host on each VLAN
        network; every port plugged by the compute node's VIF driver, then awaited ACTIVE."""
        self.say(
            "\n4. Plugging instances with the compute node's VIF driver: bind the port to the "
            "host, plug what the binding says, wait for ACTIVE"
        )
        wanted: list[tuple[str, str]] = [(n, h) for n in ("vxlan", "flat") for h in self.hosts]
        wanted += [(n, h) for n in ("red", "blue") for h in OVS_HOSTS]
        counters: dict[str, int] = {}
        for network, host in wanted:
            counters[network] = counters.get(network, 0) + 1
            offset = 2 if network == "blue" else 0  # blue shares red's subnet
            ip = f"{SUBNETS[network]}.{counters[network] + offset}"
            name = f"{network[:2] if network != 'vxlan' else 'vx'}-{host}"
            self.instances[name] = Instance(
                name, network, self.hosts[host], self.host_id(host), self.lab.namespace(name), ip
            )
        # Plugging enters namespaces, which pyroute2 does in forked helpers; gRPC warns about a
        # fork while other threads are in a call, so the plugs go one by one and only the
        # waits (calls, no forks) run side by side.
        bindings = {i.name: self.plug(i) for i in self.instances.values()}
        waits = parallel([functools.partial(self.wait_active, i) for i in self.instances.values()])
        for instance, result in zip(self.instances.values(), waits, strict=True):
            head = f"   {instance.name:<9} {bindings[instance.name]}"
            if isinstance(result, BaseException):
                self.say(f"{head}: NOT ACTIVE: {result}")
                continue
            self.say(f"{head}: ACTIVE {instance.active_seconds:.2f} s after the plug began")
            self.timing(f"plug to ACTIVE, {instance.name}", instance.active_seconds)
        self.require(
            all(i.plugged for i in self.instances.values()),
            "every port binds, plugs and becomes ACTIVE",
        )

    def _driver(self, host: Host) -> compute_driver.ComputeDriver:
        cfg = compute_config.ComputeConfig(
            host_netns=host.namespace.name,
            ovsdb=host.ovs.db_endpoint if host.ovs is not None else compute_config.DEFAULT_OVSDB,
        )
        return compute_driver.ComputeDriver(
            self.ports,
            self.networks,
            cfg,
            compute_config.Chosen(self.host_id(host.name), "lab host"),
            rpc_timeout=RPC_TIMEOUT,
            portapi_address=self.portapi_address,
        )

    def _create_port(self, network: str, name: str) -> port_pb2.Port:
        request = port_service_pb2.CreatePortRequest(
            port=port_pb2.Port(
                network_id=self.network_ids[network],
                name=name,
                project_id="seed",
                admin_state=admin_state_pb2.ADMIN_STATE_UP,
            )
        )
        port: port_pb2.Port = self.ports.CreatePort(request, timeout=RPC_TIMEOUT).port
        return port

    def plug(self, instance: Instance) -> str:
        """Creates the instance's port, binds and plugs it on its host (not waiting) and gives
        the instance its address; returns what the binding was."""
        port = self._create_port(instance.network, instance.name)
        instance.port_id = port.id
        instance.started = time.time()
        result = self._driver(instance.host).plug(
            port.id,
            f"inst-{instance.namespace.name}",
            netns=instance.namespace.name,
            device="eth0",
            wait=False,
        )
        instance.namespace.add_address("eth0", f"{instance.ip}/24")
        bound = next(s.result for s in result.steps if s.name == "bind")
        driver = re.search(r" by (\S+)", bound)
        v = result.vif
        if v is None:
            bridge = "?"
        elif v.vif_type == "bridge":
            bridge = v.linux_bridge
        else:
            bridge = str(v.vif_details.get("bridge_name", "?"))
        return (
            f"on {instance.host_id}: bound by {driver[1] if driver else '?'}, vif_type "
            f"{v.vif_type if v is not None else '?'}, tap on {bridge}, {instance.ip}"
        )

    def wait_active(self, instance: Instance) -> None:
        """Waits as the VIF driver does (WatchPorts) until the instance's port is ACTIVE; the
        time it took is the port's status time less the plug's start."""
        port = waiting.wait_active(
            self.ports.WatchPorts,
            instance.port_id,
            instance.host_id,
            ACTIVE_TIMEOUT,
            get_port=lambda: self.get_port(instance.port_id),
            address=self.portapi_address,
        )
        instance.active_seconds = status_time(port) - instance.started
        instance.plugged = True

    def _ping_all(self, pairs: list[tuple[Instance, Instance]], *, reach: bool) -> list[Ping]:
        if reach:
            calls = [functools.partial(wait_ping, a, b) for a, b in pairs]
        else:
            calls = [functools.partial(ping, a, b, count=2, wait=0.5) for a, b in pairs]
        results = parallel(calls)
        done = []
        for (a, b), result in zip(pairs, results, strict=True):
            if isinstance(result, BaseException):
                self.expect(False, f"{a.name} can ping {b.name} (got: {result})")
                continue
            self.outcome.pings.append(result)
            done.append(result)
            self.say(f"   {result.text()}")
        return done

    def _mesh(self, network: str) -> list[tuple[Instance, Instance]]:
        members = [i for i in self.instances.values() if i.network == network and i.plugged]
        return [(a, b) for n, a in enumerate(members) for b in members[n + 1 :]]

    def ping_vxlan_and_flat(self) -> None:
        """Every pair of instances pings on the VXLAN and on the flat network."""
        self.say(
            "\n5. Pinging between every pair of hosts: Open vSwitch and Linux bridge hosts on "
            "one VXLAN and one flat network"
        )
        for network in ("vxlan", "flat"):
            pings = self._ping_all(self._mesh(network), reach=True)
            self.expect(
                len(pings) == 3 and all(p.received == p.sent for p in pings),
                f"on the {network} network every instance reaches every other (ovs1, ovs2, "
                "lb1) without loss",
            )

    def check_vlan_isolation(self) -> None:
        """red and blue (same physnet, different VLAN ids, same subnet) ping within, never
        across."""
        self.say(
            "\n6. VLAN isolation: seed-red and seed-blue share physnet1 and one IP subnet, "
            "only their VLAN ids differ"
        )
        red = [self.instances[f"re-{h}"] for h in OVS_HOSTS]
        blue = [self.instances[f"bl-{h}"] for h in OVS_HOSTS]
        within = self._ping_all([(red[0], red[1]), (blue[0], blue[1])], reach=True)
        self.expect(
            len(within) == 2 and all(p.received == p.sent for p in within),
            "instances reach each other within each VLAN network, across the two OVS hosts",
        )
        self.say("   across the networks (each should lose every packet):")
        across = self._ping_all(
            [(red[0], blue[0]), (red[0], blue[1]), (blue[1], red[0]), (red[1], blue[0])],
            reach=False,
        )
        self.expect(
            len(across) == 4 and all(p.received == 0 for p in across),
            "no instance reaches the other VLAN network, on its own host or the other",
        )

    def bind_vlan_on_linux_bridge(self) -> None:
        """A VLAN port bound to the Linux bridge host fails with the agent's reason."""
        self.say(f"\n7. Binding a seed-red (VLAN) port on {self.host_id(LB_HOST)}")
        host = self.hosts[LB_HOST]
        port = self._create_port("red", f"re-{LB_HOST}")
        ns = self.lab.namespace(f"re-{LB_HOST}")
        try:
            self._driver(host).plug(
                port.id, f"inst-{ns.name}", netns=ns.name, device="eth0", timeout=ACTIVE_TIMEOUT
            )
        except compute_driver.BindingFailed as err:
            failed = err.port
        else:
            self.expect(False, "the VLAN port on the Linux bridge host fails to bind")
            return
        self.say(f"   binding_failed: {failed.binding.failure_message}")
        reasons = []
        for verdict in failed.binding.trace:
            for reason in verdict.reasons:
                self.say(f"   {verdict.driver}: {reason.code}: {reason.message}")
                reasons.append((verdict.driver, reason.code))
        self.expect(
            ("linuxbridge", "NETWORK_TYPE_UNSUPPORTED_BY_AGENT") in reasons,
            "it fails because the Linux bridge agent does not offer vlan "
            "(NETWORK_TYPE_UNSUPPORTED_BY_AGENT)",
        )

    def unplug_one(self) -> None:
        """Unplugging lb1's VXLAN instance stops its traffic; the others keep theirs."""
        gone = self.instances[f"vx-{LB_HOST}"]
        self.say(f"\n8. Unplugging {gone.name} (ml2 compute unplug: devices removed, unbound)")
        result = self._driver(gone.host).unplug(gone.port_id)
        gone.plugged = False
        self.say(f"   {'; '.join(result.actions)}; {result.binding_note}")
        reached = self.wait_statuses([gone.port_id], port_pb2.PORT_STATUS_DOWN, time.time())
        port = reached[gone.port_id][1] if reached else self.get_port(gone.port_id)
        self.say(
            f"   port {gone.port_id}: {waiting.status_name(port.status)} "
            f"({port.status_message or '-'}), binding host {port.binding.host_id or '-'}"
        )
        self.expect(
            bool(reached) and not port.binding.host_id,
            "the unplugged port is DOWN and bound to no host",
        )
        others = [self.instances[f"vx-{h}"] for h in OVS_HOSTS]
        lost = self._ping_all([(others[0], gone), (others[1], gone)], reach=False)
        self.expect(
            len(lost) == 2 and all(p.received == 0 for p in lost),
            "the unplugged instance's address answers no more",
        )
        kept = self._ping_all([(others[0], others[1])], reach=True)
        self.expect(
            len(kept) == 1 and kept[0].received == kept[0].sent,
            "the other VXLAN instances still reach each other",
        )

    def _pairs_to(self, instances: list[Instance]) -> list[tuple[Instance, Instance]]:
        """For each of ``instances``, its network's instance on the first OVS host."""
        pairs = []
        for instance in instances:
            peer = self.instances.get(f"{instance.name[:2]}-{OVS_HOSTS[0]}")
            if peer is not None and peer is not instance and peer.plugged:
                pairs.append((peer, instance))
        return pairs

    def kill_and_restart_agent(self) -> None:
        """SIGKILL of ovs2's agent takes its ports DOWN after the down time; a new process
        brings them back to ACTIVE and traffic flows."""
        agent = self.agents[KILLED_HOST]
        mine = [i for i in self.instances.values() if i.host.name == KILLED_HOST and i.plugged]
        self.say(
            f"\n9. Killing the agent on {agent.host_id} (SIGKILL); mechmgr counts it dead after "
            f"{self.agent_down_time:g} s of silence, then portapi takes its {len(mine)} ports DOWN"
        )
        agent.kill()
        killed = time.time()
        down = self.wait_statuses(
            [i.port_id for i in mine],
            port_pb2.PORT_STATUS_DOWN,
            killed,
            timeout=self.agent_down_time + ACTIVE_TIMEOUT,
        )
        for instance in mine:
            if instance.port_id in down:
                seconds, port = down[instance.port_id]
                self.say(
                    f"   {instance.name:<9} DOWN {seconds:.2f} s after the kill: "
                    f"{port.status_message}"
                )
        self.require(
            bool(mine) and len(down) == len(mine),
            f"every port of {agent.host_id} goes DOWN after the kill",
        )
        first, last = min(t for t, _ in down.values()), max(t for t, _ in down.values())
        self.timing(f"SIGKILL to every {KILLED_HOST} port DOWN", last)
        # The down time counts from the last heartbeat, up to one interval before the kill.
        earliest = self.agent_down_time - self.heartbeat_interval
        self.expect(
            first >= earliest,
            f"the ports stay ACTIVE until the agent's down time has nearly passed "
            f"(first DOWN {first:.2f} s after the kill; down time {self.agent_down_time:g} s "
            f"less one heartbeat interval: {earliest:g} s)",
        )
        pairs = self._pairs_to(mine)
        self.say("   meanwhile the wiring the dead agent left keeps forwarding:")
        during = self._ping_all(pairs, reach=True)
        self.expect(
            len(during) == len(pairs) and all(p.received == p.sent for p in during),
            f"while its agent is dead, {agent.host_id}'s instances still reach ovs1's "
            "(the dataplane outlives the agent)",
        )
        self.say(f"   restarting the agent on {agent.host_id}")
        restarted = time.time()
        agent.start()
        active = self.wait_statuses(
            [i.port_id for i in mine], port_pb2.PORT_STATUS_ACTIVE, restarted
        )
        for instance in mine:
            if instance.port_id in active:
                seconds = active[instance.port_id][0]
                self.say(f"   {instance.name:<9} ACTIVE {seconds:.2f} s after the restart")
        self.require(
            len(active) == len(mine),
            f"every port of {agent.host_id} is ACTIVE again after the restart",
            agent.log_tail(10),
        )
        last = max(t for t, _ in active.values())
        self.timing(f"agent restart to every {KILLED_HOST} port ACTIVE", last)
        self.say("   and after the restart:")
        flowing = self._ping_all(pairs, reach=True)
        self.expect(
            len(flowing) == len(pairs) and all(p.received == p.sent for p in flowing),
            f"traffic flows to every instance on {agent.host_id} after the restart",
        )
