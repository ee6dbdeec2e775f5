"""The answers of checks of many hosts (ResolveBindability), kept per host for a few seconds.

A driver's answer follows from its question alone (the driver contract: no state between
calls), and every question of a host's binding loop follows from the check's inputs and the
answers before it. So a host's whole answer is determined by:

- the check's *scope*: the network, its offered segments, the vnic type and profile, the agent
  down time, and every configured driver's name, address, circuit breaker state and
  *generation* (a count that moves on every breaker transition and whenever the driver's
  DescribeDriver answer changes);
- the host's *key*: the host name and every column of each of its agent rows, with the
  liveness computed at the check (an agent that dies, re-registers with other mappings or is
  disabled has another key at once).

An answer is kept under its scope and key for ``ttl`` seconds from when its drivers were asked,
which bounds how long a driver that changed its answers without a sign mechmgr sees (restarted
with another configuration, faster than its breaker opens) goes unnoticed. An answer in which
any driver declined with DRIVER_UNAVAILABLE or DRIVER_ERROR (unreachable, breaker open, past
the deadline, crashed, malformed) is never kept: the next check asks again.

Only checks read it. A bind (ResolveBinding) always asks the drivers: so does portapi's retry of
a failed binding after one of the host's agents changed, which is a bind. A check after such a
change misses the cache anyway: the change is in the agent's row (capabilities, admin state,
heartbeat and ``revision``) or in its liveness, all part of the host's key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence

from ml2_contract import values, vocabulary

UNCACHEABLE_CODES = frozenset({vocabulary.DRIVER_UNAVAILABLE, vocabulary.DRIVER_ERROR})
"""Decline codes that say nothing about the host: an answer with one is not kept."""


def cacheable(result: values.BindingResult) -> bool:
    """True if no verdict of ``result`` declined for a reason of ``UNCACHEABLE_CODES``."""
    return not any(r.code in UNCACHEABLE_CODES for v in result.trace for r in v.reasons)


class BindabilityCache:
    """Encoded answers by scope and host key, each kept ``ttl`` seconds (0 keeps nothing).
    Holds at most ``limit`` answers: past it, the oldest scopes are dropped whole. Thread-safe;
    reads time only through ``clock`` (monotonic seconds)."""

    def __init__(
        self,
        ttl: float,
        limit: int = 50000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or limit < 1:
            raise ValueError("ttl must be at least 0 and limit at least 1")
        self.ttl = ttl
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        # scope -> host key -> (expiry, answer); scopes in the order they were first stored.
        self._scopes: dict[Hashable, dict[Hashable, tuple[float, bytes]]] = {}
        self._size = 0

    @property
    def enabled(self) -> bool:
        """True if answers are kept at all."""
        return self.ttl > 0

    def now(self) -> float:
        """The cache's clock: take it before asking the drivers, and pass it to ``store``."""
        return self._clock()

    def lookup(self, scope: Hashable, keys: Sequence[Hashable]) -> list[bytes | None]:
        """Returns the kept answer of each key under ``scope`` (None where there is none, or it
        has expired)."""
        if not self.enabled:
            return [None] * len(keys)
        now = self._clock()
        with self._lock:
            answers = self._scopes.get(scope)
            if answers is None:
                return [None] * len(keys)
            found: list[bytes | None] = []
            for key in keys:
                entry = answers.get(key)
                found.append(entry[1] if entry is not None and now < entry[0] else None)
            return found

    def store(
        self, scope: Hashable, entries: Sequence[tuple[Hashable, bytes]], asked_at: float
    ) -> None:
        """Keeps each (key, answer) of ``entries`` under ``scope`` until ``asked_at + ttl``
        (``asked_at``: ``now()`` before the drivers were asked)."""
        if not self.enabled or not entries:
            return
        expiry = asked_at + self.ttl
        with self._lock:
            answers = self._scopes.get(scope)
            if answers is None:
                answers = self._scopes[scope] = {}
            before = len(answers)
            answers.update((key, (expiry, answer)) for key, answer in entries)
            self._size += len(answers) - before
            self._evict(keep=scope)

    def clear(self) -> None:
        """Drops every answer."""
        with self._lock:
            self._scopes.clear()
            self._size = 0

    def __len__(self) -> int:
        with self._lock:
            return self._size

    def _evict(self, keep: Hashable) -> None:
        """Drops expired answers, then the oldest scopes other than ``keep``, while over the
        limit; last, ``keep`` itself is emptied."""
        if self._size <= self._limit:
            return
        now = self._clock()
        for scope in list(self._scopes):
            answers = self._scopes[scope]
            live = {k: e for k, e in answers.items() if now < e[0]}
            self._size -= len(answers) - len(live)
            if live:
                self._scopes[scope] = live
            else:
                del self._scopes[scope]
        for scope in list(self._scopes):
            if self._size <= self._limit:
                return
            if scope != keep:
                self._size -= len(self._scopes.pop(scope))
        if self._size > self._limit:
            self._scopes.pop(keep, None)
            self._size = 0
