"""Agent heartbeats at scale: mechmgr's CPU per heartbeat, and bind latency under that load.

    python bench/heartbeats.py [--agents 10000] [--interval 30] [--mode held|stream|unary]
                               [--connections agent|worker] [--database sqlite|postgres]

Starts its own stack (typemgr, the openvswitch and linuxbridge driver processes, mechmgr,
portapi) on free loopback ports with fresh databases and mechmgr's default agent settings
(down time 75 s, heartbeat interval 30 s). A simulated Open vSwitch agent on ``bench-host``
serves the binds. Then:

    register   --agents agents (openvswitch, one per host), from --workers processes
    idle       mechmgr's CPU over --idle-seconds with nothing to do; --binds binds, one client
    load       every agent heartbeats once per --interval (10,000 / 30 s = 333/s), each worker
               process pacing its share over its own long-lived channel; after --warmup-seconds
               mechmgr's CPU over --measure-seconds, then --binds binds during the same load.
               --mode held (the default, what agents do): each agent opens one
               StreamHeartbeats stream asking mechmgr to hold its lease and sends nothing
               more; measured once mechmgr holds them all, as mechmgr's CPU per agent per
               --interval (no floor phase: there are no calls to compare with); each agent on
               a connection of its own (--connections agent, pinged by the keepalive both ways)
               or a worker's agents on its one connection (--connections worker).
               --mode stream: each agent keeps one
               StreamHeartbeats stream open and sends a message on it per heartbeat; --mode
               unary: a HeartbeatAgent call per heartbeat
    floor      the same workers, at the same rate, call mechmgr's grpc.health.v1.Health/Check
               instead (a call that does nothing): mechmgr's CPU over --floor-seconds, what any
               unary call costs its gRPC server at that rate; then --binds binds under that load
    after      calls stopped: --binds binds again

Binds are UpdatePort binding.host_id = bench-host, one after the other from one client with a
long-lived channel; every one must end BOUND with vif_type ovs. CPU is read from /proc (user +
system). See bench/README.md.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Event

import grpc
from bind_bench import HOST, PostgresDatabases, create_network, percentile, start_agent
from cpu_time import cpu_seconds, postgres_cpu_seconds
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    binding_pb2,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)
from ml2_contract import vocabulary
from ml2_driver_sdk.runtime import keepalive

from services import launcher
from services.agent.simulated import Backoff
from services.cli import ports as cli_ports
from services.cli import stack
from services.rpc import channels

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
FIRST_ANSWER_SECONDS = 10.0
"""A held stream whose first answer does not come within this is opened again after a backoff
(counted among the failures as REOPENED), as an agent does after its rpc timeout."""
MAX_IN_FLIGHT = 64
"""Heartbeats a worker has sent without an answer before it waits (a slow mechmgr is then seen
as a lower heartbeat rate, not as a growing queue)."""


def _agent(host: str) -> agent_pb2.Agent:
    return agent_pb2.Agent(
        agent_type="openvswitch",
        host=host,
        binary="ml2-bench",
        capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
    )


def heartbeat_worker(
    address: str,
    hosts: list[str],
    interval: float,
    offset: float,
    beat: Event,
    stop: Event,
    floor: Event,
    results: multiprocessing.Queue,  # type: ignore[type-arg]
    mode: str = "unary",
    connections: str = "agent",
) -> None:
    """One worker process: registers its agents (reporting how long that took), then, once
    ``beat`` is set, heartbeats each of them once per ``interval``, evenly spread, until
    ``stop``, calling Health/Check instead of heartbeating while ``floor`` is set; reports
    the calls answered (time, latency, whether a heartbeat) and the failures. ``mode`` stream:
    each agent has its own StreamHeartbeats stream (see ``stream_heartbeats``); held: each
    agent's stream holds its lease, no message after the first (see ``held_streams``)."""
    channel = channels.make_channel(address)
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    check = health_pb2.HealthCheckRequest()
    began = time.perf_counter()
    ids = [
        stub.RegisterAgent(
            agent_service_pb2.RegisterAgentRequest(agent=_agent(h)), timeout=60
        ).agent.id
        for h in hosts
    ]
    results.put(("registered", len(ids), time.perf_counter() - began))
    if mode == "held":
        channel.close()
        beat.wait()
        opened, failures = asyncio.run(
            held_streams(address, ids, interval, offset, stop, connections)
        )
        results.put(("beats", [], failures, opened))
        return
    if mode == "stream":
        channel.close()
        beat.wait()
        answered, failures = asyncio.run(
            stream_heartbeats(address, ids, interval, offset, stop, floor)
        )
        results.put(("beats", answered, failures))
        return
    beat.wait()
    lock = threading.Lock()
    slots = threading.Semaphore(MAX_IN_FLIGHT)
    answered: list[tuple[float, float, bool]] = []  # (answer time, latency ms, heartbeat)
    failures: list[str] = []

    def done(call: grpc.Future, sent: float, heartbeat: bool) -> None:
        now = time.perf_counter()
        slots.release()
        with lock:
            if call.exception() is None:
                answered.append((now, (now - sent) * 1000, heartbeat))
            else:
                err = call.exception()
                code = err.code().name if isinstance(err, grpc.Call) else type(err).__name__
                failures.append(code)

    period = interval / len(ids)
    start = time.perf_counter() + offset * period
    n = 0
    while not stop.is_set():
        due = start + n * period
        wait = due - time.perf_counter()
        if wait > 0 and stop.wait(wait):
            break
        slots.acquire()
        sent = time.perf_counter()
        heartbeat = not floor.is_set()
        if not heartbeat:
            future = health.Check.future(check, timeout=30)
        else:
            request = agent_service_pb2.HeartbeatAgentRequest(agent_id=ids[n % len(ids)])
            future = stub.HeartbeatAgent.future(request, timeout=30)
        future.add_done_callback(lambda f, s=sent, h=heartbeat: done(f, s, h))
        n += 1
    for _ in range(MAX_IN_FLIGHT):
        slots.acquire()
    channel.close()
    # Answer times relative to the shared clock (perf_counter is system-wide on Linux).
    results.put(("beats", answered, failures, 0))


async def held_streams(
    address: str, ids: list[str], interval: float, offset: float, stop: Event, connections: str
) -> tuple[int, list[str]]:
    """Opens a StreamHeartbeats stream per agent of ``ids`` asking mechmgr to hold its lease
    (one coroutine each), opened evenly over one ``interval``, reads the first answer, which
    must say ``held``, and keeps the streams open until ``stop``. ``connections`` agent: each
    agent on a channel (an HTTP/2 connection, pinged by the keepalive both ways) of its own,
    as agents on their own hosts are; worker: all on the worker's one channel. Returns the
    streams held and the failures."""
    options = keepalive.current().client_options()
    if connections == "agent":
        options = [*options, ("grpc.use_local_subchannel_pool", 1)]
    shared = grpc.aio.insecure_channel(address, options=options)
    opened: list[grpc.aio.Channel] = []
    held = 0
    failures: list[str] = []
    reopened: list[str] = []
    ended = asyncio.Event()

    async def agent(agent_id: str) -> None:
        nonlocal held
        channel = shared
        if connections == "agent":
            channel = grpc.aio.insecure_channel(address, options=options)
            opened.append(channel)
        stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        request = agent_service_pb2.StreamHeartbeatsRequest(agent_id=agent_id, hold=True)
        call = stub.StreamHeartbeats()
        backoff = Backoff()
        try:
            while True:
                # As an agent does: a first answer that does not come in time, another stream
                # after the agent's backoff (jittered, doubling from 0.5 s up to 10 s).
                try:
                    await call.write(request)
                    reply = await asyncio.wait_for(call.read(), FIRST_ANSWER_SECONDS)
                    break
                except TimeoutError:
                    reopened.append(agent_id)
                    call.cancel()
                    await asyncio.sleep(backoff.next())
                    call = stub.StreamHeartbeats()
            if reply is grpc.aio.EOF or not reply.held:
                failures.append("NOT_HELD")
                return
            held += 1
            await ended.wait()
        except grpc.RpcError as err:
            failures.append((await call.code()).name if call.done() else type(err).__name__)
        finally:
            call.cancel()

    async def watch_stop() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.2)
        ended.set()

    watcher = asyncio.ensure_future(watch_stop())
    period = interval / len(ids)
    start = time.perf_counter() + offset * period

    async def paced(k: int, agent_id: str) -> None:
        # Opened over one interval, as the stream mode opens its streams (and as agents start).
        await asyncio.sleep(max(0.0, start + k * period - time.perf_counter()))
        await agent(agent_id)

    await asyncio.gather(*(paced(k, agent_id) for k, agent_id in enumerate(ids)))
    await watcher
    for channel in opened:
        await channel.close()
    await shared.close()
    return held, failures + ["REOPENED"] * len(reopened)


