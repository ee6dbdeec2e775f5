"""Who is calling: the identity a verified token carries, and where a handler finds it."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

ADMIN = "admin"
SERVICE = "service"
MEMBER = "member"
READER = "reader"
ROLES = (ADMIN, SERVICE, MEMBER, READER)
"""The roles the default policy knows."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller.

    ``service`` is set for one of modular-l2's own processes (``portapi``, ``mechmgr``,
    ``typemgr``, ``driver:<name>``), ``agent_host`` for an L2 agent (the host it serves).
    ``expires_at`` is the token's expiry (seconds since the epoch), None if it has none.
    """

    subject: str
    project_id: str = ""
    roles: frozenset[str] = frozenset()
    service: str = ""
    agent_host: str = ""
    expires_at: float | None = None
    _credentials: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(r.lower() for r in self.roles))
        self._credentials.update(
            subject=self.subject,
            project_id=self.project_id,
            tenant_id=self.project_id,  # the older name, which override files may still use
            roles=self.roles,
            service=self.service,
            agent_host=self.agent_host,
            is_agent=bool(self.agent_host),  # ``is_agent:True``: the agent of any host
        )

    def credentials(self) -> dict[str, Any]:
        """What policy checks read (``role:``, ``project_id:``, ``service:``, ``agent_host:``,
        ``is_agent:``).
        Shared, built once: do not change it."""
        return self._credentials

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


_CURRENT: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "ml2_identity", default=None
)


class NoIdentity(RuntimeError):
    """``current()`` was called outside an authenticated call."""


def current() -> Identity:
    """The identity of the call being handled. Raises NoIdentity outside an authenticated
    call (a handler behind the auth interceptor always has one, except on exempt methods)."""
    identity = _CURRENT.get()
    if identity is None:
        raise NoIdentity("no authenticated identity: is the auth interceptor installed?")
    return identity


def current_or_none() -> Identity | None:
    """The identity of the call being handled, or None (no interceptor, or an exempt method)."""
    return _CURRENT.get()


def bind(identity: Identity | None) -> contextvars.Token[Identity | None]:
    """Makes ``identity`` the current one (for the interceptor, and for tests); returns the
    token to ``unbind`` with."""
    return _CURRENT.set(identity)


def unbind(token: contextvars.Token[Identity | None]) -> None:
    _CURRENT.reset(token)
