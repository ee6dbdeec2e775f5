"""Sending hold syncs again that typemgr was not told about (``db.hold_outbox``).

Every ``interval`` seconds one thread of each portapi replica reads the pending syncs written
more than ``interval`` seconds ago (so that it leaves the syncs being sent right now to the
requests that wrote them, or to the sender of the syncs deferred after the answer) and sends
each one again; a sync typemgr accepts is deleted. Replicas may send the same sync twice: a sync
says what a port holds as of a generation, so sending it again changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi.binding import Binder
from services.portapi.db import hold_outbox
from services.portapi.db.codec import now
from services.portapi.periodic import PeriodicThread

logger = logging.getLogger(__name__)

BATCH = 100
"""Pending syncs read per pass."""


class HoldSyncRetrier(PeriodicThread):
    """The background thread that empties the hold outbox; its first pass runs one interval
    after it starts."""

    def __init__(self, factory: sessionmaker[Session], binder: Binder, interval: float) -> None:
        super().__init__("hold-sync-retrier", interval, first_at_start=False)
        self._factory = factory
        self._binder = binder

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

    def _tick(self) -> None:
        try:
            self.run_once()
        except SQLAlchemyError as exc:
            logger.warning("cannot read the pending hold syncs: %s", exc)
