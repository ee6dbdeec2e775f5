"""Requests that do not decode are answered INVALID_ARGUMENT naming the problem, by any server
``build_server`` builds, for unary and streaming methods alike."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2.v1 import mechanism_driver_service_pb2_grpc as pb_grpc
from ml2_driver_sdk import serve
from ml2_driver_sdk.runtime import decoding, server, structs

from services.drivers.noop import driver as noop

PROPOSE = "/ml2.v1.MechanismDriverService/ProposeBinding"


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    handle = server.build_server(
        [
            (
                pb_grpc.add_MechanismDriverServiceServicer_to_server,
                serve.DriverServicer(noop.NoopDriver()),
                "ml2.v1.MechanismDriverService",
            )
        ],
        max_workers=4,
    )
    handle.server.start()
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as ch:
        yield ch
    handle.server.stop(0)


def deep_request(levels: int) -> bytes:
    """A valid ProposeBindingRequest whose profile nests ``levels`` objects in it."""
    request = pb.ProposeBindingRequest(host="h")
    request.segments_to_bind.add(id="s", network_type="vxlan", segmentation_id=1001)
    inner = request.profile
    for _ in range(levels):
        inner = inner.fields["a"].struct_value
    inner.fields["v"].number_value = 1
    return request.SerializeToString()


def call(channel: grpc.Channel, method: str, data: bytes) -> grpc.RpcError:
    send = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as info:
        send(data, timeout=10)
    return info.value


def reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff",  # a cut-off varint
        b"\x1a\x05ab",  # a string field longer than the message
        b"\x1a\x02\xc3\x28",  # host, not UTF-8
    ],
)
def test_malformed_bytes_are_invalid_argument(channel: grpc.Channel, data: bytes) -> None:
    err = call(channel, PROPOSE, data)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert err.details().startswith(  # type: ignore[attr-defined]
        "request: cannot be decoded as ml2.v1.ProposeBindingRequest: "
    )
    assert reason(err) == "UNDECODABLE_REQUEST"


def test_a_struct_nested_past_the_decoder_limit_names_the_field_and_the_limit(
    channel: grpc.Channel,
) -> None:
    err = call(channel, PROPOSE, deep_request(95))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert err.details() == (  # type: ignore[attr-defined]
        f"profile: must nest objects and lists at most {structs.MAX_DEPTH} levels deep"
    )
    assert reason(err) == structs.TOO_DEEP


def test_a_decodable_struct_past_the_depth_limit_is_refused_too(channel: grpc.Channel) -> None:
    send = channel.unary_unary(PROPOSE, request_serializer=None, response_deserializer=None)
    assert send(deep_request(structs.MAX_DEPTH - 1), timeout=10)  # 16 levels with the profile
    err = call(channel, PROPOSE, deep_request(structs.MAX_DEPTH))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert err.details() == (  # type: ignore[attr-defined]
        f"profile: must nest objects and lists at most {structs.MAX_DEPTH} levels deep"
    )


def test_streaming_methods_refuse_undecodable_requests(channel: grpc.Channel) -> None:
    watch = channel.unary_stream(
        "/grpc.health.v1.Health/Watch", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.RpcError) as info:
        list(watch(b"\x0a\x02\xc3\x28", timeout=10))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    reflect = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=None,
        response_deserializer=None,
    )
    with pytest.raises(grpc.RpcError) as info:
        list(reflect(iter([b"\xff\xff\xff"]), timeout=10))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "cannot be decoded" in info.value.details()  # type: ignore[attr-defined]


def test_the_walk_finds_the_deepest_field_of_a_message() -> None:
    path = decoding.deepest_path(pb.ProposeBindingRequest.DESCRIPTOR, deep_request(2))
    assert [f.name for f in path] == ["profile"] + ["fields", "value", "struct_value"] * 2 + [
        "fields",
        "value",
    ]
    assert decoding.deepest_path(pb.ProposeBindingRequest.DESCRIPTOR, b"\xff") == []
