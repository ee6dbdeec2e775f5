"""The caller's deadline, carried from a portapi RPC into every peer call it makes.

A servicer method decorated with ``honoured`` runs with its caller's deadline (gRPC's
``context.time_remaining()``) as the current one of its thread; the peer clients cut each call's
configured timeout to what is left of it (``call_timeout``), keeping ``RESERVE`` seconds for the
database writes and the answer that follow the call. So an RPC answers within its own deadline
whatever its peers do: a call that would start with less than ``MIN_CALL`` seconds left is not
made, and a call the caller's deadline cut short raises ``DeadlineExceeded`` (the outcome of
that call is unknown; the caller of the client decides what finishes it later). Work that runs
outside a request (the reconciler, the hold outbox) has no deadline and uses the configured
timeouts alone.

The deadline lives in a context variable, set and reset around one RPC on the worker thread that
serves it, so the managers and clients between the servicer and the channel need no parameter.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from services.portapi import errors as portapi_errors

RESERVE = 0.25
"""Seconds kept before the caller's deadline for the writes and the answer after a peer call."""

MIN_CALL = 0.05
"""A peer call with less time than this left is not made."""

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "portapi_deadline", default=None
)

F = TypeVar("F", bound=Callable[..., Any])


def honoured(method: F) -> F:
    """Decorates a servicer method ``(self, request, context)`` so that it runs with the
    caller's deadline as the current one."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: Any) -> Any:
        remaining = context.time_remaining()
        at = time.monotonic() + remaining if remaining is not None else None
        token = _DEADLINE.set(at)
        try:
            return method(self, request, context)
        finally:
            _DEADLINE.reset(token)

    return wrapper  # type: ignore[return-value]


def remaining() -> float | None:
    """Returns the seconds left before the current deadline, or None without one."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


def call_timeout(configured: float, peer: str) -> tuple[float, bool]:
    """Returns the timeout of one call to ``peer`` and whether the caller's deadline (less
    ``RESERVE``) rather than ``configured`` set it. Raises DeadlineExceeded, without a call,
    when less than MIN_CALL seconds would be left for it."""
    left = remaining()
    if left is None or left - RESERVE >= configured:
        return configured, False
    budget = left - RESERVE
    if budget < MIN_CALL:
        raise portapi_errors.DeadlineExceeded(
            f"{peer} not asked: {max(left, 0.0):.3g}s were left of the caller's deadline", peer
        )
    return budget, True


def ensure_time_left(what: str) -> None:
    """Raises DeadlineExceeded when less than RESERVE + MIN_CALL seconds are left, before a
    request writes anything: it could not finish in time."""
    left = remaining()
    if left is not None and left < RESERVE + MIN_CALL:
        raise portapi_errors.DeadlineExceeded(
            f"{what} not started: {max(left, 0.0):.3g}s were left of the caller's deadline", ""
        )
