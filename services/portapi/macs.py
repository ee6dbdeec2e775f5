"""MAC addresses of ports: Neutron-style generation and validation."""

from __future__ import annotations

import re
import secrets

BASE_MAC = (0xFA, 0x16, 0x3E)
"""Neutron's default base_mac: the first three octets of every generated address."""

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def generate() -> str:
    """Returns a random address fa:16:3e:xx:xx:xx (locally administered, unicast)."""
    tail = secrets.token_bytes(3)
    return ":".join(f"{octet:02x}" for octet in (*BASE_MAC, *tail))


def normalize(mac: str) -> str:
    """Returns ``mac`` in lower-case colon form; accepts ``-`` as separator."""
    return mac.strip().lower().replace("-", ":")


def problem(mac: str) -> str:
    """Returns why ``mac`` (normalized) cannot be a port's address, or an empty string."""
    if not _MAC.match(mac):
        return f"{mac!r} is not a MAC address of the form aa:bb:cc:dd:ee:ff"
    if mac == "00:00:00:00:00:00":
        return "the all-zero MAC address is not allowed"
    if int(mac[:2], 16) & 1:
        return f"{mac} is a multicast address; a port needs a unicast one"
    return ""
