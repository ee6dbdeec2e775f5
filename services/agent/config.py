"""The agent's defaults from the environment.

``ML2_MECHMGR_ADDRESS``  mechmgr's gRPC address (default 127.0.0.1:50052)
``ML2_LOG_LEVEL``        log level (default INFO)
``ML2_LOG_FORMAT``       ``text`` (default: the agent usually runs in a terminal) or ``json``
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_MECHMGR_ADDRESS = "127.0.0.1:50052"


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def mechmgr_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--mechmgr`` address."""
    return _env(environ).get("ML2_MECHMGR_ADDRESS", DEFAULT_MECHMGR_ADDRESS)


def log_level(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--log-level``."""
    return _env(environ).get("ML2_LOG_LEVEL", "INFO")


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--log-format``."""
    return _env(environ).get("ML2_LOG_FORMAT", "text")