async def stream_heartbeats(
    address: str, ids: list[str], interval: float, offset: float, stop: Event, floor: Event
) -> tuple[list[tuple[float, float, bool]], list[str]]:
    """Heartbeats every agent of ``ids`` over a StreamHeartbeats stream of its own (one
    coroutine each, on one asyncio channel), at the pace of the unary mode; while ``floor`` is
    set the agents call Health/Check instead, their streams left open. Returns the calls
    answered and the failures, as the unary mode does."""
    channel = grpc.aio.insecure_channel(address, options=keepalive.current().client_options())
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    check = health_pb2.HealthCheckRequest()
    answered: list[tuple[float, float, bool]] = []
    failures: list[str] = []
    period = interval / len(ids)
    start = time.perf_counter() + offset * period

    async def agent(k: int, agent_id: str) -> None:
        request = agent_service_pb2.StreamHeartbeatsRequest(agent_id=agent_id)
        due = start + k * period
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        # Opened when the agent's first heartbeat is due, as an agent opens it when it starts.
        call = stub.StreamHeartbeats()
        try:
            while not stop.is_set():
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                if stop.is_set():
                    break
                due += interval
                sent = time.perf_counter()
                heartbeat = not floor.is_set()
                if heartbeat:
                    await call.write(request)
                    reply = await call.read()
                    if reply is grpc.aio.EOF:
                        failures.append("EOF")
                        return
                else:
                    await health.Check(check, timeout=30)
                now = time.perf_counter()
                answered.append((now, (now - sent) * 1000, heartbeat))
        except (grpc.RpcError, asyncio.InvalidStateError) as err:
            failures.append((await call.code()).name if call.done() else type(err).__name__)
        finally:
            call.cancel()

    await asyncio.gather(*(agent(k, agent_id) for k, agent_id in enumerate(ids)))
    await channel.close()
    return answered, failures


@dataclass(frozen=True)
class BindFigures:
    """The binds of one phase, one client, latencies in ms."""

    binds: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    failures: int


@dataclass(frozen=True)
class Result:
    """One run."""

    database: str
    mode: str
    """How the agents heartbeat: stream (StreamHeartbeats) or unary (HeartbeatAgent)."""
    agents: int
    register_seconds: float
    idle_mechmgr_cpu_per_s: float
    """mechmgr's CPU seconds per second with nothing to do (the background)."""
    heartbeats_per_s: float
    heartbeat_p50_ms: float
    heartbeat_p99_ms: float
    heartbeat_failures: int
    failure_codes: str
    """The status codes of the failures, with their counts."""
    mechmgr_cpu_ms_per_heartbeat: float
    """mechmgr's CPU during the measured window divided by the heartbeats answered in it."""
    postgres_cpu_ms_per_heartbeat: float
    worker_cpu_ms_per_heartbeat: float
    """The benchmark's own heartbeating processes, which share the machine's CPUs."""
    immediate_heartbeats: int
    """Heartbeats of the measured window mechmgr wrote before answering (its metric)."""
    open_streams: int
    """Heartbeat streams open in mechmgr at the end of the measured window (its metric)."""
    floor_calls_per_s: float
    mechmgr_cpu_ms_per_health_check: float
    """The same over the floor window: what a call that does nothing costs at that rate."""
    held_streams: int
    """Streams whose lease mechmgr held (mode held; the benchmark host's agent's not counted)."""
    mechmgr_cpu_ms_per_agent_interval: float
    """mechmgr's CPU during the measured window per agent per heartbeat interval: what keeping
    one agent alive for one interval costs (in the per-message modes, about the CPU per
    heartbeat)."""
    mechmgr_cpu_ms_per_agent_interval_above_idle: float
    """The same less mechmgr's idle CPU (measured before the load): what the agents add."""
    idle: BindFigures
    loaded: BindFigures
    floor_loaded: BindFigures
    """Binds while the workers call Health/Check at the heartbeat rate."""
    after: BindFigures

    @property
    def p50_ratio(self) -> float:
        """Bind p50 under heartbeat load over the idle p50."""
        return self.loaded.p50_ms / self.idle.p50_ms if self.idle.p50_ms else 0.0


