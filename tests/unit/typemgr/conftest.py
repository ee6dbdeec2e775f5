"""Fixtures for typemgr's tests: a segment manager on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from services import sql
from services.typemgr.config import Settings
from services.typemgr.db import schema
from services.typemgr.range_manager import RangeManager
from services.typemgr.segment_manager import SegmentManager
from services.typemgr.type_manager import TypeManager

ManagerFactory = Callable[..., SegmentManager]


@pytest.fixture
def make_manager(database_url: str) -> Iterator[ManagerFactory]:
    """Returns a function building a SegmentManager on a fresh database (each test runs on a
    SQLite file and on PostgreSQL) from settings given as keyword arguments of
    ``Settings.from_env`` variables (``TYPEMGR_`` prefix omitted)."""
    engines: list[Engine] = []

    def make(url: str = "", **variables: str) -> SegmentManager:
        settings = Settings.from_env({f"TYPEMGR_{k.upper()}": v for k, v in variables.items()})
        engine = sql.make_engine(url or database_url)
        engines.append(engine)
        factory = sql.session_factory(engine)
        types = TypeManager.from_settings(settings)
        schema.initialize(factory, types.default_ranges())
        return SegmentManager(types, factory)

    yield make
    for engine in engines:
        engine.dispose()


def ranges_of(manager: SegmentManager) -> RangeManager:
    """Returns the RangeManager over the same database and drivers as ``manager``."""
    return RangeManager(manager.types, manager.factory)
