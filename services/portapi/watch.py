"""WatchPorts: the per-replica hub that reads new port events from the log and hands them to
this replica's watchers, and the stream each watcher reads.

    writers (any replica) ──commit──► port_events ◄──read revision > p── EventHub ──► Watcher
         │ NOTIFY (PostgreSQL) / in-process wakeup (run_write's listeners)    ▲ │ bounded queue
         └──────────────────────────────── wake ───────────────────────────────┘ ▼
                                                              stream() on the server's loop

* One ``EventHub`` per process reads every new event once (``revision > position``, in pages),
  and offers each to the watchers whose filter matches, found through an index by the port,
  network or host they watch rather than by trying every watcher. It wakes when this process
  commits events, when PostgreSQL notifies that another replica did (a dedicated LISTEN
  connection, reconnected when lost), and every ``poll_interval`` seconds regardless, so that a
  lost notification only delays delivery.
* Revisions are dense and in commit order (``db.events``), so reading ``revision > p`` never
  skips an event, and a missing ``p + 1`` means it was pruned.
* ``stream`` is an async generator, run on the asyncio server's event loop: a follower costs a
  coroutine and a queue, not a thread, and the hub wakes all the watchers of a batch with one
  call into the loop. Each event is encoded once per replica, however many watchers get it.
* ``stream`` starts a watcher where it asked: from now, after a revision (reading the history
  the hub has already passed from the log itself, then joining the hub exactly where it is), or
  after a snapshot of the matching ports read in one consistent transaction together with the
  revision it reflects, so that nothing between the snapshot and the changes is lost. These
  reads run a page at a time on the hub's few start threads, so a burst of starts waits its
  turn instead of opening a database connection each.
* A watcher's queue is bounded: one that falls ``queue_size`` events behind gets RESYNC and its
  stream ends, rather than growing without bound; so does one whose history was pruned.
* ``close`` (the server stopping) ends every stream cleanly.
* A stream may be screened (``Screen``): a watcher sees only the ports its caller may see and,
  of those, only the fields it may read. An event it sees whole is still the one encoding of
  it shared by every watcher; only one with fields cleared is encoded for it alone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import metrics
from services.portapi import resources as r
from services.portapi.db import events as db_events
from services.portapi.db import repository as repo

logger = logging.getLogger(__name__)

PAGE = 500
"""Events or ports read per query."""
START_THREADS = 4
"""Threads that read the snapshots and histories of starting streams (at most as many database
connections at once, however many streams start together)."""
ENCODED_KEPT = 4096
"""Encoded events kept for the watchers that have not yet sent them."""


@dataclass(frozen=True)
class Change:
    """A committed change of a port."""

    event: db_events.StoredEvent
    hidden: tuple[str, ...] = ()
    """The port's fields (``binding.host_id``) this watcher may not read: cleared when sent."""


@dataclass(frozen=True)
class SnapshotPort:
    """A port as it is at the snapshot's revision."""

    port: r.Port
    revision: int
    hidden: tuple[str, ...] = ()
    """As ``Change.hidden``."""


@dataclass(frozen=True)
class Synced:
    """The end of the snapshot."""

    revision: int


@dataclass(frozen=True)
class Resync:
    """The history after the watcher's position is gone; the stream ends after it."""

    oldest_revision: int
    message: str


Item = Change | SnapshotPort | Synced | Resync


@dataclass(frozen=True)
class Encoding:
    """How a stream's items become the bytes of its messages."""

    single: Callable[[Item], bytes]
    """An item as a message of its own."""
    part: Callable[[Item], bytes]
    """A change or snapshot port as one part of a batch: the concatenation of parts is one
    message carrying all their events (protobuf merges concatenated messages, appending to
    repeated fields), so each event is encoded once however its watchers batch it."""


Seen = Change | SnapshotPort


@dataclass(frozen=True)
class Screen:
    """What one watcher may see of the ports it watches."""

    admit: Callable[[Seen], Seen | None]
    """The item as this watcher gets it: the same one, one with ``hidden`` fields, or None
    when the watcher may not see the port."""

    def items(self, items: Sequence[Item]) -> list[Item]:
        """``items`` as the watcher gets them (the others, SYNCED and RESYNC, as they are)."""
        kept: list[Item] = []
        for item in items:
            if isinstance(item, Change | SnapshotPort):
                admitted = self.admit(item)
                if admitted is not None:
                    kept.append(admitted)
            else:
                kept.append(item)
        return kept


