"""mechmgr's composition root: settings, logging, database, channels, servicers, server.

The only place that creates the engine and the channels: one long-lived channel per mechanism
driver and one to typemgr, all created here at start and closed at stop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
from ml2.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    mechanism_manager_service_pb2_grpc,
    topology_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import auth, keepalive, logs, server, tls
from ml2_driver_sdk.runtime import config as rpc_config
from ml2_driver_sdk.runtime import errors as rpc_errors
from sqlalchemy import Engine

from services import migrations, policy, sql
from services.mechmgr import (
    agent_servicer,
    agents,
    bindability_cache,
    config,
    driver_client,
    manager,
    metrics,
    segment_client,
    servicer,
    topology,
    topology_servicer,
)
from services.rpc import channels as rpc_channels

logger = logging.getLogger(__name__)

SERVICE = "mechmgr"
# Driver processes come and go (rolling updates): retry connecting within seconds, not minutes.


def main() -> None:
    """Runs mechmgr until SIGTERM or SIGINT; exits with status 2 on bad configuration and 1 if
    the database cannot be prepared."""
    try:
        settings = config.Settings.from_env()
        tls.process_files()  # the channels' ML2_TLS_* settings, checked before any is opened
    except rpc_config.ConfigError as err:
        rpc_config.exit_on_config_error(SERVICE, err)
        return
    server.check_start_settings(SERVICE)  # before the database is touched
    keepalive.install(settings.keepalive)
    logs.configure_logging(SERVICE, settings.log_level, settings.log_format)
    engine, registry = _open_registry(settings)
    metrics.register_agents_collector(registry.count_by_type)
    registry.start_flushing()
    channels = {e.name: _channel(e.address) for e in settings.mechanism_drivers}
    typemgr = _channel(settings.typemgr_address) if settings.typemgr_address else None
    links = topology.Topology(sql.session_factory(engine))
    mechanisms = _mechanism_manager(settings, registry, channels, typemgr, links)
    threading.Thread(
        target=_check_drivers, args=(mechanisms, settings.driver_timeout), daemon=True
    ).start()

    def _close() -> None:
        for channel in [*channels.values(), *([typemgr] if typemgr else [])]:
            channel.close()
        registry.close()
        engine.dispose()

    built: list[auth.Authenticator] = []

    def _build_authenticator(verifier: auth.Verifier) -> auth.Authenticator:
        built.append(_authenticator(verifier, registry))
        return built[0]

    def _stream_beat_check(agent_id: str, _context: Any) -> None:
        # A stream is authenticated when it opens; the agent its heartbeats name is checked as
        # a unary HeartbeatAgent would be (an agent's token acts for its own host only), once
        # per stream and agent id: the host of an agent id never changes.
        identity = auth.current_or_none()
        if built and identity is not None:
            request = agent_service_pb2.HeartbeatAgentRequest(agent_id=agent_id)
            built[0].check_request(_HEARTBEAT, identity, request)

    agent_service = agent_servicer.AgentServicer(
        registry, settings.heartbeat_interval, beat_check=_stream_beat_check
    )
    server.run_service(
        SERVICE,
        [
            (
                mechanism_manager_service_pb2_grpc.add_MechanismManagerServiceServicer_to_server,
                servicer.MechanismManagerServicer(mechanisms, settings.driver_timeout),
                "ml2.v1.MechanismManagerService",
            ),
            (
                agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
                agent_service,
                "ml2.v1.AgentService",
            ),
            (
                topology_service_pb2_grpc.add_TopologyServiceServicer_to_server,
                topology_servicer.TopologyServicer(links),
                "ml2.v1.TopologyService",
            ),
        ],
        listen=settings.listen,
        metrics_port=settings.metrics_port,
        port_file=settings.port_file,
        on_stop=_close,
        on_stopping=agent_service.close_streams,
        max_workers=settings.rpc_workers,
        auth_builder=_build_authenticator,
        audited_methods=policy.AUDITED_METHODS,
        asyncio_streams=True,
    )


_AGENTS = "/ml2.v1.AgentService/"
_HEARTBEAT = f"{_AGENTS}HeartbeatAgent"


def _authenticator(verifier: auth.Verifier, registry: agents.AgentRegistry) -> auth.Authenticator:
    """mechmgr's authenticator: the method rules, and an agent's registration and heartbeats
    answered for its own host only (an administrator's for any)."""
    hosts = AgentHosts(registry)
    return policy.authenticator(
        verifier,
        targets={
            f"{_AGENTS}RegisterAgent": lambda request: {"host": request.agent.host},
            _HEARTBEAT: hosts.target,
            f"{_AGENTS}GetAgent": hosts.target,
        },
    )


class AgentHosts:
    """The host of each agent id, which never changes: read once, kept (at most ``size``)."""

    def __init__(self, registry: agents.AgentRegistry, size: int = 100_000) -> None:
        self._registry = registry
        self._size = size
        self._hosts: dict[str, str] = {}
        self._lock = threading.Lock()

    def target(self, request: Any) -> Mapping[str, str] | None:
        """``{"host": ...}`` of the request's agent; None for an unknown one (the heartbeat
        answers NOT_FOUND)."""
        agent_id = request.agent_id
        with self._lock:
            host = self._hosts.get(agent_id)
        if host is None:
            try:
                host = self._registry.get(agent_id).host
            except rpc_errors.ServiceError:
                return None
            with self._lock:
                if len(self._hosts) >= self._size:
                    self._hosts.clear()
                self._hosts[agent_id] = host
        return {"host": host}


def _open_registry(settings: config.Settings) -> tuple[Engine, agents.AgentRegistry]:
    """Returns the engine and the agent registry on it, the schema current (``ML2_DB_MIGRATE``);
    exits with status 2 if the schema is not, and 1 if the database cannot be reached."""
    url = _prepare_database(settings.database_url)
    migrations.prepare_at_start(SERVICE, url, settings.db_migrate)
    engine = sql.make_engine(url, pool_size=settings.db_pool_size)
    registry = agents.AgentRegistry(
        sql.session_factory(engine),
        settings.agent_down_time,
        flush_interval=settings.flush_interval,
    )
    return engine, registry


def _mechanism_manager(
    settings: config.Settings,
    registry: agents.AgentRegistry,
    channels: dict[str, grpc.Channel],
    typemgr: grpc.Channel | None,
    links: topology.Topology,
) -> manager.MechanismManager:
    """Returns the manager with one client per configured driver, in binding order."""
    breakers = driver_client.BreakerSettings(
        settings.driver_breaker_failures, settings.driver_breaker_cooldown
    )
    token = rpc_channels.process_token()

    def metadata() -> driver_client.CallMetadata:
        return rpc_channels.call_metadata(token)

    def aio_channel(address: str) -> Callable[[], grpc.aio.Channel]:
        return lambda: rpc_channels.make_aio_channel(address)

    clients = [
        driver_client.DriverClient(
            e.name,
            e.address,
            channels[e.name],
            settings.driver_timeout,
            breakers,
            aio_channel=aio_channel(e.address),
            metadata=metadata,
        )
        for e in settings.mechanism_drivers
    ]
    segments = segment_client.SegmentClient(
        typemgr, settings.typemgr_address, settings.typemgr_timeout
    )
    logger.info(
        "mechanism drivers in binding order: %s",
        ", ".join(f"{e.name}={e.address}" for e in settings.mechanism_drivers),
    )
    cache = bindability_cache.BindabilityCache(settings.bindability_cache_seconds)
    return manager.MechanismManager(clients, registry, segments, cache, links)


def _channel(address: str) -> grpc.Channel:
    return rpc_channels.make_channel(address)


def _check_drivers(mechanisms: manager.MechanismManager, timeout: float) -> None:
    """Asks every driver to describe itself once, which also opens the connections before the
    first bind, and logs what answered."""
    for info in mechanisms.describe_drivers(timeout):
        if info.description is None:
            logger.warning(
                "mechanism driver %s at %s does not answer yet: %s",
                info.name,
                info.address,
                info.error,
                extra={"driver": info.name},
            )
        elif info.description.name != info.name:
            logger.warning(
                "mechanism driver configured as %s at %s calls itself %s",
                info.name,
                info.address,
                info.description.name,
                extra={"driver": info.name},
            )
        else:
            logger.info(
                "mechanism driver %s at %s answers: vif types %s",
                info.name,
                info.address,
                ", ".join(info.description.vif_types) or "none",
                extra={"driver": info.name},
            )


def _prepare_database(url: str) -> str:
    """Creates the directory of a SQLite file if needed; returns the URL."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix) :] not in ("", ":memory:"):
        Path(os.path.dirname(url[len(prefix) :]) or ".").mkdir(parents=True, exist_ok=True)
    return url
