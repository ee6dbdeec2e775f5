"""For tests: run code as a caller, as the auth interceptor would have bound it.

    with acting_as(Identity("alice", project_id="p1", roles={"member"})):
        servicer.GetPort(request, context)

The identity is current in this thread (and in the asyncio tasks started from it) until the
block ends; ``acting_as(None)`` runs as an unauthenticated process does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ml2_driver_sdk.runtime.auth.identity import Identity, bind, unbind


@contextlib.contextmanager
def acting_as(identity: Identity | None) -> Iterator[Identity | None]:
    """Makes ``identity`` the current caller for the block."""
    token = bind(identity)
    try:
        yield identity
    finally:
        unbind(token)
