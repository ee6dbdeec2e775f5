"""Fixtures for typemgr's unit tests: settings and a segment manager on a SQLite file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

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
def make_manager(tmp_path: Path) -> Iterator[ManagerFactory]:
    """Returns a function building a SegmentManager on a fresh SQLite file from settings given
    as keyword arguments of ``Settings.from_env`` variables (``TYPEMGR_`` prefix omitted)."""
    engines: list[Engine] = []

    def make(url: str = "", **variables: str) -> SegmentManager:
        settings = Settings.from_env({f"TYPEMGR_{k.upper()}": v for k, v in variables.items()})
        engine = sql.make_engine(url or f"sqlite:///{tmp_path / 'typemgr.db'}")
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
