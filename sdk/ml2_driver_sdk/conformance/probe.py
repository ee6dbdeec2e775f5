"""The kit's side of the wire: one channel to the driver process, every call kept as an
``Exchange`` (what was sent, what came back, how long it took) to serve as evidence.

Calls go through ``grpc.Channel.unary_unary`` with the generated messages' own serializers, or
raw bytes where a check sends what a message cannot hold (unknown fields); the health check is
spoken in raw bytes too, so that the kit needs no more than grpc and protobuf.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format, message
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2_driver_sdk.runtime import auth, tls

SERVICE = "ml2.v1.MechanismDriverService"
_DESCRIBE = f"/{SERVICE}/DescribeDriver"
_PROPOSE = f"/{SERVICE}/ProposeBinding"
_PROPOSE_MANY = f"/{SERVICE}/ProposeBindings"
_HEALTH = "/grpc.health.v1.Health/Check"
HEALTH_SERVING = 1
"""``grpc.health.v1.HealthCheckResponse.SERVING``."""
HEALTH_STATUSES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")
"""The names of ``grpc.health.v1.HealthCheckResponse.ServingStatus``, by number."""

_MAX_STRING = 120
_MAX_ITEMS = 6


@dataclass(frozen=True)
class Exchange:
    """One call: what the kit sent and what came back (a reply, or a status code and details).

    ``request`` and ``reply`` are protobuf JSON (proto field names), with long strings and
    lists cut short so that an oversized request stays readable."""

    rpc: str
    note: str
    request: dict[str, Any]
    code: str
    reply: dict[str, Any] | None = None
    details: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True if the call returned a reply."""
        return self.code == "OK"

    def answer(self) -> str:
        """What came back, in a few words: the outcome (or health status), or the status code
        and details."""
        if not self.ok:
            return f"{self.code}: {self.details}" if self.details else self.code
        reply = self.reply or {}
        if set(reply) == {"status"}:
            return str(reply["status"])
        return ", ".join(sorted(reply)) or "an empty reply"

    def to_json(self) -> dict[str, Any]:
        """Returns the exchange as a JSON object."""
        data: dict[str, Any] = {
            "rpc": self.rpc,
            "note": self.note,
            "request": self.request,
            "code": self.code,
            "seconds": round(self.seconds, 6),
        }
        if self.ok:
            data["reply"] = self.reply
        else:
            data["details"] = self.details
        return data


