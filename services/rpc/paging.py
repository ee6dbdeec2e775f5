"""Page tokens of every list RPC (AIP-158), one implementation for every service.

A token is opaque to clients: URL-safe base64 of a small JSON document

    {"v": 1, "l": <fingerprint of the RPC>, "f": <fingerprint of the filters>, "p": [...]}

``p`` is the sort key of the last item of the page (the keyset position the next page starts
after), typed by the listing's ``shape``: ``str``, ``int``, ``bool`` or ``datetime`` (ISO 8601).
The RPC and the request's filters are fingerprinted into the token, so a token only continues the
listing it came from: one issued by another RPC, or for other filters, is refused with
InvalidArgument naming ``page_token`` rather than silently continuing a different listing.

Each RPC declares its ``Listing`` once, at import::

    PORTS = paging.Listing("ml2.v1.PortService/ListPorts", (datetime, str))

    after = PORTS.decode(request.page_token, filters)     # None for the first page
    found = query(after, PORTS.size(request.page_size) + 1)
    page, token = PORTS.page(found, limit, key=lambda p: (p.create_time, p.id), filters=filters)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ml2_driver_sdk.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
VERSION = 1

Key = str | int | bool | datetime
"""One item of a keyset position."""

Position = tuple[Key, ...]
"""The sort key of the last item of a page."""

T = TypeVar("T")

_MALFORMED = "is not a token this service issued"


def page_size(requested: int) -> int:
    """Returns the page size to use: the default (100) for 0, at most MAX_PAGE_SIZE (1000).

    Raises InvalidArgument naming ``page_size`` for a negative size.
    """
    if requested < 0:
        raise InvalidArgument("page_size", f"must not be negative, got {requested}")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


@dataclass(frozen=True)
class Listing:
    """The page tokens of one list RPC: ``rpc`` names it (``ml2.v1.Service/Method``), ``shape``
    gives the types of its keyset position."""

    rpc: str
    shape: tuple[type, ...]

    def size(self, requested: int) -> int:
        """Returns the page size to use (see ``page_size``)."""
        return page_size(requested)

    def encode(self, position: Sequence[Key], filters: Mapping[str, object]) -> str:
        """Returns the token of the page that starts after ``position``."""
        if len(position) != len(self.shape):
            raise ValueError(f"{self.rpc}: a position has {len(self.shape)} items")
        doc = {
            "v": VERSION,
            "l": _digest(self.rpc),
            "f": _fingerprint(filters),
            "p": [_dump(item) for item in position],
        }
        text = json.dumps(doc, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def decode(self, token: str, filters: Mapping[str, object]) -> Position | None:
        """Returns the position ``token`` resumes after (None for an empty token).

        Raises InvalidArgument naming ``page_token`` if the token is malformed, of another
        version, issued by another RPC, or issued for other filters.
        """
        if not token:
            return None
        doc = _load(token)
        if doc.get("v") != VERSION:
            raise InvalidArgument("page_token", _MALFORMED)
        if doc.get("l") != _digest(self.rpc):
            raise InvalidArgument(
                "page_token", f"was issued by another list call, not {self.rpc.rsplit('/')[-1]}"
            )
        if doc.get("f") != _fingerprint(filters):
            raise InvalidArgument(
                "page_token", "was issued for a request with other filters; keep the filters fixed"
            )
        items = doc.get("p")
        if not isinstance(items, list) or len(items) != len(self.shape):
            raise InvalidArgument("page_token", _MALFORMED)
        return tuple(_parse(item, kind) for item, kind in zip(items, self.shape, strict=True))

    def page(
        self,
        found: Sequence[T],
        limit: int,
        key: Callable[[T], Sequence[Key]],
        filters: Mapping[str, object],
    ) -> tuple[list[T], str]:
        """Returns the first ``limit`` of ``found`` (read with limit + 1) and the next page's
        token: empty when ``found`` has no more than ``limit`` items (the last page)."""
        page = list(found[:limit])
        if len(found) <= limit:
            return page, ""
        return page, self.encode(key(page[-1]), filters)


def _load(token: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
    except (ValueError, binascii.Error):
        raise InvalidArgument("page_token", _MALFORMED) from None
    if not isinstance(doc, dict):
        raise InvalidArgument("page_token", _MALFORMED)
    return doc


def _dump(item: Key) -> str | int | bool:
    return item.isoformat() if isinstance(item, datetime) else item


def _parse(item: object, kind: type) -> Key:
    if kind is datetime and isinstance(item, str):
        try:
            return datetime.fromisoformat(item)
        except ValueError:
            raise InvalidArgument("page_token", _MALFORMED) from None
    if type(item) is kind and kind in (str, int, bool):
        return item  # type: ignore[return-value]
    raise InvalidArgument("page_token", _MALFORMED)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fingerprint(filters: Mapping[str, object]) -> str:
    return _digest(json.dumps(sorted((name, repr(value)) for name, value in filters.items())))
