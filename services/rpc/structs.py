"""The one check of every ``google.protobuf.Struct`` a service accepts, from a client or a peer.

A Struct is a JSON object on the wire, and Neutron's API is JSON: a binding profile, a driver's
vif_details. Protobuf lets a Struct carry what JSON cannot (NaN, Infinity) and nest as deep as the
decoder allows, so ``to_dict`` converts a Struct to plain JSON values and refuses, with
InvalidArgument naming the field and the rule:

- a number that is NaN or ±Infinity (``STRUCT_VALUE_NOT_JSON``), naming the path of the value
  (``port.binding.profile.a.b``, ``...items[2]``);
- objects and lists nested more than ``MAX_DEPTH`` levels (``STRUCT_TOO_DEEP``);
- more than ``MAX_JSON_CHARS`` characters as compact JSON (``STRUCT_TOO_LARGE``), Neutron's limit
  of ``binding:profile`` and of the ``vif_details`` column (``BINDING_PROFILE_LEN``, 4095),
  measured on exactly the text portapi stores.

Servers call it on request fields, so the client gets INVALID_ARGUMENT; clients call it on what a
peer answered, and treat a refusal as the peer's error.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from google.protobuf import struct_pb2

from services.rpc.errors import InvalidArgument

MAX_DEPTH = 16
"""Most levels of objects and lists in one Struct; the Struct itself is level 1."""
MAX_JSON_CHARS = 4095
"""Most characters of a Struct as compact JSON (sorted keys, no spaces, ASCII escapes)."""

TOO_DEEP = "STRUCT_TOO_DEEP"
TOO_LARGE = "STRUCT_TOO_LARGE"
NOT_JSON = "STRUCT_VALUE_NOT_JSON"

STRUCT_TYPES = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)
"""Full names of the messages that make up a Struct."""

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_KEY_SHOWN = 64


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
    data = _object(field, value, 1, max_depth, field)
    check_size(field, data, max_chars=max_chars, reason=too_large_reason)
    return data


def check_size(
    field: str, data: Any, *, max_chars: int = MAX_JSON_CHARS, reason: str = TOO_LARGE
) -> None:
    """Raises InvalidArgument naming ``field`` if ``data`` is longer than ``max_chars`` as
    compact JSON (for free-form values stored as JSON that are not Structs on the wire, such as
    an agent's capabilities)."""
    size = json_chars(data)
    if size > max_chars:
        raise InvalidArgument(
            field,
            f"must be at most {max_chars} characters as JSON, got {size}",
            reason=reason,
            limit=max_chars,
        )


def json_chars(data: Any) -> int:
    """Returns the length of ``data`` as compact JSON, as portapi stores it."""
    return len(json.dumps(data, separators=(",", ":"), sort_keys=True))


def too_deep(field: str, max_depth: int = MAX_DEPTH) -> InvalidArgument:
    """Returns the error for a Struct at ``field`` that nests deeper than ``max_depth``."""
    return InvalidArgument(
        field,
        f"must nest objects and lists at most {max_depth} levels deep",
        reason=TOO_DEEP,
        limit=max_depth,
    )


def _object(
    path: str, msg: struct_pb2.Struct, depth: int, max_depth: int, root: str
) -> dict[str, Any]:
    if depth > max_depth:
        raise too_deep(root, max_depth)
    return {
        key: _value(key_path(path, key), item, depth, max_depth, root)
        for key, item in msg.fields.items()
    }


def _value(path: str, msg: struct_pb2.Value, depth: int, max_depth: int, root: str) -> Any:
    kind = msg.WhichOneof("kind")
    if kind == "number_value":
        number = msg.number_value
        if not math.isfinite(number):
            raise InvalidArgument(
                path,
                f"must be a finite number (JSON has no NaN or Infinity), got {number}",
                reason=NOT_JSON,
            )
        return number
    if kind == "string_value":
        return msg.string_value
    if kind == "bool_value":
        return msg.bool_value
    if kind == "struct_value":
        return _object(path, msg.struct_value, depth + 1, max_depth, root)
    if kind == "list_value":
        if depth + 1 > max_depth:
            raise too_deep(root, max_depth)
        return [
            _value(f"{path}[{i}]", item, depth + 1, max_depth, root)
            for i, item in enumerate(msg.list_value.values)
        ]
    return None  # null_value, or no kind at all (read as null, as protobuf's JSON does)


def key_path(path: str, key: str) -> str:
    """Returns the path of ``key`` in the object at ``path``: ``path.key``, ``path["odd key"]``."""
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    shown = key if len(key) <= _MAX_KEY_SHOWN else key[:_MAX_KEY_SHOWN] + "..."
    return f"{path}[{json.dumps(shown)}]"
