"""The local stack ``ml2 up`` runs: typemgr, the mechanism driver processes, mechmgr, portapi.

``StackConfig`` holds every choice (addresses, databases, type and mechanism settings);
``*_env`` turn it into each process's environment variables (pure functions, unit-tested);
``Stack`` first upgrades the three databases' schemas (``services.migrations``), then starts the
processes with ``services.launcher`` in dependency order, with ``ML2_DB_MIGRATE=check`` so that
none of them migrates on its own, watches them and stops them in reverse order.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ml2_driver_sdk import discovery

from services import launcher
from services.security import local as local_auth
from services.security import local_tls

if TYPE_CHECKING:
    from services import migrations

logger = logging.getLogger(__name__)

CORE_SERVICES = ("typemgr", "mechmgr", "portapi")
"""The three stateful services, each with its own database."""

LOCAL_DRIVERS = ("openvswitch", "linuxbridge", "noop")
"""The mechanism drivers modular-l2 ships (``ml2 up`` has port flags for them); ``ml2 up`` can
start any installed driver (``discovery``) as a process of its own."""

DEFAULT_DRIVERS = "sdn-controller,openvswitch,linuxbridge,hyperv,sriov,macvtap,baremetal"
"""What ``ml2 up`` starts and configures by default, in binding order: the controller first (it
binds a host's tunnel segment at level 0 only where the topology links the host, and declines
every port until then), then the agent-based drivers in Neutron's usual order, then the
bare-metal driver (vnic type baremetal only)."""

DEFAULT_PORTS: Mapping[str, tuple[int, int]] = {
    "portapi": (50050, 9100),
    "typemgr": (50051, 9101),
    "mechmgr": (50052, 9102),
    "openvswitch": (50061, 9111),
    "linuxbridge": (50062, 9112),
    "noop": (50069, 9119),
}
"""Default (gRPC port, metrics port) of every process."""


def default_ports(name: str) -> tuple[int, int]:
    """The default (gRPC port, metrics port) of process ``name``: a service's, a shipped
    driver's, or what an installed driver's spec declares."""
    if name in DEFAULT_PORTS:
        return DEFAULT_PORTS[name]
    try:
        spec = discovery.find(name).load()
    except discovery.DiscoveryError as err:
        raise StackError(str(err)) from None
    return spec.default_port, spec.default_metrics_port


_ENV_PREFIX = {"typemgr": "TYPEMGR", "mechmgr": "MECHMGR", "portapi": "PORTAPI"}


class StackError(Exception):
    """The stack cannot start as configured. The message is one line for the operator."""


class DatabaseError(launcher.LaunchError):
    """A database could not be upgraded before the start; nothing was started."""


class PortInUse(StackError):
    """A port the stack needs is taken by another program (or configured twice)."""


@dataclass(frozen=True)
class DriverEntry:
    """One mechanism driver in binding order: started locally, or already running at ``address``."""

    name: str
    address: str = ""

    @property
    def local(self) -> bool:
        """True when ``ml2 up`` starts this driver itself."""
        return not self.address


def parse_mechanism_drivers(text: str) -> tuple[DriverEntry, ...]:
    """Parses ``openvswitch,linuxbridge`` or ``name=host:port`` entries, in binding order.

    A bare name must be an installed driver (``ml2 driver list --installed``), which ``ml2 up``
    starts; ``name=host:port`` names a driver process that runs elsewhere. Raises StackError on
    an unknown name, a duplicate or an empty list.
    """
    entries: list[DriverEntry] = []
    startable = {*LOCAL_DRIVERS, *discovery.installed()}
    for raw in (item.strip() for item in text.split(",")):
        if not raw:
            continue
        name, _, address = (part.strip() for part in raw.partition("="))
        if not name or (not address and "=" in raw):
            raise StackError(f"--mechanism-drivers: {raw!r} must be NAME or NAME=HOST:PORT")
        if not address and name not in startable:
            raise StackError(
                f"--mechanism-drivers: unknown driver {name!r}; ml2 up can start the installed "
                f"drivers ({', '.join(sorted(startable))}), others need NAME=HOST:PORT"
            )
        if any(e.name == name for e in entries):
            raise StackError(f"--mechanism-drivers: {name!r} is listed twice")
        entries.append(DriverEntry(name, address))
    if not entries:
        raise StackError("--mechanism-drivers: at least one driver is required")
    return tuple(entries)


def _number(value: float) -> str:
    """Formats 3.0 as "3" and 0.5 as "0.5", so integer settings parse either way."""
    return str(int(value)) if float(value).is_integer() else str(value)


def connect_host(listen_host: str) -> str:
    """Returns the host clients use to reach a server listening on ``listen_host``."""
    if listen_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if listen_host in ("[::]", "::"):
        return "[::1]"
    return listen_host


def _served_names(listen_host: str) -> tuple[str, ...]:
    """The names a certificate needs besides the loopback ones: the listen address, when it is a
    particular one, and this machine's name."""
    host = listen_host.strip("[]")
    names = [socket.gethostname()]
    if host not in ("", "0.0.0.0", "::"):
        names.append(host)
    return tuple(names)


