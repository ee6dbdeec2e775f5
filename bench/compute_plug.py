"""``ml2 compute plug`` end to end: bind, plug, ACTIVE, with the real Open vSwitch agent.

    python bench/compute_plug.py [--plugs 50] [--cli-plugs 5] [--warmup 3] [--json]

Starts its own stack (SQLite, free loopback ports), one lab host with its own Open vSwitch
(userspace datapath) and the real agent process for it, and one VLAN network on physnet1 with
unbound ports. Then, one port at a time, plugs each into a new instance namespace through
``services.compute.driver.ComputeDriver`` built as ``ml2 compute plug`` builds it (the same
configuration, a new host connection per plug): UpdatePort with the host (bind), a veth into
the instance and its tap on br-int with the port's external_ids (plug), and the wait on
WatchPorts until the agent has wired it and portapi says ACTIVE (active). Last, ``--cli-plugs``
ports are plugged by running the ``ml2 compute plug`` process itself, to show what starting
the process costs on top (its wall time less the steps it reports).

Prints p50/p99 of the whole plug and of each step, and whether the target (p50 < 250 ms)
holds. The exit status is 1 if any plug failed. See bench/README.md.
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
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from bind_bench import percentile
from ovs_site import HOST_ID, OvsSite
from pyroute2 import netns

from services import launcher
from services.compute import config, driver

TARGET_P50_MS = 250.0
STEPS = ("bind", "plug", "active")


@dataclass(frozen=True)
class Spread:
    """p50 and p99 of some durations, in ms."""

    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, ms: Sequence[float]) -> Spread:
        ordered = sorted(ms)
        return cls(
            percentile(ordered, 50), percentile(ordered, 99), ordered[-1] if ordered else 0.0
        )


@dataclass
class Figures:
    """The benchmark's results."""

    plugs: int
    failures: int
    total: Spread
    steps: dict[str, Spread]
    cli_plugs: int = 0
    cli_wall: Spread | None = None
    cli_steps_sum: Spread | None = None
    cli_overhead: Spread | None = None
    p50_met: bool = False
    samples: list[dict[str, float]] = field(default_factory=list)


def compute_config(site: OvsSite) -> config.ComputeConfig:
    """The compute node's configuration for the lab host, as the command line's flags give it."""
    assert site.host is not None and site.host.ovs is not None
    return config.ComputeConfig(
        ovsdb=site.host.ovs.db_endpoint, host_netns=site.host.namespace.name
    )


def library_plugs(
    site: OvsSite, port_ids: Sequence[str], first: int, timeout: float
) -> tuple[list[dict[str, float]], int]:
    """Plugs each port into instance ``<prefix>-i<n>`` through the library; returns each plug's
    times (ms: total and per step) and the failures."""
    cfg = compute_config(site)
    compute = driver.ComputeDriver(
        site.ports,
        site.networks,
        cfg,
        config.Chosen(HOST_ID, "--host"),
        rpc_timeout=timeout,
        portapi_address=site.portapi,
    )
    samples = []
    failures = 0
    for n, port_id in enumerate(port_ids, start=first):
        instance = f"{site.lab.prefix}-i{n}"
        began = time.perf_counter()
        try:
            result = compute.plug(port_id, instance, timeout=timeout)
        except driver.ComputeError as err:
            failures += 1
            print(f"plug of {port_id} failed: {err}", file=sys.stderr)
            continue
        sample = {"total": (time.perf_counter() - began) * 1000}
        sample.update({s.name: s.seconds * 1000 for s in result.steps})
        samples.append(sample)
    return samples, failures


def cli_plugs(
    site: OvsSite, port_ids: Sequence[str], first: int, timeout: float
) -> tuple[list[dict[str, float]], int]:
    """Plugs each port by running ``ml2 compute plug`` (``python -m services.cli``); returns
    the process's wall time and the sum of the steps it reports (ms), and the failures."""
    cfg = compute_config(site)
    env = launcher.python_path_env({k: v for k, v in os.environ.items() if not k.startswith("ML2")})
    samples = []
    failures = 0
    for n, port_id in enumerate(port_ids, start=first):
        instance = f"{site.lab.prefix}-i{n}"
        argv = [
            sys.executable, "-m", "services.cli", "compute", "plug", port_id,
            "--instance", instance, "--host", HOST_ID, "--portapi", site.portapi,
            "--ovsdb", cfg.ovsdb, "--host-netns", cfg.host_netns, "--output", "json",
            "--timeout", f"{timeout:g}",
        ]  # fmt: skip
        began = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        wall = (time.perf_counter() - began) * 1000
        if proc.returncode != 0:
            failures += 1
            print(
                f"ml2 compute plug {port_id} exited {proc.returncode}: {proc.stderr}",
                file=sys.stderr,
            )
            continue
        steps = json.loads(proc.stdout)["steps"]
        sample = {"wall": wall, "steps": sum(s["seconds"] for s in steps) * 1000}
        sample.update({s["name"]: s["seconds"] * 1000 for s in steps})
        samples.append(sample)
    return samples, failures


