"""Prometheus metrics every gRPC server exposes, and the HTTP endpoint that serves them."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

# Binding and allocation take well under a second; the low buckets tell 1 ms from 5 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

RPC_REQUESTS = Counter(
    "ml2_grpc_server_handled_total",
    "gRPC requests completed by this server, by service, method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_LATENCY = Histogram(
    "ml2_grpc_server_handling_seconds",
    "Time from receiving a gRPC request to sending its response, by service and method.",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> int:
    """Serves /metrics over HTTP on ``host:port`` in a daemon thread; returns the bound port."""
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)