@dataclass(frozen=True)
class StackConfig:
    """Everything ``ml2 up`` decides. Defaults serve the demo; every field has a flag."""

    data_dir: Path = Path("data")
    listen_host: str = "127.0.0.1"
    ports: Mapping[str, int] = field(default_factory=dict)
    metrics_ports: Mapping[str, int] = field(default_factory=dict)
    database_urls: Mapping[str, str] = field(default_factory=dict)
    type_drivers: str = "local,flat,vlan,gre,vxlan,geneve"
    tenant_network_types: str = "vxlan"
    flat_networks: str = "physnet1"
    network_vlan_ranges: str = "physnet1:100:199"
    vni_ranges: str = "1000:1999"
    gre_tunnel_id_ranges: str = ""
    geneve_vni_ranges: str = ""
    mechanism_drivers: tuple[DriverEntry, ...] = (
        DriverEntry("openvswitch"),
        DriverEntry("linuxbridge"),
    )
    """The two agent-based drivers of the dataplane, what the benchmarks and the dataplane demo
    measure; ``ml2 up`` and ``ml2 demo`` give ``DEFAULT_DRIVERS``, every shipped driver."""
    agent_down_time: int | None = None
    heartbeat_interval: int | None = None
    agent_check_interval: float | None = None
    driver_timeout: float | None = None
    log_level: str = "INFO"
    log_format: str = "json"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port_offset: int = 0
    """Added to every default port (not to ports given explicitly), so a second stack on one
    machine needs one flag."""
    free_ports: bool = False
    """Every port not given explicitly is picked free (0)."""
    auth: bool = False
    """Every call needs a token (``services.security.local``: a key and tokens under the data
    dir); ``ml2 up`` turns it on unless ``--no-auth``."""
    tls: bool = False
    """Every process serves and calls mutual TLS only (``services.security.local_tls``: a CA
    and certificates under the data dir); ``ml2 up --tls``."""

    @property
    def log_dir(self) -> Path:
        """Where every process writes its log."""
        return self.data_dir / "logs"

    def grpc_port(self, name: str) -> int:
        """The configured gRPC port of a process (0 picks a free one)."""
        return self.ports.get(name, self._default_port(default_ports(name)[0]))

    def metrics_port(self, name: str) -> int:
        """The configured metrics port of a process (0 picks a free one)."""
        return self.metrics_ports.get(name, self._default_port(default_ports(name)[1]))

    def _default_port(self, port: int) -> int:
        return 0 if self.free_ports else port + self.port_offset

    def database_url(self, service: str) -> str:
        """The database of a stateful service: the flag's URL or a SQLite file in the data dir."""
        url = self.database_urls.get(service, "")
        return url or f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def local_drivers(self) -> list[str]:
        """The names of the driver processes this stack starts, in binding order."""
        return [d.name for d in self.mechanism_drivers if d.local]

    def process_names(self) -> list[str]:
        """Every process of the stack in start order."""
        return ["typemgr", *self.local_drivers(), "mechmgr", "portapi"]


