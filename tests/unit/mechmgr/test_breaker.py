"""The circuit breaker on a hand-driven clock: no sleeping."""

from __future__ import annotations

import pytest

from services.mechmgr.breaker import CircuitBreaker, State

EPOCH = 1_700_000_000.0


class Clock:
    """Monotonic and wall time that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, failures: int = 3, cooldown: float = 10.0) -> tuple[CircuitBreaker, list]:
    changes: list[State] = []
    b = CircuitBreaker(
        failures, cooldown, clock=clock.monotonic, wall=clock.wall, on_change=changes.append
    )
    return b, changes


def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert b.allow()
        b.failed()


def test_it_opens_after_the_threshold_of_consecutive_failures(clock):
    b, changes = make(clock)

    fail(b, 2)
    assert b.status().state is State.CLOSED and b.status().failures == 2
    fail(b, 1)

    status = b.status()
    assert status.state is State.OPEN
    assert (status.failures, status.opened_at, status.retry_at) == (3, EPOCH + 100, EPOCH + 110)
    assert changes == [State.OPEN]
    assert not b.allow()


def test_an_answer_starts_the_count_over(clock):
    b, changes = make(clock)

    fail(b, 2)
    assert b.allow()
    b.succeeded()
    fail(b, 2)

    assert b.status().state is State.CLOSED
    assert changes == []


def test_it_refuses_until_the_cooldown_then_lets_one_trial_through(clock):
    b, changes = make(clock)
    fail(b, 3)

    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.1
    assert b.allow()
    assert b.status().state is State.HALF_OPEN
    assert not b.allow()  # only one trial at a time
    assert changes == [State.OPEN, State.HALF_OPEN]


def test_a_trial_that_answers_closes_it(clock):
    b, changes = make(clock)
    fail(b, 3)
    clock.now += 10
    assert b.allow()

    b.succeeded()

    assert b.status().state is State.CLOSED and b.status().failures == 0
    assert b.allow() and b.allow()
    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]


def test_a_trial_that_fails_reopens_it_for_another_cooldown(clock):
    b, changes = make(clock)
    fail(b, 3)
    clock.now += 15
    assert b.allow()

    b.failed()

    status = b.status()
    assert status.state is State.OPEN
    assert (status.opened_at, status.retry_at) == (EPOCH + 115, EPOCH + 125)
    clock.now += 9
    assert not b.allow()
    clock.now += 1
    assert b.allow()
    assert changes == [State.OPEN, State.HALF_OPEN, State.OPEN, State.HALF_OPEN]


def test_an_abandoned_trial_lets_another_caller_try(clock):
    b, _ = make(clock)
    fail(b, 3)
    clock.now += 10
    assert b.allow()

    b.abandoned()

    assert b.status().state is State.HALF_OPEN
    assert b.allow()


def test_an_abandoned_call_counts_neither_way(clock):
    b, _ = make(clock)
    fail(b, 2)
    assert b.allow()

    b.abandoned()

    assert b.status().failures == 2
    fail(b, 1)
    assert b.status().state is State.OPEN


def test_a_threshold_of_one_opens_on_the_first_failure(clock):
    b, _ = make(clock, failures=1)

    fail(b, 1)

    assert b.status().state is State.OPEN


@pytest.mark.parametrize(("failures", "cooldown"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_bad_settings_are_refused(failures, cooldown):
    with pytest.raises(ValueError, match="failures must be at least 1"):
        CircuitBreaker(failures, cooldown)
