"""CheckBindable benchmark: one call answers for 1,000 hosts; timed by the client.

    python bench/check_bindable.py [--hosts 1000] [--calls 30] [--warmup 3] [--json]
                                   [--cache-seconds S] [--heartbeats N]

Starts its own stack (typemgr, the openvswitch and linuxbridge driver processes, mechmgr,
portapi) on SQLite with fresh databases and free loopback ports, creates one VLAN network on
physnet1, and registers one agent on each of ``--hosts`` hosts, a fixed mix by host number:

    0-4 of every 10   Open vSwitch agent mapping physnet1          bindable, ovs
    5-7               Linux bridge agent mapping physnet1          bindable, bridge
    8                 Open vSwitch agent mapping physnet2 only     PHYSNET_NOT_MAPPED
    9                 Open vSwitch agent that stopped heartbeating AGENT_DEAD

Agents are registered through mechmgr's AgentService (the dead ones first, and the benchmark
waits until mechmgr counts them dead; the agent down time is ``--agent-down-time`` seconds, and
the measurement must end before the live agents die in turn, which the benchmark checks). Then
it calls PortService.CheckBindable for every host, ``--warmup`` times untimed and ``--calls``
times timed, each call from just before it is sent to just after its response, and checks that
every answer is the one the mix predicts. Prints p50/p90/p99 and whether p50 is under the target
(50 ms for 1,000 hosts). ``--cache-seconds`` sets mechmgr's bindability cache (0 turns it off);
``--heartbeats N`` has N live agents send a heartbeat before each call (untimed), so that N
hosts' answers cannot come from the cache. See bench/README.md.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import grpc
from bind_bench import percentile
from cpu_time import cpu_snapshot
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_pb2,
)

from services import launcher
from services.cli import stack
from services.mechmgr import config as mechmgr_config
from services.rpc import channels

CACHE_VARIABLE = "MECHMGR_BINDABILITY_CACHE_SECONDS"
TARGET_P50_MS = 50.0
"""The target: p50 of one CheckBindable for 1,000 hosts, on a 2-core machine."""


@dataclass(frozen=True)
class Result:
    """What the benchmark measured."""

    hosts: int
    calls: int
    bindable: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    target_p50_ms: float
    target_met: bool
    cpus: int | None
    cpu_ms_per_call: dict[str, float]
    """CPU time per timed call of each process (and the client), from /proc."""
    cache_seconds: float
    """mechmgr's MECHMGR_BINDABILITY_CACHE_SECONDS."""
    cache_default: bool
    """True if the benchmark left it at mechmgr's default."""
    heartbeats: int
    """Agents that sent a heartbeat before each call (their answers cannot be kept ones)."""


def kind(i: int) -> str:
    """The kind of host number ``i``: ovs, lb, unmapped or dead."""
    return {0: "ovs", 1: "ovs", 2: "ovs", 3: "ovs", 4: "ovs", 5: "lb", 6: "lb", 7: "lb"}.get(
        i % 10, "unmapped" if i % 10 == 8 else "dead"
    )


EXPECTED = {
    "ovs": (True, "ovs", ""),
    "lb": (True, "bridge", ""),
    "unmapped": (False, "", "PHYSNET_NOT_MAPPED"),
    "dead": (False, "", "AGENT_DEAD"),
}
"""Per kind: bindable, vif type, the first decline code of openvswitch's verdict."""


def agent_of(i: int) -> agent_pb2.Agent:
    host = f"bench-{i:05d}"
    if kind(i) == "lb":
        caps = agent_pb2.HostCapabilities(interface_mappings={"physnet1": "eth1"})
        return agent_pb2.Agent(agent_type="linuxbridge", host=host, capabilities=caps)
    physnet = "physnet2" if kind(i) == "unmapped" else "physnet1"
    caps = agent_pb2.HostCapabilities(
        bridge_mappings={physnet: "br-eth1"}, integration_bridge="br-int"
    )
    return agent_pb2.Agent(agent_type="openvswitch", host=host, capabilities=caps)


def register(agents: agent_service_pb2_grpc.AgentServiceStub, indexes: Sequence[int]) -> list[str]:
    """Registers the agents of ``indexes``, 64 calls in flight at a time; returns their ids."""
    batch, ids = 64, []
    for start in range(0, len(indexes), batch):
        futures = [
            agents.RegisterAgent.future(
                agent_service_pb2.RegisterAgentRequest(agent=agent_of(i)), timeout=30
            )
            for i in indexes[start : start + batch]
        ]
        ids.extend(future.result().agent.id for future in futures)
    return ids


