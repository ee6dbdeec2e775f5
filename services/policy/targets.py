"""What the rules read of a resource: the target of a network, a port, a host. ``tenant_id``
repeats ``project_id`` for override files written with the older name."""

from __future__ import annotations

from typing import Any


def network(message: Any) -> dict[str, Any]:
    """The target of an ``ml2.v1.Network``."""
    return {
        "id": message.id,
        "project_id": message.project_id,
        "tenant_id": message.project_id,
        "shared": message.shared,
    }


def port(message: Any, network_message: Any = None) -> dict[str, Any]:
    """The target of an ``ml2.v1.Port``, with its network's owner and sharing if known."""
    target = {
        "id": message.id,
        "project_id": message.project_id,
        "tenant_id": message.project_id,
        "network_id": message.network_id,
        "binding:host_id": message.binding.host_id if message.HasField("binding") else "",
    }
    if network_message is not None:
        target["network:project_id"] = network_message.project_id
        target["network:tenant_id"] = network_message.project_id
        target["network:shared"] = network_message.shared
    return target


def host(host_id: str) -> dict[str, Any]:
    """The target of a call made for a host (an agent's, a watch of its ports)."""
    return {"host": host_id}
