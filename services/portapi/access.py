"""Who may do what to portapi's networks and ports: the servicers' one door to the policy.

Every decision is the process's ``services.policy`` enforcer evaluating its rules (data, in
``services.policy.rules``, overridable by ``ML2_POLICY_FILE``); nothing here looks at a role.

* ``caller()`` is the identity of the call being served, or None when this process does not
  authenticate (no ``ML2_AUTH_*`` settings): then every check here allows everything, as before
  authentication existed. Whether a process may run so is decided where it is wired.
* A resource the caller may not see (another project's network or port) is refused with the
  same NOT_FOUND as a missing one; one it may see but not change is PERMISSION_DENIED naming
  the action, and a field it may not set PERMISSION_DENIED naming the field.
* Answers are cleared of the fields the caller may not read (``hide``).
* Listings are narrowed in the query (``network_scope``, ``port_scope``), so that a page holds
  only what the caller may see and a page token points at a visible item. The scope is found by
  asking the rules about a resource of an unknown project and host: what they allow for it the
  caller may see everywhere; otherwise its own project, its own host (an agent) or the shared
  networks, as the rules allow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from ml2_driver_sdk.runtime import auth
from ml2_driver_sdk.runtime.auth import Identity

from services import policy
from services.portapi import errors as portapi_errors
from services.portapi import resources as r

Target = dict[str, Any]

ELSEWHERE = "\x00elsewhere"
"""A project and host no resource has: what the rules allow for it they allow for any."""


def caller() -> Identity | None:
    """The identity of the call being served; None when the process does not authenticate,
    which gives the call full access."""
    return auth.current_or_none()


def enforcer() -> policy.Enforcer:
    """The process's enforcer (``policy.configure`` sets it where the process is wired)."""
    return policy.process_enforcer()


# ----------------------------------------------------------------------------------- targets


def network_target(network: r.Network) -> Target:
    """What the rules read of a network."""
    return {
        "id": network.id,
        "project_id": network.project_id,
        "tenant_id": network.project_id,
        "shared": network.shared,
    }


def port_target(port: r.Port, network_project_id: str | None = None) -> Target:
    """What the rules read of a port (its binding host for the bound host's agent), with its
    network's project when it is given (for the network owner's rules)."""
    target: Target = {
        "id": port.id,
        "project_id": port.project_id,
        "tenant_id": port.project_id,
        "network_id": port.network_id,
        "binding:host_id": port.binding.inputs.host_id,
    }
    if network_project_id is not None:
        target["network:project_id"] = network_project_id
        target["network:tenant_id"] = network_project_id
    return target


def network_owner_asks(who: Identity | None, port: r.Port) -> bool:
    """Whether a read of ``port`` by ``who`` may depend on who owns the port's network: the
    caller is of another project than the port's (its own project's rules decide otherwise)."""
    return who is not None and bool(who.project_id) and who.project_id != port.project_id


def new_port_target(spec: r.PortSpec, network: r.Network) -> Target:
    """What the rules read of a port being created on ``network`` (its owner and sharing)."""
    return {
        "project_id": spec.project_id,
        "tenant_id": spec.project_id,
        "network_id": network.id,
        "binding:host_id": spec.inputs.host_id,
        "network:project_id": network.project_id,
        "network:tenant_id": network.project_id,
        "network:shared": network.shared,
    }


# ------------------------------------------------------------------------------------ checks


def require_network(who: Identity, action: str, network: r.Network) -> Target:
    """Returns the network's target if the caller may do ``action`` to it; raises
    NetworkNotFound (as for a missing network) if it may not see it, PERMISSION_DENIED
    otherwise."""
    target = network_target(network)
    _require(who, action, target, "network", lambda: portapi_errors.NetworkNotFound(network.id))
    return target


def require_port(
    who: Identity, action: str, port: r.Port, network_project_id: str | None = None
) -> Target:
    """As ``require_network``, for a port (PortNotFound); ``network_project_id``: its
    network's project, when the network owner's rules are to be asked."""
    target = port_target(port, network_project_id)
    _require(who, action, target, "port", lambda: portapi_errors.PortNotFound(port.id))
    return target


def stored_check(
    who: Identity | None,
    action: str,
    require_row: Callable[[Identity, str, Any], Target],
    paths: Iterable[str] = (),
) -> Callable[[Any], None] | None:
    """The check a write runs on the row it locked: ``require_row`` (``require_network`` or
    ``require_port``) for ``action``, then the fields of ``paths``; None without a caller
    (nothing to check)."""
    if who is None:
        return None
    fields = list(paths)

    def check(row: Any) -> None:
        target = require_row(who, action, row)
        if fields:
            require_fields(who, action, fields, target)

    return check


def _require(
    who: Identity, action: str, target: Target, kind: str, missing: Callable[[], Exception]
) -> None:
    rules = enforcer()
    if rules.enforce(action, who, target):
        return
    if not rules.visible(who, kind, target):
        raise missing()
    raise policy.PermissionDenied(
        f"{action}: {who.subject} may not do it (policy rule {action})", rule=action
    )


def require_project(
    who: Identity, action: str, target: Target, field: str, kind: str, requested: str
) -> None:
    """For a create: raises PERMISSION_DENIED naming ``field`` (``port.project_id``) when the
    caller may not create in the project it named, but could in its own; PERMISSION_DENIED
    naming the action when it may not create at all."""
    rules = enforcer()
    if rules.enforce(action, who, target):
        return
    own = {**target, "project_id": who.project_id, "tenant_id": who.project_id}
    if requested and requested != who.project_id and rules.enforce(action, who, own):
        raise policy.PermissionDenied(
            f"{field}: the caller may not create a {kind} in project {requested!r} "
            f"(policy rule {action})",
            field=field,
            rule=action,
        )
    raise policy.PermissionDenied(
        f"{action}: {who.subject} may not do it (policy rule {action})", rule=action
    )


