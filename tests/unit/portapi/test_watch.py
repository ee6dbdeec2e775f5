"""The event hub and the watcher stream (``watch``) over a real SQLite file, with events written
as portapi writes them (staged in a write transaction, flushed before its commit)."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from services import migrations, sql
from services.portapi import resources as r
from services.portapi import watch
from services.portapi.db import codec
from services.portapi.db import events as db_events
from services.portapi.db import repository as repo


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'portapi.db'}"
    migrations.upgrade(url, "portapi")
    engine = sql.make_engine(url)
    yield sql.session_factory(engine)
    engine.dispose()


def write(factory: sessionmaker[Session], *ports: tuple[str, str]) -> None:
    """Commits one event per (port id, host) in one transaction."""

    def work(session: Session) -> None:
        for port_id, host in ports:
            db_events.stage(
                session,
                port_id=port_id,
                type="UPDATED",
                port=b"",
                network_id="n1",
                host_id=host,
                previous_host_id="",
            )

    repo.run_write(factory, work)


def encode(item: watch.Item) -> bytes:
    """Items cross the stream as bytes; these tests read them back with pickle."""
    return pickle.dumps(item)


ENCODING = watch.Encoding(single=encode, part=encode)


class Reader:
    """Reads a stream on an event loop of its own, as the asyncio server does."""

    def __init__(self, items: AsyncIterator[bytes]) -> None:
        self.items: list[watch.Item] = []
        self.changed = threading.Condition()
        self.done = threading.Event()
        threading.Thread(target=asyncio.run, args=(self._read(items),), daemon=True).start()

    async def _read(self, items: AsyncIterator[bytes]) -> None:
        async for data in items:
            with self.changed:
                self.items.append(pickle.loads(data))
                self.changed.notify_all()
        self.done.set()
        with self.changed:
            self.changed.notify_all()

    def wait(self, count: int) -> list[watch.Item]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.items) >= count or self.done.is_set(), 10)
            return list(self.items)


def read_all(items: AsyncIterator[bytes]) -> list[watch.Item]:
    """Every item of a stream that ends by itself."""

    async def read() -> list[watch.Item]:
        return [pickle.loads(data) async for data in items]

    return asyncio.run(read())


def attached(hub: watch.EventHub, count: int) -> None:
    """Waits until ``count`` streams follow the hub."""
    deadline = time.monotonic() + 10
    while hub.watchers < count:
        assert time.monotonic() < deadline, f"{hub.watchers} of {count} streams attached"
        time.sleep(0.01)


def revisions(items: list[watch.Item]) -> list[int]:
    return [i.event.revision for i in items if isinstance(i, watch.Change)]


def test_revisions_are_dense_across_transactions(factory: sessionmaker[Session]) -> None:
    write(factory, ("p1", "h1"), ("p2", "h1"))
    write(factory, ("p3", "h2"))
    with sql.read_session(factory) as session:
        assert db_events.revisions(session) == [1, 2, 3]
        assert db_events.current_revision(session) == 3


def test_a_resumed_watcher_reads_the_history_then_follows_the_hub(
    factory: sessionmaker[Session],
) -> None:
    write(factory, ("p1", "h1"), ("p2", "h2"), ("p3", "h1"))
    hub = watch.EventHub(factory, poll_interval=60)
    hub.start()
    try:
        filt = r.WatchFilter(host_ids=frozenset({"h1"}))
        reader = Reader(hub.stream(filt, after_revision=1, snapshot=False, encoding=ENCODING))
        assert revisions(reader.wait(1)) == [3]
        write(factory, ("p4", "h2"), ("p5", "h1"))  # the commit wakes the hub in-process
        assert revisions(reader.wait(2)) == [3, 5]
    finally:
        hub.close()
    assert reader.done.wait(10)


def test_a_watcher_that_falls_behind_gets_resync(factory: sessionmaker[Session]) -> None:
    hub = watch.EventHub(factory, queue_size=2, poll_interval=60)
    hub.start()
    try:
        watcher = hub.attach(r.WatchFilter(), hub.position)
        assert watcher is not None
        write(factory, ("p1", "h1"), ("p2", "h1"), ("p3", "h1"))
        hub.advance()
        assert watcher.take_now() == "overflow"
    finally:
        hub.close()


def test_pruned_history_is_resync_and_ends_the_stream(factory: sessionmaker[Session]) -> None:
    for i in range(5):
        write(factory, (f"p{i}", "h1"))
    repo.run_write(
        factory, lambda s: db_events.prune(s, keep=2, before=codec.now().replace(year=2000))
    )
    hub = watch.EventHub(factory, poll_interval=60)
    hub.start()
    try:
        items = read_all(
            hub.stream(r.WatchFilter(), after_revision=1, snapshot=False, encoding=ENCODING)
        )
    finally:
        hub.close()
    [resync] = items
    assert isinstance(resync, watch.Resync) and resync.oldest_revision == 4


def test_closing_the_hub_ends_every_stream(factory: sessionmaker[Session]) -> None:
    hub = watch.EventHub(factory, poll_interval=60)
    hub.start()
    reader = Reader(
        hub.stream(r.WatchFilter(), after_revision=0, snapshot=False, encoding=ENCODING)
    )
    attached(hub, 1)  # watching "from now": its start must come before the write
    write(factory, ("p1", "h1"))
    assert revisions(reader.wait(1)) == [1]
    hub.close()
    assert reader.done.wait(10)


def test_a_first_watcher_gets_what_was_committed_while_nobody_watched(
    factory: sessionmaker[Session],
) -> None:
    write(factory, ("p0", "h1"))
    hub = watch.EventHub(factory, poll_interval=60)
    hub.start()
    try:
        write(factory, ("p1", "h1"), ("p2", "h1"))  # wakes a hub that has nobody to offer to
        deadline = time.monotonic() + 10
        while hub._wake.is_set() or hub._reading.locked():  # the hub has taken those wakes
            assert time.monotonic() < deadline
            time.sleep(0.01)
        reader = Reader(
            hub.stream(r.WatchFilter(), after_revision=1, snapshot=False, encoding=ENCODING)
        )
        assert revisions(reader.wait(2)) == [2, 3]
    finally:
        hub.close()


def test_a_hub_whose_next_page_was_pruned_moves_on_and_ends_its_watchers(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "PAGE", 2)
    hub = watch.EventHub(factory, poll_interval=60)  # not started: advanced by hand
    watcher = hub.attach(r.WatchFilter(), 0)
    assert watcher is not None
    for i in range(5):
        write(factory, (f"p{i}", "h1"))
    repo.run_write(
        factory, lambda s: db_events.prune(s, keep=1, before=codec.now().replace(year=2000))
    )  # revisions 1 to 4 are gone: the hub's next page (1, 2) is empty
    hub.advance()
    assert watcher.take_now() == "pruned"
    assert hub.position == 5
