"""The circuit breaker of one mechanism driver: stop asking a driver that keeps failing.

::

    closed --(N consecutive failures)--> open --(cooldown elapsed, next call)--> half_open
      ^                                    ^                                        |
      |                                    +------------(the trial call fails)------+
      +-----------------------------(the trial call succeeds)-----------------------+

A failure is a call the driver did not answer (unreachable, or no answer within its deadline);
any answer, a decline included, is a success. While open, no call is made; after the cooldown,
one caller is let through as the trial and the others are still refused until it reports.

The breaker is thread-safe and reads time only through the injected clocks: ``clock`` (monotonic
seconds) decides, ``wall`` (epoch seconds) only says when, for messages and listings.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class State(enum.Enum):
    """A breaker's state; the value is the name metrics and listings use."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Status:
    """A breaker's state as of one instant. ``opened_at`` and ``retry_at`` are epoch seconds,
    0 while closed; ``retry_at`` is when the next call is let through as the trial."""

    state: State
    failures: int = 0
    opened_at: float = 0.0
    retry_at: float = 0.0


OnChange = Callable[[State], None]


class CircuitBreaker:
    """Counts consecutive failures of one driver and refuses calls while open."""

    def __init__(
        self,
        failures: int,
        cooldown: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        on_change: OnChange | None = None,
    ) -> None:
        if failures < 1 or cooldown <= 0:
            raise ValueError("failures must be at least 1 and cooldown more than 0")
        self.threshold = failures
        self.cooldown = cooldown
        self._clock = clock
        self._wall = wall
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._failures = 0
        self._opened = 0.0  # clock() when it opened
        self._opened_wall = 0.0
        self._trial = False  # a half-open trial call is under way

    def status(self) -> Status:
        """Returns the current state (an open breaker whose cooldown has elapsed stays open
        until a call is let through as the trial)."""
        with self._lock:
            return self._status()

    def allow(self) -> bool:
        """Returns True if a call may be made now. When it lets the trial call of a half-open
        breaker through, the caller must report the call (``succeeded``, ``failed`` or
        ``abandoned``)."""
        with self._lock:
            if self._state is State.CLOSED:
                return True
            if self._state is State.OPEN:
                if self._clock() - self._opened < self.cooldown:
                    return False
                self._enter(State.HALF_OPEN)
            if self._trial:
                return False
            self._trial = True
            return True

    def succeeded(self) -> None:
        """The driver answered: the count starts over and a half-open breaker closes."""
        with self._lock:
            self._failures = 0
            self._trial = False
            if self._state is not State.CLOSED:
                self._enter(State.CLOSED)

    def failed(self) -> None:
        """The driver did not answer: a half-open breaker reopens, a closed one opens at the
        threshold."""
        with self._lock:
            self._failures += 1
            self._trial = False
            if self._state is State.HALF_OPEN or (
                self._state is State.CLOSED and self._failures >= self.threshold
            ):
                self._opened = self._clock()
                self._opened_wall = self._wall()
                self._enter(State.OPEN)

    def abandoned(self) -> None:
        """A call let through ended without telling whether the driver answers (the caller's
        own deadline cut it): nothing is counted, and a half-open breaker lets another trial."""
        with self._lock:
            self._trial = False

    def _enter(self, state: State) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)

    def _status(self) -> Status:
        if self._state is State.CLOSED:
            return Status(State.CLOSED, self._failures)
        return Status(
            self._state, self._failures, self._opened_wall, self._opened_wall + self.cooldown
        )
