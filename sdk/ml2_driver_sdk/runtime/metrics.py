"""Prometheus metrics every gRPC server exposes, and the HTTP endpoint that serves them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

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


Check = Callable[[], tuple[bool, str]]
"""A health check: whether all is well, and a line saying why (or why not)."""


def start_metrics_server(
    port: int, host: str = "127.0.0.1", checks: Mapping[str, Check] | None = None
) -> int:
    """Serves /metrics over HTTP on ``host:port`` in a daemon thread; returns the bound port.

    ``checks`` maps further paths (``/healthz``, ``/readyz``) to health checks, answered 200 or
    503 with the check's line, so that a process without a gRPC server (an L2 agent) can be
    probed on the port it already serves."""
    server, _thread = start_http_server(port, addr=host)
    metrics_app = server.get_app()
    if checks and metrics_app is not None:
        server.set_app(_with_checks(metrics_app, dict(checks)))
    return int(server.server_port)


def _with_checks(metrics_app: WSGIApplication, checks: dict[str, Check]) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        check = checks.get(str(environ.get("PATH_INFO", "")))
        if check is None:
            return metrics_app(environ, start_response)
        try:
            ok, detail = check()
        except Exception as err:  # a failing check answers 503, never a broken connection
            ok, detail = False, f"the check failed: {err}"
        status = "200 OK" if ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [f"{detail}\n".encode()]

    return app
