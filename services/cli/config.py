"""Where the ``ml2`` client commands look for the stack, from the environment.

``ML2_PORTAPI_ADDRESS``  portapi's gRPC address (default 127.0.0.1:50050)
``ML2_MECHMGR_ADDRESS``  mechmgr's gRPC address (default 127.0.0.1:50052)
``ML2_TYPEMGR_ADDRESS``  typemgr's gRPC address (default 127.0.0.1:50051), for segment ranges
``ML2_PROJECT``          the project new networks and ports belong to (default ``default``)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_PORTAPI_ADDRESS = "127.0.0.1:50050"
DEFAULT_MECHMGR_ADDRESS = "127.0.0.1:50052"
DEFAULT_TYPEMGR_ADDRESS = "127.0.0.1:50051"
DEFAULT_PROJECT = "default"


def portapi_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--portapi`` address."""
    return (environ if environ is not None else os.environ).get(
        "ML2_PORTAPI_ADDRESS", DEFAULT_PORTAPI_ADDRESS
    )


def mechmgr_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--mechmgr`` address."""
    return (environ if environ is not None else os.environ).get(
        "ML2_MECHMGR_ADDRESS", DEFAULT_MECHMGR_ADDRESS
    )


def typemgr_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--typemgr`` address."""
    return (environ if environ is not None else os.environ).get(
        "ML2_TYPEMGR_ADDRESS", DEFAULT_TYPEMGR_ADDRESS
    )


def project(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--project``."""
    return (environ if environ is not None else os.environ).get("ML2_PROJECT", DEFAULT_PROJECT)
