"""mechmgr's settings, read once from the environment and validated at start.

A bad value stops the process with status 2 and one line naming the variable and the rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ml2_driver_sdk.runtime import config
from ml2_driver_sdk.runtime.keepalive import Keepalive

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

DEFAULT_DRIVERS = "openvswitch=127.0.0.1:50061,linuxbridge=127.0.0.1:50062"
DEFAULT_FLUSH_SECONDS = 5.0
"""The longest default MECHMGR_HEARTBEAT_FLUSH_SECONDS (a quarter of the heartbeat interval)."""


@dataclass(frozen=True)
class DriverEndpoint:
    """A configured mechanism driver: its name and the address of its process."""

    name: str
    address: str


@dataclass(frozen=True)
class Settings:
    """Everything mechmgr reads from the environment."""

    listen: str = "127.0.0.1:50052"
    """``MECHMGR_LISTEN``: the gRPC address, host:port."""
    metrics_port: int = 9102
    """``MECHMGR_METRICS_PORT``: the Prometheus metrics HTTP port (0 picks a free one)."""
    database_url: str = "sqlite:///./data/mechmgr.db"
    """``MECHMGR_DATABASE_URL``: SQLAlchemy URL of the agent registry (SQLite or PostgreSQL)."""
    db_migrate: str = "auto"
    """``ML2_DB_MIGRATE``: auto upgrades the schema at start; check refuses to start unless it
    is current (``ml2 db upgrade`` upgrades it)."""
    rpc_workers: int = 32
    """``MECHMGR_RPC_WORKERS``: requests worked on at once; later ones wait in arrival order."""
    db_pool_size: int = 10
    """``MECHMGR_DB_POOL_SIZE``: PostgreSQL connections kept open. A request holds one only
    while it reads or writes agents, never while it waits on a driver."""
    mechanism_drivers: tuple[DriverEndpoint, ...] = ()
    """``MECHMGR_MECHANISM_DRIVERS``: ordered ``name=host:port`` list; order is binding order."""
    driver_timeout: float = 1.0
    """``MECHMGR_DRIVER_TIMEOUT_SECONDS``: deadline of one call to a driver; a driver slower than
    that declines with DRIVER_UNAVAILABLE."""
    driver_breaker_failures: int = 5
    """``MECHMGR_DRIVER_BREAKER_FAILURES``: consecutive failed calls (unreachable, or no answer
    within the deadline) after which a driver's circuit breaker opens and the driver is not
    asked any more until the cooldown has passed."""
    driver_breaker_cooldown: float = 10.0
    """``MECHMGR_DRIVER_BREAKER_COOLDOWN_SECONDS``: how long an open breaker refuses calls before
    one trial call is let through (half-open); its answer closes the breaker, its failure
    reopens it."""
    bindability_cache_seconds: float = 5.0
    """``MECHMGR_BINDABILITY_CACHE_SECONDS``: how long a host's answer to a bindability check
    is kept and given again while its agents, the network's segments, the vnic type, the
    profile and the drivers' breaker states are unchanged; 0 asks the drivers on every check.
    Binds always ask the drivers."""
    typemgr_address: str = "127.0.0.1:50051"
    """``MECHMGR_TYPEMGR_ADDRESS``: typemgr, for dynamic segments; empty disables them."""
    typemgr_timeout: float = 2.0
    """``MECHMGR_TYPEMGR_TIMEOUT_SECONDS``: deadline of one dynamic segment allocation."""
    agent_down_time: int = 75
    """``MECHMGR_AGENT_DOWN_TIME_SECONDS``: an agent with no sign of life for longer is dead."""
    heartbeat_interval: int = 30
    """``MECHMGR_HEARTBEAT_INTERVAL_SECONDS``: how often agents are told to send a heartbeat;
    at most half the down time, so that one lost heartbeat does not kill an agent."""
    heartbeat_flush: float | None = None
    """``MECHMGR_HEARTBEAT_FLUSH_SECONDS``: how often the heartbeats a replica received are
    written to the database, all in one statement; less than half the heartbeat interval, so
    that a replica that stops without writing them loses at most one heartbeat of each agent.
    0 writes every heartbeat before answering it. Default: a quarter of the heartbeat interval,
    at most 5 s (``flush_interval``)."""
    log_level: str = "INFO"
    """``ML2_LOG_LEVEL``."""
    log_format: str = "json"
    """``ML2_LOG_FORMAT``: json or text."""
    port_file: str = ""
    """``ML2_PORT_FILE``: where to write the bound ports (used by launchers)."""
    keepalive: Keepalive = field(default_factory=Keepalive)
    """``ML2_GRPC_KEEPALIVE_TIME_SECONDS``, ``ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS``: the keepalive
    of the server and of the channels to the drivers and typemgr."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Reads and validates the settings. Raises ConfigError naming the variable and rule."""
        env = config.env(environ)
        workers = config.get_rpc_workers(env, "MECHMGR", cls.rpc_workers)
        settings = cls(
            listen=parse_address(
                "MECHMGR_LISTEN", config.get_str(env, "MECHMGR_LISTEN", cls.listen)
            ),
            metrics_port=_port(env, "MECHMGR_METRICS_PORT", cls.metrics_port),
            database_url=_database_url(env),
            db_migrate=config.get_migrate_mode(env),
            rpc_workers=workers,
            db_pool_size=config.get_db_pool_size(env, "MECHMGR", cls.db_pool_size),
            mechanism_drivers=parse_mechanism_drivers(
                config.get_str(env, "MECHMGR_MECHANISM_DRIVERS", DEFAULT_DRIVERS)
            ),
            driver_timeout=_positive(env, "MECHMGR_DRIVER_TIMEOUT_SECONDS", cls.driver_timeout),
            driver_breaker_failures=config.get_int(
                env, "MECHMGR_DRIVER_BREAKER_FAILURES", cls.driver_breaker_failures, minimum=1
            ),
            driver_breaker_cooldown=_positive(
                env, "MECHMGR_DRIVER_BREAKER_COOLDOWN_SECONDS", cls.driver_breaker_cooldown
            ),
            bindability_cache_seconds=config.get_float(
                env, "MECHMGR_BINDABILITY_CACHE_SECONDS", cls.bindability_cache_seconds
            ),
            typemgr_address=_optional_address(env, "MECHMGR_TYPEMGR_ADDRESS", cls.typemgr_address),
            typemgr_timeout=_positive(env, "MECHMGR_TYPEMGR_TIMEOUT_SECONDS", cls.typemgr_timeout),
            agent_down_time=config.get_int(
                env, "MECHMGR_AGENT_DOWN_TIME_SECONDS", cls.agent_down_time, minimum=1
            ),
            heartbeat_interval=config.get_int(
                env, "MECHMGR_HEARTBEAT_INTERVAL_SECONDS", cls.heartbeat_interval, minimum=1
            ),
            heartbeat_flush=_optional_float(env, "MECHMGR_HEARTBEAT_FLUSH_SECONDS"),
            log_level=config.get_str(env, "ML2_LOG_LEVEL", cls.log_level).upper(),
            log_format=config.get_str(env, "ML2_LOG_FORMAT", cls.log_format),
            port_file=config.get_str(env, "ML2_PORT_FILE", ""),
            keepalive=Keepalive.from_env(env),
        )
        settings.check()
        return settings

    @property
    def flush_interval(self) -> float:
        """Seconds between two writes of the heartbeats held in memory (0: none held)."""
        if self.heartbeat_flush is None:
            return min(DEFAULT_FLUSH_SECONDS, self.heartbeat_interval / 4)
        return self.heartbeat_flush

    def check(self) -> None:
        """Checks rules that involve several settings. Raises ConfigError."""
        if self.heartbeat_interval * 2 > self.agent_down_time:
            raise config.ConfigError(
                f"MECHMGR_HEARTBEAT_INTERVAL_SECONDS={self.heartbeat_interval}: must be at most "
                f"half of MECHMGR_AGENT_DOWN_TIME_SECONDS={self.agent_down_time}"
            )
        if not math.isfinite(self.bindability_cache_seconds):
            raise config.ConfigError(
                f"MECHMGR_BINDABILITY_CACHE_SECONDS={self.bindability_cache_seconds}: must be a "
                "finite number of seconds (0 turns the cache off)"
            )
        if self.heartbeat_flush is not None and self.heartbeat_flush * 2 >= self.heartbeat_interval:
            raise config.ConfigError(
                f"MECHMGR_HEARTBEAT_FLUSH_SECONDS={self.heartbeat_flush:g}: must be less than half "
                f"of MECHMGR_HEARTBEAT_INTERVAL_SECONDS={self.heartbeat_interval} (0 writes every "
                "heartbeat at once)"
            )
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise config.ConfigError(f"ML2_LOG_LEVEL={self.log_level!r}: not a log level")
        if self.log_format not in ("json", "text"):
            raise config.ConfigError(f"ML2_LOG_FORMAT={self.log_format!r}: must be json or text")


