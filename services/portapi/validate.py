"""Field rules shared by the network and port RPCs. Each check raises InvalidArgument naming the
field as the request spells it (``port.binding.profile``) and the rule it breaks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from google.protobuf import struct_pb2
from ml2_driver_sdk.runtime import errors, structs

from services.portapi import macs

NAME_MAX_LEN = 255
"""Neutron's limit for names, ids of devices and projects, hosts and owners."""
PROFILE_MAX_LEN = structs.MAX_JSON_CHARS
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


def profile(field: str, value: struct_pb2.Struct) -> dict[str, Any]:
    """Returns the profile as a plain dict; raises if it holds NaN or ±Infinity, nests deeper than
    ``structs.MAX_DEPTH`` or its JSON text exceeds PROFILE_MAX_LEN."""
    return structs.to_dict(
        field, value, max_chars=PROFILE_MAX_LEN, too_large_reason="BINDING_PROFILE_TOO_LARGE"
    )


DEVICE_MAC_KEY = "device_mac_address"
"""The binding profile key a direct-physical port's device MAC address is given in."""


def port_profile(field: str, value: struct_pb2.Struct) -> dict[str, Any]:
    """Returns a port's binding profile as ``profile`` does; raises also if it gives a
    ``device_mac_address`` that is no address a port could take (not a string of the form
    aa:bb:cc:dd:ee:ff, multicast, or all zeros), whatever the vnic type: a direct-physical port
    takes that address when bound, so a bad one is refused rather than ignored."""
    found = profile(field, value)
    if DEVICE_MAC_KEY in found:
        given = found[DEVICE_MAC_KEY]
        key = f"{field}.{DEVICE_MAC_KEY}"
        if not isinstance(given, str):
            raise errors.InvalidArgument(
                key, f"must be a MAC address string aa:bb:cc:dd:ee:ff, got {given!r:.64}"
            )
        why = macs.problem(macs.normalize(given))
        if why:
            raise errors.InvalidArgument(key, f"must be a unicast MAC address: {why}")
    return found


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


def port_id(field: str, value: str) -> str:
    """Returns a port id (a UUID, as portapi assigns them) in its canonical lowercase form;
    raises if it is missing or not a UUID."""
    value = required(field, value)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise errors.InvalidArgument(
            field, f"must be a port id (a UUID), got {value[:64]!r}"
        ) from None


MTU_MAX = 2**31 - 1
"""The largest MTU a network may be given: what the databases' integer column holds."""


def mtu(field: str, value: int) -> int:
    """Returns a requested MTU (0: the largest the segments allow); raises if the database
    cannot hold it. Neutron's only rule on a network's MTU is that it is not negative (the type
    is unsigned here); the MTU a segment allows is checked against typemgr's answer."""
    if value > MTU_MAX:
        raise errors.InvalidArgument(field, f"must be at most {MTU_MAX}, got {value}")
    return value


def bounded_list(field: str, values: Sequence[Any], limit: int) -> None:
    """Raises if ``values`` has more than ``limit`` items."""
    if len(values) > limit:
        raise errors.InvalidArgument(field, f"must have at most {limit} items, got {len(values)}")
