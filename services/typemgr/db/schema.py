"""Creating typemgr's tables and seeding the default ranges from the configuration.

Both run at start in one write transaction. On PostgreSQL the transaction first takes an
advisory lock, so replicas starting at once take turns; on SQLite the write transaction
(``BEGIN IMMEDIATE``) already serialises them. The seeding is a diff over the *default* ranges
only (delete the default ranges no longer configured, insert the missing ones), so a replica
that finds them up to date changes nothing, and ranges created through the API are never
touched. A configured range that overlaps a range created through the API stops the start with
``DefaultRangeConflict``: the operator decides which one goes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr.db import ranges as range_rows
from services.typemgr.db.models import Base
from services.typemgr.ranges import DefaultRange, SegmentRange

logger = logging.getLogger(__name__)

# An arbitrary constant, the same in every replica: "typemgr" in ASCII.
_SCHEMA_LOCK_KEY = 0x747970656D6772


class DefaultRangeConflict(Exception):
    """A configured range overlaps a range created through the API."""


def initialize(factory: sessionmaker[Session], defaults: Iterable[DefaultRange]) -> None:
    """Creates missing tables and makes the default ranges exactly ``defaults``. Raises
    DefaultRangeConflict (and changes nothing) if one overlaps a range created through the
    API."""
    with sql.write_session(factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        Base.metadata.create_all(session.connection())
        range_rows.lock(session)
        sync_defaults(session, defaults)


def sync_defaults(session: Session, defaults: Iterable[DefaultRange]) -> None:
    """Deletes the stored default ranges that are not in ``defaults`` and inserts the missing
    ones. Allocated ids are untouched: an id of a removed range stays allocated until
    released."""
    wanted = {d.key: d for d in defaults}
    stored = {_key(r): r for r in range_rows.defaults(session)}
    stale = [r for key, r in stored.items() if key not in wanted]
    range_rows.remove(session, [r.id for r in stale])
    missing = [d for key, d in sorted(wanted.items()) if key not in stored]
    for default in missing:
        _add(session, default)
    for removed in stale:
        pool = (removed.network_type, removed.physical_network)
        orphans = range_rows.count_allocated(session, pool, removed.minimum, removed.maximum)
        if orphans:
            logger.warning(
                "default range %s is no longer configured; %d allocated ids of it may now lie "
                "outside every range (they stay allocated)",
                removed.describe(),
                orphans,
            )
    if stale or missing:
        logger.info(
            "default segment ranges synchronised with the configuration: %d removed, %d added",
            len(stale),
            len(missing),
        )


def _add(session: Session, default: DefaultRange) -> None:
    pool = (default.network_type, default.physical_network)
    other = range_rows.overlapping(session, pool, default.minimum, default.maximum)
    if other is not None:
        where = f"{default.physical_network}:" if default.physical_network else ""
        raise DefaultRangeConflict(
            f"{default.name}: {default.network_type} range {where}{default.minimum}:"
            f"{default.maximum} overlaps {other.describe()} created through the API; "
            "delete or shrink that range, or change the setting"
        )
    range_rows.add(
        session,
        SegmentRange(
            id=str(uuid.uuid4()),
            name=default.name,
            network_type=default.network_type,
            physical_network=default.physical_network,
            minimum=default.minimum,
            maximum=default.maximum,
            shared=True,
            project_id="",
            default=True,
        ),
    )


def _key(stored: SegmentRange) -> tuple[str, str, int, int]:
    return (stored.network_type, stored.physical_network, stored.minimum, stored.maximum)
