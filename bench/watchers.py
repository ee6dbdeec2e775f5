"""WatchPorts at scale: many watchers on two portapi replicas over one PostgreSQL, while clients
bind ports through both.

    python bench/watchers.py [--watchers 1000] [--mix 20,480,250,250] [--binds 1000]
                             [--clients 8] [--hosts 40] [--networks 25] [--max-batch 100]
                             [--json]

Creates its own PostgreSQL databases (on ``--postgres-url``, or the tests' server: the machine's
on 127.0.0.1:5432, else a throwaway cluster) and drops them at the end, starts typemgr, the
driver processes, mechmgr and two portapi replicas on them, registers a simulated Open vSwitch
agent for each of ``--hosts`` hosts (no dataplane is needed: the events are the bindings'), and
creates ``--networks`` VLAN networks and the ports. Then:

1. **without watchers**: ``--clients`` closed-loop client threads, half on each replica, each
   with its own channel, bind ``--binds`` ports (UpdatePort with a host; ports spread over the
   networks, hosts round robin): binds/s.
2. **watchers**: ``--watchers`` WatchPorts streams, half on each replica, from
   ``--watcher-processes`` processes running grpc.aio (one event loop each, the streams
   spread over ``--channels`` connections per replica), every one resuming after the same
   revision R0 with ``max_batch`` ``--max-batch``, with the ``--mix`` of filters:
   unfiltered, one host, one network, one port. A probe makes every watcher receive
   something (a port bound on every host, a rename of every watched port), so that all are
   attached before the clock starts.
3. **with watchers**: the same binding load on other ports (the watched ports among them).
4. **check**: every event after R0 is read from the database; each watcher must have received
   exactly the events its filter matches, each once, in revision order. Delivery latency is
   the time a watcher process received an event less the event's ``time`` (stamped when the
   writing transaction flushes, just before its commit), over the events of phase 3.

Prints binds/s without and with watchers, delivery p50/p99/max, deliveries, the check's
counts, each process's CPU time, and whether the targets hold (binding throughput with
watchers within 20 % of without; p99 delivery < 1 s). The exit status is 1 if a bind failed
or any watcher missed, repeated or reordered an event. See bench/README.md.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import grpc
from bind_bench import PostgresDatabases, percentile, split
from cpu_time import cpu_seconds, postgres_cpu_seconds
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    agent_service_pb2_grpc,
    binding_pb2,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_pb2,
)

from services import launcher, sql
from services.agent import simulated
from services.cli import ports as cli_ports
from services.cli import stack
from services.portapi import resources
from services.portapi.db import events as db_events
from services.rpc import channels

TARGET_THROUGHPUT_DROP = 0.20
TARGET_P99_S = 1.0
KINDS = ("all", "host", "network", "port")


# ------------------------------------------------------------------------------ watchers


@dataclass(frozen=True)
class WatchSpec:
    """One watcher: which replica, and its filter (at most one value of one kind)."""

    number: int
    replica: int
    kind: str
    value: str = ""

    def request(self, after: int, max_batch: int) -> port_service_pb2.WatchPortsRequest:
        """The WatchPorts request resuming after revision ``after``."""
        req = port_service_pb2.WatchPortsRequest(after_revision=after, max_batch=max_batch)
        if self.kind == "host":
            req.host_ids.append(self.value)
        elif self.kind == "network":
            req.network_ids.append(self.value)
        elif self.kind == "port":
            req.port_ids.append(self.value)
        return req

    def filter(self) -> resources.WatchFilter:
        """portapi's own filter for this watcher (to compute what it must receive)."""
        values = frozenset([self.value])
        return resources.WatchFilter(
            host_ids=values if self.kind == "host" else frozenset(),
            network_ids=values if self.kind == "network" else frozenset(),
            port_ids=values if self.kind == "port" else frozenset(),
        )


@dataclass
class Received:
    """What one watcher received: revisions in arrival order, latencies of timed events."""

    revisions: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    error: str = ""


