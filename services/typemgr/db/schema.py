"""Creating typemgr's tables and synchronising the stored ranges with the configuration.

Both run at start in one write transaction. On PostgreSQL the transaction first takes an
advisory lock, so replicas starting at once take turns; on SQLite the write transaction
(``BEGIN IMMEDIATE``) already serialises them. The range sync is a diff (delete the ranges no
longer configured, insert the missing ones), so a replica that finds the table up to date
changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr.db.models import Base, SegmentRange

logger = logging.getLogger(__name__)

# An arbitrary constant, the same in every replica: "typemgr" in ASCII.
_SCHEMA_LOCK_KEY = 0x747970656D6772

ConfiguredRange = tuple[str, str, int, int]
"""``(network_type, physical_network, minimum, maximum)``."""


def initialize(factory: sessionmaker[Session], ranges: Iterable[ConfiguredRange]) -> None:
    """Creates missing tables and makes ``segment_ranges`` hold exactly ``ranges``."""
    with sql.write_session(factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        Base.metadata.create_all(session.connection())
        sync_ranges(session, ranges)


def sync_ranges(session: Session, ranges: Iterable[ConfiguredRange]) -> None:
    """Deletes stored ranges that are not in ``ranges`` and inserts the missing ones. Allocated
    ids are untouched: an id of a removed range stays allocated until released."""
    wanted = set(ranges)
    stored = {
        (r.network_type, r.physical_network, int(r.minimum), int(r.maximum)): r.id
        for r in session.scalars(select(SegmentRange))
    }
    stale = [row_id for key, row_id in stored.items() if key not in wanted]
    if stale:
        session.execute(delete(SegmentRange).where(SegmentRange.id.in_(stale)))
    for network_type, physnet, low, high in sorted(wanted - stored.keys()):
        session.add(
            SegmentRange(
                network_type=network_type, physical_network=physnet, minimum=low, maximum=high
            )
        )
    session.flush()
    if stale or wanted - stored.keys():
        logger.info(
            "segment ranges synchronised with the configuration: %d removed, %d added",
            len(stale),
            len(wanted - stored.keys()),
        )
