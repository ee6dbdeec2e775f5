"""Creating mechmgr's tables at start, safely when several replicas start at once.

On PostgreSQL the transaction first takes an advisory lock, so that replicas creating the tables
at the same moment take turns instead of failing on a duplicate table; on SQLite the write
transaction (``BEGIN IMMEDIATE``) already serialises them.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.mechmgr.db import models

# An arbitrary constant, the same in every replica: "mechmgr" in ASCII.
_SCHEMA_LOCK_KEY = 0x6D6563686D6772


def initialize(factory: sessionmaker[Session]) -> None:
    """Creates the tables that do not exist yet."""
    with sql.write_session(factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        models.metadata.create_all(session.connection())