def heartbeat(agents: agent_service_pb2_grpc.AgentServiceStub, ids: Sequence[str]) -> None:
    """Sends one heartbeat for each of ``ids``, all at once."""
    futures = [
        agents.HeartbeatAgent.future(
            agent_service_pb2.HeartbeatAgentRequest(agent_id=i), timeout=30
        )
        for i in ids
    ]
    for future in futures:
        future.result()


def wait_dead(agents: agent_service_pb2_grpc.AgentServiceStub, host: str, seconds: float) -> None:
    """Polls until mechmgr counts the agent of ``host`` dead."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reply = agents.ListAgents(agent_service_pb2.ListAgentsRequest(host=host), timeout=10)
        if reply.agents and not reply.agents[0].alive:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the agent of {host} did not die within {seconds:.0f}s")


def create_network(channel: grpc.Channel) -> str:
    stub = network_service_pb2_grpc.NetworkServiceStub(channel)
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name="bench", project_id="bench", admin_state_up=True),
        segments=[segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")],
    )
    return str(stub.CreateNetwork(request, timeout=30).network.id)


def check_answers(reply: port_service_pb2.CheckBindableResponse, hosts: list[str]) -> int:
    """Raises if any answer is not the one the mix predicts; returns the bindable count."""
    if [h.host_id for h in reply.hosts] != hosts:
        raise AssertionError("the answers are not in request order")
    for i, answer in enumerate(reply.hosts):
        bindable, vif_type, code = EXPECTED[kind(i)]
        first = answer.trace[0].reasons[0].code if answer.trace[0].reasons else ""
        if (answer.bindable, answer.vif_type) != (bindable, vif_type) or (code and first != code):
            raise AssertionError(f"unexpected answer for {answer.host_id}: {answer}")
    return sum(1 for h in reply.hosts if h.bindable)


def measure(args: argparse.Namespace, running: stack.Stack) -> Result:
    mechmgr = channels.make_channel(running.address("mechmgr"))
    portapi = channels.make_channel(running.address("portapi"))
    try:
        agents = agent_service_pb2_grpc.AgentServiceStub(mechmgr)
        network_id = create_network(portapi)
        dead = [i for i in range(args.hosts) if kind(i) == "dead"]
        register(agents, dead)
        registered_dead = time.monotonic()
        if dead:
            wait_dead(agents, agent_of(dead[-1]).host, args.agent_down_time + 10)
        live = register(agents, [i for i in range(args.hosts) if kind(i) != "dead"])
        live_until = time.monotonic() + args.agent_down_time
        hosts = [agent_of(i).host for i in range(args.hosts)]
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        request = port_service_pb2.CheckBindableRequest(network_id=network_id, host_ids=hosts)
        latencies, bindable = [], 0
        pids = {"client": os.getpid()}
        pids.update({n: running.processes[n].process.pid for n in running.cfg.process_names()})
        before: dict[str, float] = {}
        beats = 0
        for n in range(args.warmup + args.calls):
            if args.heartbeats:
                # Untimed: these hosts' agent rows change, so their answers are not kept ones.
                heartbeat(agents, [live[(beats + k) % len(live)] for k in range(args.heartbeats)])
                beats += args.heartbeats
            if n == args.warmup:
                before = cpu_snapshot(pids)
            started = time.perf_counter()
            reply = ports.CheckBindable(request, timeout=30)
            took = (time.perf_counter() - started) * 1000
            bindable = check_answers(reply, hosts)
            if n >= args.warmup:
                latencies.append(took)
        after = cpu_snapshot(pids)
        if time.monotonic() >= live_until:
            raise RuntimeError(
                "the live agents may have died during the measurement: raise --agent-down-time"
            )
        del registered_dead
    finally:
        mechmgr.close()
        portapi.close()
    ordered = sorted(latencies)
    p50 = percentile(ordered, 50)
    return Result(
        hosts=args.hosts,
        calls=args.calls,
        bindable=bindable,
        p50_ms=round(p50, 2),
        p90_ms=round(percentile(ordered, 90), 2),
        p99_ms=round(percentile(ordered, 99), 2),
        min_ms=round(ordered[0], 2),
        max_ms=round(ordered[-1], 2),
        target_p50_ms=TARGET_P50_MS,
        target_met=p50 < TARGET_P50_MS,
        cpus=os.cpu_count(),
        cpu_ms_per_call={
            name: round((after[name] - before[name]) * 1000 / args.calls, 2) for name in pids
        },
        cache_seconds=float(
            os.environ.get(CACHE_VARIABLE, mechmgr_config.Settings.bindability_cache_seconds)
        ),
        cache_default=CACHE_VARIABLE not in os.environ,
        heartbeats=args.heartbeats,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/check_bindable.py",
        description="Times PortService.CheckBindable for many hosts in one call.",
    )
    parser.add_argument("--hosts", type=int, default=1000, help="hosts per call (1000)")
    parser.add_argument("--calls", type=int, default=30, help="timed calls (30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (3)")
    parser.add_argument(
        "--agent-down-time", type=int, default=15, help="mechmgr's agent down time, s (15)"
    )
    parser.add_argument(
        "--cache-seconds",
        help="mechmgr's MECHMGR_BINDABILITY_CACHE_SECONDS (its default; 0 turns the cache off)",
    )
    parser.add_argument(
        "--heartbeats",
        type=int,
        default=0,
        help="live agents that send a heartbeat before each call, untimed (0)",
    )
    parser.add_argument("--log-level", default="WARNING", help="services' log level (WARNING)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not 10 <= args.hosts <= 5000 or args.calls < 1 or args.warmup < 0:
        parser.error("--hosts must be 10 to 5000, --calls at least 1, --warmup at least 0")
    if not 0 <= args.heartbeats <= args.hosts // 2:
        parser.error("--heartbeats must be 0 to half of --hosts")
    return args


def report(args: argparse.Namespace, result: Result) -> None:
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return
    print(
        f"\nCheckBindable for {result.hosts} hosts ({result.bindable} bindable), "
        f"{result.calls} calls, database sqlite, {result.cpus} CPUs; latency in ms measured "
        "by the client"
    )
    print(
        f"mechmgr's bindability cache: {result.cache_seconds:g} s"
        f"{' (default)' if result.cache_default else ''}; {result.heartbeats} agents "
        "heartbeating before each call\n"
    )
    print(f"{'p50':>8}  {'p90':>8}  {'p99':>8}  {'min':>8}  {'max':>8}")
    print(
        f"{result.p50_ms:>8.2f}  {result.p90_ms:>8.2f}  {result.p99_ms:>8.2f}  "
        f"{result.min_ms:>8.2f}  {result.max_ms:>8.2f}"
    )
    names = list(result.cpu_ms_per_call)
    print("\nCPU time per call, ms\n")
    print("  ".join(f"{n:>11}" for n in [*names, "total"]))
    total = sum(result.cpu_ms_per_call.values())
    print("  ".join(f"{result.cpu_ms_per_call[n]:>11.2f}" for n in names) + f"  {total:>11.2f}")
    verdict = "met" if result.target_met else "NOT met"
    print(f"\ntarget p50 < {result.target_p50_ms:.0f} ms for 1000 hosts: {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns 1 if it failed, 2 if the target was not met."""
    args = parse_args(argv)
    if args.cache_seconds is not None:
        os.environ[CACHE_VARIABLE] = args.cache_seconds  # the stack's processes inherit it
    data_dir = Path(tempfile.mkdtemp(prefix="ml2-check-bench-"))
    cfg = stack.StackConfig(
        data_dir=data_dir,
        ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        metrics_ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        log_level=args.log_level,
        agent_down_time=args.agent_down_time,
        heartbeat_interval=max(1, args.agent_down_time // 3),
    )
    running = stack.Stack(cfg)
    ok = False
    try:
        log = sys.stderr if args.json else sys.stdout
        print(f"starting the stack (sqlite) in {data_dir} ...", file=log, flush=True)
        running.start()
        print(f"registering {args.hosts} agents and measuring ...", file=log, flush=True)
        result = measure(args, running)
        report(args, result)
        ok = True
    except launcher.LaunchError as err:
        print(f"check_bindable: the stack did not start: {err}", file=sys.stderr)
    finally:
        running.stop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"check_bindable: logs kept in {data_dir / 'logs'}", file=sys.stderr)
    if not ok:
        return 1
    return 0 if result.target_met or args.hosts != 1000 else 2


if __name__ == "__main__":
    raise SystemExit(main())