def shown(msg: message.Message) -> dict[str, Any]:
    """Returns a message as protobuf JSON with long strings and lists cut short."""
    return dict(_shorten(json_format.MessageToDict(msg, preserving_proto_field_name=True)))


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_STRING:
        return f"{value[: _MAX_STRING // 2]}... ({len(value)} characters)"
    if isinstance(value, list):
        items = [_shorten(v) for v in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            items.append(f"... ({len(value)} items)")
        return items
    if isinstance(value, dict):
        keys = list(value)
        data = {k: _shorten(value[k]) for k in keys[: _MAX_ITEMS * 4]}
        if len(keys) > _MAX_ITEMS * 4:
            data["..."] = f"({len(keys)} keys)"
        return data
    return value


Reply = tuple[Any, Exchange]
"""The reply message (None if the call failed) and the exchange that records the call."""


class Probe:
    """Calls one driver process at ``address``. ``patience`` is the timeout of every call a
    check does not time itself (a slow driver fails ``answers-within-deadline``, not the rest).
    """

    def __init__(
        self,
        address: str,
        *,
        patience: float,
        token: auth.TokenSource | None = None,
        tls_files: tls.TlsFiles | None = None,
    ) -> None:
        """``token``: sent on every call (a driver with authentication answers mechmgr and
        administrators); by default ``ML2_TOKEN_FILE`` or ``ML2_TOKEN``, if set. The channel
        is mutual TLS with ``tls_files``, by default the ``ML2_TLS_*`` settings
        (``runtime.tls``), if set."""
        self.address = address
        self.patience = patience
        channel = tls.make_channel(
            address,
            [
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", -1),
            ],
            tls_files if tls_files is not None else tls.TlsFiles.from_env(),
        )
        self._channel = auth.intercept(channel, token or auth.TokenSource.from_env())
        self._describe = self._channel.unary_unary(
            _DESCRIBE,
            request_serializer=pb.DescribeDriverRequest.SerializeToString,
            response_deserializer=pb.DescribeDriverResponse.FromString,
        )
        self._propose = self._channel.unary_unary(
            _PROPOSE,
            request_serializer=pb.ProposeBindingRequest.SerializeToString,
            response_deserializer=pb.ProposeBindingResponse.FromString,
        )
        self._propose_batch = self._channel.unary_unary(
            _PROPOSE_MANY,
            request_serializer=pb.ProposeBindingsRequest.SerializeToString,
            response_deserializer=pb.ProposeBindingsResponse.FromString,
        )
        self._propose_bytes: grpc.UnaryUnaryMultiCallable[bytes, Any] = self._channel.unary_unary(
            _PROPOSE, response_deserializer=pb.ProposeBindingResponse.FromString
        )
        self._health: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(
            _HEALTH
        )

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def describe(self, note: str = "", timeout: float | None = None) -> Reply:
        """DescribeDriver."""
        request = pb.DescribeDriverRequest()
        return self._call(self._describe, request, "DescribeDriver", note, shown(request), timeout)

    def propose(
        self, request: pb.ProposeBindingRequest, note: str, timeout: float | None = None
    ) -> Reply:
        """ProposeBinding with ``request``."""
        return self._call(self._propose, request, "ProposeBinding", note, shown(request), timeout)

    def propose_bytes(
        self, data: bytes, request: dict[str, Any], note: str, timeout: float | None = None
    ) -> Reply:
        """ProposeBinding with ``data`` as the request's bytes; ``request`` is what they show."""
        return self._call(self._propose_bytes, data, "ProposeBinding", note, request, timeout)

    def propose_batch(self, requests: list[pb.ProposeBindingRequest], note: str) -> Reply:
        """ProposeBindings with ``requests`` as its questions."""
        request = pb.ProposeBindingsRequest(requests=requests)
        return self._call(
            self._propose_batch, request, "ProposeBindings", note, shown(request), None
        )

    def propose_many(self, requests: list[tuple[pb.ProposeBindingRequest, str]]) -> list[Reply]:
        """Starts every ProposeBinding at once and returns the replies in the same order."""
        started = time.perf_counter()
        futures = [
            (request, note, self._propose.future(request, timeout=self.patience))
            for request, note in requests
        ]
        return [
            _finish(future.result, "ProposeBinding", note, shown(request), started)
            for request, note, future in futures
        ]

    def health(self, service: str, timeout: float | None = None) -> tuple[int | None, Exchange]:
        """grpc.health.v1.Health/Check of ``service``; returns the status number (1 SERVING)."""
        data = _length_delimited(1, service.encode()) if service else b""
        reply, exchange = self._call(
            self._health, data, "grpc.health.v1.Health/Check", "", {"service": service}, timeout
        )
        if reply is None:
            return None, exchange
        status = _first_varint(reply)
        name = HEALTH_STATUSES[status] if status < len(HEALTH_STATUSES) else str(status)
        return status, _replace_reply(exchange, {"status": name})

    def _call(
        self,
        method: Callable[..., Any],
        request: Any,
        rpc: str,
        note: str,
        request_shown: dict[str, Any],
        timeout: float | None,
    ) -> Reply:
        started = time.perf_counter()
        wait = self.patience if timeout is None else timeout
        return _finish(lambda: method(request, timeout=wait), rpc, note, request_shown, started)


def _finish(
    call: Callable[[], Any], rpc: str, note: str, request: dict[str, Any], started: float
) -> Reply:
    try:
        reply = call()
    except grpc.RpcError as err:
        code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = (err.details() if isinstance(err, grpc.Call) else str(err)) or ""
        return None, Exchange(
            rpc, note, request, code.name, details=details, seconds=time.perf_counter() - started
        )
    seconds = time.perf_counter() - started
    shown_reply = shown(reply) if isinstance(reply, message.Message) else {}
    return reply, Exchange(rpc, note, request, "OK", shown_reply, seconds=seconds)


def _replace_reply(exchange: Exchange, reply: dict[str, Any]) -> Exchange:
    return Exchange(
        exchange.rpc, exchange.note, exchange.request, exchange.code, reply, "", exchange.seconds
    )


def varint(value: int) -> bytes:
    """Returns ``value`` (0 or more) as a protobuf varint."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number: int, data: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(data)) + data


def unknown_fields(first: int) -> bytes:
    """Returns fields numbered ``first`` and ``first + 1`` (a varint and a string), which no
    version of the contract defines."""
    return varint(first << 3) + varint(7) + _length_delimited(first + 1, b"conformance")


def _first_varint(data: bytes) -> int:
    """Returns field 1 of a message holding one varint field (0 when absent)."""
    if not data or data[0] != 0x08:
        return 0
    value, shift = 0, 0
    for byte in data[1:]:
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return value
