"""Requests that cannot be decoded become INVALID_ARGUMENT naming the problem.

gRPC decodes a request before any servicer or interceptor code sees it, and answers a request
that does not decode with INTERNAL "Exception deserializing request!". The server interceptor
wraps each handler's deserializer with ``safe``: a request that does not decode (malformed
bytes, a string that is not UTF-8, messages nested deeper than protobuf's limit of 100), or that
breaks the rule every request keeps (no NUL in a string, ``strings.check``), comes back as a
``Refused`` holding the InvalidArgument to answer with, which the wrapped handler raises instead
of calling the servicer.

For nesting, the error names the field: the bytes are walked along the message's descriptor to
the deepest message, and a Struct on the way is named with the Struct depth rule
(``port.binding.profile: must nest objects and lists at most 16 levels deep``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor as _descriptor
from google.protobuf import message
from ml2_driver_sdk.runtime import strings, structs
from ml2_driver_sdk.runtime.errors import InvalidArgument

DECODE_DEPTH_LIMIT = 100
"""protobuf's limit of nested messages in one request (upb's default decode depth)."""
_MAX_ERROR_CHARS = 200
_DEPTH_WORDS = ("depth", "recursion", "nest")
"""Words of a decoder's error that say a message nests too deep (upb: "MaxDepth")."""


@dataclass(frozen=True)
class Refused:
    """What the wrapped deserializer returns for a request it could not decode or refuses."""

    error: InvalidArgument


def safe(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """Returns ``deserializer`` wrapped so that it never raises: a request that does not decode,
    or holds a NUL in a string, becomes a Refused."""
    if deserializer is None:
        return None
    descriptor = _message_descriptor(deserializer)

    def deserialize(data: bytes) -> Any:
        try:
            request = deserializer(data)
        except Exception as exc:  # DecodeError, RecursionError, anything a decoder may raise
            return Refused(explain(descriptor, data, exc))
        # NUL is the byte 0 in UTF-8: bytes without a zero byte hold no NUL in any string, and
        # a large request (ProposeBindings with thousands of questions) skips the walk.
        if isinstance(request, message.Message) and b"\x00" in data:
            try:
                strings.check(request)
            except InvalidArgument as exc:
                return Refused(exc)
        return request

    return deserialize


def explain(
    descriptor: _descriptor.Descriptor | None, data: bytes, exc: BaseException
) -> InvalidArgument:
    """Returns the InvalidArgument for bytes that did not decode as ``descriptor``."""
    name = descriptor.full_name if descriptor is not None else "the request message"
    detail = str(exc) or type(exc).__name__
    if descriptor is not None and (
        isinstance(exc, RecursionError) or any(w in detail.lower() for w in _DEPTH_WORDS)
    ):
        path = deepest_path(descriptor, data)
        if len(path) >= DECODE_DEPTH_LIMIT:
            return _nesting_error(path)
    if len(detail) > _MAX_ERROR_CHARS:
        detail = detail[:_MAX_ERROR_CHARS] + "..."
    return InvalidArgument(
        "request", f"cannot be decoded as {name}: {detail}", reason="UNDECODABLE_REQUEST"
    )


def deepest_path(
    descriptor: _descriptor.Descriptor, data: bytes
) -> list[_descriptor.FieldDescriptor]:
    """Returns the fields from the top message to its most deeply nested message in ``data``,
    read along ``descriptor``; stops at DECODE_DEPTH_LIMIT levels. Malformed parts end the walk
    of the message they are in."""
    return _walk(descriptor, memoryview(data), 0, len(data), 0)


def _walk(
    descriptor: _descriptor.Descriptor, data: memoryview, pos: int, end: int, depth: int
) -> list[_descriptor.FieldDescriptor]:
    deepest: list[_descriptor.FieldDescriptor] = []
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag < 0:
            break
        wire_type, number = tag & 7, tag >> 3
        if wire_type == 0:
            _, pos = _varint(data, pos, end)
            if pos < 0:
                break
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            length, pos = _varint(data, pos, end)
            if pos < 0 or pos + length > end:
                break
            field = descriptor.fields_by_number.get(number)
            if field is not None and field.message_type is not None:
                if depth + 1 >= DECODE_DEPTH_LIMIT:
                    return [field]
                inner = _walk(field.message_type, data, pos, pos + length, depth + 1)
                if len(inner) + 1 > len(deepest):
                    deepest = [field, *inner]
                    if depth + len(deepest) >= DECODE_DEPTH_LIMIT:
                        return deepest
            pos += length
        else:
            break  # groups or a bad wire type: nothing more to learn here
    return deepest


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    """Returns (value, next position), or (-1, -1) if the varint is cut off or too long."""
    value = shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return -1, -1


def _nesting_error(path: list[_descriptor.FieldDescriptor]) -> InvalidArgument:
    names: list[str] = []
    for field in path:
        names.append(field.name)
        if field.message_type is not None and field.message_type.full_name in structs.STRUCT_TYPES:
            return structs.too_deep(".".join(names))
    return InvalidArgument(
        ".".join(names[:8]) + ("..." if len(names) > 8 else ""),
        f"nests messages deeper than protobuf's limit of {DECODE_DEPTH_LIMIT}",
        reason="UNDECODABLE_REQUEST",
        limit=DECODE_DEPTH_LIMIT,
    )


def _message_descriptor(deserializer: Callable[[bytes], Any]) -> _descriptor.Descriptor | None:
    """Returns the descriptor of the message class whose ``FromString`` is ``deserializer``."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return descriptor if isinstance(descriptor, _descriptor.Descriptor) else None