def _common_env(cfg: StackConfig, name: str) -> dict[str, str]:
    env = {"ML2_LOG_LEVEL": cfg.log_level, "ML2_LOG_FORMAT": cfg.log_format}
    if cfg.auth:
        env.update(local_auth.process_env(cfg.data_dir, name))
    else:
        env["ML2_AUTH_DISABLED"] = "1"  # a process refuses to start unauthenticated otherwise
    # Without --tls, settings a shell exported (a sourced ml2.env) must not make a process serve
    # TLS: they are blanked.
    env.update(dict.fromkeys(local_tls.SETTINGS, ""))
    if cfg.tls:
        env.update(local_tls.process_env(cfg.data_dir, name))
    return env


def _database_env(cfg: StackConfig, prefix: str, service: str) -> dict[str, str]:
    """The database of a stateful service; ``Stack.start`` has upgraded it already."""
    return {f"{prefix}_DATABASE_URL": cfg.database_url(service), "ML2_DB_MIGRATE": "check"}


def _listen_env(cfg: StackConfig, prefix: str, name: str) -> dict[str, str]:
    return {
        f"{prefix}_LISTEN": f"{cfg.listen_host}:{cfg.grpc_port(name)}",
        f"{prefix}_METRICS_PORT": str(cfg.metrics_port(name)),
    }


def typemgr_env(cfg: StackConfig) -> dict[str, str]:
    """The environment of the typemgr process."""
    env = _common_env(cfg, "typemgr")
    env.update(_listen_env(cfg, "TYPEMGR", "typemgr"))
    env.update(_database_env(cfg, "TYPEMGR", "typemgr"))
    env.update(
        TYPEMGR_TYPE_DRIVERS=cfg.type_drivers,
        TYPEMGR_TENANT_NETWORK_TYPES=cfg.tenant_network_types,
        TYPEMGR_FLAT_NETWORKS=cfg.flat_networks,
        TYPEMGR_NETWORK_VLAN_RANGES=cfg.network_vlan_ranges,
        TYPEMGR_VXLAN_VNI_RANGES=cfg.vni_ranges,
        TYPEMGR_GRE_TUNNEL_ID_RANGES=cfg.gre_tunnel_id_ranges,
        TYPEMGR_GENEVE_VNI_RANGES=cfg.geneve_vni_ranges,
    )
    env.update(cfg.extra_env)
    return env


def driver_env(cfg: StackConfig, name: str) -> dict[str, str]:
    """The environment of the mechanism driver process ``name``."""
    env = _common_env(cfg, name)
    env.update(_listen_env(cfg, "MECHDRIVER", name))
    env.update(cfg.extra_env)
    return env


def mechmgr_env(
    cfg: StackConfig, typemgr_address: str, driver_addresses: Mapping[str, str]
) -> dict[str, str]:
    """The environment of mechmgr, given where typemgr and the local drivers really listen."""
    ordered = [f"{d.name}={d.address or driver_addresses[d.name]}" for d in cfg.mechanism_drivers]
    env = _common_env(cfg, "mechmgr")
    env.update(_listen_env(cfg, "MECHMGR", "mechmgr"))
    env.update(_database_env(cfg, "MECHMGR", "mechmgr"))
    env.update(
        MECHMGR_TYPEMGR_ADDRESS=typemgr_address,
        MECHMGR_MECHANISM_DRIVERS=",".join(ordered),
    )
    if cfg.agent_down_time is not None:
        env["MECHMGR_AGENT_DOWN_TIME_SECONDS"] = _number(cfg.agent_down_time)
    if cfg.heartbeat_interval is not None:
        env["MECHMGR_HEARTBEAT_INTERVAL_SECONDS"] = _number(cfg.heartbeat_interval)
    if cfg.driver_timeout is not None:
        env["MECHMGR_DRIVER_TIMEOUT_SECONDS"] = _number(cfg.driver_timeout)
    env.update(cfg.extra_env)
    return env


