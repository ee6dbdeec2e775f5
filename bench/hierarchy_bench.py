"""What a second binding level costs: binds through 3 driver processes over 1 level and over 2
levels (hierarchical, with a dynamic segment), on one stack, one at a time.

    python bench/hierarchy_bench.py [--level0 sdn-controller|noop] [--ports 200] [--json]

Starts its own stack on SQLite (typemgr, mechmgr, portapi and three driver processes, in this
binding order: the level-0 driver, ``linuxbridge``, ``openvswitch``) and a simulated Open
vSwitch agent on the host mapping physnet1 (no Linux bridge agent there). The level-0 driver is
``sdn-controller`` (the default), with the host's link to its top-of-rack switch on physnet1 set
in mechmgr's topology (``ml2 topology set``), or ``noop`` in fabric mode, a driver that does
the same without a topology. Either binds VXLAN and continues with a dynamic VLAN on physnet1.
Two networks:

- **1 level**: a VLAN network on physnet1. The level-0 driver declines (not a tunnel),
  linuxbridge declines (no agent), openvswitch binds: 3 driver calls, one level.
- **2 levels**: a VXLAN network. Level 0: the level-0 driver binds the VXLAN segment and
  continues with a dynamic VLAN segment that typemgr allocates; level 1: it and linuxbridge
  decline, openvswitch binds the VLAN: 4 driver calls over the 3 processes, two levels, one
  allocation.

Binds alternate between the two kinds, one at a time, each a new port bound by UpdatePort
(host set) and timed by the client; every bind must be BOUND with the expected levels. Prints
p50/p90/p99 of both and what the second level adds at p50 (target: under 5 ms).
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
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from bind_bench import percentile
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
    topology_pb2,
    topology_service_pb2,
    topology_service_pb2_grpc,
)

from services import launcher
from services.agent import simulated
from services.cli import ports as cli_ports
from services.cli import stack
from services.rpc import channels

HOST = "rack1-host1"
TARGET_MS = 5.0
LEVEL_0 = ("sdn-controller", "noop")
"""The drivers that can play level 0, the default first."""


@dataclass(frozen=True)
class Kind:
    """One kind of bind's latencies."""

    binds: int
    p50_ms: float
    p90_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Figures:
    """The benchmark's results."""

    level0: str
    one_level: Kind
    two_levels: Kind
    added_p50_ms: float
    target_met: bool


def kind(latencies: list[float]) -> Kind:
    """The figures of one kind of bind."""
    ordered = sorted(latencies)
    return Kind(
        len(ordered), percentile(ordered, 50), percentile(ordered, 90), percentile(ordered, 99)
    )


def network(
    stub: network_service_pb2_grpc.NetworkServiceStub, spec: segment_pb2.SegmentSpec
) -> str:
    """A network of the one segment ``spec``; returns its id."""
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(
            name=spec.network_type, project_id="bench", admin_state_up=True
        ),
        segments=[spec],
    )
    return str(stub.CreateNetwork(request, timeout=30).network.id)


