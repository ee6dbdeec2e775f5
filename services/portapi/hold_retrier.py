"""Sending hold syncs again that typemgr was not told about (``db.hold_outbox``).

Every ``interval`` seconds one thread of each portapi replica reads the pending syncs written
more than ``interval`` seconds ago (so that it leaves the syncs being sent right now to the
requests that wrote them) and sends each one again; a sync typemgr accepts is deleted. Replicas
may send the same sync twice: a sync says what a port holds as of a generation, so sending it
again changes nothing.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi.binding import Binder
from services.portapi.db import hold_outbox
from services.portapi.db.codec import now

logger = logging.getLogger(__name__)

BATCH = 100
"""Pending syncs read per pass."""


class HoldSyncRetrier:
    """The background thread that empties the hold outbox."""

    def __init__(self, factory: sessionmaker[Session], binder: Binder, interval: float) -> None:
        self._factory = factory
        self._binder = binder
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hold-sync-retrier", daemon=True)

    def start(self) -> None:
        """Starts the thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the thread after its current pass."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self) -> tuple[int, int]:
        """Sends the pending syncs that are due; returns (sent, still pending of them)."""
        written_before = now() - timedelta(seconds=self._interval)
        with sql.read_session(self._factory) as session:
            due = hold_outbox.due(session, written_before, BATCH)
        sent = 0
        for pending in due:
            if self._stop.is_set():
                break
            sent += self._binder.sync_holds(pending, retry=True)
        if due:
            logger.info("sent %d of %d pending hold syncs to typemgr", sent, len(due))
        return sent, len(due) - sent

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except SQLAlchemyError as exc:
                logger.warning("cannot read the pending hold syncs: %s", exc)
