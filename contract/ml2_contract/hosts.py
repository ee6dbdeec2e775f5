"""The host id both sides of a binding agree on without being configured to agree.

A compute node sets ``binding.host_id`` to this value and an L2 agent registers under it, so a
port bound from a host finds the agent of that host. Either side may override it (``--host``,
and the compute node's ``ML2_COMPUTE_HOST`` or configuration file), but the default is shared.
"""

from __future__ import annotations

import re
import socket

_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
"""A host id as agents register it: dot-separated labels of letters, digits, '-' and '_'."""
MAX_HOST_NAME = 255


def default_host() -> str:
    """The host id of this machine when nothing overrides it: its hostname."""
    return socket.gethostname()


def is_host_name(value: str) -> bool:
    """True if ``value`` is a host id an agent may register under (``HOST_NAME``, at most
    ``MAX_HOST_NAME`` characters)."""
    return len(value) <= MAX_HOST_NAME and HOST_NAME.match(value) is not None
