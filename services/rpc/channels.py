"""Long-lived client channels: one per peer per process, never one per call.

Every channel pings its server by the process's keepalive policy
(``ml2_driver_sdk.runtime.keepalive``, which the servers permit), reconnects quickly to a peer
that restarted, and retries the calls that are safe to repeat when they fail UNAVAILABLE: a call
that met a connection the peer had just closed (a restart, a GOAWAY) is sent again on a new one
instead of failing the caller. Every channel sends the process's token
(``ML2_TOKEN_FILE`` or ``ML2_TOKEN``, read once per process; a token file is read again when it
changes) on every call, unless given another. With the ``ML2_TLS_*`` settings
(``ml2_driver_sdk.runtime.tls``), every channel is mutual TLS, presenting the process's
certificate as read when the channel is made.
"""

from __future__ import annotations

import json
import threading

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ml2_driver_sdk.runtime import auth, keepalive, tls

IDEMPOTENT_METHODS: dict[str, tuple[str, ...]] = {
    "grpc.health.v1.Health": ("Check",),
    "ml2.v1.MechanismDriverService": ("DescribeDriver", "ProposeBinding"),
    "ml2.v1.MechanismManagerService": ("ResolveBinding", "ListMechanismDrivers"),
    "ml2.v1.AgentService": ("GetAgent", "ListAgents"),
    "ml2.v1.NetworkService": ("GetNetwork", "ListNetworks"),
    "ml2.v1.PortService": ("GetPort", "ListPorts"),
    "ml2.v1.SegmentService": (
        "ListNetworkSegments",
        "AllocateDynamicSegment",
        "SyncDynamicSegmentHolds",
        "ListDynamicSegmentHolds",
        "ValidateSegment",
    ),
    "ml2.v1.SegmentRangeService": (
        "GetSegmentRange",
        "ListSegmentRanges",
        "ListSegmentAllocations",
    ),
}
"""The methods retried on UNAVAILABLE: reads, pure computations (a driver's proposal, a binding
resolution, a segment validation) and calls whose repetition finds what the first one did
(AllocateDynamicSegment returns the network's existing dynamic segment; SyncDynamicSegmentHolds
sets a holder's holds to a given list). Creating, updating and deleting are never retried."""

RETRY_ATTEMPTS = 3
"""Attempts of a retried call in all, within its deadline."""


def service_config() -> str:
    """The channels' service config: the retry policy of ``IDEMPOTENT_METHODS``."""
    names = [
        {"service": service, "method": method}
        for service, methods in IDEMPOTENT_METHODS.items()
        for method in methods
    ]
    policy = {
        "maxAttempts": RETRY_ATTEMPTS,
        "initialBackoff": "0.05s",
        "maxBackoff": "0.5s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy}]})


_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    # A peer that restarts is reached again within a second, not after gRPC's default back-off
    # of up to two minutes (during which every call would fail at once).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", service_config()),
]


def channel_options(policy: keepalive.Keepalive | None = None) -> list[tuple[str, int | str]]:
    """The options of every client channel, with the keepalive of ``policy`` (by default the
    process's, ``keepalive.current()``)."""
    options: list[tuple[str, int | str]] = [*(policy or keepalive.current()).client_options()]
    return options + _OPTIONS


_token_lock = threading.Lock()
_process_token: list[auth.TokenSource | None] = []


def process_token() -> auth.TokenSource | None:
    """The token this process calls with (``auth.TokenSource.from_env``), None without one."""
    with _token_lock:
        if not _process_token:
            _process_token.append(auth.TokenSource.from_env())
        return _process_token[0]


def make_channel(
    address: str,
    policy: keepalive.Keepalive | None = None,
    *,
    token: auth.TokenSource | None = None,
    tls_files: tls.TlsFiles | None = None,
) -> grpc.Channel:
    """Returns a channel to ``address`` (host:port) with keepalive, retries of the idempotent
    calls and a short reconnect back-off, sending ``token`` (by default the process's,
    ``process_token``) on every call; mutual TLS with ``tls_files`` (by default the process's
    ``ML2_TLS_*`` settings, ``tls.process_files``), else plaintext. Processes create one per
    peer and keep it."""
    files = tls_files if tls_files is not None else tls.process_files()
    channel = tls.make_channel(address, channel_options(policy), files)
    return auth.intercept(channel, token or process_token())


def make_aio_channel(
    address: str,
    policy: keepalive.Keepalive | None = None,
    *,
    tls_files: tls.TlsFiles | None = None,
) -> grpc.aio.Channel:
    """Returns a ``grpc.aio`` channel to ``address`` with the options and the TLS of
    ``make_channel``, for coroutines on an event loop: create it on the loop that uses it. It
    sends no token by itself: pass ``call_metadata(process_token())`` with each call."""
    files = tls_files if tls_files is not None else tls.process_files()
    return tls.make_aio_channel(address, channel_options(policy), files)


def call_metadata(token: auth.TokenSource | None) -> tuple[tuple[str, str], ...] | None:
    """The metadata that carries ``token`` on one call (None without a token), as the
    channels of ``make_channel`` add it."""
    return token.metadata() if token is not None else None


def check_health(channel: grpc.Channel, timeout: float = 1.0, service: str = "") -> bool:
    """Returns True if the peer answers the standard health check with SERVING."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
