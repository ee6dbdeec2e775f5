"""The shared SQL plumbing behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy import text

from services import sql


@pytest.fixture
def factory(database_url: str):
    engine = sql.make_engine(database_url)
    yield sql.session_factory(engine)
    engine.dispose()


def test_write_session_commits_and_read_session_sees_it(factory) -> None:
    with sql.write_session(factory) as session:
        session.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
    with sql.read_session(factory) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1


def test_a_failed_write_session_leaves_nothing(factory) -> None:
    with sql.write_session(factory) as session:
        session.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
    with pytest.raises(RuntimeError), sql.write_session(factory) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("boom")
    with sql.read_session(factory) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_a_duplicate_key_is_a_unique_violation_and_not_retryable(factory) -> None:
    with sql.write_session(factory) as session:
        session.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(Exception) as caught, sql.write_session(factory) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))

    assert sql.is_unique_violation(caught.value)
    assert not sql.is_retryable(caught.value)


def test_concurrent_sqlite_writers_queue_instead_of_failing(sqlite_url: str) -> None:
    engine = sql.make_engine(sqlite_url)
    factory = sql.session_factory(engine)
    with sql.write_session(factory) as session:
        session.execute(text("CREATE TABLE c (n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO c VALUES (0)"))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(25):
                with sql.write_session(factory) as s:
                    n = s.execute(text("SELECT n FROM c")).scalar_one()
                    s.execute(text("UPDATE c SET n = :n"), {"n": n + 1})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    with sql.read_session(factory) as session:
        assert session.execute(text("SELECT n FROM c")).scalar() == 100
    engine.dispose()


def test_a_connection_the_server_dropped_is_retryable(postgres_url: str) -> None:
    engine = sql.make_engine(postgres_url)
    factory = sql.session_factory(engine)
    with sql.read_session(factory) as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

    with pytest.raises(Exception) as caught, sql.read_session(factory) as session:
        session.execute(text("SELECT 1"))

    assert sql.is_retryable(caught.value)
    with sql.read_session(factory) as session:  # the pool recovered
        assert session.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