class Binder:
    """One client binding ports on the benchmark host, one after the other."""

    def __init__(self, address: str, network_id: str) -> None:
        self.channel = channels.make_channel(address)
        self.ports = port_service_pb2_grpc.PortServiceStub(self.channel)
        self.network_id = network_id

    def create(self, n: int) -> list[str]:
        """Creates ``n`` ports without a host (untimed)."""
        ids = []
        for _ in range(n):
            request = port_service_pb2.CreatePortRequest(
                port=port_pb2.Port(network_id=self.network_id, project_id="bench")
            )
            ids.append(self.ports.CreatePort(request, timeout=30).port.id)
        return ids

    def bind(self, port_ids: list[str]) -> BindFigures:
        """Binds every port; anything but BOUND/ovs counts as a failure."""
        latencies, failures = [], 0
        for port_id in port_ids:
            start = time.perf_counter()
            try:
                port = self.ports.UpdatePort(cli_ports.bind_request(port_id, HOST), timeout=30)
            except grpc.RpcError:
                failures += 1
                continue
            latencies.append((time.perf_counter() - start) * 1000)
            binding = port.port.binding
            if not (
                binding.state == binding_pb2.BINDING_STATE_BOUND
                and binding.vif_type == vocabulary.VIF_TYPE_OVS
            ):
                failures += 1
        ordered = sorted(latencies)
        return BindFigures(
            len(port_ids),
            percentile(ordered, 50),
            percentile(ordered, 90),
            percentile(ordered, 99),
            failures,
        )


