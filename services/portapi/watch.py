"""WatchPorts: the per-replica hub that reads new port events from the log and hands them to
this replica's watchers, and the stream each watcher reads.

    writers (any replica) ──commit──► port_events ◄──read revision > p── EventHub ──► Watcher
         │ NOTIFY (PostgreSQL) / in-process wakeup (run_write's listeners)    ▲ │ bounded queue
         └──────────────────────────────── wake ───────────────────────────────┘ ▼
                                                                         stream() ──► gRPC

* One ``EventHub`` per process reads every new event once (``revision > position``, in pages),
  and offers each to the watchers whose filter matches. It wakes when this process commits
  events, when PostgreSQL notifies that another replica did (a dedicated LISTEN connection,
  reconnected when lost), and every ``poll_interval`` seconds regardless, so that a lost
  notification only delays delivery.
* Revisions are dense and in commit order (``db.events``), so reading ``revision > p`` never
  skips an event, and a missing ``p + 1`` means it was pruned.
* ``stream`` starts a watcher where it asked: from now, after a revision (reading the history
  the hub has already passed from the log itself, then joining the hub exactly where it is), or
  after a snapshot of the matching ports read in one consistent transaction together with the
  revision it reflects, so that nothing between the snapshot and the changes is lost.
* A watcher's queue is bounded: one that falls ``queue_size`` events behind gets RESYNC and its
  stream ends, rather than growing without bound; so does one whose history was pruned.
* ``close`` (the server stopping) ends every stream cleanly.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass

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
TAKE_TIMEOUT = 0.5
"""How often a waiting stream checks that its caller is still there."""


@dataclass(frozen=True)
class Change:
    """A committed change of a port."""

    event: db_events.StoredEvent


@dataclass(frozen=True)
class SnapshotPort:
    """A port as it is at the snapshot's revision."""

    port: r.Port
    revision: int


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

_CLOSED = "closed"
_OVERFLOW = "overflow"
_PRUNED = "pruned"


class Watcher:
    """One stream's queue of events, filled by the hub."""

    def __init__(self, filt: r.WatchFilter, position: int, capacity: int) -> None:
        self.filter = filt
        self.position = position
        """Events up to this revision are not offered (the stream had them already)."""
        self._capacity = capacity
        self._events: collections.deque[db_events.StoredEvent] = collections.deque()
        self._ended = ""
        self._cond = threading.Condition()

    def offer(self, event: db_events.StoredEvent) -> None:
        """Queues ``event``; a watcher with a full queue ends with overflow instead."""
        with self._cond:
            if self._ended:
                return
            if len(self._events) >= self._capacity:
                self._events.clear()
                self._ended = _OVERFLOW
            else:
                self._events.append(event)
            self._cond.notify()

    def end(self, why: str) -> None:
        """Ends the watcher once its queued events are taken (overflow: at once)."""
        with self._cond:
            if not self._ended:
                self._ended = why
            self._cond.notify()

    def take(self, timeout: float) -> list[db_events.StoredEvent] | str:
        """Returns the queued events (waiting up to ``timeout`` for one; empty if none came),
        or why the watcher ended once none are left."""
        with self._cond:
            if not self._events and not self._ended:
                self._cond.wait(timeout)
            if self._events:
                taken = list(self._events)
                self._events.clear()
                return taken
            return self._ended or []


