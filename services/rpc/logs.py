"""Structured logging, configured once per process.

Every record is one JSON object per line on stderr with the time, level, logger, the process's
service name and any ``extra=`` fields, so that logs of many processes can be merged and queried.
``ML2_LOG_FORMAT=text`` switches to a readable one-line format for local use.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Sends every log record of this process to stderr, as JSON unless ``fmt`` is ``text``."""
    handler = logging.StreamHandler(sys.stderr)
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