def run(running: stack.Stack, args: argparse.Namespace, log: object) -> Result:
    """Runs the phases on a started stack."""

    def say(text: str) -> None:
        print(text, file=log, flush=True)  # type: ignore[call-overload]

    mechmgr = running.address("mechmgr")
    mechmgr_pid = running.processes["mechmgr"].process.pid
    agent, agent_thread, agent_channel = start_agent(mechmgr)
    binder = Binder(running.address("portapi"), create_network(running.address("portapi")))
    port_ids = binder.create(args.warmup + 4 * args.binds)
    binder.bind(port_ids[: args.warmup])
    batches = [
        port_ids[args.warmup + i * args.binds : args.warmup + (i + 1) * args.binds]
        for i in range(4)
    ]

    ctx = multiprocessing.get_context("spawn")
    beat, stop, floor = ctx.Event(), ctx.Event(), ctx.Event()
    results: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    hosts = [f"hb-{i:05d}" for i in range(args.agents)]
    workers = [
        ctx.Process(
            target=heartbeat_worker,
            args=(
                mechmgr,
                hosts[w :: args.workers],
                args.interval,
                w / args.workers,
                beat,
                stop,
                floor,
            ),
            kwargs={"results": results, "mode": args.mode, "connections": args.connections},
            daemon=True,
        )
        for w in range(args.workers)
    ]
    say(f"registering {args.agents} agents from {args.workers} processes ...")
    began = time.perf_counter()
    for w in workers:
        w.start()
    for _ in workers:
        kind, *_rest = results.get(timeout=600)
        assert kind == "registered"
    register_seconds = time.perf_counter() - began
    try:
        say("idle ...")
        cpu0, t0 = cpu_seconds(mechmgr_pid), time.perf_counter()
        time.sleep(args.idle_seconds)
        idle_cpu = (cpu_seconds(mechmgr_pid) - cpu0) / (time.perf_counter() - t0)
        idle = binder.bind(batches[0])
        say(f"heartbeats ({args.mode}): {args.agents} agents every {args.interval:g} s ...")
        beat.set()
        if args.mode == "held":
            # Measure once mechmgr holds every agent (and the benchmark host's).
            opened = time.monotonic()
            while (held_now := mechmgr_sample(running, "ml2_mechmgr_held_agents")) < args.agents:
                waited = time.monotonic() - opened
                failed = not results.empty()
                assert waited < args.interval + 270 and not failed, (
                    f"streams not held: {int(held_now)} of {args.agents} after {waited:.0f} s"
                )
                time.sleep(0.5)
            say(f"{int(held_now)} leases held")
        if args.mode == "stream":
            # Each agent opens its stream at its first heartbeat: measure once all are open.
            opened = time.monotonic()
            while (
                open_now := mechmgr_sample(running, "ml2_mechmgr_heartbeat_streams")
            ) < args.agents:
                waited = time.monotonic() - opened
                assert waited < args.interval + 120, (
                    f"streams did not open: {int(open_now)} of {args.agents} after {waited:.0f} s"
                )
                time.sleep(0.5)
        time.sleep(args.warmup_seconds)
        cpu0, pg0, t0 = cpu_seconds(mechmgr_pid), postgres_cpu_seconds(), time.perf_counter()
        w0, im0 = sum(cpu_seconds(int(w.pid or 0)) for w in workers), immediate(running)
        time.sleep(args.measure_seconds)
        cpu1, pg1, t1 = cpu_seconds(mechmgr_pid), postgres_cpu_seconds(), time.perf_counter()
        w1, im1 = sum(cpu_seconds(int(w.pid or 0)) for w in workers), immediate(running)
        streams = int(mechmgr_sample(running, "ml2_mechmgr_heartbeat_streams"))
        say("binds under heartbeat load ...")
        loaded = binder.bind(batches[1])
        if args.mode == "held":
            cpu2 = cpu3 = t2 = 0.0
            t3 = 1.0
            floor_loaded = BindFigures(0, 0.0, 0.0, 0.0, 0)  # no calls to compare with
        else:
            say("the same rate of Health/Check calls ...")
            floor.set()
            time.sleep(2)
            cpu2, t2 = cpu_seconds(mechmgr_pid), time.perf_counter()
            time.sleep(args.floor_seconds)
            cpu3, t3 = cpu_seconds(mechmgr_pid), time.perf_counter()
            say("binds under Health/Check load ...")
            floor_loaded = binder.bind(batches[2])
    finally:
        stop.set()
        beat.set()
    answered: list[tuple[float, float, bool]] = []
    failures: list[str] = []
    held = 0
    for _ in workers:
        kind, got, failed, opened_here = results.get(timeout=300)
        assert kind == "beats"
        answered += got
        failures += failed
        held += opened_here
    for w in workers:
        w.join(30)
    say("binds after the heartbeats stopped ...")
    after = binder.bind(batches[3])
    agent.stop.set()
    agent_thread.join(5)
    agent_channel.close()
    binder.channel.close()
    in_window = [ms for at, ms, hb in answered if hb and t0 <= at < t1]
    checks = len([1 for at, _, hb in answered if not hb and t2 <= at < t3])
    ordered = sorted(ms for _, ms, hb in answered if hb)
    beats = max(1, len(in_window))
    return Result(
        database=args.database,
        mode=args.mode,
        agents=args.agents,
        register_seconds=register_seconds,
        idle_mechmgr_cpu_per_s=idle_cpu,
        heartbeats_per_s=len(in_window) / (t1 - t0),
        heartbeat_p50_ms=percentile(ordered, 50),
        heartbeat_p99_ms=percentile(ordered, 99),
        heartbeat_failures=len(failures),
        failure_codes=", ".join(f"{c} {n}" for c, n in sorted(Counter(failures).items())),
        mechmgr_cpu_ms_per_heartbeat=(cpu1 - cpu0) * 1000 / beats,
        postgres_cpu_ms_per_heartbeat=(pg1 - pg0) * 1000 / beats
        if args.database == "postgres"
        else 0.0,
        worker_cpu_ms_per_heartbeat=(w1 - w0) * 1000 / beats,
        immediate_heartbeats=int(im1 - im0),
        open_streams=streams,
        floor_calls_per_s=checks / (t3 - t2),
        mechmgr_cpu_ms_per_health_check=(cpu3 - cpu2) * 1000 / max(1, checks),
        held_streams=held,
        mechmgr_cpu_ms_per_agent_interval=(cpu1 - cpu0)
        * 1000
        / (t1 - t0)
        * args.interval
        / args.agents,
        mechmgr_cpu_ms_per_agent_interval_above_idle=((cpu1 - cpu0) / (t1 - t0) - idle_cpu)
        * 1000
        * args.interval
        / args.agents,
        idle=idle,
        loaded=loaded,
        floor_loaded=floor_loaded,
        after=after,
    )


