"""The background thread lifecycle: when the first pass runs, and that stop ends the loop."""

from __future__ import annotations

import threading
import time

from services.portapi.periodic import PeriodicThread


class Counter(PeriodicThread):
    def __init__(self, interval: float, *, first_at_start: bool) -> None:
        super().__init__("counter", interval, first_at_start=first_at_start)
        self.passes = 0
        self.ran = threading.Event()

    def _tick(self) -> None:
        self.passes += 1
        self.ran.set()


def test_first_pass_at_start_runs_before_the_interval() -> None:
    thread = Counter(3600.0, first_at_start=True)
    thread.start()
    try:
        assert thread.ran.wait(30)
    finally:
        thread.stop()
    assert thread.passes == 1


def test_first_pass_waits_an_interval_unless_asked() -> None:
    thread = Counter(3600.0, first_at_start=False)
    thread.start()
    thread.stop()
    assert not thread._thread.is_alive()
    assert thread.passes == 0


def test_passes_repeat_until_stopped() -> None:
    thread = Counter(0.01, first_at_start=False)
    thread.start()
    deadline = time.monotonic() + 30
    while thread.passes < 3 and time.monotonic() < deadline:
        thread.ran.wait(1)
        thread.ran.clear()
    thread.stop()
    assert thread.passes >= 3
    assert not thread._thread.is_alive()