def portapi_env(cfg: StackConfig, typemgr_address: str, mechmgr_address: str) -> dict[str, str]:
    """The environment of portapi, given where typemgr and mechmgr really listen."""
    env = _common_env(cfg, "portapi")
    env.update(_listen_env(cfg, "PORTAPI", "portapi"))
    env.update(_database_env(cfg, "PORTAPI", "portapi"))
    env.update(
        PORTAPI_TYPEMGR_ADDRESS=typemgr_address,
        PORTAPI_MECHMGR_ADDRESS=mechmgr_address,
    )
    if cfg.agent_check_interval is not None:
        env["PORTAPI_AGENT_CHECK_INTERVAL_SECONDS"] = _number(cfg.agent_check_interval)
    env.update(cfg.extra_env)
    return env


def upgrade_databases(cfg: StackConfig) -> list[migrations.Change]:
    """Upgrades the schema of every stateful service's database to head (a service without
    migrations is left to create its tables). Raises DatabaseError naming the service."""
    from services import migrations  # alembic and SQLAlchemy: only to start a stack

    changes = []
    for service in CORE_SERVICES:
        try:
            changes.append(migrations.upgrade(cfg.database_url(service), service))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise DatabaseError(f"cannot upgrade the {service} database: {reason}") from None
    return changes


def _port_taken(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR ignores sockets in TIME_WAIT but still fails on a listening socket.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]") or "0.0.0.0", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise StackError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return False


MAX_PORT_OFFSET = 65535 - max(max(ports) for ports in DEFAULT_PORTS.values())
"""The largest ``--port-offset`` that keeps every default port valid."""


def check_ports_free(cfg: StackConfig) -> None:
    """Raises PortInUse naming the first port that is configured twice or already taken."""
    seen: dict[int, str] = {}
    for name in cfg.process_names():
        for kind, port in (("gRPC", cfg.grpc_port(name)), ("metrics", cfg.metrics_port(name))):
            if port == 0:
                continue
            what = f"{name} {kind}"
            if port in seen:
                raise PortInUse(f"port {port} is configured for both {seen[port]} and {what}")
            seen[port] = what
            host = cfg.listen_host if kind == "gRPC" else "127.0.0.1"
            if _port_taken(host, port):
                raise PortInUse(
                    f"port {port} on {host} ({what}) is already in use; stop what holds it, "
                    "or move this stack with --port-offset N or --free-ports"
                )


@dataclass(frozen=True)
class ProcessRow:
    """What ``ml2 up`` prints about one running process."""

    name: str
    address: str
    metrics_url: str
    pid: int
    log: str


