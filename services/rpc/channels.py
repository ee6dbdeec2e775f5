"""Long-lived client channels: one per peer per process, never one per call."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    # A peer that restarts is reached again within a second, not after gRPC's default back-off
    # of up to two minutes (during which every call would fail at once).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


def make_channel(address: str) -> grpc.Channel:
    """Returns an insecure channel to ``address`` (host:port) with keepalive and a short
    reconnect back-off. Processes create one per peer and keep it."""
    return grpc.insecure_channel(address, options=_OPTIONS)


def check_health(channel: grpc.Channel, timeout: float = 1.0, service: str = "") -> bool:
    """Returns True if the peer answers the standard health check with SERVING."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