def require_fields(who: Identity, action: str, paths: Iterable[str], target: Target) -> None:
    """Raises PERMISSION_DENIED naming the first of ``paths`` the caller may not set."""
    enforcer().require_fields(action, who, paths, target)


def require(who: Identity | None, action: str, target: Mapping[str, Any]) -> None:
    """Raises PERMISSION_DENIED naming ``action`` unless the caller may do it (a caller-only
    rule: a host's agent, a service); None (no authentication) may."""
    if who is None or enforcer().enforce(action, who, target):
        return
    raise policy.PermissionDenied(
        f"{action}: {who.subject} may not do it (policy rule {action})", rule=action
    )


def port_visible(who: Identity, target: Target) -> bool:
    return enforcer().visible(who, "port", target)


# ----------------------------------------------------------------------------------- answers


def hidden_port_fields(who: Identity, target: Target) -> list[str]:
    """The API paths of a port (``binding.host_id``) the caller may not read."""
    return enforcer().hidden_fields("get_port", who, target)


def hidden_network_fields(who: Identity, target: Target) -> list[str]:
    """The API paths of a network (``segments``) the caller may not read."""
    return enforcer().hidden_fields("get_network", who, target)


def hide(message: Message, paths: Iterable[str]) -> Message:
    """Clears ``paths`` (``binding.host_id``, ``segments``) in ``message``; returns it. A path
    the message does not have is ignored."""
    for path in paths:
        *parents, name = path.split(".")
        holder: Message | None = message
        for parent in parents:
            if holder is None or parent not in holder.DESCRIPTOR.fields_by_name:
                holder = None
                break
            holder = getattr(holder, parent)
        if holder is not None and name in holder.DESCRIPTOR.fields_by_name:
            holder.ClearField(name)
    return message


# ---------------------------------------------------------------------------------- listings


@dataclass(frozen=True)
class NetworkScope:
    """Which networks a caller may list: every one, or its own project's and/or the shared."""

    everything: bool = False
    project_id: str = ""
    """The caller's project, when it may see that project's networks."""
    shared: bool = False
    """Whether it may see every shared network."""


def network_scope(who: Identity | None) -> NetworkScope:
    """The networks the rules let the caller see, as a listing can select them."""
    if who is None:
        return NetworkScope(everything=True)
    rules = enforcer()
    elsewhere = {"project_id": ELSEWHERE, "tenant_id": ELSEWHERE, "shared": False}
    if rules.visible(who, "network", elsewhere):
        return NetworkScope(everything=True)
    own = who.project_id and rules.visible(
        who, "network", {**elsewhere, "project_id": who.project_id, "tenant_id": who.project_id}
    )
    shared = rules.visible(who, "network", {**elsewhere, "shared": True})
    return NetworkScope(project_id=who.project_id if own else "", shared=shared)


@dataclass(frozen=True)
class PortScope:
    """Which ports a caller may list: every one, or those of its project (and, as a network
    owner, every project's on a network of its project it filters by) or its host."""

    everything: bool = False
    project_id: str = ""
    host_id: str = ""
    network_owner: bool = False
    """Whether the caller also sees every project's ports on ``project_id``'s networks."""


def port_scope(who: Identity | None) -> PortScope:
    """The ports the rules let the caller see, as a listing can select them (its project's
    before its host's when it could see both)."""
    if who is None:
        return PortScope(everything=True)
    rules = enforcer()
    elsewhere = {"project_id": ELSEWHERE, "tenant_id": ELSEWHERE, "binding:host_id": ELSEWHERE}
    if rules.visible(who, "port", elsewhere):
        return PortScope(everything=True)
    if who.project_id and rules.visible(
        who, "port", {**elsewhere, "project_id": who.project_id, "tenant_id": who.project_id}
    ):
        owned = {"network:project_id": who.project_id, "network:tenant_id": who.project_id}
        owner = rules.visible(who, "port", {**elsewhere, **owned})
        return PortScope(project_id=who.project_id, network_owner=owner)
    if who.agent_host and rules.visible(
        who, "port", {**elsewhere, "binding:host_id": who.agent_host}
    ):
        return PortScope(host_id=who.agent_host)
    return PortScope()


def sees_every_port_whole(who: Identity) -> bool:
    """Whether the rules let the caller see every port with all its fields."""
    elsewhere = {"project_id": ELSEWHERE, "tenant_id": ELSEWHERE, "binding:host_id": ELSEWHERE}
    rules = enforcer()
    return rules.visible(who, "port", elsewhere) and not rules.hidden_fields(
        "get_port", who, elsewhere
    )


def scoped_port_filters(
    scope: PortScope, filters: Mapping[str, str], owns_network: bool = False
) -> dict[str, str] | None:
    """The filters of a port listing within ``scope``; None when nothing can match (the caller
    filters on another project or host than its own). ``owns_network``: the listing's
    ``network_id`` filter names a network of the caller's project, whose ports of every
    project a network owner sees (one index range, as every listing)."""
    narrowed = dict(filters)
    if scope.everything or (scope.network_owner and owns_network):
        return narrowed
    for name, value in (("project_id", scope.project_id), ("host_id", scope.host_id)):
        if value:
            if narrowed.get(name) and narrowed[name] != value:
                return None
            narrowed[name] = value
            return narrowed
    return None