def immediate(running: stack.Stack) -> float:
    """Heartbeats mechmgr has written before answering so far (0 without the metric)."""
    return mechmgr_sample(running, 'ml2_mechmgr_heartbeats_total{write="immediate"}')


def mechmgr_sample(running: stack.Stack, name: str) -> float:
    """The value of one sample of mechmgr's metrics (0 without it)."""
    url = f"http://127.0.0.1:{running.processes['mechmgr'].metrics_port}/metrics"
    sample = f"{name} "
    with urllib.request.urlopen(url, timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(sample):
                return float(line.split()[-1])
    return 0.0


def report(r: Result) -> None:
    """Prints one run's figures."""
    if r.mode == "held":
        report_held(r)
        return
    print(
        f"\n{r.agents} agents heartbeating by {r.mode}, database {r.database}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; registered in "
        f"{r.register_seconds:.1f} s; mechmgr idle {r.idle_mechmgr_cpu_per_s * 1000:.1f} ms "
        "CPU per second"
    )
    print(
        f"heartbeats/s {r.heartbeats_per_s:.0f}  latency p50 {r.heartbeat_p50_ms:.2f} ms  "
        f"p99 {r.heartbeat_p99_ms:.2f} ms  failures {r.heartbeat_failures}"
        + (f" ({r.failure_codes})" if r.failure_codes else "")
    )
    print(
        f"CPU per heartbeat: mechmgr {r.mechmgr_cpu_ms_per_heartbeat:.3f} ms  "
        f"postgres {r.postgres_cpu_ms_per_heartbeat:.3f} ms; the same rate "
        f"({r.floor_calls_per_s:.0f}/s) of Health/Check: mechmgr "
        f"{r.mechmgr_cpu_ms_per_health_check:.3f} ms per call"
    )
    print(
        f"the heartbeating processes (the benchmark's): {r.worker_cpu_ms_per_heartbeat:.3f} ms "
        f"CPU per heartbeat; heartbeats written at once: {r.immediate_heartbeats}; "
        f"heartbeat streams open: {r.open_streams}"
    )
    print(f"\n{'binds':<22}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'failures':>10}")
    phases = (
        ("idle", r.idle),
        ("heartbeat load", r.loaded),
        ("Health/Check load", r.floor_loaded),
        ("after", r.after),
    )
    for name, b in phases:
        print(f"{name:<22}{b.p50_ms:>8.2f}{b.p90_ms:>8.2f}{b.p99_ms:>8.2f}{b.failures:>10}")
    print(f"bind p50 under load / idle: {r.p50_ratio:.2f}")


def report_held(r: Result) -> None:
    """Prints the figures of a run of held leases."""
    print(
        f"\n{r.agents} agents held alive by their streams ({r.held_streams} held), database "
        f"{r.database}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"registered in {r.register_seconds:.1f} s; mechmgr idle "
        f"{r.idle_mechmgr_cpu_per_s * 1000:.1f} ms CPU per second"
    )
    print(
        "mechmgr CPU per agent per heartbeat interval: "
        f"{r.mechmgr_cpu_ms_per_agent_interval:.4f} ms (what a heartbeat costs now), "
        f"{r.mechmgr_cpu_ms_per_agent_interval_above_idle:.4f} ms above idle; "
        f"failures {r.heartbeat_failures}"
        + (f" ({r.failure_codes})" if r.failure_codes else "")
        + f"; heartbeat streams open: {r.open_streams}; heartbeats written at once: "
        f"{r.immediate_heartbeats}"
    )
    print(f"\n{'binds':<22}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'failures':>10}")
    for name, b in (("idle", r.idle), ("leases held", r.loaded), ("after", r.after)):
        print(f"{name:<22}{b.p50_ms:>8.2f}{b.p90_ms:>8.2f}{b.p99_ms:>8.2f}{b.failures:>10}")
    print(f"bind p50 with the leases held / idle: {r.p50_ratio:.2f}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="python bench/heartbeats.py",
        description="Registers many agents, has them heartbeat at mechmgr's interval and "
        "measures mechmgr's CPU per heartbeat and bind latency idle and under that load.",
    )
    parser.add_argument("--agents", type=int, default=10000, help="agents (default 10000)")
    parser.add_argument(
        "--interval", type=float, default=30.0, help="seconds between two heartbeats of an agent"
    )
    parser.add_argument(
        "--mode",
        choices=("held", "stream", "unary"),
        default="held",
        help="held: each agent's StreamHeartbeats stream holds its lease, no message per "
        "heartbeat (default, what agents do); stream: a StreamHeartbeats message per heartbeat; "
        "unary: a HeartbeatAgent call per heartbeat",
    )
    parser.add_argument(
        "--connections",
        choices=("agent", "worker"),
        default="agent",
        help="held: each agent on a connection of its own (default, as agents on their own "
        "hosts) or all of a worker's on its one connection",
    )
    parser.add_argument("--workers", type=int, default=4, help="heartbeating processes (4)")
    parser.add_argument("--binds", type=int, default=1000, help="binds per phase (1000)")
    parser.add_argument("--warmup", type=int, default=50, help="binds before measuring (50)")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--warmup-seconds", type=float, default=10.0)
    parser.add_argument("--measure-seconds", type=float, default=30.0)
    parser.add_argument("--floor-seconds", type=float, default=15.0)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra environment variable of every process (repeatable)",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs, each on a fresh stack")
    parser.add_argument("--log-level", default="WARNING", help="services' log level")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.agents < args.workers or args.workers < 1 or args.binds < 1 or args.runs < 1:
        parser.error("--agents must be at least --workers, which, --binds and --runs at least 1")
    if any("=" not in e for e in args.env):
        parser.error("--env takes NAME=VALUE")
    return args


