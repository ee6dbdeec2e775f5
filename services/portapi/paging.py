"""Page tokens of the list RPCs (AIP-158): opaque, bound to the filters they were issued for."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from services.portapi import resources as r
from services.rpc import errors

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    """Returns the page size to use: the default for 0, at most MAX_PAGE_SIZE.

    Raises InvalidArgument for a negative size.
    """
    if requested < 0:
        raise errors.InvalidArgument("page_size", f"must not be negative, got {requested}")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def encode(last: r.Page, filters: Mapping[str, str]) -> str:
    """Returns the token of the page that starts after ``last``."""
    doc = {"t": last.create_time.isoformat(), "i": last.id, "f": _fingerprint(filters)}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def decode(token: str, filters: Mapping[str, str]) -> r.Page | None:
    """Returns where the page of ``token`` starts (None for an empty token).

    Raises InvalidArgument if the token is malformed or was issued for other filters.
    """
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        page = r.Page(datetime.fromisoformat(doc["t"]), str(doc["i"]))
        fingerprint = doc["f"]
    except (ValueError, KeyError, TypeError):
        raise errors.InvalidArgument("page_token", "is not a token this service issued") from None
    if fingerprint != _fingerprint(filters):
        raise errors.InvalidArgument(
            "page_token", "was issued for a request with other filters; keep the filters fixed"
        )
    return page


def _fingerprint(filters: Mapping[str, str]) -> str:
    text = json.dumps(sorted(filters.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
