"""``google.protobuf.Struct`` is JSON: one documented set of rules for every service and driver."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from google.protobuf import struct_pb2
from ml2_contract import convert


def test_numbers_come_back_as_floats_that_equal_the_ints_written() -> None:
    back = convert.struct_to_dict(convert.dict_to_struct({"mtu": 1500, "ratio": 0.5}))
    assert back == {"mtu": 1500, "ratio": 0.5}
    assert type(back["mtu"]) is float and type(back["ratio"]) is float


def test_booleans_stay_booleans_and_none_stays_none() -> None:
    back = convert.struct_to_dict(convert.dict_to_struct({"port_filter": True, "x": None}))
    assert back["port_filter"] is True and back["x"] is None


def test_nested_objects_and_lists_survive() -> None:
    data = {"a": {"b": [1, "two", False, None, {"c": "d"}]}, "e": []}
    back = convert.struct_to_dict(convert.dict_to_struct(data))
    assert back == data
    assert type(back["a"]["b"][0]) is float


def test_read_only_mappings_and_tuples_are_accepted() -> None:
    data = MappingProxyType({"inner": MappingProxyType({"k": "v"}), "t": ("x", 1)})
    assert convert.struct_to_dict(convert.dict_to_struct(data)) == {
        "inner": {"k": "v"},
        "t": ["x", 1.0],
    }


def test_empty_is_empty_both_ways() -> None:
    assert convert.dict_to_struct({}) == struct_pb2.Struct()
    assert convert.struct_to_dict(struct_pb2.Struct()) == {}


def test_integers_beyond_2_to_the_53_lose_precision() -> None:
    back = convert.struct_to_dict(convert.dict_to_struct({"n": 2**53 + 1}))
    assert back["n"] == float(2**53) != 2**53 + 1


@pytest.mark.parametrize("value", [{1, 2}, object()])
def test_values_json_cannot_hold_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        convert.dict_to_struct({"bad": value})


def test_numbers_json_cannot_carry_are_refused_naming_their_path() -> None:
    msg = struct_pb2.Struct()
    msg.update({"a": {"b": float("nan")}, "l": [1, float("inf")]})
    with pytest.raises(convert.StructValueNotJson) as exc:
        convert.struct_to_dict(msg, "profile")
    assert exc.value.field in ("profile.a.b", "profile.l[1]")
    assert str(exc.value).startswith(f"{exc.value.field}: must be a finite number")


def test_nesting_and_size_are_limited() -> None:
    value: dict[str, object] = {"v": 1}
    for _ in range(convert.STRUCT_MAX_DEPTH - 1):
        value = {"a": value}
    assert convert.struct_to_dict(convert.dict_to_struct(value))
    with pytest.raises(convert.StructTooDeep) as deep:
        convert.struct_to_dict(convert.dict_to_struct({"a": value}), "vif_details")
    assert (deep.value.field, deep.value.limit) == ("vif_details", convert.STRUCT_MAX_DEPTH)
    big = convert.dict_to_struct({"k": "x" * convert.STRUCT_MAX_JSON_CHARS})
    with pytest.raises(convert.StructTooLarge) as large:
        convert.struct_to_dict(big, "vif_details")
    assert "at most 4095 characters as JSON" in str(large.value)
    assert convert.struct_to_dict(big, max_chars=5000)


def test_a_refused_struct_is_a_value_error() -> None:
    # Callers that only know ValueError (an agent, a third-party driver) still catch it.
    assert issubclass(convert.StructError, ValueError)
