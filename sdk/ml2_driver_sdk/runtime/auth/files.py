"""A file read again when it changes: keys, JWKS, static tokens and client tokens rotate."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class WatchedFile(Generic[T]):
    """The value ``load(path)`` made of a file, made again when the file's modification time,
    size or inode change. The file is looked at (one ``stat``) at most every ``interval``
    seconds, so that reading the value costs a clock read and a comparison.

    If the file changed but cannot be loaded (half written, removed), the last good value
    stays, and ``error`` says why; the first load raises.
    """

    def __init__(self, path: str, load: Callable[[str], T], *, interval: float = 1.0) -> None:
        self.path = path
        self._load = load
        self._interval = interval
        self._lock = threading.Lock()
        self.error = ""
        self.generation = 0
        """Counts the loads: a change of it tells a cache that the value changed."""
        self._signature = self._stat()
        self._value = load(path)
        self._next_look = time.monotonic() + interval

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def get(self) -> T:
        """The current value, reloaded first if the file changed."""
        if time.monotonic() >= self._next_look:
            self.refresh()
        return self._value

    def refresh(self) -> bool:
        """Looks at the file now; reloads it if it changed. Returns whether it did."""
        with self._lock:
            self._next_look = time.monotonic() + self._interval
            signature = self._stat()
            if signature == self._signature or signature is None:
                return False
            try:
                value = self._load(self.path)
            except Exception as exc:
                self.error = f"{self.path}: {exc}"
                return False
            self._signature = signature
            self._value = value
            self.error = ""
            self.generation += 1
            return True