class EventHub:
    """Reads new port events once per process and offers them to the process's watchers."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        queue_size: int = 10000,
        poll_interval: float = 5.0,
        listen_url: str = "",
    ) -> None:
        """``listen_url``: a PostgreSQL URL to LISTEN for other replicas' events on (empty on
        SQLite, where only this process writes)."""
        self._factory = factory
        self._queue_size = queue_size
        self._poll_interval = poll_interval
        self._listen_url = listen_url
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._watchers: set[Watcher] = set()
        self._position = 0
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

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
        active: Callable[[], bool],
    ) -> Iterator[Item]:
        """Yields what one watcher receives (see ``stream``)."""
        return stream(
            self,
            self._factory,
            filt,
            after_revision=after_revision,
            snapshot=snapshot,
            active=active,
        )

    def _committed(self, _types: Sequence[str]) -> None:
        self.wake()

    def attach(self, filt: r.WatchFilter, position: int) -> Watcher | None:
        """Returns a watcher offered every matching event after ``position``, or None when the
        hub is already past ``position`` (the caller reads the events in between from the log
        first) or closed."""
        with self._lock:
            if self._closed.is_set() or position < self._position:
                return None
            watcher = Watcher(filt, position, self._queue_size)
            self._watchers.add(watcher)
            return watcher

    def detach(self, watcher: Watcher) -> None:
        """Stops offering events to ``watcher``."""
        with self._lock:
            self._watchers.discard(watcher)

    def close(self, timeout: float = 5.0) -> None:
        """Ends every watcher's stream and stops reading."""
        self._closed.set()
        repo.remove_commit_listener(self._committed)
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.end(_CLOSED)
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._poll_interval)
            self._wake.clear()
            if self._closed.is_set():
                return
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
            with sql.read_session(self._factory) as session:
                batch = db_events.read_after(session, self._position, PAGE)
            if not batch:
                return total
            with self._lock:
                if batch[0].revision != self._position + 1:
                    self._lost(batch[0].revision)
                for event in batch:
                    for watcher in self._watchers:
                        if event.revision > watcher.position and watcher.filter.matches(
                            event.port_id, event.network_id, event.host_id, event.previous_host_id
                        ):
                            watcher.offer(event)
                self._position = batch[-1].revision
            total += len(batch)
            if len(batch) < PAGE:
                return total

    def _lost(self, first: int) -> None:
        """The events between the position and ``first`` were pruned before the hub read them:
        every watcher missed them."""
        logger.warning(
            "port events %d to %d were pruned before they were delivered; watchers must resync",
            self._position + 1,
            first - 1,
        )
        for watcher in self._watchers:
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


def stream(
    hub: EventHub,
    factory: sessionmaker[Session],
    filt: r.WatchFilter,
    *,
    after_revision: int,
    snapshot: bool,
    active: Callable[[], bool],
) -> Iterator[Item]:
    """Yields what one watcher receives until the hub closes, ``active`` turns False (the
    caller went away) or a RESYNC ends it."""
    metrics.WATCHERS.inc()
    try:
        yield from _stream(hub, factory, filt, after_revision, snapshot, active)
    finally:
        metrics.WATCHERS.dec()


def _stream(
    hub: EventHub,
    factory: sessionmaker[Session],
    filt: r.WatchFilter,
    after_revision: int,
    snapshot: bool,
    active: Callable[[], bool],
) -> Iterator[Item]:
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
    watcher = None
    while watcher is None:
        if hub.closed or not active():
            return
        watcher = hub.attach(filt, position)
        if watcher is None:
            caught_up = yield from _catch_up(factory, filt, position, hub.position)
            if caught_up is None:
                return
            position = caught_up
    try:
        yield from _follow(hub, watcher, factory, active)
    finally:
        hub.detach(watcher)


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


def _follow(
    hub: EventHub, watcher: Watcher, factory: sessionmaker[Session], active: Callable[[], bool]
) -> Iterator[Item]:
    while True:
        taken = watcher.take(TAKE_TIMEOUT)
        if isinstance(taken, str):
            if taken != _CLOSED:
                with sql.read_session(factory) as session:
                    oldest = db_events.oldest_revision(session)
                why = (
                    f"the watcher fell more than {hub.queue_size} events behind"
                    if taken == _OVERFLOW
                    else "events were pruned before they were delivered"
                )
                yield _resync(taken, oldest, f"{why}: list the ports again or watch with snapshot")
            return
        for event in taken:
            metrics.EVENTS_DELIVERED.inc()
            yield Change(event)
        if not taken and not active():
            return


def _matches(filt: r.WatchFilter, event: db_events.StoredEvent) -> bool:
    return filt.matches(event.port_id, event.network_id, event.host_id, event.previous_host_id)


def _resync(reason: str, oldest: int, message: str) -> Resync:
    metrics.RESYNCS.labels(reason).inc()
    return Resync(oldest, message)
