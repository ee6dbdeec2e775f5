"""The agent's command line, shared by ``ml2 agent run`` and ``python -m services.agent``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ml2.v1 import agent_service_pb2_grpc, port_service_pb2_grpc
from ml2_contract import vocabulary
from ml2_driver_sdk.runtime import auth, keepalive, logs, metrics, tls
from ml2_driver_sdk.runtime.config import ConfigError

from services.agent import config, simulated
from services.agent.dataplane import Dataplane, WiringError
from services.rpc import channels
from services.security import local as local_auth
from services.security import local_tls

if TYPE_CHECKING:
    from services.agent import runtime

logger = logging.getLogger(__name__)

DATAPLANE_MODULES = {
    vocabulary.AGENT_TYPE_OVS: "services.agent.ovs",
    vocabulary.AGENT_TYPE_LINUXBRIDGE: "services.agent.linuxbridge",
}
"""Where each kind of real agent's dataplane comes from: the module's
``dataplane_from_args(args) -> Dataplane`` builds it from the parsed options (raising
AgentConfigError on a bad one) without touching the host yet."""


def dataplane_module(agent_type: str) -> str:
    """The module of the real agent of ``agent_type``; raises AgentConfigError for a kind that
    only runs simulated here."""
    name = DATAPLANE_MODULES.get(agent_type, "")
    if not name:
        raise simulated.AgentConfigError(
            f"--type {agent_type}: this host has no {agent_type} dataplane to wire "
            f"(real agents: {', '.join(DATAPLANE_MODULES)}); add --simulate to register one "
            "without a dataplane"
        )
    return name


def make_dataplane(args: argparse.Namespace) -> Dataplane:
    """The dataplane of ``--type``; raises AgentConfigError when the options are wrong or the
    kind has no real agent."""
    name = dataplane_module(args.agent_type)
    factory = getattr(importlib.import_module(name), "dataplane_from_args", None)
    if factory is None:
        raise simulated.AgentConfigError(
            f"--type {args.agent_type}: no real {args.agent_type} agent yet ({name} has no "
            "dataplane_from_args); add --simulate to register without a dataplane"
        )
    dataplane: Dataplane = factory(args)
    return dataplane


def metrics_port(args: argparse.Namespace) -> int:
    """The ``--metrics-port`` (the agent type's default when not given)."""
    text = str(args.metrics_port).strip()
    if not text:
        return config.DEFAULT_METRICS_PORTS[args.agent_type]
    try:
        port = int(text)
    except ValueError:
        raise simulated.AgentConfigError(f"--metrics-port: {text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise simulated.AgentConfigError(f"--metrics-port: {port} is not 0-65535")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the agent's options to ``parser``."""
    parser.add_argument(
        "--token-file",
        default="",
        metavar="PATH",
        help="the agent's token (default: env ML2_TOKEN_FILE or ML2_TOKEN, else one minted for "
        "--host from the key of the ml2 up data dir --data-dir)",
    )
    parser.add_argument(
        "--data-dir",
        default="",
        metavar="DIR",
        help="the data dir of a local ml2 up, whose key gives the agent a token for its host "
        "(default: env ML2_DATA_DIR, else ./data)",
    )
    parser.add_argument(
        "--type",
        dest="agent_type",
        required=True,
        choices=simulated.AGENT_TYPES,
        help="the kind of agent (= the mechanism driver that binds through it)",
    )
    parser.add_argument(
        "--host",
        default=simulated.default_host(),
        help="the host id ports are bound to (default: this machine's hostname, %(default)s)",
    )
    parser.add_argument(
        "--bridge-mappings",
        default="",
        metavar="PHYSNET:BRIDGE,...",
        help="physical networks the agent reaches through bridges, e.g. physnet1:br-eth1",
    )
    parser.add_argument(
        "--interface-mappings",
        default="",
        metavar="PHYSNET:IFACE,...",
        help="physical networks the agent reaches through host interfaces (linuxbridge)",
    )
    parser.add_argument(
        "--tunnel-types",
        default="",
        metavar="TYPE,...",
        help=f"tunnel types the agent terminates: {', '.join(simulated.TUNNEL_TYPES)}",
    )
    parser.add_argument(
        "--vswitch-mappings",
        default="",
        metavar="PHYSNET:VSWITCH,...",
        help="physical networks (or regular expressions over their names) to Hyper-V virtual "
        "switches (hyperv), e.g. physnet1:external",
    )
    parser.add_argument(
        "--device-mappings",
        default="",
        metavar="PHYSNET:DEVICE,...",
        help="physical networks to the physical functions reaching them (sriov), e.g. "
        "physnet1:ens1f0,physnet1:ens1f1",
    )
    parser.add_argument(
        "--baremetal-smartnic",
        action="store_true",
        help="the Open vSwitch agent runs on a SmartNIC serving bare-metal hosts (binds "
        "smart-nic ports)",
    )
    parser.add_argument(
        "--hw-offload",
        action="store_true",
        help="Open vSwitch offloads flows to the NICs (switchdev)",
    )
    parser.add_argument(
        "--extensions",
        default="",
        metavar="NAME,...",
        help="agent extensions to report, e.g. qos",
    )
    parser.add_argument("--local-ip", default="", help="the tunnel endpoint address")
    parser.add_argument(
        "--integration-bridge",
        default=None,
        help="Open vSwitch integration bridge (default br-int for openvswitch)",
    )
    parser.add_argument(
        "--datapath-type",
        default=None,
        choices=("system", "netdev"),
        help="Open vSwitch datapath type (default system for openvswitch)",
    )
    parser.add_argument(
        "--ovs-hybrid-plug",
        action="store_true",
        help="ports need a per-port Linux bridge for iptables filtering",
    )
    parser.add_argument(
        "--iface-types",
        default="",
        metavar="TYPE,...",
        help="Open vSwitch interface types, e.g. dpdkvhostuserclient (with --datapath-type "
        "netdev the openvswitch driver then binds vhostuser)",
    )
    parser.add_argument(
        "--vhostuser-socket-dir",
        default="",
        help="where Open vSwitch creates vhost-user sockets",
    )
    parser.add_argument(
        "--network-types",
        default="",
        metavar="TYPE,...",
        help="the network types this host can realise, e.g. flat,vxlan where the kernel has "
        "no VLAN devices (default: every type the agent's mechanism carries)",
    )
    parser.add_argument(
        "--no-port-filter",
        dest="port_filter",
        action="store_false",
        help="the agent does not filter port traffic (no security groups)",
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="register and keep alive without touching the dataplane",
    )
    parser.add_argument(
        "--mechmgr",
        default=config.mechmgr_address(),
        help="mechmgr's gRPC address (default %(default)s; env ML2_MECHMGR_ADDRESS)",
    )
    parser.add_argument(
        "--portapi",
        default=config.portapi_address(),
        help="portapi's gRPC address (default %(default)s; env ML2_PORTAPI_ADDRESS)",
    )
    parser.add_argument(
        "--ovsdb",
        default=config.ovsdb(),
        help="the Open vSwitch database socket (default %(default)s; env ML2_AGENT_OVSDB)",
    )
    parser.add_argument(
        "--ovs-rundir",
        default="",
        help="ovs-vswitchd's run directory with the bridges' .mgmt sockets (default: the "
        "--ovsdb socket's directory)",
    )
    parser.add_argument(
        "--netns",
        default=config.netns(),
        help="the host's network namespace, when the agent runs outside it (env ML2_AGENT_NETNS)",
    )
    parser.add_argument(
        "--metrics-port",
        default=config.metrics_port(),
        help="the /metrics port (default 9130 openvswitch, 9131 linuxbridge; 0 picks a free "
        "one; env ML2_AGENT_METRICS_PORT)",
    )
    parser.add_argument(
        "--metrics-host",
        default=config.metrics_host(),
        help="the address the metrics port listens on, also serving /healthz and /readyz "
        "(default %(default)s; env ML2_AGENT_METRICS_HOST)",
    )
    parser.add_argument(
        "--resync-interval",
        type=float,
        default=60.0,
        help="seconds between full reconciliations, which also retry failed wiring "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--per-interval-heartbeats",
        dest="hold",
        action="store_false",
        help="send a heartbeat message every interval on the heartbeat stream instead of asking "
        "mechmgr to hold the agent alive while the stream is open (the default)",
    )
    parser.add_argument("--log-level", default=config.log_level(), help="default %(default)s")
    parser.add_argument(
        "--log-format",
        default=config.log_format(),
        choices=("text", "json"),
        help="default %(default)s (env ML2_LOG_FORMAT)",
    )


LIVENESS_STALL_SECONDS = 60.0
"""How long a synced agent may go without finishing a reconciliation before /healthz fails (the
loop reconciles about every second)."""


class AgentHealth:
    """The agent's ``/healthz`` and ``/readyz`` answers, from the runtime's own progress.

    Live: the agent is not stopping, and once its host's ports are synced its reconciliations
    keep coming (a dataplane call that hangs stops them). Waiting for mechmgr or portapi is not
    a failure of the agent: restarting it would not bring them back. Ready: registered, and the
    first snapshot of its ports reconciled, so a rolling update moves on to the next node only
    after the new agent has taken over this one's ports.
    """

    def __init__(
        self,
        agent: runtime.AgentRuntime,
        stall: float = LIVENESS_STALL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.agent = agent
        self.stall = stall
        self.clock = clock
        self._seen = -1
        self._seen_at = clock()
        self._lock = threading.Lock()

    def live(self) -> tuple[bool, str]:
        """Whether the agent still makes progress."""
        if self.agent.stop.is_set():
            return False, "stopping"
        now = self.clock()
        with self._lock:
            count = self.agent.reconciliations
            if count != self._seen:
                self._seen, self._seen_at = count, now
            idle = now - self._seen_at
        if not self.agent.host_watch.synced.is_set():
            return True, "waiting for the first snapshot of this host's ports"
        if idle > self.stall:
            return False, f"no reconciliation finished for {idle:.0f}s"
        return True, f"{count} reconciliations"

    def ready(self) -> tuple[bool, str]:
        """Whether the agent has registered and reconciled its host's ports once."""
        if self.agent.stop.is_set():
            return False, "stopping"
        if not self.agent.agent_id:
            return False, "not registered with mechmgr yet"
        if not self.agent.ready.is_set():
            return False, "the first snapshot of this host's ports is not reconciled yet"
        return True, f"agent {self.agent.agent_id} wires {self.agent.host}'s ports"


def spec_from_args(args: argparse.Namespace) -> simulated.AgentSpec:
    """Builds and validates the agent's description; raises AgentConfigError."""
    ovs = args.agent_type == vocabulary.AGENT_TYPE_OVS
    spec = simulated.AgentSpec(
        agent_type=args.agent_type,
        host=args.host.strip(),
        bridge_mappings=simulated.parse_mappings("--bridge-mappings", args.bridge_mappings),
        interface_mappings=simulated.parse_mappings(
            "--interface-mappings", args.interface_mappings
        ),
        tunnel_types=simulated.parse_tunnel_types(args.tunnel_types),
        local_ip=args.local_ip.strip(),
        integration_bridge=args.integration_bridge or ("br-int" if ovs else ""),
        datapath_type=args.datapath_type or (vocabulary.DATAPATH_SYSTEM if ovs else ""),
        ovs_hybrid_plug=args.ovs_hybrid_plug,
        port_filter=args.port_filter,
        iface_types=tuple(t.strip() for t in args.iface_types.split(",") if t.strip()),
        vhostuser_socket_dir=args.vhostuser_socket_dir.strip(),
        network_types=simulated.parse_network_types(args.network_types),
        vswitch_mappings=simulated.parse_vswitch_mappings(args.vswitch_mappings),
        device_mappings=simulated.parse_device_mappings(args.device_mappings),
        baremetal_smartnic=args.baremetal_smartnic,
        hw_offload=args.hw_offload,
        extensions=tuple(e.strip() for e in args.extensions.split(",") if e.strip()),
    )
    spec.validate()
    return spec


def agent_token(args: argparse.Namespace, host: str) -> auth.TokenSource | None:
    """The agent's token: ``--token-file``; else one for ``host`` minted from the key of the
    ``--data-dir`` given; else ``ML2_TOKEN_FILE``/``ML2_TOKEN``; else one minted from the key
    of the default data dir (``ML2_DATA_DIR``, else ``./data``) if it has one; else None."""
    token_file = getattr(args, "token_file", "")
    if token_file:
        return auth.TokenSource(path=token_file)
    given = getattr(args, "data_dir", "")
    if given:
        if not local_auth.has_key(Path(given)):
            raise simulated.AgentConfigError(f"--data-dir {given}: has no ml2 up signing key")
        return auth.TokenSource(token=local_auth.agent_token(Path(given), host))
    source = auth.TokenSource.from_env()
    if source is not None:
        return source
    data_dir = Path(os.environ.get("ML2_DATA_DIR", "").strip() or "data")
    if not local_auth.has_key(data_dir):
        return None
    return auth.TokenSource(token=local_auth.agent_token(data_dir, host))


def agent_tls(args: argparse.Namespace) -> tls.TlsFiles | None:
    """The agent's certificate: the ``ML2_TLS_*`` settings; else, while the ``--data-dir``
    given (or the default data dir) serves TLS (``ml2 up --tls``), its ``agent`` certificate;
    else None (plaintext)."""
    found = tls.TlsFiles.from_env()
    if found is None:
        given = getattr(args, "data_dir", "") or os.environ.get("ML2_DATA_DIR", "").strip()
        found = local_tls.client_files(Path(given or "data"), local_tls.AGENT)
    return found.checked() if found is not None else None


def run(args: argparse.Namespace, prog: str = "ml2 agent run") -> int:
    """Runs the agent until SIGTERM or Ctrl-C; returns the exit status: 2 for a bad option,
    1 when the host or mechmgr cannot serve the agent."""
    dataplane: Dataplane | None = None
    try:
        spec = spec_from_args(args)
        token = agent_token(args, spec.host)
        tls_files = agent_tls(args)
        keepalive.install(keepalive.Keepalive.from_env())
        if not args.simulate:
            dataplane_module(args.agent_type)
            port = metrics_port(args)
            if args.resync_interval <= 0:
                raise simulated.AgentConfigError("--resync-interval: must be positive")
            dataplane = make_dataplane(args)
    except (simulated.AgentConfigError, ConfigError) as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    if dataplane is not None:
        return _run_real(args, spec, dataplane, port, prog, token, tls_files)
    logs.configure_logging(f"agent-{spec.agent_type}", args.log_level, args.log_format)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    channel = channels.make_channel(args.mechmgr, token=token, tls_files=tls_files)
    agent = simulated.SimulatedAgent(
        spec,
        agent_service_pb2_grpc.AgentServiceStub(channel),
        stop,
        hold=getattr(args, "hold", True),
    )
    logger.info(
        "simulated %s agent for host %s, reporting to mechmgr at %s",
        spec.agent_type,
        spec.host,
        args.mechmgr,
    )
    try:
        agent.run()
    except simulated.AgentRefused as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 1
    finally:
        channel.close()
    return 0


def _run_real(
    args: argparse.Namespace,
    spec: simulated.AgentSpec,
    dataplane: Dataplane,
    port: int,
    prog: str,
    token: auth.TokenSource | None,
    tls_files: tls.TlsFiles | None = None,
) -> int:
    """Runs ``services.agent.runtime`` over ``dataplane``."""
    from services.agent import runtime

    logs.configure_logging(f"agent-{spec.agent_type}", args.log_level, args.log_format)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    mechmgr = channels.make_channel(args.mechmgr, token=token, tls_files=tls_files)
    portapi = channels.make_channel(args.portapi, token=token, tls_files=tls_files)
    agent = runtime.AgentRuntime(
        dataplane,
        spec.host,
        agent_service_pb2_grpc.AgentServiceStub(mechmgr),
        port_service_pb2_grpc.PortServiceStub(portapi),
        stop,
        resync_interval=args.resync_interval,
        hold=getattr(args, "hold", True),
    )
    health = AgentHealth(agent)
    try:
        bound = metrics.start_metrics_server(
            port, args.metrics_host, {"/healthz": health.live, "/readyz": health.ready}
        )
    except OSError as err:
        mechmgr.close()
        portapi.close()
        where = f"--metrics-host {args.metrics_host} --metrics-port {port}"
        print(f"{prog}: {where}: {err.strerror or err}", file=sys.stderr)
        return 2
    logger.info(
        "%s agent for host %s: mechmgr %s, portapi %s, metrics on port %d",
        spec.agent_type,
        spec.host,
        args.mechmgr,
        args.portapi,
        bound,
        extra={"host": spec.host, "metrics_port": bound},
    )
    try:
        agent.run()
    except WiringError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 1
    except simulated.AgentRefused as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 1
    finally:
        mechmgr.close()
        portapi.close()
    return 0
