"""Port binding benchmark: the whole stack driven by concurrent clients, timed by the clients.

    python bench/bind_bench.py [--clients 1,4,16] [--ports N] [--database sqlite|postgres]

Starts its own stack (typemgr, the openvswitch and linuxbridge driver processes, mechmgr,
portapi) on free loopback ports with fresh databases, registers a simulated Open vSwitch agent
on host ``bench-host`` mapping physnet1, and creates one VLAN network. Then, for each
concurrency level, that many client threads, each with its own long-lived channel, run three
phases one after the other, all threads starting each phase together:

    create   CreatePort (no host)                       → creates/s, latency
    bind     UpdatePort binding.host_id = bench-host    → binds/s, latency; each must be BOUND/ovs
    read     GetPort                                    → reads/s, latency

Throughput is the number of calls of a phase divided by the phase's wall time; latencies are
per call, from just before the call to just after its response. See bench/README.md.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import json
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import grpc
from cpu_time import cpu_snapshot
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
from ml2_contract import vocabulary
from ml2_driver_sdk.runtime import auth

from services import launcher
from services.agent import simulated
from services.cli import ports as cli_ports
from services.cli import stack
from services.rpc import channels
from services.security import local as local_auth
from services.security import local_tls

HOST = "bench-host"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class PhaseResult:
    """One phase of one concurrency level."""

    calls: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Calls per second of wall time."""
        return self.calls / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class LevelResult:
    """The three phases at one number of concurrent clients."""

    clients: int
    create: PhaseResult
    bind: PhaseResult
    read: PhaseResult
    failures: int
    bind_cpu_ms: dict[str, float]
    """CPU time (user + system) each process spent per bind during the bind phase."""


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0-100) of an ascending list; 0 when empty."""
    if not sorted_ms:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_ms)))
    return sorted_ms[rank - 1]


def summarize(latencies_ms: list[float], seconds: float) -> PhaseResult:
    """Turns the per-call latencies and the wall time of a phase into its figures."""
    ordered = sorted(latencies_ms)
    return PhaseResult(
        calls=len(ordered),
        seconds=seconds,
        p50_ms=percentile(ordered, 50),
        p90_ms=percentile(ordered, 90),
        p99_ms=percentile(ordered, 99),
    )


def split(total: int, parts: int) -> list[int]:
    """Splits ``total`` ports among ``parts`` clients as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class BenchClient:
    """One client thread's long-lived channel and the ports it works on."""

    def __init__(self, address: str, network_id: str, count: int) -> None:
        self.channel = channels.make_channel(address)
        self.ports = port_service_pb2_grpc.PortServiceStub(self.channel)
        self.network_id = network_id
        self.count = count
        self.port_ids: list[str] = []
        self.latencies: dict[str, list[float]] = {"create": [], "bind": [], "read": []}
        self.failures: list[str] = []
        # Connect before the clock starts: the benchmark measures calls, not channel set-up.
        network_service_pb2_grpc.NetworkServiceStub(self.channel).GetNetwork(
            network_service_pb2.GetNetworkRequest(network_id=network_id), timeout=10
        )

    def _timed(self, phase: str, call: Callable[[], port_pb2.Port]) -> port_pb2.Port | None:
        start = time.perf_counter()
        try:
            port = call()
        except grpc.RpcError as err:
            self.failures.append(f"{phase}: {err.code().name}: {err.details()}")
            return None
        self.latencies[phase].append((time.perf_counter() - start) * 1000)
        return port

    def create(self) -> None:
        """Creates ``count`` ports without a host."""
        for _ in range(self.count):
            request = port_service_pb2.CreatePortRequest(
                port=port_pb2.Port(network_id=self.network_id, project_id="bench")
            )
            port = self._timed(
                "create", lambda r=request: self.ports.CreatePort(r, timeout=30).port
            )
            if port is not None:
                self.port_ids.append(port.id)

    def bind(self) -> None:
        """Binds every created port on the benchmark host; anything but BOUND/ovs is a failure."""
        for port_id in self.port_ids:
            request = cli_ports.bind_request(port_id, HOST)
            port = self._timed("bind", lambda r=request: self.ports.UpdatePort(r, timeout=30).port)
            if port is not None and not (
                port.binding.state == binding_pb2.BINDING_STATE_BOUND
                and port.binding.vif_type == vocabulary.VIF_TYPE_OVS
            ):
                self.failures.append(f"bind: port {port_id} ended {port.binding.vif_type}")

    def read(self) -> None:
        """Reads every port back."""
        for port_id in self.port_ids:
            request = port_service_pb2.GetPortRequest(port_id=port_id)
            self._timed("read", lambda r=request: self.ports.GetPort(r, timeout=30).port)


