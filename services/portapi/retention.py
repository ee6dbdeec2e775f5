"""Port event retention: every ``interval`` seconds the log keeps only its newest ``keep``
events and those younger than ``max_age`` seconds (``db.events.prune``). A watcher that asks
for history older than what is kept gets RESYNC (``watch``). Every replica prunes; deleting
what another replica already deleted is harmless."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.portapi import metrics
from services.portapi.db import codec
from services.portapi.db import events as db_events
from services.portapi.db import repository as repo
from services.portapi.periodic import PeriodicThread

logger = logging.getLogger(__name__)


class EventPruner(PeriodicThread):
    """The periodic pruning of the port event log."""

    def __init__(
        self, factory: sessionmaker[Session], *, keep: int, max_age: float, interval: float
    ) -> None:
        super().__init__("port-event-pruner", interval, first_at_start=True)
        self._factory = factory
        self._keep = keep
        self._max_age = timedelta(seconds=max_age)

    def run_once(self) -> int:
        """Prunes once; returns how many events were deleted."""
        before = codec.now() - self._max_age
        work = functools.partial(db_events.prune, keep=self._keep, before=before)
        pruned = repo.run_write(self._factory, work)
        metrics.EVENTS_PRUNED.inc(pruned)
        if pruned:
            logger.info("pruned %d port events", pruned)
        return pruned

    def _tick(self) -> None:
        try:
            self.run_once()
        except SQLAlchemyError as exc:
            logger.warning("cannot prune port events: %s; trying again later", exc)
