"""The one check of every ``google.protobuf.Struct`` a service accepts, from a client or a peer.

A Struct is a JSON object on the wire, and Neutron's API is JSON: a binding profile, a driver's
vif_details. ``ml2_contract.convert.struct_to_dict`` converts a Struct to plain JSON values and
refuses what JSON cannot carry (NaN, Infinity), what nests too deep and what is too long; this
module turns its refusal into InvalidArgument naming the field and the rule, with a reason:

- a number that is NaN or ±Infinity (``STRUCT_VALUE_NOT_JSON``), naming the path of the value
  (``port.binding.profile.a.b``, ``...items[2]``);
- objects and lists nested more than ``MAX_DEPTH`` levels (``STRUCT_TOO_DEEP``);
- more than ``MAX_JSON_CHARS`` characters as compact JSON (``STRUCT_TOO_LARGE``), Neutron's limit
  of ``binding:profile`` and of the ``vif_details`` column (``BINDING_PROFILE_LEN``, 4095),
  measured on exactly the text portapi stores.

Servers call it on request fields, so the client gets INVALID_ARGUMENT; clients call the
contract's conversions on what a peer answered, and treat a ``StructError`` as the peer's error.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2
from ml2_contract import convert
from ml2_driver_sdk.runtime.errors import InvalidArgument

MAX_DEPTH = convert.STRUCT_MAX_DEPTH
"""Most levels of objects and lists in one Struct; the Struct itself is level 1."""
MAX_JSON_CHARS = convert.STRUCT_MAX_JSON_CHARS
"""Most characters of a Struct as compact JSON (sorted keys, no spaces, ASCII escapes)."""

TOO_DEEP = "STRUCT_TOO_DEEP"
TOO_LARGE = "STRUCT_TOO_LARGE"
NOT_JSON = "STRUCT_VALUE_NOT_JSON"

STRUCT_TYPES = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)
"""Full names of the messages that make up a Struct."""


def to_dict(
    field: str,
    value: struct_pb2.Struct,
    *,
    max_chars: int = MAX_JSON_CHARS,
    max_depth: int = MAX_DEPTH,
    too_large_reason: str = TOO_LARGE,
) -> dict[str, Any]:
    """Returns the Struct as a plain dict of JSON values (numbers as floats).

    Raises InvalidArgument naming ``field`` (or the path of the offending value inside it) if the
    Struct holds NaN or ±Infinity, nests deeper than ``max_depth`` or is longer than ``max_chars``
    as compact JSON.
    """
    try:
        return convert.struct_to_dict(value, field, max_depth=max_depth, max_chars=max_chars)
    except convert.StructError as exc:
        raise invalid(exc, too_large_reason) from None


def check_size(
    field: str, data: Any, *, max_chars: int = MAX_JSON_CHARS, reason: str = TOO_LARGE
) -> None:
    """Raises InvalidArgument naming ``field`` if ``data`` is longer than ``max_chars`` as
    compact JSON (for free-form values stored as JSON that are not Structs on the wire, such as
    an agent's capabilities)."""
    size = convert.json_chars(data)
    if size > max_chars:
        raise InvalidArgument(
            field,
            f"must be at most {max_chars} characters as JSON, got {size}",
            reason=reason,
            limit=max_chars,
        )


def invalid(exc: convert.StructError, too_large_reason: str = TOO_LARGE) -> InvalidArgument:
    """Returns the InvalidArgument of a Struct the contract's conversion refused."""
    if isinstance(exc, convert.StructValueNotJson):
        return InvalidArgument(exc.field, exc.rule, reason=NOT_JSON)
    reason = TOO_DEEP if isinstance(exc, convert.StructTooDeep) else too_large_reason
    return InvalidArgument(exc.field, exc.rule, reason=reason, limit=exc.limit)


def too_deep(field: str, max_depth: int = MAX_DEPTH) -> InvalidArgument:
    """Returns the error for a Struct at ``field`` that nests deeper than ``max_depth``."""
    return invalid(convert.too_deep(field, max_depth))
