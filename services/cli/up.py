"""``ml2 up``: runs the whole stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from services import launcher
from services.cli import render, stack
from services.security import local as local_auth
from services.security import local_tls

PROCESS_NAMES = ("portapi", "typemgr", "mechmgr", *stack.LOCAL_DRIVERS)


def whole_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be more than 0")
    return value


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} must be NAME=VALUE")
    return name.strip(), value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 65535")
    return value


def _port_offset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= stack.MAX_PORT_OFFSET:
        raise argparse.ArgumentTypeError(
            f"{value} is not between 0 and {stack.MAX_PORT_OFFSET} (the ports must stay below "
            "65536)"
        )
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be more than 0")
    return value


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds every option of the stack's configuration (shared by ``up`` and the benchmark)."""
    d = stack.StackConfig()
    parser.add_argument("--listen-host", default=d.listen_host, help="default %(default)s")
    moved = parser.add_mutually_exclusive_group()
    moved.add_argument(
        "--port-offset",
        type=_port_offset,
        default=0,
        metavar="N",
        help="add N to every default gRPC and metrics port, e.g. 100 for a second stack "
        "(ports given with their own flag are kept)",
    )
    moved.add_argument(
        "--free-ports",
        action="store_true",
        help="pick a free port for every gRPC and metrics port not given with its own flag",
    )
    for name in PROCESS_NAMES:
        grpc_port, metrics_port = stack.DEFAULT_PORTS[name]
        parser.add_argument(
            f"--{name}-port",
            type=_port,
            default=None,
            metavar="PORT",
            help=f"{name} gRPC port (default {grpc_port}; 0 picks a free one)",
        )
        parser.add_argument(
            f"--{name}-metrics-port",
            type=_port,
            default=None,
            metavar="PORT",
            help=f"{name} metrics port (default {metrics_port})",
        )
    for service in stack.CORE_SERVICES:
        parser.add_argument(
            f"--{service}-database-url",
            default="",
            metavar="URL",
            help=f"{service} database, e.g. postgresql+psycopg://user@host/db "
            f"(default: SQLite file DATA_DIR/{service}.db)",
        )
    parser.add_argument("--type-drivers", default=d.type_drivers, help="default %(default)s")
    parser.add_argument(
        "--tenant-network-types",
        default=d.tenant_network_types,
        help="ordered types of tenant networks (default %(default)s)",
    )
    parser.add_argument(
        "--flat-networks",
        default=d.flat_networks,
        help="physical networks allowed for flat networks, * for any (default %(default)s)",
    )
    parser.add_argument(
        "--network-vlan-ranges",
        default=d.network_vlan_ranges,
        help="PHYSNET[:MIN:MAX],... VLAN ranges for tenant networks (default %(default)s)",
    )
    parser.add_argument(
        "--vni-ranges",
        default=d.vni_ranges,
        help="MIN:MAX,... VXLAN ids for tenant networks (default %(default)s)",
    )
    parser.add_argument(
        "--gre-tunnel-id-ranges",
        default=d.gre_tunnel_id_ranges,
        metavar="MIN:MAX,...",
        help="GRE keys for tenant networks and provider networks without an id (default none)",
    )
    parser.add_argument(
        "--geneve-vni-ranges",
        default=d.geneve_vni_ranges,
        metavar="MIN:MAX,...",
        help="Geneve VNIs for tenant networks and provider networks without an id (default none)",
    )
    parser.add_argument(
        "--mechanism-drivers",
        default=stack.DEFAULT_DRIVERS,
        type=_drivers,
        help="ordered drivers; NAME starts an installed driver as a local process (ml2 driver "
        "list --installed), NAME=HOST:PORT uses a running one (default %(default)s)",
    )
    parser.add_argument(
        "--agent-down-time",
        type=whole_seconds,
        default=None,
        metavar="SECONDS",
        help="silence after which an agent is dead (mechmgr default 75)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=whole_seconds,
        default=None,
        metavar="SECONDS",
        help="heartbeat interval told to agents, at most half the down time (mechmgr default 30)",
    )
    parser.add_argument(
        "--agent-check-interval",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="how often portapi asks mechmgr which agents died, to take their ports DOWN "
        "(portapi default 15)",
    )
    parser.add_argument(
        "--driver-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="deadline of each call to a mechanism driver (mechmgr default 1.0)",
    )
    parser.add_argument("--log-level", default="INFO", help="default %(default)s")
    parser.add_argument("--log-format", default="json", choices=("json", "text"))
    parser.add_argument(
        "--env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment variable for every process (repeatable; wins over the flags)",
    )