async def _watch(
    stub: port_service_pb2_grpc.PortServiceStub,
    spec: WatchSpec,
    after: int,
    max_batch: int,
    got: Received,
    timed_after: list[int],
) -> None:
    call = stub.WatchPorts(spec.request(after, max_batch))
    try:
        async for message in call:
            kind = message.WhichOneof("kind")
            if kind == "event":
                events: Sequence[port_service_pb2.PortEvent] = [message.event]
            elif kind == "events":
                events = message.events.events
            else:
                got.error = f"unexpected {kind}"
                continue
            now = time.time()
            for event in events:
                got.revisions.append(event.revision)
                if event.revision > timed_after[0]:
                    got.latencies.append(now - event.time.ToNanoseconds() / 1e9)
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            got.error = f"{err.code().name}: {err.details()}"
    except asyncio.CancelledError:
        pass


async def _serve_watchers(
    addresses: Sequence[str],
    specs: Sequence[WatchSpec],
    after: int,
    channels_per_replica: int,
    max_batch: int,
    conn: Connection,
) -> None:
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", -1)]
    pools = [
        [
            grpc.aio.insecure_channel(a, options=[*options, ("ml2.bench.channel", i)])
            for i in range(channels_per_replica)
        ]
        for a in addresses
    ]
    timed_after = [1 << 62]
    got = {s.number: Received() for s in specs}
    tasks = []
    for n, spec in enumerate(specs):
        channel = pools[spec.replica][n % channels_per_replica]
        stub = port_service_pb2_grpc.PortServiceStub(channel)
        tasks.append(
            asyncio.create_task(_watch(stub, spec, after, max_batch, got[spec.number], timed_after))
        )
    conn.send(("started", len(tasks)))
    loop = asyncio.get_running_loop()
    while True:
        command, arg = await loop.run_in_executor(None, conn.recv)
        if command == "silent":  # how many watchers have received nothing yet
            conn.send(("silent", sum(1 for g in got.values() if not g.revisions)))
        elif command == "time_after":
            timed_after[0] = int(arg)
            conn.send(("ok", 0))
        elif command == "count":
            conn.send(("count", sum(len(g.revisions) for g in got.values())))
        elif command == "finish":
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for pool in pools:
                for channel in pool:
                    await channel.close()
            conn.send(("done", {n: asdict(g) for n, g in got.items()}))
            return


def watcher_main(
    addresses: Sequence[str],
    specs: Sequence[WatchSpec],
    after: int,
    channels_per_replica: int,
    max_batch: int,
    conn: Connection,
) -> None:
    """A watcher process: runs the streams of ``specs`` on one event loop and answers the
    parent's commands on ``conn``."""
    asyncio.run(_serve_watchers(addresses, specs, after, channels_per_replica, max_batch, conn))


class WatcherProcesses:
    """The watcher processes and their command pipes."""

    def __init__(
        self,
        addresses: Sequence[str],
        specs: Sequence[WatchSpec],
        after: int,
        processes: int,
        channels_per_replica: int,
        max_batch: int,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for i in range(processes):
            mine = [s for n, s in enumerate(specs) if n % processes == i]
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=watcher_main,
                args=(list(addresses), mine, after, channels_per_replica, max_batch, child),
                daemon=True,
            )
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            pipe.recv()

    def ask(self, command: str, arg: Any = None) -> list[Any]:
        """Sends ``command`` to every process; returns their answers."""
        for pipe in self.pipes:
            pipe.send((command, arg))
        return [pipe.recv()[1] for pipe in self.pipes]

    def pids(self) -> list[int]:
        """The processes' pids."""
        return [int(p.pid) for p in self.procs]

    def finish(self) -> dict[int, Received]:
        """Ends every stream; returns what each watcher received."""
        merged: dict[int, Received] = {}
        for answer in self.ask("finish"):
            merged.update({int(n): Received(**g) for n, g in answer.items()})
        for proc in self.procs:
            proc.join(10)
        return merged

    def kill(self) -> None:
        """Stops processes still running (after a failure)."""
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()


def make_specs(
    counts: Sequence[int], hosts: Sequence[str], networks: Sequence[str], watched: Sequence[str]
) -> list[WatchSpec]:
    """The watchers of the mix, round robin over the replicas and the values of each kind."""
    specs: list[WatchSpec] = []
    values = {"all": [""], "host": hosts, "network": networks, "port": watched}
    for kind, count in zip(KINDS, counts, strict=True):
        for i in range(count):
            pool = values[kind]
            specs.append(WatchSpec(len(specs), len(specs) % 2, kind, pool[i % len(pool)]))
    return specs


