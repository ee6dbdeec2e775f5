"""Page tokens of typemgr's list RPCs (AIP-158): opaque, and bound to the filters they were
issued for, so that a token cannot silently continue a different listing."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping

from services.rpc.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

Position = list[str | int]
"""The sort key of the last item of a page."""


def page_size(requested: int) -> int:
    """Returns the page size to use: the default for 0, at most MAX_PAGE_SIZE. Raises
    InvalidArgument for a negative size."""
    if requested < 0:
        raise InvalidArgument("page_size", f"must not be negative, got {requested}")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode(position: Position, filters: Mapping[str, object]) -> str:
    """Returns the token of the page that starts after ``position``."""
    doc = {"p": position, "f": _fingerprint(filters)}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def decode(token: str, filters: Mapping[str, object], shape: tuple[type, ...]) -> Position | None:
    """Returns the position of ``token`` (None for an empty token), whose items have the types
    of ``shape``. Raises InvalidArgument for a malformed token or one issued for other
    filters."""
    if not token:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position, fingerprint = doc["p"], doc["f"]
        valid = len(position) == len(shape) and all(
            type(item) is kind for item, kind in zip(position, shape, strict=True)
        )
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise InvalidArgument("page_token", "is not a token this service issued")
    if fingerprint != _fingerprint(filters):
        raise InvalidArgument(
            "page_token", "was issued for a request with other filters; keep the filters fixed"
        )
    return list(position)


def _fingerprint(filters: Mapping[str, object]) -> str:
    text = json.dumps(sorted((k, str(v)) for k, v in filters.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
