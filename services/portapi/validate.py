"""Field rules shared by the network and port RPCs. Each check raises InvalidArgument naming the
field as the request spells it (``port.binding.profile``) and the rule it breaks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.portapi import macs
from services.rpc import errors

NAME_MAX_LEN = 255
"""Neutron's limit for names, ids of devices and projects, hosts and owners."""
PROFILE_MAX_LEN = 4095
"""Neutron's limit for binding:profile, as stored JSON text."""


def required(field: str, value: str) -> str:
    """Returns ``value`` stripped; raises if it is empty."""
    value = value.strip()
    if not value:
        raise errors.InvalidArgument(field, "is required")
    return value


def bounded(field: str, value: str, limit: int = NAME_MAX_LEN) -> str:
    """Returns ``value``; raises if it is longer than ``limit`` characters."""
    if len(value) > limit:
        raise errors.InvalidArgument(field, f"must be at most {limit} characters, got {len(value)}")
    return value


def identifier(field: str, value: str) -> str:
    """Returns a required, bounded identifier (project, network or port id), stripped."""
    value = required(field, value)
    if any(ch.isspace() for ch in value):
        raise errors.InvalidArgument(field, "must not contain whitespace")
    return bounded(field, value)


def host(field: str, value: str) -> str:
    """Returns a host name (empty means no host); raises if it is too long or has whitespace."""
    value = value.strip()
    if any(ch.isspace() for ch in value):
        raise errors.InvalidArgument(field, "must not contain whitespace")
    return bounded(field, value)


def profile(field: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the profile as a plain dict; raises if its JSON text exceeds PROFILE_MAX_LEN."""
    data = dict(value)
    size = len(json.dumps(data, separators=(",", ":"), sort_keys=True))
    if size > PROFILE_MAX_LEN:
        raise errors.InvalidArgument(
            field,
            f"must be at most {PROFILE_MAX_LEN} characters as JSON, got {size}",
            reason="BINDING_PROFILE_TOO_LARGE",
        )
    return data


def mac_address(field: str, value: str) -> str:
    """Returns the MAC normalized, or empty to ask for a generated one; raises if malformed."""
    if not value.strip():
        return ""
    mac = macs.normalize(value)
    why = macs.problem(mac)
    if why:
        raise errors.InvalidArgument(field, why)
    return mac


def request_id(field: str, value: str) -> str | None:
    """Returns the request id, or None when absent."""
    value = value.strip()
    return bounded(field, value) if value else None
