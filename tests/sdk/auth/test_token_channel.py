"""``intercept(channel, source)``: every kind of call of the channel carries the source's token,
in place of any ``authorization`` the caller passed, and keeps the caller's other metadata."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from ml2_driver_sdk.runtime.auth import TokenSource, intercept

SERVICE = "test.Echo"


def _seen(context: Any) -> bytes:
    """The call's authorization and x-extra metadata, as the server received them."""
    metadata = dict(context.invocation_metadata())
    return f"{metadata.get('authorization', '-')}|{metadata.get('x-extra', '-')}".encode()


def _unary_stream(_request: bytes, context: Any) -> Iterator[bytes]:
    yield _seen(context)


def _stream_unary(requests: Iterator[bytes], context: Any) -> bytes:
    for _ in requests:
        pass
    return _seen(context)


def _stream_stream(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
    for _ in requests:
        yield _seen(context)


@pytest.fixture
def target() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "UU": grpc.unary_unary_rpc_method_handler(lambda _r, c: _seen(c)),
        "US": grpc.unary_stream_rpc_method_handler(_unary_stream),
        "SU": grpc.stream_unary_rpc_method_handler(_stream_unary),
        "SS": grpc.stream_stream_rpc_method_handler(_stream_stream),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_every_kind_of_call_carries_the_token(target: str) -> None:
    source = TokenSource(token="tok-1")
    theirs = (("authorization", "Bearer theirs"), ("x-extra", "kept"))
    with intercept(grpc.insecure_channel(target), source) as channel:
        uu = channel.unary_unary(f"/{SERVICE}/UU")
        us = channel.unary_stream(f"/{SERVICE}/US")
        su = channel.stream_unary(f"/{SERVICE}/SU")
        ss = channel.stream_stream(f"/{SERVICE}/SS")
        answers = [
            uu(b"", timeout=10),
            uu(b"", 10, theirs),  # metadata passed by position, as gRPC allows
            uu.with_call(b"", timeout=10, metadata=theirs)[0],
            uu.future(b"", timeout=10, metadata=theirs).result(),
            *us(b"", timeout=10, metadata=theirs),
            su(iter([b"a", b"b"]), timeout=10, metadata=theirs),
            su.with_call(iter([b"a"]), timeout=10)[0],
            su.future(iter([b"a"]), timeout=10, metadata=theirs).result(),
            *ss(iter([b"a", b"b"]), timeout=10, metadata=theirs),
        ]
    assert answers[0] == b"Bearer tok-1|-"
    assert answers[6] == b"Bearer tok-1|-"
    assert [a for i, a in enumerate(answers) if i not in (0, 6)] == [b"Bearer tok-1|kept"] * 8


def test_a_channel_without_a_source_is_the_channel_itself(target: str) -> None:
    channel = grpc.insecure_channel(target)
    try:
        assert intercept(channel, None) is channel
    finally:
        channel.close()


def test_the_channel_can_be_watched_for_readiness(target: str) -> None:
    with intercept(grpc.insecure_channel(target), TokenSource(token="t")) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
