"""Structured logging, configured once per process.

Every record is one JSON object per line on stderr with the time, level, logger, the process's
service name and any ``extra=`` fields, so that logs of many processes can be merged and queried.
``ML2_LOG_FORMAT=text`` switches to a readable one-line format for local use.

gRPC's C core writes its own lines (``E1201 09:27:39.321224 12537 chttp2_transport.cc:1435]
...``) straight to file descriptor 2, past Python's logging. ``configure_logging`` therefore turns
descriptor 2 into a pipe that a thread reads, and logs each line written there as a record of the
``grpc`` logger, with the core's level and source location; Python itself keeps writing to the
real stderr. An exception nobody caught is logged as a record too. So the whole stream stays one
JSON object per line, and ``GRPC_VERBOSITY`` and ``GRPC_TRACE`` (gRPC's own switches) add records
rather than plain text. Only a refusal to start stays what it always was: one plain line, then
exit status 2.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import fcntl
import json
import logging
import os
import re
import signal
import sys
import threading
from types import TracebackType
from typing import IO

from pythonjsonlogger.json import JsonFormatter

_CORE_LINE = re.compile(
    r"^(?P<level>[IWEF])\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+(?P<thread>\d+) (?P<source>[^\s\]]+)\] ?"
    r"(?P<message>.*)$"
)
PIPE_SIZE = 1 << 20
"""Bytes the pipe behind descriptor 2 holds before a writer waits (Linux's default limit)."""
_CORE_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}

core_logger = logging.getLogger("grpc")
"""The logger of lines native code (gRPC's C core) writes to file descriptor 2."""


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True


def configure_logging(
    service: str, level: str = "INFO", fmt: str = "json", *, capture_native: bool = True
) -> None:
    """Sends every log record of this process to stderr, as JSON unless ``fmt`` is ``text``.

    With ``capture_native`` (what every process wants; tests that share a process's stderr turn
    it off), lines written to file descriptor 2 by native code and uncaught exceptions become
    records too.
    """
    stream = _capture_native_stderr() if capture_native else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.addFilter(_ServiceFilter(service))
    if fmt == "text":
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s")
        )
    else:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{service}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if capture_native:
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
        # SIGUSR1 writes every thread's stack to stderr: what a launcher asks of a process that
        # does not stop, before it kills it.
        faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True)


def native_record(line: str) -> tuple[int, str, dict[str, str]]:
    """Returns the level, message and extra fields of one line written to descriptor 2.

    A line of gRPC core's format keeps its level, source location and thread id; anything else
    is a WARNING, as nothing should write there.
    """
    match = _CORE_LINE.match(line)
    if match is None:
        return logging.WARNING, line, {"native": "stderr"}
    extra = {"native": "grpc", "source": match["source"], "native_thread": match["thread"]}
    return _CORE_LEVELS[match["level"]], match["message"], extra


class _NativeCapture:
    """Descriptor 2 redirected into a pipe; a thread logs what arrives there."""

    def __init__(self) -> None:
        self.real_fd = os.dup(2)
        self.real = os.fdopen(
            self.real_fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace"
        )
        read_fd, write_fd = os.pipe()
        # Room for bursts (a trace), so that native code does not wait on the reader.
        with contextlib.suppress(AttributeError, OSError):
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self.reader = os.fdopen(read_fd, "rb")
        self.thread = threading.Thread(target=self._pump, name="native-stderr", daemon=True)
        self.thread.start()
        atexit.register(self.drain)

    def _pump(self) -> None:
        for raw in self.reader:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.strip():
                continue
            if _is_json_object(line):  # already a record (written to the descriptor directly)
                self.real.write(line + "\n")
                continue
            level, message, extra = native_record(line)
            core_logger.log(level, "%s", message, extra=extra)

    def drain(self, timeout: float = 2.0) -> None:
        """Points descriptor 2 back at the real stderr, which ends the pipe, and waits until
        every line written before is logged (called at exit)."""
        os.dup2(self.real_fd, 2)
        self.thread.join(timeout)


_capture: _NativeCapture | None = None


def _capture_native_stderr() -> IO[str]:
    """Starts capturing descriptor 2 (once per process); returns the real stderr, which
    Python's own writes now use."""
    global _capture
    if _capture is None:
        sys.stderr.flush()
        _capture = _NativeCapture()
        sys.stderr = _capture.real
    return _capture.real


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger().critical("uncaught exception", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger().critical(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )
