"""One migration of one service at a time per database, however many processes try at once.

``migration_transaction`` opens a dedicated connection and a write transaction that holds the
service's migration lock until it ends; everything (reading the revision, running the
revisions, recording the new one) happens inside it, so it commits whole or not at all.

* PostgreSQL: ``pg_advisory_xact_lock`` with a per-service key, released by COMMIT/ROLLBACK.
  DDL is transactional, so a failed revision leaves nothing behind.
* SQLite: ``BEGIN IMMEDIATE`` (``sql.write_session``) takes the database's write lock, so
  concurrent upgraders queue (up to the busy timeout) and each sees what the previous committed.
  Foreign keys are switched off for the migration connection, as SQLite requires for table
  rebuilds (a DROP of a referenced table would otherwise cascade), and checked before COMMIT.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url

from services import sql


class ForeignKeyViolation(RuntimeError):
    """A migration left rows whose foreign keys point nowhere (SQLite); nothing was committed."""


def lock_key(service: str) -> int:
    """The advisory lock key of ``service``: its name's bytes as a number (the key the services
    used to create their tables, so an older replica starting at the same time waits too)."""
    return int.from_bytes(service.encode()[:7], "big")


def ensure_sqlite_directory(url: str) -> None:
    """Creates the directory of a SQLite database file if it does not exist."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def migration_transaction(url: str, service: str) -> Iterator[Connection]:
    """Yields a connection inside a write transaction holding ``service``'s migration lock;
    commits when the block ends normally, rolls back on any error."""
    ensure_sqlite_directory(url)
    engine = sql.make_engine(url, pool_size=1)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        event.listen(engine, "connect", _foreign_keys_off)
    try:
        with sql.write_session(sql.session_factory(engine)) as session:
            connection = session.connection()
            if not sqlite:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(service)}
                )
            yield connection
            if sqlite:
                _check_foreign_keys(connection)
    finally:
        engine.dispose()


@contextlib.contextmanager
def read_connection(url: str) -> Iterator[Connection]:
    """Yields a connection for reading schema state, on an engine closed afterwards."""
    engine = sql.make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _foreign_keys_off(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Runs after make_engine's own connect hook (which turns them on), outside any transaction.
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise ForeignKeyViolation(
            f"the migration left {len(broken)} row(s) with dangling foreign keys in "
            f"{', '.join(tables)}; nothing was changed"
        )
