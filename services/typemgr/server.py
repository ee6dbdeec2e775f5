"""typemgr's composition root: settings → logging → database → drivers → servicer → server."""

from __future__ import annotations

import logging
import os
import sys

from ml2.v1 import (
    segment_range_service_pb2,
    segment_range_service_pb2_grpc,
    segment_service_pb2,
    segment_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import keepalive, logs, server
from ml2_driver_sdk.runtime.config import ConfigError, exit_on_config_error
from ml2_driver_sdk.runtime.server import Registration
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from services import migrations, policy, sql
from services.typemgr import config, metrics
from services.typemgr.config import Settings
from services.typemgr.db import schema
from services.typemgr.drivers import base
from services.typemgr.holds import HoldManager
from services.typemgr.range_manager import RangeManager
from services.typemgr.range_servicer import SegmentRangeServicer
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
    server.check_start_settings(SERVICE)  # before the database is touched
    keepalive.install(settings.keepalive)
    logs.configure_logging(SERVICE, settings.log_level, settings.log_format)
    directory = config.sqlite_directory(settings.database_url)
    if directory:
        os.makedirs(directory, exist_ok=True)
    engine = sql.make_engine(settings.database_url, pool_size=settings.db_pool_size)
    factory = sql.session_factory(engine)
    types = TypeManager.from_settings(settings)
    migrations.prepare_at_start(SERVICE, settings.database_url)
    _prepare_database(factory, types)
    REGISTRY.register(metrics.PoolCollector(factory))
    logger.info(
        "type drivers %s, tenant network types %s",
        ",".join(settings.type_drivers),
        ",".join(settings.tenant_network_types) or "(none)",
    )
    server.run_service(
        SERVICE,
        _registrations(types, factory),
        listen=settings.listen,
        metrics_port=settings.metrics_port,
        port_file=settings.port_file,
        on_stop=engine.dispose,
        max_workers=settings.rpc_workers,
        auth_builder=policy.authenticator,
        audited_methods=policy.AUDITED_METHODS,
    )


def _prepare_database(factory: sessionmaker[Session], types: TypeManager) -> None:
    """Creates the tables and seeds the default ranges; exits with one line if it cannot."""
    try:
        schema.initialize(factory, types.default_ranges())
    except schema.DefaultRangeConflict as exc:
        print(f"{SERVICE}: configuration conflicts with the database: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as exc:  # a database that cannot be reached or set up is fatal at start
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"{SERVICE}: cannot prepare the database: {reason}", file=sys.stderr)
        raise SystemExit(1) from None
    _warn_about_empty_pools(types)


def _registrations(types: TypeManager, factory: sessionmaker[Session]) -> list[Registration]:
    """Returns SegmentService and SegmentRangeService over one database."""
    return [
        (
            segment_service_pb2_grpc.add_SegmentServiceServicer_to_server,
            SegmentServicer(SegmentManager(types, factory), HoldManager(factory)),
            segment_service_pb2.DESCRIPTOR.services_by_name["SegmentService"].full_name,
        ),
        (
            segment_range_service_pb2_grpc.add_SegmentRangeServiceServicer_to_server,
            SegmentRangeServicer(RangeManager(types, factory)),
            segment_range_service_pb2.DESCRIPTOR.services_by_name["SegmentRangeService"].full_name,
        ),
    ]


def _warn_about_empty_pools(types: TypeManager) -> None:
    for network_type in types.tenant_network_types:
        driver = types.drivers[network_type]
        if driver.allocation is base.Allocation.POOL and not driver.ranges():
            logger.warning(
                "tenant network type %s has no default range configured: tenant networks get "
                "it only from ranges created with `ml2 range create --network-type %s` "
                "(SegmentRangeService)",
                network_type,
                network_type,
            )