# ------------------------------------------------------------------------------- binding


def bind_all(addresses: Sequence[str], work: Sequence[tuple[str, str]], clients: int) -> float:
    """Binds each (port, host) of ``work`` with ``clients`` threads, half on each replica,
    each with its own channel; returns the wall time. Raises RuntimeError on a failure."""
    shares = split(len(work), clients)
    chunks, start = [], 0
    for share in shares:
        chunks.append(work[start : start + share])
        start += share
    stubs = []
    chans = []
    for i in range(clients):
        channel = channels.make_channel(addresses[i % 2])
        grpc.channel_ready_future(channel).result(timeout=10)
        chans.append(channel)
        stubs.append(port_service_pb2_grpc.PortServiceStub(channel))
    failures: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def body(i: int) -> None:
        barrier.wait()
        for port_id, host in chunks[i]:
            try:
                port = stubs[i].UpdatePort(cli_ports.bind_request(port_id, host), timeout=60).port
            except grpc.RpcError as err:
                failures.append(f"{port_id}: {err}")
                continue
            if port.binding.state != binding_pb2.BINDING_STATE_BOUND:
                failures.append(f"{port_id}: {port.binding.failure_message}")

    threads = [threading.Thread(target=body, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    for channel in chans:
        channel.close()
    if failures:
        raise RuntimeError(f"{len(failures)} binds failed, e.g. {failures[0]}")
    return wall


def create_ports(address: str, networks: Sequence[str], n: int, tag: str) -> list[str]:
    """Creates ``n`` ports round robin over ``networks`` with 4 threads; returns their ids."""
    ids: list[str] = [""] * n

    def body(k: int) -> None:
        channel = channels.make_channel(address)
        stub = port_service_pb2_grpc.PortServiceStub(channel)
        for i in range(k, n, 4):
            request = port_service_pb2.CreatePortRequest(
                port=port_pb2.Port(
                    network_id=networks[i % len(networks)], project_id="bench", name=f"{tag}{i}"
                )
            )
            ids[i] = stub.CreatePort(request, timeout=30).port.id
        channel.close()

    threads = [threading.Thread(target=body, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def create_networks(address: str, n: int) -> list[str]:
    """Creates ``n`` VLAN networks on physnet1."""
    channel = channels.make_channel(address)
    stub = network_service_pb2_grpc.NetworkServiceStub(channel)
    ids = []
    for i in range(n):
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name=f"w{i}", project_id="bench", admin_state_up=True),
            segments=[segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")],
        )
        ids.append(stub.CreateNetwork(request, timeout=30).network.id)
    channel.close()
    return ids


def start_agents(mechmgr: str, hosts: Sequence[str]) -> tuple[threading.Event, grpc.Channel]:
    """A simulated Open vSwitch agent per host, all in this process on one channel."""
    stop = threading.Event()
    channel = channels.make_channel(mechmgr)
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    agents = []
    for host in hosts:
        spec = simulated.AgentSpec(
            agent_type="openvswitch",
            host=host,
            bridge_mappings={"physnet1": "br-eth1"},
            integration_bridge="br-int",
            datapath_type="system",
        )
        agent = simulated.SimulatedAgent(spec, stub, stop)
        threading.Thread(target=agent.run, daemon=True).start()
        agents.append(agent)
    for agent in agents:
        if not agent.registered.wait(30):
            raise RuntimeError(f"agent of {agent.spec.host} did not register")
    return stop, channel


# --------------------------------------------------------------------------------- check


@dataclass
class Check:
    """How the deliveries compare with the event log."""

    events: int = 0
    expected: int = 0
    delivered: int = 0
    watchers_ok: int = 0
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    errors: list[str] = field(default_factory=list)


def read_events(url: str, after: int) -> list[db_events.StoredEvent]:
    """Every event after revision ``after``, from the database."""
    engine = sql.make_engine(url)
    factory = sql.session_factory(engine)
    found: list[db_events.StoredEvent] = []
    with sql.read_session(factory) as session:
        while True:
            batch = db_events.read_after(session, after, 5000)
            found += batch
            if len(batch) < 5000:
                break
            after = batch[-1].revision
    engine.dispose()
    return found


def check(
    specs: Sequence[WatchSpec], got: dict[int, Received], events: Sequence[db_events.StoredEvent]
) -> Check:
    """Compares what each watcher received with what its filter matches in ``events``."""
    result = Check(events=len(events))
    for spec in specs:
        filt = spec.filter()
        want = [
            e.revision
            for e in events
            if filt.matches(e.port_id, e.network_id, e.host_id, e.previous_host_id)
        ]
        have = got[spec.number].revisions
        result.expected += len(want)
        result.delivered += len(have)
        if got[spec.number].error:
            result.errors.append(f"watcher {spec.number}: {got[spec.number].error}")
        if have == want:
            result.watchers_ok += 1
            continue
        want_set, have_set = set(want), set(have)
        result.missing += len(want_set - have_set)
        result.unexpected += len(have_set - want_set)
        result.duplicates += len(have) - len(have_set)
        result.out_of_order += sum(1 for a, b in itertools.pairwise(have) if b <= a)
    return result


# ---------------------------------------------------------------------------------- main


@dataclass
class Figures:
    """The benchmark's results."""

    watchers: int
    mix: dict[str, int]
    watcher_processes: int
    max_batch: int
    binds: int
    clients: int
    binds_per_s_without: float
    binds_per_s_with: float
    throughput_drop: float
    delivery_p50_ms: float
    delivery_p99_ms: float
    delivery_max_ms: float
    timed_deliveries: int
    check: Check
    cpu_s: dict[str, dict[str, float]]
    throughput_met: bool
    p99_met: bool


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="python bench/watchers.py",
        description="WatchPorts watchers over two portapi replicas on one PostgreSQL while "
        "clients bind ports: delivery checks, latency, binding throughput with and without.",
    )
    parser.add_argument("--watchers", type=int, default=1000, help="default 1000")
    parser.add_argument(
        "--mix",
        default="20,480,250,250",
        help="watchers unfiltered,by host,by network,by port, scaled to --watchers "
        "(default %(default)s)",
    )
    parser.add_argument("--binds", type=int, default=1000, help="binds per phase (default 1000)")
    parser.add_argument("--clients", type=int, default=8, help="binding threads (default 8)")
    parser.add_argument("--hosts", type=int, default=40, help="hosts with agents (default 40)")
    parser.add_argument("--networks", type=int, default=25, help="networks (default 25)")
    parser.add_argument(
        "--watcher-processes", type=int, default=2, help="grpc.aio processes (default 2)"
    )
    parser.add_argument(
        "--channels", type=int, default=8, help="connections per replica and process (default 8)"
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=100,
        help="WatchPortsRequest.max_batch of every watcher: up to this many events per message "
        "(default %(default)s; 0: one event per message)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        help="how long the attached watchers are left without writes, for their idle CPU "
        "(default 10; 0 skips it)",
    )
    parser.add_argument(
        "--postgres-url",
        default="",
        help="a libpq URL of the server to create the databases on (default: the tests' "
        "server, see tests/postgres.py)",
    )
    parser.add_argument("--log-level", default="WARNING", help="the services' log level")
    parser.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    args = parser.parse_args(argv)
    try:
        weights = [int(x) for x in args.mix.split(",")]
    except ValueError:
        parser.error("--mix: four whole numbers")
    if len(weights) != 4 or min(weights) < 0 or sum(weights) == 0:
        parser.error("--mix: four whole numbers, not all 0")
    total = sum(weights)
    counts = [args.watchers * w // total for w in weights]
    counts[0] += args.watchers - sum(counts)
    args.counts = counts
    if min(args.binds, args.clients, args.hosts, args.networks, args.watcher_processes) < 1:
        parser.error("--binds, --clients, --hosts, --networks, --watcher-processes: at least 1")
    return args


def report(f: Figures) -> None:
    """Prints the figures."""
    c = f.check
    mix = ", ".join(f"{n} {k}" for k, n in f.mix.items())
    print(
        f"\n{f.watchers} WatchPorts watchers ({mix}) over 2 portapi replicas on one PostgreSQL,"
        f"\nin {f.watcher_processes} grpc.aio processes, max_batch {f.max_batch}; {f.binds} binds "
        "per phase by "
        f"{f.clients} client threads (half on each replica)\n"
    )
    print(f"binds/s without watchers   {f.binds_per_s_without:8.1f}")
    print(
        f"binds/s with watchers      {f.binds_per_s_with:8.1f}   "
        f"({f.throughput_drop * 100:+.1f} % change)"
    )
    print(
        f"delivery latency (commit to receipt), {f.timed_deliveries} deliveries: "
        f"p50 {f.delivery_p50_ms:.1f} ms, p99 {f.delivery_p99_ms:.1f} ms, "
        f"max {f.delivery_max_ms:.1f} ms"
    )
    if c.events:
        print(f"fan-out: {c.expected / c.events:.1f} deliveries per event")
    print(
        f"check: {c.events} events after R0, {c.expected} deliveries expected, {c.delivered} "
        f"received; {c.watchers_ok}/{f.watchers} watchers exact; missing {c.missing}, "
        f"duplicates {c.duplicates}, out of order {c.out_of_order}, unexpected {c.unexpected}"
        f", stream errors {len(c.errors)}"
    )
    print("\nCPU seconds per phase:")
    names = sorted({n for phase in f.cpu_s.values() for n in phase})
    print(f"{'phase':10}" + "".join(f"{n:>14}" for n in names))
    for phase, values in f.cpu_s.items():
        print(f"{phase:10}" + "".join(f"{values.get(n, 0.0):14.1f}" for n in names))
    print(
        f"\ntarget: binds/s with watchers within {TARGET_THROUGHPUT_DROP * 100:g} % of without: "
        f"{'met' if f.throughput_met else 'MISSED'}; p99 delivery < {TARGET_P99_S:g} s: "
        f"{'met' if f.p99_met else 'MISSED'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns 1 if a bind failed or a delivery check failed."""
    args = parse_args(argv)
    log = sys.stderr if args.json else sys.stdout
    from tests import postgres

    server = None
    admin = args.postgres_url
    if not admin:
        server = postgres.start_postgres()
        admin = server.admin_dsn()
    databases = PostgresDatabases(admin)
    data_dir = Path(tempfile.mkdtemp(prefix="ml2-watchbench-"))
    urls = {s: databases.create(s) for s in stack.CORE_SERVICES}
    cfg = stack.StackConfig(
        data_dir=data_dir,
        ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        metrics_ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        database_urls=urls,
        log_level=args.log_level,
    )
    running = stack.Stack(cfg)
    replica_b: launcher.ServiceProcess | None = None
    watchers: WatcherProcesses | None = None
    agents_stop: threading.Event | None = None
    ok = False
    try:
        print(f"starting the stack on PostgreSQL in {data_dir} ...", file=log, flush=True)
        running.start()
        env = stack.portapi_env(cfg, running.address("typemgr"), running.address("mechmgr"))
        replica_b = launcher.start("portapi-b", "services.portapi", env, log_dir=cfg.log_dir)
        addresses = [running.address("portapi"), replica_b.address]
        hosts = [f"bench-h{i}" for i in range(args.hosts)]
        agents_stop, agent_channel = start_agents(running.address("mechmgr"), hosts)
        networks = create_networks(addresses[0], args.networks)
        n_port_watchers = args.counts[3]
        print(f"creating {2 * args.binds + args.hosts} ports ...", file=log, flush=True)
        before = create_ports(addresses[0], networks, args.binds, "a")
        during = create_ports(addresses[1], networks, max(args.binds, n_port_watchers), "b")
        probes = create_ports(addresses[0], networks, args.hosts, "p")
        watched = during[:n_port_watchers] or [during[0]]
        pids = {
            "portapi": running.processes["portapi"].process.pid,
            "portapi-b": replica_b.process.pid,
            "mechmgr": running.processes["mechmgr"].process.pid,
        }

        def cpu() -> dict[str, float]:
            found = {name: cpu_seconds(pid) for name, pid in pids.items()}
            found["bench"] = cpu_seconds(os.getpid())
            found["postgres"] = postgres_cpu_seconds()
            if watchers is not None:
                found["watchers"] = sum(cpu_seconds(p) for p in watchers.pids())
            return found

        def delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
            return {k: round(b[k] - a.get(k, 0.0), 2) for k in b}

        print(f"phase 1: {args.binds} binds without watchers ...", file=log, flush=True)
        work = [(p, hosts[i % len(hosts)]) for i, p in enumerate(before)]
        c0 = cpu()
        wall_without = bind_all(addresses, work, args.clients)
        cpu_s = {"without": delta(c0, cpu())}

        engine_url = urls["portapi"]
        r0 = read_events(engine_url, 0)[-1].revision
        specs = make_specs(args.counts, hosts, networks, watched)
        print(
            f"phase 2: starting {len(specs)} watchers after revision {r0} ...", file=log, flush=True
        )
        watchers = WatcherProcesses(
            addresses, specs, r0, args.watcher_processes, args.channels, args.max_batch
        )
        probe_channel = channels.make_channel(addresses[0])
        stub = port_service_pb2_grpc.PortServiceStub(probe_channel)
        for port_id, host in zip(probes, hosts, strict=True):
            stub.UpdatePort(cli_ports.bind_request(port_id, host), timeout=30)
        for port_id in watched:
            stub.UpdatePort(
                port_service_pb2.UpdatePortRequest(
                    port=port_pb2.Port(id=port_id, name=f"watched-{port_id[:8]}"),
                    update_mask=field_mask_pb2.FieldMask(paths=["name"]),
                ),
                timeout=30,
            )
        probe_channel.close()
        deadline = time.monotonic() + 120
        while sum(watchers.ask("silent")) and time.monotonic() < deadline:
            time.sleep(0.2)
        silent = sum(watchers.ask("silent"))
        if silent:
            raise RuntimeError(f"{silent} watchers received nothing from the probe in 120 s")
        r1 = read_events(engine_url, r0)[-1].revision
        watchers.ask("time_after", r1)
        if args.idle_seconds > 0:
            print(f"watchers attached; {args.idle_seconds:g} s idle ...", file=log, flush=True)
            c0 = cpu()
            threading.Event().wait(args.idle_seconds)  # the scenario: watchers, no writes
            cpu_s["idle"] = delta(c0, cpu())

        print(f"phase 3: {args.binds} binds with watchers ...", file=log, flush=True)
        work = [(p, hosts[(i * 7 + 3) % len(hosts)]) for i, p in enumerate(during[: args.binds])]
        c0 = cpu()
        wall_with = bind_all(addresses, work, args.clients)
        events = read_events(engine_url, r0)
        expected = sum(
            1
            for s in specs
            for e in events
            if s.filter().matches(e.port_id, e.network_id, e.host_id, e.previous_host_id)
        )
        deadline = time.monotonic() + 60
        while sum(watchers.ask("count")) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        cpu_s["with"] = delta(c0, cpu())
        got = watchers.finish()
        result = check(specs, got, events)
        latencies = sorted(x for g in got.values() for x in g.latencies)
        without = args.binds / wall_without
        with_ = args.binds / wall_with
        drop = (with_ - without) / without
        figures = Figures(
            watchers=len(specs),
            mix=dict(zip(KINDS, args.counts, strict=True)),
            watcher_processes=args.watcher_processes,
            max_batch=args.max_batch,
            binds=args.binds,
            clients=args.clients,
            binds_per_s_without=without,
            binds_per_s_with=with_,
            throughput_drop=drop,
            delivery_p50_ms=percentile(latencies, 50) * 1000,
            delivery_p99_ms=percentile(latencies, 99) * 1000,
            delivery_max_ms=(latencies[-1] if latencies else 0.0) * 1000,
            timed_deliveries=len(latencies),
            check=result,
            cpu_s=cpu_s,
            throughput_met=drop >= -TARGET_THROUGHPUT_DROP,
            p99_met=bool(latencies) and percentile(latencies, 99) < TARGET_P99_S,
        )
        if args.json:
            print(json.dumps(asdict(figures), indent=2))
        else:
            report(figures)
            for line in result.errors[:5]:
                print(f"  {line}")
        ok = result.watchers_ok == len(specs) and not result.errors
        agent_channel.close()
    except (launcher.LaunchError, RuntimeError) as err:
        print(f"watchers: {err}", file=sys.stderr)
    finally:
        if watchers is not None:
            watchers.kill()
        if agents_stop is not None:
            agents_stop.set()
        if replica_b is not None:
            replica_b.stop()
        running.stop()
        databases.drop()
        if server is not None:
            server.stop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"watchers: logs kept in {cfg.log_dir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
