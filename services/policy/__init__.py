"""Authorization of modular-l2's API: the default rules (``rules``), the file that overrides
them (``ML2_POLICY_FILE``), and the one evaluator (``ml2_driver_sdk.runtime.policy``) behind
the calls a servicer makes::

    enforcer = policy.from_env()          # once, in the composition root
    who = auth.current()                  # in a handler
    target = policy.targets.port(port, network)
    enforcer.authorize("update_port", who, target, kind="port", resource_id=port.id)
    enforcer.require_fields("update_port", who, ["binding.host_id"], target)
    for path in enforcer.hidden_fields("get_port", who, target):
        ...clear it in the answer...

``authorize`` raises NOT_FOUND when the caller may not see the resource at all (another
project's network is indistinguishable from a missing one), PERMISSION_DENIED when it may see
it but not do this; ``require_fields`` raises PERMISSION_DENIED naming the first field the
caller may not set. Module-level ``enforce``, ``check_fields`` and ``visible`` use the process's
enforcer (``configure`` sets it; the defaults otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ml2_driver_sdk.runtime import auth, config, errors
from ml2_driver_sdk.runtime.auth.identity import Identity
from ml2_driver_sdk.runtime.auth.interceptor import RequestTarget
from ml2_driver_sdk.runtime.policy import PermissionDenied, Policy, PolicyError
from ml2_driver_sdk.runtime.policy import load as load_policy

from services.policy import targets
from services.policy.rules import (
    AUDITED_METHODS,
    DEFAULT_RULES,
    FIELD_NAMES,
    METHOD_RULES,
    REQUEST_RULES,
    VISIBILITY,
)

__all__ = [
    "AUDITED_METHODS",
    "DEFAULT_RULES",
    "METHOD_RULES",
    "Enforcer",
    "PermissionDenied",
    "PolicyError",
    "authenticator",
    "check_fields",
    "configure",
    "enforce",
    "from_env",
    "load",
    "targets",
    "visible",
]

POLICY_FILE_ENV = "ML2_POLICY_FILE"

R = TypeVar("R")


def _rule_field(path: str) -> str:
    return FIELD_NAMES.get(path, path.replace(".", ":"))


class Enforcer:
    """The default policy (or one built on other rules) as a servicer uses it."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._paths = {_rule_field(path): path for path in FIELD_NAMES}

    def enforce(self, action: str, identity: Identity, target: Mapping[str, Any]) -> bool:
        return self.policy.enforce(action, identity.credentials(), target)

    def check_fields(
        self, action: str, identity: Identity, fields: Iterable[str], target: Mapping[str, Any]
    ) -> str | None:
        """The first of ``fields`` (API paths, ``binding.host_id``) the caller may not set."""
        credentials = identity.credentials()
        for path in fields:
            if self.policy.check_fields(action, credentials, (_rule_field(path),), target):
                return path
        return None

    def require_fields(
        self, action: str, identity: Identity, fields: Iterable[str], target: Mapping[str, Any]
    ) -> None:
        """Raises PERMISSION_DENIED naming the first field of ``fields`` the caller may not
        set."""
        path = self.check_fields(action, identity, fields, target)
        if path is not None:
            raise PermissionDenied(
                f"{path}: the caller may not set it (policy rule {action}:{_rule_field(path)})",
                field=path,
                rule=f"{action}:{_rule_field(path)}",
            )

    def hidden_fields(
        self, action: str, identity: Identity, target: Mapping[str, Any]
    ) -> list[str]:
        """The API paths of ``action``'s output the caller may not read."""
        hidden = self.policy.hidden_fields(action, identity.credentials(), target)
        return [self._paths.get(field, field.replace(":", ".")) for field in hidden]

    def visible(self, identity: Identity, kind: str, target: Mapping[str, Any]) -> bool:
        """Whether the caller may know that this resource of ``kind`` exists."""
        return self.policy.enforce(VISIBILITY[kind], identity.credentials(), target)

    def visible_only(
        self, identity: Identity, kind: str, items: Iterable[tuple[R, Mapping[str, Any]]]
    ) -> list[R]:
        """The items (with their targets) the caller may see, for a list answer."""
        rule = VISIBILITY[kind]
        credentials = identity.credentials()
        return [item for item, target in items if self.policy.enforce(rule, credentials, target)]

    def authorize(
        self,
        action: str,
        identity: Identity,
        target: Mapping[str, Any],
        *,
        kind: str = "",
        resource_id: str = "",
    ) -> None:
        """Raises unless the caller may do ``action``: NOT_FOUND naming the resource if it may
        not even see it (``kind`` given), PERMISSION_DENIED naming the action otherwise."""
        credentials = identity.credentials()
        if self.policy.enforce(action, credentials, target):
            return
        if kind and not self.policy.enforce(VISIBILITY[kind], credentials, target):
            raise errors.NotFound(
                f"{kind} {resource_id} not found", reason=f"{kind.upper()}_NOT_FOUND"
            )
        raise PermissionDenied(
            f"{action}: {identity.subject} may not do it (policy rule {action})", rule=action
        )


def load(path: str = "", defaults: Mapping[str, str] = DEFAULT_RULES) -> Enforcer:
    """The enforcer of ``defaults`` with the rules of the file at ``path`` replacing theirs;
    raises PolicyError naming the file or the rule."""
    return Enforcer(load_policy(defaults, path))


def from_env(environ: Mapping[str, str] | None = None) -> Enforcer:
    """The enforcer of the default rules and the ``ML2_POLICY_FILE`` overrides."""
    environ = os.environ if environ is None else environ
    return load(environ.get(POLICY_FILE_ENV, "").strip())


_process: Enforcer | None = None


def configure(enforcer: Enforcer) -> None:
    """Makes ``enforcer`` the process's (the module-level functions use it)."""
    global _process
    _process = enforcer


def process_enforcer() -> Enforcer:
    global _process
    if _process is None:
        _process = load()
    return _process


def enforce(action: str, identity: Identity, target: Mapping[str, Any]) -> bool:
    return process_enforcer().enforce(action, identity, target)


def check_fields(
    action: str, identity: Identity, fields: Iterable[str], target: Mapping[str, Any]
) -> str | None:
    return process_enforcer().check_fields(action, identity, fields, target)


def visible(identity: Identity, kind: str, target: Mapping[str, Any]) -> bool:
    return process_enforcer().visible(identity, kind, target)


def authenticator(
    verifier: auth.Verifier,
    *,
    targets: Mapping[str, RequestTarget] | None = None,
    environ: Mapping[str, str] | None = None,
) -> auth.Authenticator:
    """A service's authenticator on ``verifier``: the process's enforcer (``from_env``, made
    the process's) deciding ``METHOD_RULES`` in the interceptor, and the ``REQUEST_RULES`` of
    the methods ``targets`` gives a target for. Raises ConfigError naming the policy file."""
    try:
        enforcer = from_env(environ)
    except PolicyError as err:
        path = (os.environ if environ is None else environ).get(POLICY_FILE_ENV, "")
        raise config.ConfigError(f"{POLICY_FILE_ENV}={path}: {err}") from None
    configure(enforcer)
    request_rules = {
        method: (REQUEST_RULES[method], target) for method, target in (targets or {}).items()
    }
    return auth.Authenticator(
        verifier,
        policy=enforcer.policy,
        method_rules=METHOD_RULES,
        request_rules=request_rules,
    )