class Stack:
    """The running processes of one stack. ``start`` then ``watch``/``stop``."""

    def __init__(self, cfg: StackConfig, start_timeout: float = 30.0) -> None:
        self.cfg = cfg
        self.start_timeout = start_timeout
        self.processes: dict[str, launcher.ServiceProcess] = {}
        self.schema_changes: list[migrations.Change] = []
        self._lock = threading.Lock()

    def address(self, name: str) -> str:
        """The address clients use to reach a started process."""
        proc = self.processes[name]
        return f"{connect_host(self.cfg.listen_host)}:{proc.grpc_port}"

    def client_env(self) -> dict[str, str]:
        """The environment that points the client commands at this stack (and, with
        authentication, gives them the administrator's token)."""
        env = {
            "ML2_PORTAPI_ADDRESS": self.address("portapi"),
            "ML2_MECHMGR_ADDRESS": self.address("mechmgr"),
            "ML2_TYPEMGR_ADDRESS": self.address("typemgr"),
        }
        if self.cfg.auth:
            env["ML2_TOKEN_FILE"] = str(self.admin_token_path())
        if self.cfg.tls:
            env.update(local_tls.client_env(self.cfg.data_dir, "admin"))
        return env

    def admin_token_path(self) -> Path:
        """The administrator's token (with authentication on)."""
        return self.token_path("admin")

    def token_path(self, name: str) -> Path:
        """The token ``ml2 up`` wrote for ``name`` (``admin``, ``compute``, ``member-demo``, a
        process), with authentication on."""
        return local_auth.token_path(self.cfg.data_dir, name).resolve()

    def write_client_env(self) -> Path:
        """Writes ``client_env`` as ``export`` lines to ``DATA_DIR/ml2.env``; returns the path."""
        path = self.cfg.data_dir / "ml2.env"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"export {k}={v}\n" for k, v in self.client_env().items()))
        return path

    def start(self) -> None:
        """Upgrades the databases, then starts typemgr and the local drivers, then mechmgr, then
        portapi, each stage waiting until its processes answer health. On failure stops what
        started and raises launcher.LaunchError (DatabaseError if a database failed)."""
        cfg = self.cfg
        self.schema_changes = upgrade_databases(cfg)
        if cfg.auth:
            local_auth.prepare(cfg.data_dir, cfg.process_names())
        if cfg.tls:
            local_tls.prepare(cfg.data_dir, cfg.process_names(), _served_names(cfg.listen_host))
        else:
            local_tls.forget(cfg.data_dir)
        try:
            first = {"typemgr": typemgr_env(cfg)}
            first.update({name: driver_env(cfg, name) for name in cfg.local_drivers()})
            self._start_stage(first)
            drivers = {name: self.address(name) for name in cfg.local_drivers()}
            self._start_stage({"mechmgr": mechmgr_env(cfg, self.address("typemgr"), drivers)})
            self._start_stage(
                {"portapi": portapi_env(cfg, self.address("typemgr"), self.address("mechmgr"))}
            )
        except BaseException:
            self.stop()
            raise

    def _start_stage(self, envs: Mapping[str, Mapping[str, str]]) -> None:
        with futures.ThreadPoolExecutor(max_workers=len(envs)) as pool:
            jobs = {pool.submit(self._start_one, name, env): name for name, env in envs.items()}
            errors = [job.exception() for job in futures.as_completed(jobs)]
        failed = [err for err in errors if err is not None]
        if failed:
            raise failed[0]

    def _start_one(self, name: str, env: Mapping[str, str]) -> None:
        driver = name in self.cfg.local_drivers()
        # A driver is started by name, as any installed one: ``python -m
        # ml2_driver_sdk NAME``.
        module = "ml2_driver_sdk" if driver else f"services.{name}"
        proc = launcher.start(
            name,
            module,
            env,
            log_dir=self.cfg.log_dir,
            timeout=self.start_timeout,
            args=(name,) if driver else (),
        )
        with self._lock:
            self.processes[name] = proc

    def rows(self) -> list[ProcessRow]:
        """One row per process, in start order."""
        rows = []
        for name in self.cfg.process_names():
            proc = self.processes.get(name)
            if proc is None:
                continue
            rows.append(
                ProcessRow(
                    name=name if name in CORE_SERVICES else f"mechdriver-{name}",
                    address=self.address(name),
                    metrics_url=f"http://127.0.0.1:{proc.metrics_port}/metrics",
                    pid=proc.process.pid,
                    log=str(proc.log_path),
                )
            )
        return rows

    def first_dead(self) -> launcher.ServiceProcess | None:
        """Returns a process that has exited, if any."""
        return next((p for p in self.processes.values() if not p.alive()), None)

    def watch(self, stop: threading.Event, poll: float = 0.2) -> launcher.ServiceProcess | None:
        """Blocks until ``stop`` is set (returns None) or a process exits (returns it)."""
        while not stop.wait(poll):
            dead = self.first_dead()
            if dead is not None:
                # Ctrl-C reaches the children too; give our own handler the chance to see it.
                if stop.wait(0.5):
                    return None
                return dead
        return None

    def stop(self, on_stop: Callable[[str, int], None] | None = None) -> dict[str, int]:
        """Stops every process in reverse start order; returns each one's exit status."""
        statuses: dict[str, int] = {}
        for name in reversed(self.cfg.process_names()):
            proc = self.processes.get(name)
            if proc is None:
                continue
            statuses[name] = proc.stop()
            if on_stop is not None:
                on_stop(name, statuses[name])
        return statuses
