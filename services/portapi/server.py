"""Composition root of portapi: settings, logging, database, peer channels, servicers, server.

The only place that creates the engine and the channels. Run with ``python -m services.portapi``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import grpc
from ml2.v1 import network_service_pb2_grpc, port_service_pb2_grpc
from ml2_driver_sdk.runtime import config, keepalive, logs, server, tls
from sqlalchemy.orm import Session, sessionmaker

from services import migrations, policy, sql
from services.portapi import clients, metrics
from services.portapi import resources as r
from services.portapi.bindability import BindabilityChecker
from services.portapi.binding import Binder
from services.portapi.config import Settings, ensure_sqlite_directory, log_settings
from services.portapi.db import codec
from services.portapi.db import repository as repo
from services.portapi.devices import DeviceStatus
from services.portapi.hold_retrier import HoldSyncRetrier
from services.portapi.liveness import AgentLiveness
from services.portapi.network_servicer import NetworkServicer
from services.portapi.networks import NetworkManager
from services.portapi.port_servicer import PortServicer
from services.portapi.ports import PortManager
from services.portapi.rebind import FailedPortRebinder
from services.portapi.reconciler import Reconciler
from services.portapi.retention import EventPruner
from services.portapi.watch import EventHub

logger = logging.getLogger(__name__)

SERVICE = "portapi"

T = TypeVar("T")


@dataclass(frozen=True)
class Application:
    """The wired domain objects of one portapi process."""

    networks: NetworkManager
    ports: PortManager
    binder: Binder
    devices: DeviceStatus
    hub: EventHub
    checker: BindabilityChecker

    def registrations(self) -> list[server.Registration]:
        """Returns the servicers to serve, for ``run_service`` or ``build_server``."""
        return [
            (
                network_service_pb2_grpc.add_NetworkServiceServicer_to_server,
                NetworkServicer(self.networks),
                "ml2.v1.NetworkService",
            ),
            (
                port_service_pb2_grpc.add_PortServiceServicer_to_server,
                PortServicer(self.ports, self.devices, self.hub, self.checker),
                "ml2.v1.PortService",
            ),
        ]


def build(
    factory: sessionmaker[Session],
    segments: clients.SegmentAllocator,
    resolver: clients.MechanismManager,
    bind_max_tries: int,
    holds: clients.HoldSyncer | None = None,
    hub: EventHub | None = None,
) -> Application:
    """Wires the managers over a session factory and the peer clients. ``holds`` tells typemgr
    which dynamic segments each port's binding uses (None: nobody is told). ``hub`` serves
    WatchPorts (by default one over ``factory`` without notifications, for one process); the
    caller starts and closes it."""
    binder = Binder(factory, resolver, bind_max_tries, holds)
    return Application(
        NetworkManager(factory, segments),
        PortManager(factory, binder),
        binder,
        DeviceStatus(factory),
        hub if hub is not None else EventHub(factory),
        BindabilityChecker(factory, resolver),
    )


def main() -> None:
    """Runs portapi until SIGTERM or SIGINT."""
    try:
        settings = Settings.from_env()
        tls.process_files()  # the channels' ML2_TLS_* settings, checked before any is opened
    except config.ConfigError as err:
        config.exit_on_config_error(SERVICE, err)
        return
    server.check_start_settings(SERVICE)  # before the database is touched
    keepalive.install(settings.keepalive)
    level, fmt = log_settings()
    logs.configure_logging(SERVICE, level, fmt)
    ensure_sqlite_directory(settings.database_url)
    migrations.prepare_at_start(SERVICE, settings.database_url, settings.db_migrate)
    engine = sql.make_engine(settings.database_url, pool_size=settings.db_pool_size)
    factory = sql.session_factory(engine)
    typemgr: grpc.Channel = clients.open_channel(settings.typemgr_address)
    mechmgr: grpc.Channel = clients.open_channel(settings.mechmgr_address)
    segments = clients.SegmentClient(typemgr, settings.typemgr_timeout_seconds)
    hub = EventHub.for_engine(
        factory,
        engine,
        queue_size=settings.watch_queue_size,
        poll_interval=settings.event_poll_seconds,
        batch_interval=settings.event_batch_seconds,
        batch_window=settings.watch_batch_window_seconds,
    )
    app = build(
        factory,
        segments,
        clients.MechanismManagerClient(mechmgr, settings.mechmgr_timeout_seconds),
        settings.bind_max_tries,
        holds=segments,
        hub=hub,
    )
    hub.start()
    repo.add_commit_listener(metrics.count_events)
    metrics.register_port_status(
        metrics.PortStatusCollector(
            functools.partial(_read, factory, repo.count_by_status),
            lambda age: _read(factory, _stuck_in_build, age),
        )
    )
    logger.info(
        "typemgr at %s, mechmgr at %s, database %s",
        settings.typemgr_address,
        settings.mechmgr_address,
        engine.url.render_as_string(),
    )

    retrier = HoldSyncRetrier(factory, app.binder, settings.hold_sync_retry_seconds)
    retrier.start()
    reconciler = Reconciler(
        factory,
        app.binder,
        app.networks,
        interval=settings.reconcile_interval_seconds,
        grace=settings.reconcile_grace_seconds,
    )
    reconciler.start()
    logger.info(
        "reconciler every %gs for work pending longer than %gs",
        settings.reconcile_interval_seconds,
        settings.reconcile_grace_seconds,
    )

    pruner = EventPruner(
        factory,
        keep=settings.event_retention_count,
        max_age=settings.event_retention_seconds,
        interval=settings.event_prune_interval_seconds,
    )
    pruner.start()
    agent_client = clients.AgentClient(mechmgr, settings.mechmgr_timeout_seconds)
    liveness = AgentLiveness(app.devices, agent_client, settings.agent_check_interval_seconds)
    liveness.start()
    rebinder = FailedPortRebinder(
        factory, app.binder, agent_client, settings.agent_check_interval_seconds
    )
    rebinder.start()

    def on_stop() -> None:
        rebinder.stop()
        liveness.stop()
        pruner.stop()
        reconciler.stop()
        retrier.stop()
        app.binder.close()
        typemgr.close()
        mechmgr.close()
        engine.dispose()

    server.run_service(
        SERVICE,
        app.registrations(),
        listen=settings.listen,
        metrics_port=settings.metrics_port,
        port_file=os.environ.get("ML2_PORT_FILE", ""),
        on_stop=on_stop,
        on_stopping=hub.close,
        max_workers=settings.rpc_workers,
        asyncio_streams=True,
        auth_builder=policy.authenticator,
        audited_methods=policy.AUDITED_METHODS,
    )


def _read(factory: sessionmaker[Session], query: Callable[..., T], *args: Any) -> T:
    with sql.read_session(factory) as session:
        return query(session, *args)


def _stuck_in_build(session: Session, age: timedelta) -> int:
    return repo.count_in_status_since(session, r.PORT_BUILD, codec.now() - age)