def parse_mechanism_drivers(raw: str) -> tuple[DriverEndpoint, ...]:
    """Parses ``name=host:port,...`` (binding order). Raises ConfigError on a malformed entry,
    a repeated name, or an empty list."""
    var = "MECHMGR_MECHANISM_DRIVERS"
    endpoints: list[DriverEndpoint] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, address = (part.strip() for part in item.partition("="))
        if not sep:
            raise config.ConfigError(f"{var}: {item!r} must be name=host:port")
        if not _NAME.match(name):
            raise config.ConfigError(
                f"{var}: driver name {name!r} must be lower-case letters, digits, - or _"
            )
        if any(e.name == name for e in endpoints):
            raise config.ConfigError(f"{var}: driver {name!r} is listed twice")
        endpoints.append(DriverEndpoint(name, parse_address(f"{var} ({name})", address)))
    if not endpoints:
        raise config.ConfigError(f"{var}: at least one driver (name=host:port) is required")
    return tuple(endpoints)


def parse_address(var: str, value: str) -> str:
    """Returns ``value`` if it is host:port with a port in 0..65535. Raises ConfigError."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise config.ConfigError(f"{var}={value!r}: must be host:port")
    return value


def _optional_address(env: Mapping[str, str], var: str, default: str) -> str:
    value = config.get_str(env, var, default)
    return parse_address(var, value) if value else ""


def _port(env: Mapping[str, str], var: str, default: int) -> int:
    value = config.get_int(env, var, default)
    if value > 65535:
        raise config.ConfigError(f"{var}={value}: must be a port number (0..65535)")
    return value


def _optional_float(env: Mapping[str, str], var: str) -> float | None:
    if env.get(var, "").strip() == "":
        return None
    return config.get_float(env, var, 0.0, minimum=0.0)


def _positive(env: Mapping[str, str], var: str, default: float) -> float:
    value = config.get_float(env, var, default, minimum=float("-inf"))
    if value <= 0:
        raise config.ConfigError(f"{var}={value}: must be more than 0")
    return value


def _database_url(env: Mapping[str, str]) -> str:
    url = config.get_str(env, "MECHMGR_DATABASE_URL", Settings.database_url)
    if not url.startswith(("sqlite:", "postgresql")):
        raise config.ConfigError(
            f"MECHMGR_DATABASE_URL={url!r}: must be a sqlite:/// or postgresql+psycopg:// URL"
        )
    return url
