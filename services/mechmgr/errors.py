"""Errors mechmgr raises on purpose, on top of ``ml2_driver_sdk.runtime.errors``.

    NotFound
     ├── AgentNotFound           NOT_FOUND     reason AGENT_NOT_FOUND, metadata agent_id
     └── HostLinkNotFound        NOT_FOUND     reason HOST_LINK_NOT_FOUND, metadata host
    Unavailable
     └── TypemgrUnavailable      UNAVAILABLE   reason TYPEMGR_UNAVAILABLE (dynamic segments)

Invalid requests raise ``InvalidArgument(field, rule)`` directly. A port no driver can bind is
not an error: it is a FAILED resolution carrying the reasons.
"""

from __future__ import annotations

from ml2_driver_sdk.runtime import errors


class AgentNotFound(errors.NotFound):
    """No agent has the given id (an agent that gets it on a heartbeat registers again)."""

    reason = "AGENT_NOT_FOUND"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id} not found", agent_id=agent_id)


class HostLinkNotFound(errors.NotFound):
    """The topology has no link for the given host."""

    reason = "HOST_LINK_NOT_FOUND"

    def __init__(self, host: str) -> None:
        super().__init__(
            f"host {host} has no link in the topology (ml2 topology list shows the links)",
            host=host,
        )


class TypemgrUnavailable(errors.Unavailable):
    """typemgr is not configured or did not answer."""

    reason = "TYPEMGR_UNAVAILABLE"