def run_phase(clients: list[BenchClient], work: Callable[[BenchClient], None]) -> float:
    """Runs ``work`` on every client in its own thread, all starting together; returns the
    wall time from the common start to the last thread's end."""
    start_line = threading.Barrier(len(clients) + 1)

    def body(client: BenchClient) -> None:
        start_line.wait()
        work(client)

    threads = [threading.Thread(target=body, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    start_line.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def run_level(
    address: str, network_id: str, n_clients: int, n_ports: int, pids: dict[str, int]
) -> LevelResult:
    """Runs the create, bind and read phases with ``n_clients`` concurrent clients."""
    clients = [BenchClient(address, network_id, n) for n in split(n_ports, n_clients)]
    try:
        seconds = {"create": run_phase(clients, BenchClient.create)}
        before = cpu_snapshot(pids)
        seconds["bind"] = run_phase(clients, BenchClient.bind)
        after = cpu_snapshot(pids)
        seconds["read"] = run_phase(clients, BenchClient.read)
    finally:
        for c in clients:
            c.channel.close()
    phases = {
        phase: summarize([ms for c in clients for ms in c.latencies[phase]], seconds[phase])
        for phase in seconds
    }
    binds = max(1, phases["bind"].calls)
    cpu = {name: (after[name] - before[name]) * 1000 / binds for name in pids}
    failures = [f for c in clients for f in c.failures]
    for failure in failures[:5]:
        print(f"  failure: {failure}", file=sys.stderr)
    return LevelResult(
        n_clients, phases["create"], phases["bind"], phases["read"], len(failures), cpu
    )


def create_network(address: str, token: auth.TokenSource | None = None) -> str:
    """Creates the VLAN network on physnet1 every port goes on (as ``token``'s caller, an
    administrator when the stack authenticates); returns its id."""
    channel = channels.make_channel(address, token=token)
    try:
        stub = network_service_pb2_grpc.NetworkServiceStub(channel)
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="bench", project_id="bench", admin_state_up=True),
            segments=[segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")],
        )
        return str(stub.CreateNetwork(request, timeout=30).network.id)
    finally:
        channel.close()


def start_agent(
    mechmgr: str, token: auth.TokenSource | None = None
) -> tuple[simulated.SimulatedAgent, threading.Thread, grpc.Channel]:
    """Registers a simulated Open vSwitch agent on the benchmark host and keeps it alive
    (calling with ``token``, the agent's own, when the stack authenticates)."""
    spec = simulated.AgentSpec(
        agent_type="openvswitch",
        host=HOST,
        bridge_mappings={"physnet1": "br-eth1"},
        integration_bridge="br-int",
        datapath_type="system",
    )
    channel = channels.make_channel(mechmgr, token=token)
    agent = simulated.SimulatedAgent(spec, agent_service_pb2_grpc.AgentServiceStub(channel))
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    if not agent.registered.wait(15):
        raise RuntimeError(f"the simulated agent did not register with mechmgr at {mechmgr}")
    return agent, thread, channel


class PostgresDatabases:
    """One fresh PostgreSQL database per service, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self.psycopg = psycopg
        self.admin_url = admin_url.replace("postgresql+psycopg://", "postgresql://")
        self.names: list[str] = []

    def create(self, service: str) -> str:
        """Creates a database for ``service``; returns its SQLAlchemy URL."""
        name = f"ml2_bench_{service}_{uuid.uuid4().hex[:8]}"
        with self.psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        base = self.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        return f"{base}/{name}"

    def drop(self) -> None:
        """Drops every database created."""
        with self.psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stack_config(
    data_dir: Path, urls: dict[str, str], log_level: str, *, auth: bool, tls: bool = False
) -> stack.StackConfig:
    """The benchmark's stack: every process on a free port, the databases of ``urls`` (SQLite
    files in ``data_dir`` for the others)."""
    return stack.StackConfig(
        data_dir=data_dir,
        ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        metrics_ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        database_urls=urls,
        log_level=log_level,
        auth=auth,
        tls=tls,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="python bench/bind_bench.py",
        description="Drives the whole stack with concurrent clients creating, binding and "
        "reading ports; prints binds per second and latency percentiles.",
    )
    parser.add_argument(
        "--clients", default="1,4,16", help="concurrency levels, comma-separated (default 1,4,16)"
    )
    parser.add_argument(
        "--ports", type=int, default=400, help="ports created, bound and read per level (400)"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="ports bound before measuring (default 20)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES,
        help="server to create the benchmark's databases on (default %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="log level of the services (default INFO)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--auth",
        action="store_true",
        help="run the stack with authentication and policy, as ml2 up does; the clients bind "
        "with the compute service's token",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="run the stack with mutual TLS, as ml2 up --tls does; the clients present the "
        "compute service's certificate",
    )
    args = parser.parse_args(argv)
    try:
        args.levels = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--clients: {args.clients!r} must be comma-separated integers")
    if not args.levels or min(args.levels) < 1 or args.ports < 1 or args.warmup < 0:
        parser.error("--clients levels and --ports must be at least 1, --warmup at least 0")
    return args


def report(args: argparse.Namespace, results: list[LevelResult]) -> None:
    """Prints the results table (or JSON)."""
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return
    print(
        f"\n{args.ports} ports per level, database {args.database}, "
        "latencies in ms measured by the clients\n"
    )
    header = (
        f"{'clients':>7}  {'binds/s':>8}  {'bind p50':>8}  {'p90':>6}  {'p99':>6}  "
        f"{'creates/s':>9}  {'create p50':>10}  {'p99':>6}  {'reads/s':>8}  {'read p50':>8}  "
        f"{'p99':>6}  {'failures':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r.clients:>7}  {r.bind.per_second:>8.0f}  {r.bind.p50_ms:>8.2f}  "
            f"{r.bind.p90_ms:>6.2f}  {r.bind.p99_ms:>6.2f}  {r.create.per_second:>9.0f}  "
            f"{r.create.p50_ms:>10.2f}  {r.create.p99_ms:>6.2f}  {r.read.per_second:>8.0f}  "
            f"{r.read.p50_ms:>8.2f}  {r.read.p99_ms:>6.2f}  {r.failures:>8}"
        )
    print(f"\nCPU time per bind in the bind phase, ms ({os.cpu_count()} CPUs on this machine)\n")
    names = list(results[0].bind_cpu_ms) if results else []
    print(f"{'clients':>7}  " + "  ".join(f"{n:>11}" for n in names))
    for r in results:
        print(f"{r.clients:>7}  " + "  ".join(f"{r.bind_cpu_ms[n]:>11.2f}" for n in names))


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns 1 if any call failed or any port did not bind."""
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="ml2-bench-"))
    databases = PostgresDatabases(args.postgres_url) if args.database == "postgres" else None
    urls = {s: databases.create(s) for s in stack.CORE_SERVICES} if databases else {}
    cfg = stack_config(data_dir, urls, args.log_level, auth=args.auth, tls=args.tls)
    running = stack.Stack(cfg)
    if args.tls:
        # Every client channel of this process presents the compute service's certificate,
        # which the stack issues when it starts.
        os.environ.update(local_tls.client_env(data_dir, local_auth.COMPUTE))
    if args.auth:
        # Every client channel of this process sends the compute service's token, the file
        # the stack writes when it starts.
        os.environ["ML2_TOKEN_FILE"] = str(running.token_path(local_auth.COMPUTE))
    ok = False
    try:
        log = sys.stderr if args.json else sys.stdout
        print(f"starting the stack ({args.database}) in {data_dir} ...", file=log, flush=True)
        running.start()
        agent_token = admin_token = None
        if args.auth:
            agent_token = auth.TokenSource(token=local_auth.agent_token(data_dir, HOST))
            admin_token = auth.TokenSource(path=str(running.admin_token_path()))
        agent, thread, agent_channel = start_agent(running.address("mechmgr"), agent_token)
        network_id = create_network(running.address("portapi"), admin_token)
        pids = {"bench client": os.getpid()}
        pids.update({name: running.processes[name].process.pid for name in cfg.process_names()})
        if args.warmup:
            run_level(running.address("portapi"), network_id, 1, args.warmup, pids)
        results = []
        for n in args.levels:
            print(f"measuring {n} concurrent client(s) ...", file=log, flush=True)
            results.append(run_level(running.address("portapi"), network_id, n, args.ports, pids))
        report(args, results)
        agent.stop.set()
        thread.join(5)
        agent_channel.close()
        ok = all(r.failures == 0 for r in results)
    except launcher.LaunchError as err:
        print(f"bind_bench: the stack did not start: {err}", file=sys.stderr)
    finally:
        running.stop()
        if databases:
            databases.drop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"bind_bench: logs kept in {data_dir / 'logs'}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
