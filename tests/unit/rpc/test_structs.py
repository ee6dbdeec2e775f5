"""The Struct check every service applies to the Structs it accepts."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import struct_pb2
from ml2_driver_sdk.runtime import errors, structs


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    msg = struct_pb2.Struct()
    msg.update(value)
    return msg


def nested(levels: int) -> dict[str, Any]:
    """Returns a dict of ``levels`` levels of objects: nested(1) == {"v": 1}."""
    value: dict[str, Any] = {"v": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def refused(value: struct_pb2.Struct, **limits: Any) -> errors.InvalidArgument:
    with pytest.raises(errors.InvalidArgument) as info:
        structs.to_dict("port.binding.profile", value, **limits)
    return info.value


def test_json_values_come_back_as_plain_values() -> None:
    value = {"a": {"b": [1, "x", True, None, {"c": 2.5}]}, "empty": {}, "list": []}
    assert structs.to_dict("f", struct(value)) == {
        "a": {"b": [1.0, "x", True, None, {"c": 2.5}]},
        "empty": {},
        "list": [],
    }


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_naming_their_path(number: float) -> None:
    error = refused(struct({"a": {"b": number}}))
    assert error.field == "port.binding.profile.a.b"
    assert error.reason == structs.NOT_JSON
    assert "finite number" in error.message and "NaN or Infinity" in error.message
    error = refused(struct({"a": [1, {"odd key": [number]}]}))
    assert error.field == 'port.binding.profile.a[1]["odd key"][0]'


def test_depth_is_bounded_counting_objects_and_lists() -> None:
    assert structs.to_dict("f", struct(nested(structs.MAX_DEPTH)))
    error = refused(struct(nested(structs.MAX_DEPTH + 1)))
    assert error.field == "port.binding.profile" and error.reason == structs.TOO_DEEP
    assert f"at most {structs.MAX_DEPTH} levels deep" in error.message
    lists: list[Any] = [1]
    for _ in range(structs.MAX_DEPTH - 2):
        lists = [lists]
    assert structs.to_dict("f", struct({"l": lists}))  # the profile and 15 lists
    assert refused(struct({"l": [lists]})).reason == structs.TOO_DEEP


def test_size_is_bounded_as_compact_json() -> None:
    filler = "x" * (structs.MAX_JSON_CHARS - len('{"k":""}'))
    assert structs.to_dict("f", struct({"k": filler}))
    error = refused(struct({"k": filler + "x"}))
    assert error.reason == structs.TOO_LARGE and error.field == "port.binding.profile"
    assert f"at most {structs.MAX_JSON_CHARS} characters as JSON, got 4096" in error.message
    assert refused(struct({"k": "é" * 1000})).reason == structs.TOO_LARGE  # \u00e9: 6 each
    assert refused(struct({"k": "xy"}), max_chars=8).message.endswith("got 10")
