"""Running one request's work in one write transaction, retried when a concurrent caller won.

A request's function runs inside ``services.sql.write_session``: it commits if the function
returns, and rolls back everything (segments and allocations alike) if it raises. It is run
again, a bounded number of times, when the database reports a lost race (deadlock,
serialisation failure, a locked SQLite file) or the function raises ``Retry`` (a concurrent
caller created the same segments; the next run finds and returns them).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from services import sql

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_TRANSACTION_ATTEMPTS = 5


class Retry(Exception):
    """Raised inside a transaction to roll it back and run it again."""


class RetriesExhausted(Exception):
    """Every attempt lost a race."""


def run(
    factory: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    attempts: int = MAX_TRANSACTION_ATTEMPTS,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """Runs ``work`` in a write transaction and returns its result, retrying lost races (and
    calling ``on_retry`` before each new attempt). Raises RetriesExhausted when every attempt
    lost; any other error propagates after the rollback."""
    for attempt in range(1, attempts + 1):
        if attempt > 1 and on_retry is not None:
            on_retry()
        try:
            with sql.write_session(factory) as session:
                return work(session)
        except Retry:
            logger.debug("transaction attempt %d found a concurrent change, retrying", attempt)
        except DBAPIError as exc:
            if not sql.is_retryable(exc):
                raise
            logger.info(
                "transaction attempt %d lost a race (%s), retrying",
                attempt,
                type(exc.orig).__name__,
            )
        time.sleep(random.uniform(0, 0.005 * attempt))
    raise RetriesExhausted()
