"""The event log's reads on a real PostgreSQL database: a page is found through the primary key
even before the database has statistics (a new log, as after a deployment), and the hub tells a
commit between its statements from pruned history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from services import migrations, sql
from services.portapi import resources as r
from services.portapi import watch
from services.portapi.db import events as db_events
from services.portapi.db import repository as repo


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    migrations.upgrade(postgres_url, "portapi")
    made = sql.make_engine(postgres_url)
    yield made
    made.dispose()


def fill(engine: Engine, count: int) -> None:
    factory = sql.session_factory(engine)

    def work(session: object) -> None:
        for i in range(count):
            db_events.stage(
                session,  # type: ignore[arg-type]
                port_id=f"p{i}",
                type="UPDATED",
                port=b"x" * 400,
                network_id="n1",
                host_id="h1",
                previous_host_id="",
            )

    repo.run_write(factory, work)


def plan(engine: Engine, after: int, limit: int) -> str:
    """The plan PostgreSQL runs ``read_after`` with, for both a custom and a generic plan."""
    statement = db_events._READ_AFTER.compile(engine)
    sql_text = str(statement)
    for name, value in (("after", after), ("last", after + limit), ("limit", limit)):
        sql_text = sql_text.replace(f"%({name})s", str(value))
    lines = []
    with engine.connect() as connection:
        for row in connection.execute(text(f"EXPLAIN {sql_text}")):
            lines.append(str(row[0]))
    return "\n".join(lines)


def test_a_page_after_a_revision_is_read_through_the_primary_key_without_statistics(
    engine: Engine,
) -> None:
    fill(engine, 8000)
    with engine.connect() as connection:
        analyzed = connection.execute(
            text(
                "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL "
                "FROM pg_stat_user_tables WHERE relname = 'port_events'"
            )
        ).scalar_one()
    assert analyzed, "the table was analyzed: this test needs a log without statistics"
    found = plan(engine, 7990, 500)
    assert "Seq Scan" not in found, found
    assert "Index Cond" in found and "pk_port_events" in found, found
    with sql.read_session(sql.session_factory(engine)) as session:
        page = db_events.read_after(session, 7990, 500)
    assert [e.revision for e in page] == list(range(7991, 8001))


def test_a_commit_between_the_hubs_reads_is_not_taken_for_pruned_history(engine: Engine) -> None:
    """On PostgreSQL each statement of the hub's read sees what was committed before it began:
    an event committed just after the page was read must be delivered at the next read, not
    taken for events pruned (which ends every watcher with RESYNC)."""
    factory = sql.session_factory(engine)
    fill(engine, 3)
    hub = watch.EventHub(factory, poll_interval=60)  # not started: advanced by hand
    watcher = hub.attach(r.WatchFilter(), 3)
    assert watcher is not None
    writes = {"left": 1}

    def commit_after_the_page(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if writes["left"] and "FROM port_events" in statement and "revision <=" in statement:
            writes["left"] = 0
            fill(engine, 1)  # another connection commits revision 4 meanwhile

    event.listen(engine, "after_cursor_execute", commit_after_the_page)
    try:
        hub.advance()
    finally:
        event.remove(engine, "after_cursor_execute", commit_after_the_page)
    assert writes["left"] == 0, "the page was never read"
    assert watcher.take_now() == []  # not ended: nothing was pruned
    hub.advance()
    taken = watcher.take_now()
    assert isinstance(taken, list) and [e.revision for e in taken] == [4]
