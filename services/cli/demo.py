"""``ml2 demo``: the seed's heterogeneous use case on a fresh local stack with every shipped
mechanism driver, checked step by step.

One VLAN network on physnet1, reached on each host by another mechanism: compute-ovs runs an
Open vSwitch agent, compute-lb a Linux bridge agent, compute-hyperv a Hyper-V agent,
compute-sriov an SR-IOV agent (its port is an SR-IOV virtual function, vnic type direct),
compute-macvtap a macvtap agent; a load balancer appliance's port is bound by the switch port
it is cabled to (vnic type baremetal, Ironic's local_link_information); compute-bare has
nothing and its port fails with every driver's reason. Then compute-tor, whose switch port the
topology records, gets a port on a VXLAN network bound hierarchically: the controller binds
the tunnel at level 0 and the host's Open vSwitch agent a dynamic VLAN of that switch at
level 1. Last, the compute-lb agent stops; once its down time has passed, a new port bound
there fails naming the dead agent. The agents are separate processes, so stopping one is real.

With --dataplane, the same use case proven by packets instead: three lab hosts (network
namespaces, two with Open vSwitch on the userspace datapath, one with Linux bridges) run the
real agents; instances plugged by the compute node's VIF driver ping each other on a VXLAN and
a flat network, two VLAN networks stay apart, the Linux bridge host refuses VLAN at binding,
an unplugged port goes quiet, and a killed agent's ports go DOWN and come back after a restart.
It needs root and Open vSwitch (apt-get install openvswitch-switch) and removes all it made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ml2.v1 import (
    admin_state_pb2,
    agent_pb2,
    binding_pb2,
    network_pb2,
    network_service_pb2,
    port_pb2,
    port_service_pb2,
    segment_pb2,
    topology_pb2,
    topology_service_pb2,
    topology_service_pb2_grpc,
)
from ml2_contract import vocabulary
from ml2_driver_sdk.runtime.auth import TokenSource

from services import launcher
from services.cli import dataplane_demo, ports, render, stack, up
from services.cli.client import EXIT_USAGE, Client, CommandError
from services.security import local

NETWORK = "demo-vlan"
PHYSNET = "physnet1"
AGENTS = (
    ("openvswitch", "compute-ovs", ("--bridge-mappings", f"{PHYSNET}:br-eth1")),
    ("linuxbridge", "compute-lb", ("--interface-mappings", f"{PHYSNET}:eth1")),
    ("hyperv", "compute-hyperv", ("--vswitch-mappings", f"{PHYSNET}:external")),
    ("sriov", "compute-sriov", ("--device-mappings", f"{PHYSNET}:ens1f0")),
    ("macvtap", "compute-macvtap", ("--interface-mappings", f"{PHYSNET}:eth2")),
    (
        "openvswitch",
        "compute-tor",
        (
            "--bridge-mappings",
            f"{PHYSNET}:br-eth1",
            "--tunnel-types",
            "vxlan",
            "--local-ip",
            "192.0.2.20",
        ),
    ),
)
AGENT_DRIVERS = ("openvswitch", "linuxbridge", "hyperv", "macvtap")
"""The agent-based drivers that bind normal ports: each declines compute-bare with NO_AGENT."""
APPLIANCE = "lb-appliance-1"
APPLIANCE_LINK = (
    '{"local_link_information": [{"switch_id": "aa:bb:cc:dd:ee:01", "port_id": "Ethernet1/9",'
    ' "switch_info": "tor1"}]}'
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``ml2 demo``."""
    demo = sub.add_parser(
        "demo",
        help="run the basic binding scenario on a fresh local stack",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the stack keeps its databases and logs (default: a new temporary dir, "
        "removed afterwards unless something failed)",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="leave the stack and the compute-ovs agent running after the scenario, until Ctrl-C",
    )
    demo.add_argument(
        "--dataplane",
        action="store_true",
        help="prove the scenario by packets: lab hosts (network namespaces) with real Open "
        "vSwitch and Linux bridge agents, instances plugged by the compute node's VIF driver, "
        "pings (needs root and Open vSwitch)",
    )
    demo.add_argument(
        "--agent-down-time",
        type=up.whole_seconds,
        default=None,
        help=f"default 3 s, {dataplane_demo.DEFAULT_AGENT_DOWN_TIME} s with --dataplane",
    )
    demo.add_argument(
        "--heartbeat-interval", type=up.whole_seconds, default=None, help="default 1 s"
    )
    demo.set_defaults(func=run_demo, needs_client=False)


@dataclass
class Checks:
    """The expectations of the scenario and whether each held."""

    results: list[tuple[bool, str]] = field(default_factory=list)

    def expect(self, ok: bool, what: str) -> bool:
        """Records one expectation; prints it when it does not hold."""
        self.results.append((ok, what))
        if not ok:
            say(f"   !! expected: {what}")
        return ok

    @property
    def all_held(self) -> bool:
        """True if there was at least one expectation and every one held."""
        return bool(self.results) and all(ok for ok, _ in self.results)


def say(text: str = "") -> None:
    """Prints a line of the demo's story right away."""
    print(text, flush=True)


class AgentProcess:
    """A simulated agent run as its own process (``python -m services.agent``)."""

    def __init__(
        self,
        agent_type: str,
        host: str,
        extra: tuple[str, ...],
        mechmgr: str,
        log_dir: Path,
        data_dir: Path,
    ) -> None:
        """The agent mints its token for ``host`` from the key of the stack's ``data_dir``."""
        self.agent_type, self.host = agent_type, host
        self.log_path = log_dir / f"agent-{host}.log"
        args = ["--type", agent_type, "--host", host, *extra, "--simulate", "--mechmgr", mechmgr]
        args += ["--data-dir", str(data_dir)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.agent", *args],
                env=launcher.python_path_env({**os.environ, "ML2_LOG_FORMAT": "json"}),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> int:
        """SIGTERM, then wait (kill after 10 s); returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def run_demo(args: argparse.Namespace) -> int:
    """Runs the scenario (``--dataplane``: the one proven by packets); returns 0 only if every
    expectation held."""
    if args.dataplane:
        if args.keep:
            raise CommandError("--keep: not with --dataplane", EXIT_USAGE)
        return dataplane_demo.run(args)
    if args.agent_down_time is None:
        args.agent_down_time = 3
    if args.heartbeat_interval is None:
        args.heartbeat_interval = 1
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="ml2-demo-")) if temp else args.data_dir
    cfg = stack.StackConfig(
        data_dir=data_dir,
        free_ports=True,
        mechanism_drivers=stack.parse_mechanism_drivers(stack.DEFAULT_DRIVERS),
        agent_down_time=args.agent_down_time,
        heartbeat_interval=args.heartbeat_interval,
        auth=True,
    )
    say("modular-l2 demo: one VLAN network, seven hosts, every mechanism\n")
    say(
        f"1. Starting a fresh stack in {data_dir} (agent down time {args.agent_down_time:g} s, "
        f"heartbeat {args.heartbeat_interval:g} s)"
    )
    running = stack.Stack(cfg)
    try:
        running.start()
    except launcher.LaunchError as err:
        print(f"ml2 demo: the stack did not start: {err}", file=sys.stderr)
        return 1
    for row in running.rows():
        say(f"   {row.name:<24} {row.address:<18} pid {row.pid}")
    agents: dict[str, AgentProcess] = {}
    client = Client(
        running.address("portapi"),
        running.address("mechmgr"),
        timeout=30,
        token=TokenSource(path=str(running.admin_token_path())),
    )
    # Ports are bound as a compute node binds them: with the compute service's token, the
    # caller the policy lets set binding.host_id and binding.profile.
    compute = Client(
        running.address("portapi"),
        running.address("mechmgr"),
        timeout=30,
        token=TokenSource(path=str(running.token_path(local.COMPUTE))),
    )
    checks = Checks()
    try:
        Scenario(client, compute, running, cfg, agents, checks, args).run()
    except CommandError as err:
        checks.expect(False, f"every call succeeds (got error: {err.message})")
    finally:
        if args.keep and checks.results:
            _keep_running(running, agents)
        for agent in agents.values():
            agent.stop()
        client.close()
        compute.close()
        running.stop()
    return _conclude(checks, data_dir, temp)


def _conclude(checks: Checks, data_dir: Path, temp: bool) -> int:
    held = sum(ok for ok, _ in checks.results)
    say(f"\nExpectations: {held} of {len(checks.results)} held")
    for ok, what in checks.results:
        say(f"   {'ok  ' if ok else 'FAIL'}  {what}")
    if checks.all_held:
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)
        say("\nThe stack is stopped. Every expectation held.")
        return 0
    say(f"\nThe stack is stopped. Some expectations did not hold; logs are in {data_dir / 'logs'}")
    return 1


def _keep_running(running: stack.Stack, agents: dict[str, AgentProcess]) -> None:
    say("\n--keep: the stack and the remaining agents keep running; Ctrl-C stops them.")
    say(render.process_rows(running.rows()))
    env_file = running.write_client_env()
    say(f"\nPoint client commands at it (also in {env_file}; `source` it):")
    say("".join(f"   export {k}={v}\n" for k, v in running.client_env().items()).rstrip())
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        dead = running.watch(stop)
        if dead is not None:
            say(f"{dead.name} exited with status {dead.process.returncode}; stopping")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Scenario:
    """The steps of the demo, each printing what happened and recording expectations."""

    def __init__(
        self,
        client: Client,
        compute: Client,
        running: stack.Stack,
        cfg: stack.StackConfig,
        agents: dict[str, AgentProcess],
        checks: Checks,
        args: argparse.Namespace,
    ) -> None:
        self.client, self.compute, self.running, self.cfg = client, compute, running, cfg
        self.agents, self.checks = agents, checks
        self.down_time = float(args.agent_down_time)

    def run(self) -> None:
        """Runs every step in order."""
        self.start_agents()
        network = self.create_network()
        self.bind_on_each_host(network)
        self.bind_hierarchically()
        dead_agent = self.stop_linuxbridge_agent()
        self.bind_after_agent_death(network, dead_agent)

    def start_agents(self) -> None:
        say("\n2. Starting simulated agents, each its own process; compute-bare gets none")
        for agent_type, host, extra in AGENTS:
            self.agents[host] = AgentProcess(
                agent_type,
                host,
                extra,
                self.running.address("mechmgr"),
                self.cfg.log_dir,
                self.cfg.data_dir,
            )
            say(f"   {agent_type:<12} on {host:<12} {' '.join(extra)}")
        alive = self.wait_agents(lambda a: a.alive, {host for _, host, _ in AGENTS}, 20.0)
        self.checks.expect(
            len(alive) == len(AGENTS), "every agent registers and shows alive in the registry"
        )
        for agent in sorted(alive.values(), key=lambda a: a.host, reverse=True):
            say(f"   agent {agent.id} ({agent.agent_type} on {agent.host}) is alive")

    def wait_agents(
        self, want: Callable[[agent_pb2.Agent], bool], hosts: set[str], timeout: float
    ) -> dict[str, agent_pb2.Agent]:
        """Polls ListAgents until every host in ``hosts`` has an agent matching ``want``."""
        deadline = time.monotonic() + timeout
        found: dict[str, agent_pb2.Agent] = {}
        while time.monotonic() < deadline:
            found = {a.host: a for a in self.client.list_agents() if a.host in hosts and want(a)}
            if set(found) == hosts:
                break
            time.sleep(0.2)
        return found

    def create_network(self) -> network_pb2.Network:
        say(f"\n3. Creating network {NETWORK}: provider network type vlan on {PHYSNET}")
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(
                name=NETWORK, project_id="demo", admin_state=admin_state_pb2.ADMIN_STATE_UP
            ),
            segments=[segment_pb2.SegmentSpec(network_type="vlan", physical_network=PHYSNET)],
        )
        network = self.client.call("portapi", self.client.networks.CreateNetwork, request).network
        segments = "; ".join(render.segment_text(s) for s in network.segments)
        say(f"   network {network.id}: segment {segments}, mtu {network.mtu}")
        seg = network.segments[0] if network.segments else None
        self.checks.expect(
            seg is not None
            and seg.network_type == "vlan"
            and seg.physical_network == PHYSNET
            and 100 <= seg.segmentation_id <= 199,
            f"the network gets one vlan segment on {PHYSNET} with an id from 100-199",
        )
        return network

    def bind(
        self,
        network: network_pb2.Network,
        host: str,
        name: str,
        vnic_type: str | None = None,
        profile: str | None = None,
    ) -> port_pb2.Port:
        """Creates a port, then binds it on ``host`` as a compute node does (UpdatePort)."""
        create = port_service_pb2.CreatePortRequest(
            port=port_pb2.Port(
                network_id=network.id,
                name=name,
                project_id="demo",
                device_owner="compute:nova",
                admin_state=admin_state_pb2.ADMIN_STATE_UP,
            )
        )
        port = self.compute.call("portapi", self.compute.ports.CreatePort, create).port
        update = ports.bind_request(port.id, host, vnic_type, profile)
        port = self.compute.call("portapi", self.compute.ports.UpdatePort, update).port
        show_port(host, port)
        return port

    def bind_on_each_host(self, network: network_pb2.Network) -> None:
        say("\n4. Creating a port per host and binding it there (UpdatePort binding.host_id)")
        ovs = self.bind(network, "compute-ovs", "vm-on-ovs")
        self.expect_bound(ovs, "compute-ovs", vocabulary.VIF_TYPE_OVS, "openvswitch")
        self.checks.expect(
            "bridge_name" in ovs.binding.vif_details.fields,
            "the ovs binding's vif_details name the bridge to plug into",
        )
        lb = self.bind(network, "compute-lb", "vm-on-lb")
        self.expect_bound(lb, "compute-lb", vocabulary.VIF_TYPE_BRIDGE, "linuxbridge")
        hyperv = self.bind(network, "compute-hyperv", "vm-on-hyperv")
        self.expect_bound(hyperv, "compute-hyperv", vocabulary.VIF_TYPE_HYPERV, "hyperv")
        vf = self.bind(network, "compute-sriov", "vm-on-sriov", vocabulary.VNIC_DIRECT)
        self.expect_bound(vf, "compute-sriov", vocabulary.VIF_TYPE_HW_VEB, "sriov")
        tag = network.segments[0].segmentation_id if network.segments else 0
        self.checks.expect(
            vf.binding.vif_details.fields["vlan"].string_value == str(tag),
            "the SR-IOV binding tells the compute node the VLAN to set on the virtual function",
        )
        macvtap = self.bind(network, "compute-macvtap", "vm-on-macvtap")
        self.expect_bound(macvtap, "compute-macvtap", vocabulary.VIF_TYPE_MACVTAP, "macvtap")
        appliance = self.bind(
            network, APPLIANCE, "lb-uplink", vocabulary.VNIC_BAREMETAL, APPLIANCE_LINK
        )
        self.expect_bound(appliance, APPLIANCE, vocabulary.VIF_TYPE_OTHER, "baremetal")
        bare = self.bind(network, "compute-bare", "vm-on-bare")
        self.expect_failed(bare, "compute-bare")
        no_agent = {v.driver for v in bare.binding.trace if any(map(is_no_agent, v.reasons))}
        self.checks.expect(
            no_agent >= set(AGENT_DRIVERS),
            "every agent-based driver declines compute-bare because no agent serves it (NO_AGENT)",
        )

    def bind_hierarchically(self) -> None:
        say(
            "\n5. Recording compute-tor's switch port in the topology, then binding a port of a "
            "VXLAN network there"
        )
        topology = topology_service_pb2_grpc.TopologyServiceStub(self.client.channel("mechmgr"))
        link = topology_pb2.HostLink(
            host="compute-tor", switch_id="tor1", port_id="Ethernet1/7", physical_network=PHYSNET
        )
        self.client.call(
            "mechmgr", topology.SetHostLink, topology_service_pb2.SetHostLinkRequest(link=link)
        )
        say(f"   compute-tor is wired to tor1 Ethernet1/7, which carries {PHYSNET}")
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(
                name="demo-vxlan", project_id="demo", admin_state=admin_state_pb2.ADMIN_STATE_UP
            ),
            segments=[segment_pb2.SegmentSpec(network_type="vxlan")],
        )
        vxlan = self.client.call("portapi", self.client.networks.CreateNetwork, request).network
        port = self.bind(vxlan, "compute-tor", "vm-on-tor")
        levels = [(lv.driver, lv.segment.network_type) for lv in port.binding.levels]
        self.checks.expect(
            port.binding.vif_type == vocabulary.VIF_TYPE_OVS
            and levels == [("sdn-controller", "vxlan"), ("openvswitch", "vlan")]
            and port.binding.levels[1].segment.is_dynamic,
            "the controller binds the VXLAN segment at level 0 and Open vSwitch a dynamic VLAN "
            "at level 1",
        )

    def expect_bound(self, port: port_pb2.Port, host: str, vif_type: str, driver: str) -> None:
        b = port.binding
        self.checks.expect(
            b.state == binding_pb2.BINDING_STATE_BOUND
            and b.vif_type == vif_type
            and bool(b.levels)
            and b.levels[-1].driver == driver,
            f"the port on {host} is bound by {driver} with vif_type {vif_type}",
        )

    def expect_failed(self, port: port_pb2.Port, host: str) -> None:
        b = port.binding
        self.checks.expect(
            b.state == binding_pb2.BINDING_STATE_FAILED
            and b.vif_type == vocabulary.VIF_TYPE_BINDING_FAILED
            and bool(reasons(port)),
            f"the port on {host} is binding_failed and carries its reasons",
        )
        request = port_service_pb2.GetPortRequest(port_id=port.id)
        stored = self.client.call("portapi", self.client.ports.GetPort, request).port
        self.checks.expect(
            list(stored.binding.trace) == list(b.trace) and bool(stored.binding.failure_message),
            f"GetPort returns the stored failure and reasons of the port on {host}",
        )

    def stop_linuxbridge_agent(self) -> agent_pb2.Agent | None:
        say(
            f"\n6. Stopping the linuxbridge agent on compute-lb (SIGTERM) and waiting out its "
            f"down time ({self.down_time:g} s)"
        )
        before = self.wait_agents(lambda a: a.agent_type == "linuxbridge", {"compute-lb"}, 1.0)
        status = self.agents.pop("compute-lb").stop()
        say(f"   agent process exited with status {status}")
        started = time.monotonic()
        dead = self.wait_agents(
            lambda a: a.agent_type == "linuxbridge" and not a.alive,
            {"compute-lb"},
            self.down_time + 15.0,
        )
        agent = dead.get("compute-lb") or before.get("compute-lb")
        self.checks.expect(
            "compute-lb" in dead, "the stopped agent shows dead once its down time has passed"
        )
        if agent is not None and "compute-lb" in dead:
            say(
                f"   agent {agent.id} is dead after {time.monotonic() - started:.1f} s "
                f"(last heartbeat {render.time_text(agent.heartbeat_time)})"
            )
        return agent

    def bind_after_agent_death(
        self, network: network_pb2.Network, agent: agent_pb2.Agent | None
    ) -> None:
        say("\n7. Binding a new port on compute-lb")
        port = self.bind(network, "compute-lb", "vm-on-lb-2")
        self.expect_failed(port, "compute-lb after its agent died")
        agent_id = agent.id if agent is not None else "?"
        self.checks.expect(
            agent is not None and any(names_agent(r, agent_id) for r in reasons(port)),
            f"its reasons name the dead agent {agent_id}",
        )


def reasons(port: port_pb2.Port) -> list[binding_pb2.DeclineReason]:
    """Every decline reason in the port's binding trace."""
    return [r for verdict in port.binding.trace for r in verdict.reasons]


def is_no_agent(reason: binding_pb2.DeclineReason) -> bool:
    """True if a decline reason says the host has no agent of the driver's kind."""
    return reason.code == "NO_AGENT"


def names_agent(reason: binding_pb2.DeclineReason, agent_id: str) -> bool:
    """True if a decline reason says the agent ``agent_id`` is dead and names it."""
    return reason.code == "AGENT_DEAD" and (
        agent_id in reason.message or reason.details.get("agent_id") == agent_id
    )


def show_port(host: str, port: port_pb2.Port) -> None:
    """Prints what one port got: vif_type, vif_details, levels, or the reasons of a failure."""
    b = port.binding
    state = render.enum_name(b, "state", "BINDING_STATE_")
    say(f"   {host:<13} port {port.id}  vif_type {b.vif_type or '-'}  ({state})")
    if b.levels:
        for level in b.levels:
            segment = render.segment_text(level.segment)
            say(f"{'':<16} level {level.level}: {level.driver} on {segment}")
        say(f"{'':<16} vif_details: {render.struct_text(b.vif_details)}")
    if b.failure_message:
        say(f"{'':<16} failure: {b.failure_message}")
    for verdict in b.trace:
        for reason in verdict.reasons:
            say(f"{'':<16} {verdict.driver}: {render.reason_text(reason)}")