def remove_instances(prefix: str) -> None:
    """Removes the instance namespaces the plugs created."""
    for name in netns.listnetns():
        if name.startswith(f"{prefix}-i"):
            netns.remove(name)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="python bench/compute_plug.py",
        description="Times ml2 compute plug (bind, plug, ACTIVE) against the real Open vSwitch "
        "agent on a lab host, through the library and through the command line process.",
    )
    parser.add_argument("--plugs", type=int, default=50, help="library plugs (default 50)")
    parser.add_argument(
        "--cli-plugs", type=int, default=5, help="plugs by the ml2 process (default 5)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured plugs (default 3)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="how long one plug may take (default 30 s)"
    )
    parser.add_argument("--log-level", default="INFO", help="the services' log level")
    parser.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    args = parser.parse_args(argv)
    if args.plugs < 1 or args.cli_plugs < 0 or args.warmup < 0:
        parser.error("--plugs must be at least 1, --cli-plugs and --warmup at least 0")
    return args


def _row(name: str, s: Spread | None) -> str:
    if s is None:
        return f"{name:34}{'-':>9}{'-':>9}{'-':>9}"
    return f"{name:34}{s.p50_ms:9.1f}{s.p99_ms:9.1f}{s.max_ms:9.1f}"


def report(f: Figures) -> None:
    """Prints the figures as a table."""
    print(
        f"\n{f.plugs} plugs through services.compute.driver (as ml2 compute plug does), one at "
        "a time,\nreal Open vSwitch agent (userspace datapath) on a lab host; ms\n"
    )
    print(f"{'':34}{'p50':>9}{'p99':>9}{'max':>9}")
    print(_row("plug end to end", f.total))
    for name in STEPS:
        print(_row(f"  step {name}", f.steps.get(name)))
    if f.cli_plugs:
        print(f"\n{f.cli_plugs} plugs by the ml2 compute plug process:")
        print(_row("process wall time", f.cli_wall))
        print(_row("  steps it reports (sum)", f.cli_steps_sum))
        print(_row("  process start, imports, exit", f.cli_overhead))
    print(f"\nfailures: {f.failures}")
    print(
        f"target p50 < {TARGET_P50_MS:g} ms (library, end to end): "
        f"{'met' if f.p50_met else 'MISSED'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns 1 if any plug failed."""
    args = parse_args(argv)
    log = sys.stderr if args.json else sys.stdout
    try:
        with OvsSite(log_level=args.log_level) as site:
            site.lab.defer(lambda: remove_instances(site.lab.prefix))
            print(f"starting the stack, a lab host and its agent in {site.data_dir} ...", file=log)
            site.start_agent()
            ids = [p.id for p in site.create_ports(args.warmup + args.plugs + args.cli_plugs)]
            print(f"{args.warmup} warm-up plugs ...", file=log, flush=True)
            _, warm_failed = library_plugs(site, ids[: args.warmup], 0, args.timeout)
            print(f"measuring {args.plugs} plugs ...", file=log, flush=True)
            measured = ids[args.warmup : args.warmup + args.plugs]
            samples, failed = library_plugs(site, measured, args.warmup, args.timeout)
            figures = Figures(
                plugs=args.plugs,
                failures=warm_failed + failed,
                total=Spread.of([s["total"] for s in samples]),
                steps={n: Spread.of([s[n] for s in samples if n in s]) for n in STEPS},
                samples=samples,
            )
            figures.p50_met = bool(samples) and figures.total.p50_ms < TARGET_P50_MS
            if args.cli_plugs:
                print(f"measuring {args.cli_plugs} plugs by the ml2 process ...", file=log)
                first = args.warmup + args.plugs
                cli, cli_failed = cli_plugs(site, ids[first:], first, args.timeout)
                figures.failures += cli_failed
                figures.cli_plugs = args.cli_plugs
                figures.cli_wall = Spread.of([s["wall"] for s in cli])
                figures.cli_steps_sum = Spread.of([s["steps"] for s in cli])
                figures.cli_overhead = Spread.of([s["wall"] - s["steps"] for s in cli])
            if args.json:
                print(json.dumps(asdict(figures), indent=2))
            else:
                report(figures)
            site.ok = figures.failures == 0
            return 0 if site.ok else 1
    except (launcher.LaunchError, RuntimeError) as err:
        print(f"compute_plug: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
