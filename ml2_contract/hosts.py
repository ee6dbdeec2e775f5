"""The host id both sides of a binding agree on without being configured to agree.

A compute node sets ``binding.host_id`` to this value and an L2 agent registers under it, so a
port bound from a host finds the agent of that host. Either side may override it (``--host``,
and the compute node's ``ML2_COMPUTE_HOST`` or configuration file), but the default is shared.
"""

from __future__ import annotations

import socket


def default_host() -> str:
    """The host id of this machine when nothing overrides it: its hostname."""
    return socket.gethostname()