def one_run(args: argparse.Namespace) -> Result | None:
    """Runs the benchmark once on a fresh stack; None when the stack did not start."""
    data_dir = Path(tempfile.mkdtemp(prefix="ml2-hb-bench-"))
    databases = PostgresDatabases(args.postgres_url) if args.database == "postgres" else None
    urls = {s: databases.create(s) for s in stack.CORE_SERVICES} if databases else {}
    cfg = stack.StackConfig(
        data_dir=data_dir,
        ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        metrics_ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        database_urls=urls,
        log_level=args.log_level,
        extra_env=dict(e.split("=", 1) for e in args.env),
    )
    running = stack.Stack(cfg)
    log = sys.stderr if args.json else sys.stdout
    ok = False
    try:
        print(f"starting the stack ({args.database}) in {data_dir} ...", file=log, flush=True)
        running.start()
        result = run(running, args, log)
        ok = True
        return result
    except launcher.LaunchError as err:
        print(f"heartbeats: the stack did not start: {err}", file=sys.stderr)
        return None
    finally:
        running.stop()
        if databases:
            databases.drop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"heartbeats: logs kept in {data_dir / 'logs'}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns 1 if a run failed, a bind failed or a heartbeat failed."""
    args = parse_args(argv)
    results = []
    for _ in range(args.runs):
        result = one_run(args)
        if result is None:
            return 1
        results.append(result)
        if not args.json:
            report(result)
    if args.json:
        print(json.dumps([asdict(r) | {"p50_ratio": r.p50_ratio} for r in results], indent=2))
    elif len(results) > 1:
        cpu = statistics.median(r.mechmgr_cpu_ms_per_heartbeat for r in results)
        check = statistics.median(r.mechmgr_cpu_ms_per_health_check for r in results)
        ratio = statistics.median(r.p50_ratio for r in results)
        control = statistics.median(
            r.floor_loaded.p50_ms / r.idle.p50_ms if r.idle.p50_ms else 0.0 for r in results
        )
        print(
            f"\nmedian of {len(results)} runs: mechmgr {cpu:.3f} ms CPU per heartbeat "
            f"({check:.3f} per Health/Check), bind p50 under heartbeat load / idle {ratio:.2f} "
            f"(under Health/Check load / idle {control:.2f})"
        )
    bad = [
        r
        for r in results
        if r.heartbeat_failures
        or any(b.failures for b in (r.idle, r.loaded, r.floor_loaded, r.after))
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
