"""Idle soak: does a default-configured stack bind at once after sitting idle for a long time?

    python bench/idle_soak.py [--idle-minutes 10] [--binds 3]

Starts its own stack (typemgr, the openvswitch and linuxbridge driver processes, mechmgr,
portapi) on free loopback ports with fresh SQLite files and the default settings, registers a
simulated Open vSwitch agent on host ``bench-host`` mapping physnet1, creates one VLAN network
and, before anything idles, the ports it will bind. It binds the first port at once, then
``--binds`` times leaves the stack without a call for ``--idle-minutes`` and binds the next port,
so that every bind is the first call in a long while on every connection it crosses (client to
portapi, portapi to mechmgr, mechmgr to the drivers).

Prints every bind's result (state, vif_type, failure message, latency) as it happens, then a
summary and what the stack's logs say about refused keepalive pings (``too_many_pings``). The
exit status is 1 if any bind did not end BOUND with vif_type ovs. See bench/README.md.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from bind_bench import HOST, create_network, start_agent
from ml2.v1 import binding_pb2, port_pb2, port_service_pb2, port_service_pb2_grpc
from ml2_driver_sdk.runtime import keepalive

from services import launcher
from services.cli import ports as cli_ports
from services.cli import stack
from services.rpc import channels

REFUSALS = ("too_many_pings", "ENHANCE_YOUR_CALM")
"""What a log line says when a server refused a client's keepalive pings."""


@dataclass(frozen=True)
class BindResult:
    """One bind: after how much idleness, what it returned and how long it took."""

    number: int
    idle_seconds: float
    state: str
    vif_type: str
    failure: str
    latency_ms: float

    @property
    def ok(self) -> bool:
        """True if the port was bound by the Open vSwitch driver."""
        return self.state == "BOUND" and self.vif_type == "ovs"

    def line(self) -> str:
        """The result as one line."""
        now = datetime.now(UTC).strftime("%H:%M:%S")
        text = (
            f"{now} bind {self.number}: after {self.idle_seconds:.0f}s idle: {self.state}"
            f" vif_type={self.vif_type or '-'} latency={self.latency_ms:.1f}ms"
        )
        return f"{text} failure: {self.failure}" if self.failure else text


def create_ports(
    ports: port_service_pb2_grpc.PortServiceStub, network_id: str, n: int
) -> list[str]:
    """Creates ``n`` ports without a host; returns their ids."""
    ids = []
    for _ in range(n):
        request = port_service_pb2.CreatePortRequest(
            port=port_pb2.Port(network_id=network_id, project_id="soak")
        )
        ids.append(ports.CreatePort(request, timeout=30).port.id)
    return ids


def bind(
    ports: port_service_pb2_grpc.PortServiceStub, port_id: str, number: int, idle: float
) -> BindResult:
    """Binds ``port_id`` on the soak host and returns what happened."""
    start = time.perf_counter()
    try:
        port = ports.UpdatePort(cli_ports.bind_request(port_id, HOST), timeout=30).port
    except grpc.RpcError as err:
        ms = (time.perf_counter() - start) * 1000
        return BindResult(number, idle, "ERROR", "", f"{err.code().name}: {err.details()}", ms)
    ms = (time.perf_counter() - start) * 1000
    state = binding_pb2.BindingState.Name(port.binding.state).removeprefix("BINDING_STATE_")
    return BindResult(number, idle, state, port.binding.vif_type, port.binding.failure_message, ms)


def refusals_in_logs(log_dir: Path) -> dict[str, int]:
    """How many lines of each process's log report refused keepalive pings."""
    counts = {}
    for path in sorted(log_dir.glob("*.log")):
        text = path.read_text(encoding="utf-8", errors="replace")
        counts[path.stem] = sum(1 for ln in text.splitlines() if any(r in ln for r in REFUSALS))
    return counts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The soak's options."""
    parser = argparse.ArgumentParser(
        prog="python bench/idle_soak.py",
        description="Starts a default-configured stack, binds a port, then repeatedly leaves "
        "the stack idle and binds again; prints every bind's result.",
    )
    parser.add_argument(
        "--idle-minutes", type=float, default=10.0, help="idleness before each bind (default 10)"
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=None,
        help="idleness in seconds instead of minutes (for quick checks)",
    )
    parser.add_argument(
        "--binds", type=int, default=3, help="binds after idling, besides the first (default 3)"
    )
    parser.add_argument(
        "--log-level", default="INFO", help="log level of the services (default INFO)"
    )
    args = parser.parse_args(argv)
    args.idle = args.idle_seconds if args.idle_seconds is not None else args.idle_minutes * 60
    if args.idle < 0 or args.binds < 1:
        parser.error("the idle time must be at least 0 and --binds at least 1")
    return args


def soak(running: stack.Stack, args: argparse.Namespace) -> list[BindResult]:
    """Binds once, then idles and binds ``args.binds`` times; prints each result."""
    agent, thread, agent_channel = start_agent(running.address("mechmgr"))
    channel = channels.make_channel(running.address("portapi"))
    try:
        ports = port_service_pb2_grpc.PortServiceStub(channel)
        network_id = create_network(running.address("portapi"))
        port_ids = create_ports(ports, network_id, args.binds + 1)
        results = [bind(ports, port_ids[0], 1, 0.0)]
        print(results[0].line(), flush=True)
        for number, port_id in enumerate(port_ids[1:], start=2):
            began = time.monotonic()
            threading.Event().wait(args.idle)  # the scenario: nothing calls anything
            results.append(bind(ports, port_id, number, time.monotonic() - began))
            print(results[-1].line(), flush=True)
        return results
    finally:
        channel.close()
        agent.stop.set()
        thread.join(5)
        agent_channel.close()


def report(results: list[BindResult], refusals: dict[str, int]) -> None:
    """Prints the summary."""
    failed = [r for r in results if not r.ok]
    latencies = sorted(r.latency_ms for r in results)
    print(
        f"\n{len(results)} binds, {len(results) - len(failed)} BOUND, {len(failed)} failed; "
        f"latency min {latencies[0]:.1f} ms, max {latencies[-1]:.1f} ms"
    )
    for r in failed:
        print(f"  failed: bind {r.number}: {r.state} {r.failure}")
    refused = {name: n for name, n in refusals.items() if n}
    if refused:
        print(
            "log lines about refused keepalive pings: "
            + ", ".join(f"{name} {n}" for name, n in refused.items())
        )
    else:
        print("no process logged a refused keepalive ping (too_many_pings)")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the soak; returns 1 if any bind failed."""
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="ml2-soak-"))
    cfg = stack.StackConfig(
        data_dir=data_dir,
        ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        metrics_ports=dict.fromkeys(stack.DEFAULT_PORTS, 0),
        log_level=args.log_level,
    )
    policy = keepalive.current()
    print(
        f"starting a default-configured stack in {data_dir} (keepalive every "
        f"{policy.time_seconds:g}s, timeout {policy.timeout_seconds:g}s); "
        f"{args.binds} binds after {args.idle:g}s idle each",
        flush=True,
    )
    running = stack.Stack(cfg)
    ok = False
    try:
        running.start()
        results = soak(running, args)
        running.stop()
        refusals = refusals_in_logs(cfg.log_dir)
        report(results, refusals)
        ok = all(r.ok for r in results)
    except launcher.LaunchError as err:
        print(f"idle_soak: the stack did not start: {err}", file=sys.stderr)
    finally:
        running.stop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"idle_soak: logs kept in {cfg.log_dir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
