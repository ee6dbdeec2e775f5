"""SQL engines for every stateful service: embedded SQLite on one machine, PostgreSQL on many.

``make_engine`` sets SQLite up for several processes sharing one file (WAL, a busy timeout,
foreign keys, and ``BEGIN IMMEDIATE`` for write transactions so that two writers queue instead of
failing on a lock upgrade). ``write_session`` and ``read_session`` are the only ways services open
transactions. ``is_unique_violation`` and ``is_retryable`` classify errors portably.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event, exc, tuple_
from sqlalchemy.orm import Session, sessionmaker

_WRITE = "ml2_write"

# SQLite lets one writer in at a time. The threads of one process queue on a lock per engine
# instead of polling the file lock in SQLite's busy handler, which sleeps ever longer between
# polls; other processes still wait on the file lock (busy_timeout).
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Returns an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        _SQLITE_WRITERS[engine] = threading.Lock()
        return engine
    # No pre-ping: it costs a round trip per transaction. A connection found dead (the server
    # restarted) invalidates the pool and its transaction counts as retryable (is_retryable).
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN so that writers can ask for IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Returns the session factory services use; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Opens a write transaction: commits on success, rolls back on any error. On SQLite the
    threads of this process take turns before they ask for the database's write lock."""
    bind = factory.kw.get("bind")
    turn = _SQLITE_WRITERS.get(bind) if isinstance(bind, Engine) else None
    with turn if turn is not None else contextlib.nullcontext(), factory() as session:
        session.connection(execution_options={_WRITE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextlib.contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Opens a read-only transaction, rolled back at the end."""
    with factory() as session:
        try:
            yield session
        finally:
            session.rollback()


@contextlib.contextmanager
def snapshot_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Opens a read-only transaction whose every statement sees the same snapshot of the
    database: REPEATABLE READ on PostgreSQL, and on SQLite (WAL) any read transaction, whose
    snapshot is taken at its first read. Rolled back at the end."""
    with factory() as session:
        bind = factory.kw.get("bind")
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        try:
            yield session
        finally:
            session.rollback()


def is_unique_violation(err: BaseException) -> bool:
    """Returns True for a unique or primary key violation on SQLite or PostgreSQL."""
    if not isinstance(err, exc.IntegrityError):
        return False
    orig = err.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(orig)


def is_retryable(err: BaseException) -> bool:
    """Returns True for errors a transaction may be retried after: serialization failures,
    deadlocks, a locked SQLite database, and a connection the server dropped."""
    if not isinstance(err, exc.DBAPIError):
        return False
    if err.connection_invalidated:
        return True
    sqlstate = getattr(err.orig, "sqlstate", None)
    if sqlstate in ("40001", "40P01"):
        return True
    return "database is locked" in str(err.orig)


def after_position(columns: Sequence[Any], position: Sequence[Any]) -> Any:
    """Returns the keyset condition "the row comes after ``position`` in ``columns`` order", as
    one row-value comparison ``(a, b) > (:a, :b)``: SQLite and PostgreSQL both serve it from an
    index on the columns (after any equality columns), so a page at any depth starts where the
    index says, without reading the rows before it. The values are bound with the columns'
    types."""
    if len(columns) != len(position):
        raise ValueError("a keyset position has one value per column")
    values = [
        bindparam(None, value, type_=column.type)
        for column, value in zip(columns, position, strict=True)
    ]
    if len(columns) == 1:
        return columns[0] > values[0]
    return tuple_(*columns) > tuple_(*values)


def keyset_page(
    stmt: Any,
    order: Sequence[Any],
    fixed: Mapping[str, Any],
    after: Sequence[Any] | None,
    limit: int,
) -> Any:
    """Returns ``stmt`` narrowed to one page in ``order`` after the position ``after`` (one
    value per ``order`` column), ``fixed`` naming the order columns an equality filter fixes
    (by column name, empty values meaning no filter).

    A fixed column is compared for equality and left out of the ORDER BY and of the keyset
    condition, so an index that starts with the fixed columns and continues with the others
    serves the page at any depth.
    """
    wanted = {name: value for name, value in fixed.items() if value}
    stmt = stmt.where(*(column == wanted[column.name] for column in order if column.name in wanted))
    free = [i for i, column in enumerate(order) if column.name not in wanted]
    key = [order[i] for i in free]
    if after is not None and key:
        stmt = stmt.where(after_position(key, [after[i] for i in free]))
    return stmt.order_by(*key).limit(limit)