def _drivers(text: str) -> tuple[stack.DriverEntry, ...]:
    try:
        return stack.parse_mechanism_drivers(text)
    except stack.StackError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def config_from_args(args: argparse.Namespace, data_dir: Path) -> stack.StackConfig:
    """The StackConfig the parsed flags describe."""
    ports, metrics_ports = {}, {}
    for name in PROCESS_NAMES:
        key = name.replace("-", "_")
        if getattr(args, f"{key}_port") is not None:
            ports[name] = getattr(args, f"{key}_port")
        if getattr(args, f"{key}_metrics_port") is not None:
            metrics_ports[name] = getattr(args, f"{key}_metrics_port")
    drivers = args.mechanism_drivers
    if isinstance(drivers, str):
        drivers = stack.parse_mechanism_drivers(drivers)
    return stack.StackConfig(
        data_dir=data_dir,
        listen_host=args.listen_host,
        ports=ports,
        metrics_ports=metrics_ports,
        database_urls={s: getattr(args, f"{s}_database_url") for s in stack.CORE_SERVICES},
        type_drivers=args.type_drivers,
        tenant_network_types=args.tenant_network_types,
        flat_networks=args.flat_networks,
        network_vlan_ranges=args.network_vlan_ranges,
        vni_ranges=args.vni_ranges,
        gre_tunnel_id_ranges=args.gre_tunnel_id_ranges,
        geneve_vni_ranges=args.geneve_vni_ranges,
        mechanism_drivers=drivers,
        agent_down_time=args.agent_down_time,
        heartbeat_interval=args.heartbeat_interval,
        agent_check_interval=args.agent_check_interval,
        driver_timeout=args.driver_timeout,
        log_level=args.log_level,
        log_format=args.log_format,
        extra_env=dict(args.env),
        port_offset=args.port_offset,
        free_ports=args.free_ports,
        auth=not getattr(args, "no_auth", True),
        tls=bool(getattr(args, "tls", False)),
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``ml2 up``."""
    up = sub.add_parser(
        "up",
        help="run typemgr, mechmgr, portapi and the driver processes until Ctrl-C",
        description="Starts typemgr and the mechanism driver processes, then mechmgr, then "
        "portapi, each a separate process on SQLite files under the data dir (or PostgreSQL), "
        "waits until each answers its health check, prints their addresses and runs until "
        "Ctrl-C or SIGTERM, which stop them in reverse order.",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="databases and logs/ go here (default ./data)",
    )
    up.add_argument(
        "--start-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long each process may take to answer health (default %(default)s)",
    )
    up.add_argument(
        "--no-auth",
        action="store_true",
        help="serve every caller without a token (by default every call needs one: a signing "
        "key and tokens are kept under DATA_DIR/auth)",
    )
    up.add_argument(
        "--tls",
        action="store_true",
        help="serve and call mutual TLS only: a local CA and a certificate per process are kept "
        "under DATA_DIR/tls (docs/tls.md); client commands on this machine present the "
        "administrator's certificate",
    )
    add_stack_arguments(up)
    up.set_defaults(func=run_up, needs_client=False)


def _say(text: str) -> None:
    print(text, flush=True)


def run_up(args: argparse.Namespace) -> int:
    """Starts the stack, prints the table, waits for a signal or a death; returns exit status."""
    cfg = config_from_args(args, args.data_dir)
    try:
        stack.check_ports_free(cfg)
    except stack.StackError as err:
        print(f"ml2 up: cannot start: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    running = stack.Stack(cfg, start_timeout=args.start_timeout)
    try:
        _say(f"starting {', '.join(cfg.process_names())} (logs in {cfg.log_dir}) ...")
        try:
            running.start()
        except launcher.LaunchError as err:
            print(f"ml2 up: cannot start: {err}", file=sys.stderr)
            return 1
        for change in running.schema_changes:
            if change.changed:
                _say(f"upgraded the {change.service} database schema to revision {change.after}")
        if stop.is_set():
            return _shutdown(running)
        _say(render.process_rows(running.rows()))
        env_file = running.write_client_env()
        _say(
            f"\nThe stack is up: client commands reach portapi at {running.address('portapi')} "
            f"and mechmgr at {running.address('mechmgr')}. Ctrl-C or SIGTERM stops it."
        )
        _say(f"Point client commands at it (also in {env_file}; `source` it):")
        _say("".join(f"  export {k}={v}\n" for k, v in running.client_env().items()).rstrip())
        if cfg.auth:
            _say(
                f"Every call needs a token: the administrator's is {running.admin_token_path()} "
                "(client commands on this machine find it there or in ML2_TOKEN_FILE / "
                f"ML2_TOKEN); a member of project {local_auth.DEMO_PROJECT}'s is "
                f"{local_auth.token_path(cfg.data_dir, 'member-' + local_auth.DEMO_PROJECT)}."
            )
        else:
            _say("Authentication is off (--no-auth): every caller is answered.")
        if cfg.tls:
            _say(
                "Every connection is mutual TLS: the CA, and a certificate per process and client, "
                f"are in {local_tls.tls_dir(cfg.data_dir).resolve()} (client commands with this "
                "data dir find them there, others need the ML2_TLS_* settings printed above)."
            )
        dead = running.watch(stop)
        if dead is None:
            return _shutdown(running)
        print(
            f"ml2 up: {dead.name} (pid {dead.process.pid}) exited with status "
            f"{dead.process.returncode}; stopping the others. Last lines of {dead.log_path}:\n"
            f"{dead.log_tail(10)}",
            file=sys.stderr,
            flush=True,
        )
        running.stop()
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _shutdown(running: stack.Stack) -> int:
    _say("stopping ...")
    running.stop(on_stop=lambda name, status: _say(f"  stopped {name} (exit status {status})"))
    _say("stopped")
    return 0
