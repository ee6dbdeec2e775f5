"""typemgr's composition root: settings → logging → database → drivers → servicer → server."""

from __future__ import annotations

import logging
import os
import sys

from ml2.v1 import segment_service_pb2, segment_service_pb2_grpc
from prometheus_client import REGISTRY

from services import sql
from services.rpc import logs, server
from services.rpc.config import ConfigError, exit_on_config_error
from services.typemgr import config, metrics
from services.typemgr.config import Settings
from services.typemgr.db import schema
from services.typemgr.segment_manager import SegmentManager
from services.typemgr.servicer import SegmentServicer
from services.typemgr.type_manager import TypeManager

logger = logging.getLogger(__name__)

SERVICE = "typemgr"


def main() -> None:
    """Runs typemgr until SIGTERM or SIGINT."""
    try:
        settings = Settings.from_env()
    except ConfigError as err:
        exit_on_config_error(SERVICE, err)
        return
    logs.configure_logging(SERVICE, settings.log_level, settings.log_format)
    directory = config.sqlite_directory(settings.database_url)
    if directory:
        os.makedirs(directory, exist_ok=True)
    engine = sql.make_engine(settings.database_url)
    factory = sql.session_factory(engine)
    types = TypeManager.from_settings(settings)
    configured = types.configured_ranges()
    try:
        schema.initialize(
            factory, [(t, r.physical_network, r.minimum, r.maximum) for t, r in configured]
        )
    except Exception as exc:  # a database that cannot be reached or set up is fatal at start
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"{SERVICE}: cannot prepare the database: {reason}", file=sys.stderr)
        raise SystemExit(1) from None
    _warn_about_empty_pools(types)
    REGISTRY.register(metrics.PoolCollector(factory, configured))
    servicer = SegmentServicer(SegmentManager(types, factory))
    registration = (
        segment_service_pb2_grpc.add_SegmentServiceServicer_to_server,
        servicer,
        segment_service_pb2.DESCRIPTOR.services_by_name["SegmentService"].full_name,
    )
    logger.info(
        "type drivers %s, tenant network types %s",
        ",".join(settings.type_drivers),
        ",".join(settings.tenant_network_types) or "(none)",
    )
    server.run_service(
        SERVICE,
        [registration],
        listen=settings.listen,
        metrics_port=settings.metrics_port,
        port_file=settings.port_file,
        on_stop=engine.dispose,
    )


def _warn_about_empty_pools(types: TypeManager) -> None:
    for network_type in types.tenant_network_types:
        if not types.drivers[network_type].ranges():
            logger.warning(
                "tenant network type %s has no tenant range configured: it will never be allocated",
                network_type,
            )
