"""The lifecycle of portapi's background threads: a daemon thread that runs one pass every
``interval`` seconds (and, if asked, one pass as soon as it starts) until it is stopped.

A subclass writes its pass in ``_tick`` (handling the errors a pass may meet) and checks
``_stop.is_set()`` between the items of a pass, so that ``stop`` returns after the current item.
"""

from __future__ import annotations

import threading


class PeriodicThread:
    """One background thread that calls ``_tick`` every ``interval`` seconds until stopped."""

    def __init__(self, name: str, interval: float, *, first_at_start: bool) -> None:
        self._interval = interval
        self._first_at_start = first_at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Starts the thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the thread after the item it is working on."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _tick(self) -> None:
        """Runs one pass; errors it does not handle end the thread."""
        raise NotImplementedError

    def _loop(self) -> None:
        if not self._first_at_start and self._stop.wait(self._interval):
            return
        while not self._stop.is_set():
            self._tick()
            if self._stop.wait(self._interval):
                return
