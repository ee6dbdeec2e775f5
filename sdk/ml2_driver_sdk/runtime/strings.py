"""The one rule every string of every request keeps: no NUL character (U+0000).

PostgreSQL cannot store NUL in text, so a NUL that reached a table there failed the request as
INTERNAL; SQLite would store it, and the same request would mean different things on the two
backends. The server interceptor refuses such a request before any servicer sees it
(``decoding.safe``), naming the field: ``network.name``, ``segments[1].physical_network``,
``agent.capabilities.bridge_mappings["physnet1"]``, ``port.binding.profile.a[0]``.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import message
from ml2_contract import convert
from ml2_driver_sdk.runtime.errors import InvalidArgument

NUL = "\x00"
_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_LIST = "google.protobuf.ListValue"


def check(msg: message.Message) -> None:
    """Raises InvalidArgument naming the first string field of ``msg`` (map keys and Struct keys
    and values included) that holds a NUL character."""
    path = nul_path(msg, "")
    if path is not None:
        raise InvalidArgument(
            path or "request", "must not contain NUL characters (U+0000)", reason="NUL_IN_STRING"
        )


def nul_path(msg: message.Message, prefix: str) -> str | None:
    """Returns the path of the first string in ``msg`` that holds NUL, or None."""
    name = msg.DESCRIPTOR.full_name
    if name in (_STRUCT, _VALUE, _LIST):
        return _json_path(msg, prefix)
    for field, value in msg.ListFields():
        path = f"{prefix}.{field.name}" if prefix else field.name
        found: str | None = None
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            found = _map_path(field, value, path)
        elif field.is_repeated:
            for i, item in enumerate(value):
                found = _item_path(field, item, f"{path}[{i}]")
                if found is not None:
                    break
        else:
            found = _item_path(field, value, path)
        if found is not None:
            return found
    return None


def _item_path(field: Any, value: Any, path: str) -> str | None:
    if field.message_type is not None:
        return nul_path(value, path)
    if isinstance(value, str) and NUL in value:
        return path
    return None


def _map_path(field: Any, value: Any, path: str) -> str | None:
    value_field = field.message_type.fields_by_name["value"]
    for key, item in value.items():
        item_path = f"{path}[{_quoted(key)}]"
        if isinstance(key, str) and NUL in key:
            return item_path
        found = _item_path(value_field, item, item_path)
        if found is not None:
            return found
    return None


def _json_path(msg: Any, path: str) -> str | None:
    """Walks a Struct, Value or ListValue (protobuf bounds their depth when decoding)."""
    name = msg.DESCRIPTOR.full_name
    if name == _STRUCT:
        for key, item in msg.fields.items():
            item_path = convert.key_path(path, key)
            if NUL in key:
                return item_path
            found = _json_path(item, item_path)
            if found is not None:
                return found
        return None
    if name == _LIST:
        for i, item in enumerate(msg.values):
            found = _json_path(item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    kind = msg.WhichOneof("kind")
    if kind == "string_value":
        return path if NUL in msg.string_value else None
    if kind in ("struct_value", "list_value"):
        return _json_path(getattr(msg, kind), path)
    return None


def _quoted(key: object) -> str:
    text = json.dumps(key) if isinstance(key, str) else str(key)
    return text if len(text) <= 66 else text[:64] + '..."'