_CLOSED = "closed"
_OVERFLOW = "overflow"
_PRUNED = "pruned"


class Watcher:
    """One stream's queue of events, filled by the hub's thread and emptied on the stream's
    event loop (``loop``; None: only ``take_now``, for tests)."""

    def __init__(
        self,
        filt: r.WatchFilter,
        position: int,
        capacity: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.filter = filt
        self.position = position
        """Events up to this revision are not offered (the stream had them already)."""
        self.loop = loop
        self._capacity = capacity
        self._events: collections.deque[db_events.StoredEvent] = collections.deque()
        self._ended = ""
        self._lock = threading.Lock()
        self._ready = asyncio.Event()

    def offer(self, event: db_events.StoredEvent) -> bool:
        """Queues ``event`` (a watcher with a full queue ends with overflow instead); returns
        whether the stream must be woken (``wake``) to see it."""
        with self._lock:
            if self._ended:
                return False
            if len(self._events) >= self._capacity:
                self._events.clear()
                self._ended = _OVERFLOW
                return True
            self._events.append(event)
            return len(self._events) == 1

    def end(self, why: str) -> None:
        """Ends the watcher once its queued events are taken (overflow: at once); wakes it."""
        with self._lock:
            if not self._ended:
                self._ended = why
        _wake_from_thread([self])

    def take_now(self) -> list[db_events.StoredEvent] | str:
        """Returns the queued events (empty if none), or why the watcher ended once none are
        left. On the loop: an empty answer arms ``wait``."""
        with self._lock:
            if self._events:
                taken = list(self._events)
                self._events.clear()
                return taken
            if not self._ended:
                self._ready.clear()
            return self._ended or []

    async def wait(self) -> None:
        """Returns once an event or the end may have come since ``take_now`` found none."""
        await self._ready.wait()

    def wake(self) -> None:
        """On the loop: makes ``wait`` return."""
        self._ready.set()


def _wake_all(watchers: Sequence[Watcher]) -> None:
    for watcher in watchers:
        watcher.wake()


def _wake_from_thread(watchers: Sequence[Watcher]) -> None:
    """Wakes ``watchers`` with one call into each of their loops."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Watcher]] = {}
    for watcher in watchers:
        if watcher.loop is not None:
            by_loop.setdefault(watcher.loop, []).append(watcher)
    for loop, woken in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: its streams are gone
            loop.call_soon_threadsafe(_wake_all, woken)


def _index_keys(filt: r.WatchFilter) -> list[tuple[str, str]]:
    """Where the hub files a watcher: under each value of its most selective filter (an event
    can only match through those), or under everything."""
    if filt.port_ids:
        return [("port", v) for v in filt.port_ids]
    if filt.network_ids:
        return [("network", v) for v in filt.network_ids]
    if filt.host_ids:
        return [("host", v) for v in filt.host_ids]
    return [("all", "")]


class EventHub:
    """Reads new port events once per process and offers them to the process's watchers."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        queue_size: int = 10000,
        poll_interval: float = 5.0,
        batch_interval: float = 0.0,
        batch_window: float = 0.0,
        listen_url: str = "",
    ) -> None:
        """``listen_url``: a PostgreSQL URL to LISTEN for other replicas' events on (empty on
        SQLite, where only this process writes). ``batch_interval``: the shortest time between
        two reads of the log (a wake within it waits for the rest). ``batch_window``: how long a
        stream that batches waits after a change for others to join it."""
        self._factory = factory
        self._queue_size = queue_size
        self._poll_interval = poll_interval
        self._batch_interval = batch_interval
        self.batch_window = batch_window
        self._listen_url = listen_url
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._index: dict[tuple[str, str], set[Watcher]] = {}
        self._count = 0
        self._position = 0
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self.start_pool = futures.ThreadPoolExecutor(START_THREADS, "watch-start")
        """Runs the reads of starting streams."""
        self._encoded: collections.OrderedDict[
            tuple[int, bool], tuple[db_events.StoredEvent, bytes]
        ] = collections.OrderedDict()

    @classmethod
    def for_engine(
        cls, factory: sessionmaker[Session], engine: Engine, **kwargs: float
    ) -> EventHub:
        """Returns the hub of a process over ``engine``: it listens on PostgreSQL."""
        url = ""
        if engine.dialect.name == "postgresql":
            url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(factory, listen_url=url, **kwargs)  # type: ignore[arg-type]

    @property
    def queue_size(self) -> int:
        """How far a watcher may fall behind before it gets RESYNC."""
        return self._queue_size

    @property
    def position(self) -> int:
        """The revision of the newest event the hub has offered."""
        with self._lock:
            return self._position

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed.is_set()

    @property
    def watchers(self) -> int:
        """How many watchers the hub offers events to."""
        with self._lock:
            return self._count

    def start(self) -> None:
        """Starts at the current revision and begins reading new events."""
        with sql.read_session(self._factory) as session:
            self._position = db_events.current_revision(session)
        repo.add_commit_listener(self._committed)
        self._spawn("port-event-hub", self._loop)
        if self._listen_url:
            self._spawn("port-event-listen", self._listen)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def wake(self) -> None:
        """Makes the hub read new events now."""
        self._wake.set()

    def stream(
        self,
        filt: r.WatchFilter,
        *,
        after_revision: int,
        snapshot: bool,
        encoding: Encoding,
        max_batch: int = 1,
        screen: Screen | None = None,
    ) -> AsyncIterator[bytes]:
        """What one watcher receives, encoded (see ``stream``)."""
        return stream(
            self,
            self._factory,
            filt,
            after_revision=after_revision,
            snapshot=snapshot,
            encoding=encoding,
            max_batch=max_batch,
            screen=screen,
        )

    def encoded(self, event: db_events.StoredEvent, encoding: Encoding, part: bool) -> bytes:
        """``event`` as a message (``part``: as a part of a batch), encoded once for every
        watcher it is offered to. On the loop."""
        key = (event.revision, part)
        kept = self._encoded.get(key)
        if kept is not None and kept[0] is event:
            return kept[1]
        data = (encoding.part if part else encoding.single)(Change(event))
        self._encoded[key] = (event, data)
        if len(self._encoded) > ENCODED_KEPT:
            self._encoded.popitem(last=False)
        return data

    def _committed(self, _types: Sequence[str]) -> None:
        self.wake()

    def attach(
        self,
        filt: r.WatchFilter,
        position: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Watcher | None:
        """Returns a watcher offered every matching event after ``position`` (woken on
        ``loop``), or None when the hub is already past ``position`` (the caller reads the
        events in between from the log first) or closed."""
        with self._lock:
            if self._closed.is_set() or position < self._position:
                return None
            if not self._count:
                # The hub reads nothing while nobody watches: a first watcher brings it to
                # where the watcher starts (nobody needs the events in between), and wakes it
                # for the events committed after that while it was not reading.
                self._position = position
                self._wake.set()
            watcher = Watcher(filt, position, self._queue_size, loop)
            for key in _index_keys(filt):
                self._index.setdefault(key, set()).add(watcher)
            self._count += 1
            return watcher

    def detach(self, watcher: Watcher) -> None:
        """Stops offering events to ``watcher``."""
        with self._lock:
            for key in _index_keys(watcher.filter):
                filed = self._index.get(key)
                if filed is not None and watcher in filed:
                    filed.discard(watcher)
                    if not filed:
                        del self._index[key]
            self._count -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Ends every watcher's stream and stops reading."""
        self._closed.set()
        repo.remove_commit_listener(self._committed)
        for watcher in self._all_watchers():
            watcher.end(_CLOSED)
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self.start_pool.shutdown(wait=False, cancel_futures=True)

    def _all_watchers(self) -> list[Watcher]:
        with self._lock:
            return list({w for filed in self._index.values() for w in filed})

    def _loop(self) -> None:
        last_read = 0.0
        while not self._closed.is_set():
            self._wake.wait(self._poll_interval)
            pause = last_read + self._batch_interval - time.monotonic()
            if pause > 0:
                self._closed.wait(pause)  # the commits of the pause are read together
            self._wake.clear()
            if self._closed.is_set():
                return
            last_read = time.monotonic()
            try:
                self.advance()
            except SQLAlchemyError as exc:
                logger.warning("cannot read new port events: %s; trying again", exc)
                self._closed.wait(min(1.0, self._poll_interval))

    def advance(self) -> int:
        """Reads every event after the hub's position and offers it; returns how many. One
        caller at a time (the hub's thread; tests)."""
        with self._reading:
            return self._advance()

    def _advance(self) -> int:
        total = 0
        while True:
            with self._lock:
                if not self._count:
                    return total  # nobody to offer to: the next attach moves the position on
                position = self._position
            with sql.read_session(self._factory) as session:
                # The counter first: every event up to it is committed before the page is read
                # (on PostgreSQL each statement sees what was committed before it started).
                current = db_events.current_revision(session)
                batch = db_events.read_after(session, position, PAGE)
                if not batch and current > position:
                    # The next events were all pruned before the hub read them.
                    first = db_events.oldest_revision(session)
                    with self._lock:
                        if self._position == position:
                            self._lost(first)
                            self._position = first - 1
                    continue
            if not batch:
                return total
            woken: list[Watcher] = []
            with self._lock:
                # A first watcher may have moved the position on during the read.
                batch = [e for e in batch if e.revision > self._position]
                if not batch:
                    continue
                if batch[0].revision != self._position + 1:
                    self._lost(batch[0].revision)
                for event in batch:
                    for watcher in self._candidates(event):
                        if (
                            event.revision > watcher.position
                            and watcher.filter.matches(
                                event.port_id,
                                event.network_id,
                                event.host_id,
                                event.previous_host_id,
                            )
                            and watcher.offer(event)
                        ):
                            woken.append(watcher)
                self._position = batch[-1].revision
            _wake_from_thread(woken)
            total += len(batch)
            if len(batch) < PAGE:
                return total

    def _candidates(self, event: db_events.StoredEvent) -> set[Watcher]:
        """The watchers filed where ``event`` can match (under the hub's lock)."""
        keys = [
            ("all", ""),
            ("port", event.port_id),
            ("network", event.network_id),
            ("host", event.host_id),
        ]
        if event.previous_host_id:
            keys.append(("host", event.previous_host_id))
        found: set[Watcher] = set()
        for key in keys:
            filed = self._index.get(key)
            if filed:
                found.update(filed)
        return found

    def _lost(self, first: int) -> None:
        """The events between the position and ``first`` were pruned before the hub read them:
        every watcher missed them (under the hub's lock)."""
        logger.warning(
            "port events %d to %d were pruned before they were delivered; watchers must resync",
            self._position + 1,
            first - 1,
        )
        for watcher in {w for filed in self._index.values() for w in filed}:
            watcher.end(_PRUNED)

    def _listen(self) -> None:
        import psycopg  # only on PostgreSQL

        while not self._closed.is_set():
            try:
                with psycopg.connect(self._listen_url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {db_events.CHANNEL}")
                    logger.info("listening for port events of other replicas")
                    self.wake()  # notifications may have been missed while not listening
                    self._listen_on(conn)
            except psycopg.Error as exc:
                if self._closed.is_set():
                    return
                logger.warning("lost the port event notifications: %s; reconnecting", exc)
                self.wake()
                self._closed.wait(1.0)

    def _listen_on(self, conn: object) -> None:
        import psycopg

        assert isinstance(conn, psycopg.Connection)
        waited = 0.0
        while not self._closed.is_set():
            for _ in conn.notifies(timeout=1.0, stop_after=1):
                self.wake()
            waited += 1.0
            if waited >= self._poll_interval:
                conn.execute("SELECT 1")  # notices a dead connection on a quiet channel
                waited = 0.0


async def stream(
    hub: EventHub,
    factory: sessionmaker[Session],
    filt: r.WatchFilter,
    *,
    after_revision: int,
    snapshot: bool,
    encoding: Encoding,
    max_batch: int = 1,
    screen: Screen | None = None,
) -> AsyncIterator[bytes]:
    """Yields what one watcher receives, encoded, until the hub closes, a RESYNC ends it or its
    task is cancelled (the caller went away). Runs on an event loop. ``max_batch`` above 1:
    up to that many events per message (``Encoding.part``), pending ones at once and, after a
    change, those that come within the hub's batch window. ``screen``: only what it admits."""
    metrics.WATCHERS.inc()
    start = _InThreads(
        _start(hub, factory, filt, after_revision, snapshot, asyncio.get_running_loop()),
        hub.start_pool,
    )
    watcher: Watcher | None = None
    try:
        while watcher is None:
            chunk = await start.next_chunk()
            if not chunk:
                return
            if isinstance(chunk[-1], Watcher):
                watcher = chunk.pop()
            if screen is not None:
                chunk = screen.items(chunk)
            for data in _messages(chunk, encoding, max_batch):
                yield data
        async for data in _follow(hub, watcher, factory, encoding, max_batch, screen):
            yield data
    finally:
        start.close()
        if watcher is not None:
            hub.detach(watcher)
        metrics.WATCHERS.dec()


def _messages(items: Sequence[Item], encoding: Encoding, max_batch: int) -> Iterator[bytes]:
    """The messages of ``items``: changes and snapshot ports in batches of up to
    ``max_batch`` when it is above 1, everything else in messages of its own."""
    batch: list[bytes] = []
    for item in items:
        if max_batch > 1 and isinstance(item, Change | SnapshotPort):
            batch.append(encoding.part(item))
            if len(batch) == max_batch:
                yield b"".join(batch)
                batch = []
            continue
        if batch:
            yield b"".join(batch)
            batch = []
        yield encoding.single(item)
    if batch:
        yield b"".join(batch)


class _InThreads:
    """Runs a generator of blocking reads a chunk at a time on a thread pool."""

    CHUNK = 100

    def __init__(self, generator: Generator[Any, None, None], pool: futures.Executor) -> None:
        self._generator = generator
        self._pool = pool
        self._running: futures.Future[list[Any]] | None = None

    async def next_chunk(self) -> list[Any]:
        """The next items (empty once the generator is done)."""
        try:
            self._running = self._pool.submit(_take, self._generator, self.CHUNK)
        except RuntimeError:  # the pool was shut down: the hub is closing
            return []
        return await asyncio.wrap_future(self._running)

    def close(self) -> None:
        """Closes the generator (its transaction) once no chunk is being read any more."""
        running = self._running
        if running is not None and not running.done():
            running.add_done_callback(lambda _f: self._generator.close())
        else:
            self._generator.close()


def _take(generator: Generator[Any, None, None], count: int) -> list[Any]:
    return list(itertools.islice(generator, count))


def _start(
    hub: EventHub,
    factory: sessionmaker[Session],
    filt: r.WatchFilter,
    after_revision: int,
    snapshot: bool,
    loop: asyncio.AbstractEventLoop,
) -> Generator[Item | Watcher, None, None]:
    """The blocking start of a stream: yields the snapshot or the history the hub has passed,
    then the watcher attached to the hub where they end (nothing after a RESYNC)."""
    if snapshot:
        position = yield from _snapshot(factory, filt)
    else:
        with sql.read_session(factory) as session:
            current = db_events.current_revision(session)
            oldest = db_events.oldest_revision(session)
        position = after_revision or current
        if position > current:
            yield _resync(
                "ahead",
                oldest,
                f"after_revision {position} is ahead of the newest revision "
                f"{current}: the history was reset",
            )
            return
    while not hub.closed:
        watcher = hub.attach(filt, position, loop)
        if watcher is not None:
            yield watcher
            return
        caught_up = yield from _catch_up(factory, filt, position, hub.position)
        if caught_up is None:
            return
        position = caught_up


def _snapshot(factory: sessionmaker[Session], filt: r.WatchFilter) -> Generator[Item, None, int]:
    """Yields the matching ports and SYNCED, all read in one snapshot together with the
    revision they reflect; returns that revision (the generator's value)."""
    with sql.snapshot_session(factory) as session:
        revision = db_events.current_revision(session)
        after = ""
        while True:
            ports = repo.matching_ports(session, filt, after, PAGE)
            for port in ports:
                yield SnapshotPort(port, revision)
            if len(ports) < PAGE:
                break
            after = ports[-1].id
    yield Synced(revision)
    return revision


def _catch_up(
    factory: sessionmaker[Session], filt: r.WatchFilter, position: int, target: int
) -> Generator[Item, None, int | None]:
    """Yields the matching events after ``position`` up to at least ``target`` from the log;
    returns the revision reached, or None after a RESYNC (the history was pruned)."""
    while position < target:
        with sql.read_session(factory) as session:
            batch = db_events.read_after(session, position, PAGE)
            oldest = db_events.oldest_revision(session) if not batch else 0
        if not batch or batch[0].revision != position + 1:
            oldest = oldest or batch[0].revision
            yield _resync(
                "pruned",
                oldest,
                f"the events after revision {position} are no longer kept "
                f"(the oldest kept is {oldest}): list the ports again or watch with snapshot",
            )
            return None
        for event in batch:
            if _matches(filt, event):
                metrics.EVENTS_DELIVERED.inc()
                yield Change(event)
        position = batch[-1].revision
    return position


async def _follow(
    hub: EventHub,
    watcher: Watcher,
    factory: sessionmaker[Session],
    encoding: Encoding,
    max_batch: int,
    screen: Screen | None = None,
) -> AsyncIterator[bytes]:
    batched = max_batch > 1
    while True:
        taken = watcher.take_now()
        if isinstance(taken, str):
            if taken != _CLOSED:
                yield encoding.single(await _ended(hub, factory, taken))
            return
        if not taken:
            await watcher.wait()
            continue
        if batched and len(taken) < max_batch and hub.batch_window > 0:
            await asyncio.sleep(hub.batch_window)  # the changes soon after join this one
            more = watcher.take_now()
            if isinstance(more, list):  # an end is seen on the next round, after these
                taken += more
        if screen is not None:
            for data in _screened(hub, taken, screen, encoding, max_batch):
                yield data
            continue
        metrics.EVENTS_DELIVERED.inc(len(taken))
        if not batched:
            for event in taken:
                yield hub.encoded(event, encoding, part=False)
            continue
        for first in range(0, len(taken), max_batch):
            chunk = taken[first : first + max_batch]
            yield b"".join(hub.encoded(event, encoding, part=True) for event in chunk)


def _screened(
    hub: EventHub,
    events: Sequence[db_events.StoredEvent],
    screen: Screen,
    encoding: Encoding,
    max_batch: int,
) -> Iterator[bytes]:
    """The messages of ``events`` that ``screen`` admits: an event admitted whole keeps its
    shared encoding, one with hidden fields is encoded for this watcher."""
    seen = [item for item in (screen.admit(Change(event)) for event in events) if item]
    metrics.EVENTS_DELIVERED.inc(len(seen))
    part = max_batch > 1

    def encoded(item: Seen) -> bytes:
        assert isinstance(item, Change)
        if not item.hidden:
            return hub.encoded(item.event, encoding, part=part)
        return (encoding.part if part else encoding.single)(item)

    if not part:
        for item in seen:
            yield encoded(item)
        return
    for first in range(0, len(seen), max_batch):
        yield b"".join(encoded(item) for item in seen[first : first + max_batch])


async def _ended(hub: EventHub, factory: sessionmaker[Session], why: str) -> Resync:
    """The RESYNC of a watcher the hub ended (overflow, pruned)."""

    def oldest() -> int:
        with sql.read_session(factory) as session:
            return db_events.oldest_revision(session)

    first = await asyncio.get_running_loop().run_in_executor(hub.start_pool, oldest)
    reason = (
        f"the watcher fell more than {hub.queue_size} events behind"
        if why == _OVERFLOW
        else "events were pruned before they were delivered"
    )
    return _resync(why, first, f"{reason}: list the ports again or watch with snapshot")


def _matches(filt: r.WatchFilter, event: db_events.StoredEvent) -> bool:
    return filt.matches(event.port_id, event.network_id, event.host_id, event.previous_host_id)


def _resync(reason: str, oldest: int, message: str) -> Resync:
    metrics.RESYNCS.labels(reason).inc()
    return Resync(oldest, message)
