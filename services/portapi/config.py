"""portapi settings, read once from the environment at start-up.

Every variable is prefixed ``PORTAPI_``; a malformed value stops the process with a one-line
reason (``exit_on_config_error``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ml2_driver_sdk.runtime import config
from ml2_driver_sdk.runtime.keepalive import Keepalive

DEFAULT_DATABASE_URL = "sqlite:///./data/portapi.db"
GRACE_MARGIN_SECONDS = 5.0
"""Added to the longest request for the default reconciler grace period."""


@dataclass(frozen=True)
class Settings:
    """The typed configuration of one portapi process."""

    listen: str = "127.0.0.1:50050"
    """``PORTAPI_LISTEN``: host:port the gRPC server binds (port 0 picks a free port)."""

    metrics_port: int = 9100
    """``PORTAPI_METRICS_PORT``: HTTP port of the Prometheus /metrics endpoint (0 picks one)."""

    database_url: str = DEFAULT_DATABASE_URL
    """``PORTAPI_DATABASE_URL``: SQLAlchemy URL of the networks/ports database. SQLite for one
    replica; PostgreSQL (``postgresql+psycopg://...``) when several replicas share the data."""

    typemgr_address: str = "127.0.0.1:50051"
    """``PORTAPI_TYPEMGR_ADDRESS``: host:port of typemgr's SegmentService."""

    mechmgr_address: str = "127.0.0.1:50052"
    """``PORTAPI_MECHMGR_ADDRESS``: host:port of mechmgr's MechanismManagerService."""

    typemgr_timeout_seconds: float = 5.0
    """``PORTAPI_TYPEMGR_TIMEOUT_SECONDS``: deadline of each call to typemgr."""

    mechmgr_timeout_seconds: float = 5.0
    """``PORTAPI_MECHMGR_TIMEOUT_SECONDS``: deadline of each ResolveBinding call. A binding that
    mechmgr does not resolve in time ends ``binding_failed`` with MECHANISM_MANAGER_UNAVAILABLE."""

    bind_max_tries: int = 10
    """``PORTAPI_BIND_MAX_TRIES``: how many times one request resolves a binding when concurrent
    changes of the binding inputs keep winning; after that the request is ABORTED."""

    hold_sync_retry_seconds: float = 30.0
    """``PORTAPI_HOLD_SYNC_RETRY_SECONDS``: how often dynamic segment hold syncs that typemgr
    could not be told are sent again, and how old they must be."""

    reconcile_interval_seconds: float = 30.0
    """``PORTAPI_RECONCILE_INTERVAL_SECONDS``: how often the reconciler looks for bindings,
    network creations and deletions and segment releases that requests left unfinished (also
    once at start)."""

    reconcile_grace_seconds: float = 0.0
    """``PORTAPI_RECONCILE_GRACE_SECONDS``: how long work must have been pending before the
    reconciler takes it over; at least ``longest_request_seconds``, so that it never takes work
    a request is still doing. Unset (0): that bound plus 5 s."""

    rpc_workers: int = 32
    """``PORTAPI_RPC_WORKERS``: requests worked on at once; later ones wait in arrival order.
    Open WatchPorts streams do not count: they are served on the server's event loop."""

    agent_check_interval_seconds: float = 15.0
    """``PORTAPI_AGENT_CHECK_INTERVAL_SECONDS``: how often portapi asks mechmgr which agents are
    alive and takes the ACTIVE and BUILD ports of dead or removed agents DOWN, and how often it
    looks for agents that registered, came back alive, changed their capabilities or were
    allowed to bind again, to retry the failed bindings of their hosts (also once at start)."""

    event_retention_count: int = 100000
    """``PORTAPI_EVENT_RETENTION_COUNT``: the most port events the log keeps (the newest)."""

    event_retention_seconds: float = 3600.0
    """``PORTAPI_EVENT_RETENTION_SECONDS``: how long the log keeps a port event. A watcher that
    reconnects after more history than this (or than the count) was pruned gets RESYNC."""

    event_prune_interval_seconds: float = 60.0
    """``PORTAPI_EVENT_PRUNE_INTERVAL_SECONDS``: how often the log is pruned (also at start)."""

    event_poll_seconds: float = 5.0
    """``PORTAPI_EVENT_POLL_SECONDS``: how often the event hub reads the log without being woken;
    on PostgreSQL it is woken by other replicas' notifications, so this only bounds the delay
    of a lost one."""

    event_batch_seconds: float = 0.01
    """``PORTAPI_EVENT_BATCH_SECONDS``: the shortest time between two reads of the log by the
    event hub. A wake within it waits for the rest, so that under load each read takes the
    events of several commits and each watcher's stream is woken once for all of them; an
    idle hub reads at once. 0: a read per wake."""

    watch_batch_window_seconds: float = 0.02
    """``PORTAPI_WATCH_BATCH_WINDOW_SECONDS``: how long a WatchPorts stream that asked for
    batches (``max_batch``) waits after a change for more to send with it. 0: it sends what is
    pending at once. Streams without ``max_batch`` never wait."""

    watch_queue_size: int = 10000
    """``PORTAPI_WATCH_QUEUE_SIZE``: how many events a watcher may fall behind before its
    stream ends with RESYNC."""

    db_pool_size: int = 10
    """``PORTAPI_DB_POOL_SIZE``: connections kept open to PostgreSQL (ignored for SQLite). A
    request holds one only during its short transactions, never while it waits on mechmgr."""

    db_migrate: str = "auto"
    """``ML2_DB_MIGRATE``: auto upgrades the schema at start; check refuses to start unless it
    is current (``ml2 db upgrade`` upgrades it)."""

    keepalive: Keepalive = field(default_factory=Keepalive)
    """``ML2_GRPC_KEEPALIVE_TIME_SECONDS``, ``ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS``: the keepalive
    of the server and of the channels to typemgr and mechmgr."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Reads the settings; raises ConfigError naming the variable and the rule."""
        env = config.env(environ)
        workers = config.get_rpc_workers(env, "PORTAPI", cls.rpc_workers)
        settings = cls(
            listen=config.get_str(env, "PORTAPI_LISTEN", cls.listen),
            metrics_port=config.get_int(env, "PORTAPI_METRICS_PORT", cls.metrics_port),
            database_url=config.get_str(env, "PORTAPI_DATABASE_URL", cls.database_url),
            typemgr_address=config.get_str(env, "PORTAPI_TYPEMGR_ADDRESS", cls.typemgr_address),
            mechmgr_address=config.get_str(env, "PORTAPI_MECHMGR_ADDRESS", cls.mechmgr_address),
            typemgr_timeout_seconds=config.get_float(
                env, "PORTAPI_TYPEMGR_TIMEOUT_SECONDS", cls.typemgr_timeout_seconds, minimum=0.01
            ),
            mechmgr_timeout_seconds=config.get_float(
                env, "PORTAPI_MECHMGR_TIMEOUT_SECONDS", cls.mechmgr_timeout_seconds, minimum=0.01
            ),
            bind_max_tries=config.get_int(
                env, "PORTAPI_BIND_MAX_TRIES", cls.bind_max_tries, minimum=1
            ),
            hold_sync_retry_seconds=config.get_float(
                env, "PORTAPI_HOLD_SYNC_RETRY_SECONDS", cls.hold_sync_retry_seconds, minimum=0.05
            ),
            reconcile_interval_seconds=config.get_float(
                env,
                "PORTAPI_RECONCILE_INTERVAL_SECONDS",
                cls.reconcile_interval_seconds,
                minimum=0.05,
            ),
            reconcile_grace_seconds=config.get_float(
                env, "PORTAPI_RECONCILE_GRACE_SECONDS", cls.reconcile_grace_seconds, minimum=0.0
            ),
            rpc_workers=workers,
            agent_check_interval_seconds=config.get_float(
                env,
                "PORTAPI_AGENT_CHECK_INTERVAL_SECONDS",
                cls.agent_check_interval_seconds,
                minimum=0.05,
            ),
            event_retention_count=config.get_int(
                env, "PORTAPI_EVENT_RETENTION_COUNT", cls.event_retention_count, minimum=1
            ),
            event_retention_seconds=config.get_float(
                env, "PORTAPI_EVENT_RETENTION_SECONDS", cls.event_retention_seconds, minimum=1.0
            ),
            event_prune_interval_seconds=config.get_float(
                env,
                "PORTAPI_EVENT_PRUNE_INTERVAL_SECONDS",
                cls.event_prune_interval_seconds,
                minimum=0.05,
            ),
            event_poll_seconds=config.get_float(
                env, "PORTAPI_EVENT_POLL_SECONDS", cls.event_poll_seconds, minimum=0.05
            ),
            event_batch_seconds=config.get_float(
                env, "PORTAPI_EVENT_BATCH_SECONDS", cls.event_batch_seconds, minimum=0.0
            ),
            watch_batch_window_seconds=config.get_float(
                env,
                "PORTAPI_WATCH_BATCH_WINDOW_SECONDS",
                cls.watch_batch_window_seconds,
                minimum=0.0,
            ),
            watch_queue_size=config.get_int(
                env, "PORTAPI_WATCH_QUEUE_SIZE", cls.watch_queue_size, minimum=1
            ),
            db_pool_size=config.get_db_pool_size(env, "PORTAPI", cls.db_pool_size),
            db_migrate=config.get_migrate_mode(env),
            keepalive=Keepalive.from_env(env),
        )
        settings.validate()
        if not settings.reconcile_grace_seconds:
            grace = settings.longest_request_seconds + GRACE_MARGIN_SECONDS
            settings = replace(settings, reconcile_grace_seconds=grace)
        return settings

    @property
    def longest_request_seconds(self) -> float:
        """The longest a request may work on a binding or a network when its caller sets no
        deadline: every bind try waits on mechmgr, then the hold sync on typemgr; a network
        waits on typemgr twice (allocation, then the release that undoes it)."""
        bind = self.bind_max_tries * self.mechmgr_timeout_seconds + self.typemgr_timeout_seconds
        return max(bind, 2 * self.typemgr_timeout_seconds)

    def validate(self) -> None:
        """Raises ConfigError if an address or URL is malformed."""
        for name, value in (
            ("PORTAPI_LISTEN", self.listen),
            ("PORTAPI_TYPEMGR_ADDRESS", self.typemgr_address),
            ("PORTAPI_MECHMGR_ADDRESS", self.mechmgr_address),
        ):
            _check_address(name, value)
        longest = self.longest_request_seconds
        if self.reconcile_grace_seconds and self.reconcile_grace_seconds <= longest:
            raise config.ConfigError(
                f"PORTAPI_RECONCILE_GRACE_SECONDS={self.reconcile_grace_seconds:g}: must be more "
                f"than the longest a request may take, {longest:g} s "
                "(PORTAPI_BIND_MAX_TRIES x PORTAPI_MECHMGR_TIMEOUT_SECONDS + "
                "PORTAPI_TYPEMGR_TIMEOUT_SECONDS, or twice PORTAPI_TYPEMGR_TIMEOUT_SECONDS), or "
                "the reconciler would take over work still in progress"
            )
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise config.ConfigError(
                f"PORTAPI_DATABASE_URL={self.database_url!r}: must be a sqlite:/// or "
                "postgresql+psycopg:// URL"
            )


def _check_address(name: str, value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise config.ConfigError(f"{name}={value!r}: must be host:port")


def ensure_sqlite_directory(url: str) -> None:
    """Creates the directory of a ``sqlite:///path`` database file if it does not exist."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix) :] not in ("", ":memory:"):
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def log_settings() -> tuple[str, str]:
    """Returns ``ML2_LOG_LEVEL`` (INFO) and ``ML2_LOG_FORMAT`` (json), read by every process."""
    return os.environ.get("ML2_LOG_LEVEL", "INFO"), os.environ.get("ML2_LOG_FORMAT", "json")