def bind(ports: port_service_pb2_grpc.PortServiceStub, network_id: str, levels: int) -> float:
    """Creates a port, binds it to the host and returns the bind's time (ms). Raises
    RuntimeError if it did not bind with ``levels`` levels."""
    created = ports.CreatePort(
        port_service_pb2.CreatePortRequest(port=port_pb2.Port(network_id=network_id)), timeout=30
    ).port
    start = time.perf_counter()
    bound = ports.UpdatePort(cli_ports.bind_request(created.id, HOST), timeout=30).port
    elapsed = (time.perf_counter() - start) * 1000
    b = bound.binding
    if b.state != binding_pb2.BINDING_STATE_BOUND or len(b.levels) != levels:
        raise RuntimeError(
            f"port {created.id}: {binding_pb2.BindingState.Name(b.state)} with {len(b.levels)} "
            f"levels, wanted {levels}: {b.failure_message}"
        )
    return elapsed


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="python bench/hierarchy_bench.py",
        description="Binds through 3 driver processes over 1 and over 2 levels; what the "
        "second level adds.",
    )
    parser.add_argument(
        "--level0",
        choices=LEVEL_0,
        default=LEVEL_0[0],
        help="the driver at level 0 (default %(default)s; noop: in fabric mode)",
    )
    parser.add_argument("--ports", type=int, default=200, help="binds of each kind (200)")
    parser.add_argument("--warmup", type=int, default=10, help="binds of each kind first (10)")
    parser.add_argument("--log-level", default="WARNING", help="the services' log level")
    parser.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    args = parser.parse_args(argv)
    if args.ports < 1 or args.warmup < 0:
        parser.error("--ports: at least 1; --warmup: 0 or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns 1 if a bind failed."""
    args = parse_args(argv)
    log = sys.stderr if args.json else sys.stdout
    data_dir = Path(tempfile.mkdtemp(prefix="ml2-hierarchy-"))
    order = f"{args.level0},linuxbridge,openvswitch"
    drivers = stack.parse_mechanism_drivers(order)
    names = ["typemgr", "mechmgr", "portapi", *(d.name for d in drivers)]
    cfg = stack.StackConfig(
        data_dir=data_dir,
        ports=dict.fromkeys(names, 0),
        metrics_ports=dict.fromkeys(names, 0),
        mechanism_drivers=drivers,
        log_level=args.log_level,
        extra_env=(
            {"MECHDRIVER_NOOP_MODE": "fabric", "MECHDRIVER_NOOP_FABRIC_PHYSNET": "physnet1"}
            if args.level0 == "noop"
            else {}
        ),
    )
    running = stack.Stack(cfg)
    stop = threading.Event()
    ok = False
    try:
        print(f"starting the stack in {data_dir} ...", file=log, flush=True)
        running.start()
        agent_channel = channels.make_channel(running.address("mechmgr"))
        spec = simulated.AgentSpec(
            agent_type="openvswitch", host=HOST, bridge_mappings={"physnet1": "br-eth1"}
        )
        agent = simulated.SimulatedAgent(
            spec, agent_service_pb2_grpc.AgentServiceStub(agent_channel), stop
        )
        threading.Thread(target=agent.run, daemon=True).start()
        if not agent.registered.wait(15):
            raise RuntimeError("the simulated agent did not register")
        if args.level0 == "sdn-controller":
            link = topology_pb2.HostLink(
                host=HOST, switch_id="tor-1", port_id="Ethernet1", physical_network="physnet1"
            )
            topology_service_pb2_grpc.TopologyServiceStub(agent_channel).SetHostLink(
                topology_service_pb2.SetHostLinkRequest(link=link), timeout=30
            )
        channel = channels.make_channel(running.address("portapi"))
        nets = network_service_pb2_grpc.NetworkServiceStub(channel)
        vlan = network(
            nets, segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
        )
        vxlan = network(nets, segment_pb2.SegmentSpec(network_type="vxlan"))
        ports = port_service_pb2_grpc.PortServiceStub(channel)
        for _ in range(args.warmup):
            bind(ports, vlan, 1)
            bind(ports, vxlan, 2)
        print(f"{args.ports} binds of each kind, alternating ...", file=log, flush=True)
        one: list[float] = []
        two: list[float] = []
        for _ in range(args.ports):
            one.append(bind(ports, vlan, 1))
            two.append(bind(ports, vxlan, 2))
        a, b = kind(one), kind(two)
        figures = Figures(args.level0, a, b, b.p50_ms - a.p50_ms, b.p50_ms - a.p50_ms < TARGET_MS)
        if args.json:
            print(json.dumps(asdict(figures), indent=2))
        else:
            fabric = " (noop as a fabric)" if args.level0 == "noop" else ""
            print(f"\nbinds one at a time through {order}{fabric}, ms")
            print(f"{'':33}{'p50':>8}{'p90':>8}{'p99':>8}")
            for label, k in (("1 level (vlan)", a), ("2 levels (vxlan + dynamic vlan)", b)):
                print(f"{label:33}{k.p50_ms:8.1f}{k.p90_ms:8.1f}{k.p99_ms:8.1f}")
            print(
                f"\nthe second level adds {figures.added_p50_ms:.1f} ms at p50; target < "
                f"{TARGET_MS:g} ms: {'met' if figures.target_met else 'MISSED'}"
            )
        channel.close()
        agent_channel.close()
        ok = True
    except (launcher.LaunchError, RuntimeError) as err:
        print(f"hierarchy_bench: {err}", file=sys.stderr)
    finally:
        stop.set()
        running.stop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"hierarchy_bench: logs kept in {data_dir / 'logs'}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
