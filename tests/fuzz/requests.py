"""Hypothesis strategies that build any request of any RPC from its message descriptor.

Every field gets values of its type, hostile ones among them: integers at and past the bounds of
the type, NaN and ±Infinity, enum numbers the contract does not define, strings empty, huge,
with NUL or odd unicode, Structs with NaN, deep nesting, huge strings. Mixed in are values that
get past the first checks: ids of the seeded networks, ports, agents, segments and ranges, the
seeded hosts, network types and physical networks, update mask paths. A request is sent as
bytes; some are cut short, have a byte changed, or are random bytes altogether.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import descriptor as d
from google.protobuf import message, message_factory, struct_pb2
from hypothesis import strategies as st

from .stack import Seeds

FD = d.FieldDescriptor
MAX_MESSAGE_DEPTH = 4
"""Messages nest at most this deep in a generated request (Structs have their own depth)."""

SEEDED_KINDS = {
    "network_id": ("network_id",),
    "port_id": ("port_id",),
    "agent_id": ("agent_id",),
    "segment_id": ("segment_id",),
    "segment_ids": ("segment_id",),
    "segment_range_id": ("segment_range_id",),
    "holder": ("port_id",),
    "id": ("network_id", "port_id", "agent_id", "segment_id", "segment_range_id"),
    "host": ("host",),
    "host_id": ("host",),
    "network_type": ("network_type",),
    "tunnel_types": ("network_type",),
    "physical_network": ("physical_network",),
    "key": ("physical_network",),
    "agent_type": ("agent_type",),
    "project_id": ("project_id",),
    "driver": ("driver",),
    "paths": ("paths",),
    "mac_address": ("mac_address",),
    "device_id": ("device_id",),
}
"""Which seeded values a string field of that name draws from, besides hostile strings."""

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n",
    "x" * 256,
    "y" * 5000,
    "é ü 日本語 🙂",
    "\u202e\ufeff",
    "../../etc/passwd",
    "' OR 1=1 --",
    "%s%n{}",
    "-1",
    "0",
    "4095",
    "99999999999999999999",
    "physnet1:100:199",
    "*",
    "ovs",
    "binding_failed",
    "AAAA",
    "eyJhIjogMX0",  # base64 of a JSON object, as page tokens are
]
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)

_INT_RANGES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1),
    FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1),
    FD.TYPE_FIXED64: (0, 2**64 - 1),
}
_INTERESTING_INTS = [
    0,
    1,
    2,
    -1,
    50,
    100,
    150,
    199,
    200,
    300,
    1000,
    1500,
    1999,
    2500,
    4094,
    4095,
    4096,
]
_INTERESTING_INTS += [2**12, 2**16, 2**24 - 1, 2**24, 2**31 - 1, 2**32 - 1, 2**63 - 1]

_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**53), 2**53),
    _TEXT,
    st.sampled_from(HOSTILE_STRINGS),
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)


def request_bytes(
    descriptor: d.Descriptor, seeds: Seeds, bases: Sequence[message.Message] = ()
) -> st.SearchStrategy[bytes]:
    """Requests of ``descriptor``'s type as bytes: mostly whole messages, some mangled. With
    ``bases`` (valid requests), most are one of them with a few generated fields merged over."""
    base_bytes = [base.SerializeToString() for base in bases]
    struct_paths = _struct_paths(descriptor)

    @st.composite
    def build(draw: Callable[..., Any]) -> bytes:
        msg = message_factory.GetMessageClass(descriptor)()
        overlay = bool(base_bytes) and draw(st.integers(0, 9)) < 6
        if overlay and struct_paths and draw(st.integers(0, 9)) < 3:
            # Free-form JSON is where hostile values get in: a valid request, one Struct bad.
            target: Any = msg
            for field in draw(st.sampled_from(struct_paths)):
                target = _target(target, field, 0)
            _fill_struct(draw, target, hostile=True)
        else:
            _fill(draw, msg, seeds, 0, density=2 if overlay else 7)
        data = msg.SerializeToString()
        if overlay:  # merging two messages is concatenating their bytes
            data = draw(st.sampled_from(base_bytes)) + data
        mode = draw(st.sampled_from(["whole"] * 6 + ["cut", "changed", "random"]))
        if mode == "cut" and data:
            return data[: draw(st.integers(0, len(data) - 1))]
        if mode == "changed" and data:
            at = draw(st.integers(0, len(data) - 1))
            value = draw(st.integers(0, 255))
            return data[:at] + bytes([value]) + data[at + 1 :]
        if mode == "random":
            return bytes(draw(st.binary(max_size=64)))
        return data

    return build()


def _fill(
    draw: Callable[..., Any], msg: message.Message, seeds: Seeds, depth: int, density: int = 7
) -> None:
    """Sets about ``density`` tenths of the top fields of ``msg``, 7 tenths further down."""
    for field in msg.DESCRIPTOR.fields:
        if not draw(st.integers(0, 9)) < (density if depth == 0 else 7):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _fill_map(draw, getattr(msg, field.name), field, seeds, depth)
        elif field.message_type is not None:
            if field.message_type.full_name == "google.protobuf.Struct":
                targets = [_target(msg, field, i) for i in range(_count(draw, field))]
                for target in targets:
                    _fill_struct(draw, target)
            elif depth < MAX_MESSAGE_DEPTH:
                for i in range(_count(draw, field)):
                    _fill(draw, _target(msg, field, i), seeds, depth + 1)
        elif field.is_repeated:
            getattr(msg, field.name).extend(draw(st.lists(_scalar(field, seeds), max_size=4)))
        else:
            setattr(msg, field.name, draw(_scalar(field, seeds)))


def _count(draw: Callable[..., Any], field: FD) -> int:
    return int(draw(st.integers(0, 3))) if field.is_repeated else 1


def _target(msg: message.Message, field: FD, index: int) -> Any:
    if field.is_repeated:
        return getattr(msg, field.name).add()
    target = getattr(msg, field.name)
    target.SetInParent()
    return target


def _fill_map(
    draw: Callable[..., Any], container: Any, field: FD, seeds: Seeds, depth: int
) -> None:
    key_field = field.message_type.fields_by_name["key"]
    value_field = field.message_type.fields_by_name["value"]
    for _ in range(draw(st.integers(0, 3))):
        key = draw(_scalar(key_field, seeds))
        if value_field.message_type is None:
            container[key] = draw(_scalar(value_field, seeds))
        elif depth < MAX_MESSAGE_DEPTH:
            _fill(draw, container[key], seeds, depth + 1)


def _scalar(field: FD, seeds: Seeds) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FD.TYPE_STRING:
        seeded = [v for k in SEEDED_KINDS.get(field.name, ()) for v in seeds.strings.get(k, [])]
        options = [st.sampled_from(HOSTILE_STRINGS), _TEXT]
        if seeded:
            options = [st.sampled_from(seeded)] * 4 + options
        return st.one_of(*options)
    if kind == FD.TYPE_BYTES:
        return st.binary(max_size=32)
    if kind == FD.TYPE_BOOL:
        return st.booleans()
    if kind == FD.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(
            st.sampled_from(numbers), st.sampled_from(numbers), st.integers(-(2**31), 2**31 - 1)
        )
    if kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return st.floats(
            allow_nan=True, allow_infinity=True, width=64 if kind == FD.TYPE_DOUBLE else 32
        )
    low, high = _INT_RANGES[kind]
    interesting = [
        n for n in _INTERESTING_INTS + [-n for n in _INTERESTING_INTS] if low <= n <= high
    ]
    return st.one_of(
        st.sampled_from(interesting), st.integers(low, high), st.just(low), st.just(high)
    )


def _struct_paths(descriptor: d.Descriptor, depth: int = 0) -> list[tuple[FD, ...]]:
    """The chains of fields from ``descriptor`` to each Struct field in it."""
    paths: list[tuple[FD, ...]] = []
    for field in descriptor.fields:
        kind = field.message_type
        if kind is None or kind.GetOptions().map_entry:
            continue
        if kind.full_name == "google.protobuf.Struct":
            paths.append((field,))
        elif depth < MAX_MESSAGE_DEPTH:
            paths.extend((field, *rest) for rest in _struct_paths(kind, depth + 1))
    return paths


def _fill_struct(
    draw: Callable[..., Any], target: struct_pb2.Struct, hostile: bool = False
) -> None:
    """Writes a hostile (or, unless ``hostile``, maybe a plain) JSON object into ``target`` in
    place (a Struct too deep to decode cannot be copied into a message: copying decodes it)."""
    modes = ["not-json", "deep", "huge"]
    if not hostile:
        modes += ["plain", "plain", "not-json", "empty"]
    mode = draw(st.sampled_from(modes))
    if mode == "empty":
        return
    if mode == "huge":
        target.fields[draw(_TEXT)].string_value = "z" * draw(st.sampled_from([4090, 4096, 70000]))
        return
    if mode == "deep":
        inner = target
        levels = draw(st.sampled_from([15, 16, 17, 33, 40, 95]))
        for _ in range(levels - 1):
            inner = inner.fields["a"].struct_value
        inner.fields["v"].number_value = draw(st.floats(allow_nan=True, allow_infinity=True))
        return
    target.update(draw(st.dictionaries(_TEXT, _JSON, max_size=5)))
    if mode == "not-json":  # NaN or an infinity somewhere, at most a few levels down
        inner = target
        for key in draw(st.lists(st.sampled_from(["a", "b", "binding"]), max_size=3)):
            inner = inner.fields[key].struct_value
        number = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        if draw(st.booleans()):
            inner.fields[draw(_TEXT)].list_value.values.add().number_value = number
        else:
            inner.fields[draw(_TEXT)].number_value = number
