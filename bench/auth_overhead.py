"""What authentication and policy add to a bind: two stacks side by side, binds alternating.

    python bench/auth_overhead.py [--rounds 5] [--binds 300] [--database sqlite|postgres]

Starts two stacks at once, each as ``bench/bind_bench.py`` starts its one (fresh databases, a
simulated Open vSwitch agent on ``bench-host``, a VLAN network): one without authentication,
one with authentication, policy and audit as ``ml2 up`` runs it (the audit log is on in both).
Each round creates ``--binds`` ports on each stack, then binds them (UpdatePort with
``binding.host_id``, each must end BOUND/``ovs``) one at a time, alternating between the
stacks (the order within a pair swapping every round), one client channel per stack: the
stack with authentication is called with the compute service's token. Whatever the machine's
speed does meanwhile, it does to both stacks alike, which a run of one stack after the other
cannot promise.

Per round it prints each stack's bind p50, the p50 of the paired differences (a bind with
authentication minus the bind just before or after it without) and each service's CPU time per
bind on both stacks; then the medians over the rounds. The exit status is 1 if a bind failed.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import bind_bench
import grpc
from cpu_time import cpu_snapshot
from ml2.v1 import binding_pb2, port_pb2, port_service_pb2, port_service_pb2_grpc
from ml2_contract import vocabulary
from ml2_driver_sdk.runtime import auth

from services import launcher
from services.cli import ports as cli_ports
from services.cli import stack
from services.rpc import channels
from services.security import local as local_auth

KINDS = ("plain", "auth")


@dataclass
class Side:
    """One of the two stacks and what the benchmark holds of it."""

    kind: str
    running: stack.Stack
    data_dir: Path
    token: auth.TokenSource | None = None
    network_id: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    stub: port_service_pb2_grpc.PortServiceStub | None = None
    channel: grpc.Channel | None = None
    stop_agent: Callable[[], None] | None = None
    drop_databases: Callable[[], None] | None = None

    def create_ports(self, count: int) -> list[str]:
        """Creates ``count`` ports without a host; returns their ids."""
        assert self.stub is not None
        ids = []
        for _ in range(count):
            request = port_service_pb2.CreatePortRequest(
                port=port_pb2.Port(network_id=self.network_id, project_id="bench")
            )
            ids.append(self.stub.CreatePort(request, timeout=30).port.id)
        return ids

    def bind(self, port_id: str) -> float:
        """Binds one port on the benchmark host; returns the client's latency in ms."""
        assert self.stub is not None
        request = cli_ports.bind_request(port_id, bind_bench.HOST)
        start = time.perf_counter()
        port = self.stub.UpdatePort(request, timeout=30).port
        elapsed = (time.perf_counter() - start) * 1000
        if not (
            port.binding.state == binding_pb2.BINDING_STATE_BOUND
            and port.binding.vif_type == vocabulary.VIF_TYPE_OVS
        ):
            raise RuntimeError(f"{self.kind}: port {port_id} ended {port.binding.vif_type}")
        return elapsed


@dataclass(frozen=True)
class Round:
    """One round's figures."""

    p50_ms: dict[str, float]
    paired_p50_ms: float
    cpu_ms: dict[str, dict[str, float]]
    """Per stack, each service's CPU time (user + system) per bind."""

    def cpu_total(self, kind: str) -> float:
        """All services' CPU per bind on one stack."""
        return sum(self.cpu_ms[kind].values())


def start_side(kind: str, database: str, postgres_url: str, log_level: str) -> Side:
    """Starts one stack with its agent and network, and opens its client channel."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"ml2-auth-overhead-{kind}-"))
    databases = None
    if database == "postgres":
        databases = bind_bench.PostgresDatabases(postgres_url)
    urls = {s: databases.create(s) for s in stack.CORE_SERVICES} if databases else {}
    cfg = bind_bench.stack_config(data_dir, urls, log_level, auth=kind == "auth")
    side = Side(kind, stack.Stack(cfg), data_dir)
    if databases:
        side.drop_databases = databases.drop
    side.running.start()
    admin = agent_token = None
    if kind == "auth":
        side.token = auth.TokenSource(path=str(side.running.token_path(local_auth.COMPUTE)))
        admin = auth.TokenSource(path=str(side.running.admin_token_path()))
        agent_token = auth.TokenSource(token=local_auth.agent_token(data_dir, bind_bench.HOST))
    agent, thread, agent_channel = bind_bench.start_agent(
        side.running.address("mechmgr"), agent_token
    )

    def stop_agent() -> None:
        agent.stop.set()
        thread.join(5)
        agent_channel.close()

    side.stop_agent = stop_agent
    side.network_id = bind_bench.create_network(side.running.address("portapi"), admin)
    side.pids = {n: side.running.processes[n].process.pid for n in cfg.process_names()}
    side.channel = channels.make_channel(side.running.address("portapi"), token=side.token)
    side.stub = port_service_pb2_grpc.PortServiceStub(side.channel)
    return side


def stop_side(side: Side, keep_logs: bool) -> None:
    """Stops one stack; keeps its logs when asked (after a failure)."""
    if side.channel is not None:
        side.channel.close()
    if side.stop_agent is not None:
        side.stop_agent()
    side.running.stop()
    if side.drop_databases is not None:
        side.drop_databases()
    if keep_logs:
        print(f"auth_overhead: {side.kind} logs kept in {side.data_dir / 'logs'}", file=sys.stderr)
    else:
        shutil.rmtree(side.data_dir, ignore_errors=True)


def run_round(sides: dict[str, Side], binds: int, swap: bool) -> Round:
    """Creates ``binds`` ports on each stack, then binds them alternating one by one."""
    ports = {kind: side.create_ports(binds) for kind, side in sides.items()}
    order = ("auth", "plain") if swap else ("plain", "auth")
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    before = {kind: cpu_snapshot(side.pids) for kind, side in sides.items()}
    for i in range(binds):
        for kind in order:
            latencies[kind].append(sides[kind].bind(ports[kind][i]))
    after = {kind: cpu_snapshot(side.pids) for kind, side in sides.items()}
    paired = [a - p for a, p in zip(latencies["auth"], latencies["plain"], strict=True)]
    return Round(
        p50_ms={kind: statistics.median(latencies[kind]) for kind in KINDS},
        paired_p50_ms=statistics.median(paired),
        cpu_ms={
            kind: {
                name: (after[kind][name] - before[kind][name]) * 1000 / binds
                for name in sides[kind].pids
            }
            for kind in KINDS
        },
    )


def report(rounds: list[Round], as_json: bool) -> None:
    """Prints every round and the medians."""
    if as_json:
        print(json.dumps([asdict(r) for r in rounds], indent=2))
        return
    print("\nbind p50 in ms, measured by the clients; CPU ms per bind, all services\n")
    print(
        f"{'round':>5}  {'plain p50':>9}  {'auth p50':>8}  {'paired p50':>10}  "
        f"{'plain CPU':>9}  {'auth CPU':>8}  {'CPU diff':>8}"
    )
    for i, r in enumerate(rounds, 1):
        print(
            f"{i:>5}  {r.p50_ms['plain']:>9.2f}  {r.p50_ms['auth']:>8.2f}  "
            f"{r.paired_p50_ms:>+10.3f}  {r.cpu_total('plain'):>9.2f}  "
            f"{r.cpu_total('auth'):>8.2f}  {r.cpu_total('auth') - r.cpu_total('plain'):>+8.2f}"
        )
    med = statistics.median
    print(
        f"{'med':>5}  {med(r.p50_ms['plain'] for r in rounds):>9.2f}  "
        f"{med(r.p50_ms['auth'] for r in rounds):>8.2f}  "
        f"{med(r.paired_p50_ms for r in rounds):>+10.3f}  "
        f"{med(r.cpu_total('plain') for r in rounds):>9.2f}  "
        f"{med(r.cpu_total('auth') for r in rounds):>8.2f}  "
        f"{med(r.cpu_total('auth') - r.cpu_total('plain') for r in rounds):>+8.2f}"
    )
    names = list(rounds[0].cpu_ms["plain"])
    print("\nmedian CPU ms per bind, by service\n")
    print(f"{'stack':>5}  " + "  ".join(f"{n:>13}" for n in names))
    for kind in KINDS:
        cells = [med(r.cpu_ms[kind][n] for r in rounds) for n in names]
        print(f"{kind:>5}  " + "  ".join(f"{c:>13.3f}" for c in cells))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="python bench/auth_overhead.py",
        description="Binds on a stack with and one without authentication, alternating, and "
        "prints what authentication and policy add to a bind.",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--binds", type=int, default=300, help="binds per stack per round (300)")
    parser.add_argument(
        "--warmup", type=int, default=30, help="binds per stack before measuring (default 30)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default=bind_bench.DEFAULT_POSTGRES)
    parser.add_argument("--log-level", default="INFO", help="the services' (default INFO)")
    parser.add_argument("--json", action="store_true", help="print the rounds as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.binds < 1 or args.warmup < 0:
        parser.error("--rounds and --binds must be at least 1, --warmup at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns 1 if a stack did not start or a bind failed."""
    args = parse_args(argv)
    log = sys.stderr if args.json else sys.stdout
    sides: dict[str, Side] = {}
    ok = False
    try:
        for kind in KINDS:
            print(f"starting the {kind} stack ({args.database}) ...", file=log, flush=True)
            sides[kind] = start_side(kind, args.database, args.postgres_url, args.log_level)
        if args.warmup:
            run_round(sides, args.warmup, swap=False)
        rounds = []
        for i in range(args.rounds):
            print(f"round {i + 1} of {args.rounds} ...", file=log, flush=True)
            rounds.append(run_round(sides, args.binds, swap=i % 2 == 1))
        report(rounds, args.json)
        ok = True
    except (launcher.LaunchError, RuntimeError, grpc.RpcError) as err:
        print(f"auth_overhead: {err}", file=sys.stderr)
    finally:
        for side in sides.values():
            stop_side(side, keep_logs=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
