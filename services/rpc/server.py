"""The one way every process builds and runs its gRPC server.

``build_server`` registers the servicers behind an interceptor that maps errors, counts and times
every call, and adds the standard health service and reflection. ``serve`` starts it, marks it
SERVING, and on SIGTERM or SIGINT marks it NOT_SERVING and stops with a grace period.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from services.rpc import decoding, errors, keepalive, metrics

logger = logging.getLogger(__name__)

Registration = tuple[Callable[[Any, grpc.Server], None], Any, str]
"""``(add_XServicer_to_server, servicer, full service name)``."""


class _Interceptor(grpc.ServerInterceptor):
    """Turns ServiceError into rich status, anything else into INTERNAL; counts and times calls.

    It also wraps each handler's request deserializer (``decoding.safe``), so that a request that
    does not decode, or has a NUL in a string, is answered INVALID_ARGUMENT naming the problem,
    not INTERNAL.
    """

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        deserializer = decoding.safe(handler.request_deserializer)
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                start = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    return inner(_decoded(request), context)
                except Exception as exc:
                    code = _abort(exc, context, method)
                finally:
                    _observe(service, method, code, start)

            return grpc.unary_unary_rpc_method_handler(
                unary, deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                start = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    yield from inner_stream(_decoded(request), context)
                except Exception as exc:
                    code = _abort(exc, context, method)
                finally:
                    _observe(service, method, code, start)

            return grpc.unary_stream_rpc_method_handler(
                stream, deserializer, handler.response_serializer
            )
        if handler.stream_unary is not None:
            inner_client_stream = handler.stream_unary

            def client_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                try:
                    return inner_client_stream(_decoded_all(requests), context)
                except errors.InvalidArgument as exc:
                    _abort(exc, context, method)

            return grpc.stream_unary_rpc_method_handler(
                client_stream, deserializer, handler.response_serializer
            )
        if handler.stream_stream is not None:
            inner_bidi = handler.stream_stream

            def bidi(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
                try:
                    yield from inner_bidi(_decoded_all(requests), context)
                except errors.InvalidArgument as exc:
                    _abort(exc, context, method)

            return grpc.stream_stream_rpc_method_handler(
                bidi, deserializer, handler.response_serializer
            )
        return handler


def _decoded(request: Any) -> Any:
    """Returns the request; raises its InvalidArgument if it did not decode."""
    if isinstance(request, decoding.Refused):
        raise request.error
    return request


def _decoded_all(requests: Iterator[Any]) -> Iterator[Any]:
    """Yields the streamed requests; raises at the first that did not decode."""
    for request in requests:
        yield _decoded(request)


def _abort(exc: Exception, context: grpc.ServicerContext, method: str) -> grpc.StatusCode:
    if isinstance(exc, errors.ServiceError):
        status = exc.to_status()
        logger.info(
            "%s failed: %s",
            method,
            exc.message,
            extra={"grpc_method": method, "grpc_code": exc.code.name, "reason": exc.reason},
        )
        context.abort_with_status(rpc_status.to_status(status))
    if isinstance(exc, grpc.RpcError) or type(exc).__name__ == "_AbortError":
        raise exc  # context.abort was already called
    logger.exception("%s failed with an unexpected error", method, extra={"grpc_method": method})
    internal = errors.ServiceError(f"internal error: {type(exc).__name__}")
    context.abort_with_status(rpc_status.to_status(internal.to_status()))
    return grpc.StatusCode.INTERNAL  # not reached: abort raises


def _observe(service: str, method: str, code: grpc.StatusCode, start: float) -> None:
    metrics.RPC_LATENCY.labels(service, method).observe(time.perf_counter() - start)
    metrics.RPC_REQUESTS.labels(service, method, code.name).inc()


@dataclass
class ServerHandle:
    """A built server, the port it is bound to and its health servicer."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    service_names: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)
    started: bool = False


def server_options(policy: keepalive.Keepalive | None = None) -> list[tuple[str, int]]:
    """The options of every server, with the keepalive of ``policy`` (by default the process's,
    ``keepalive.current()``): it permits the pings of clients configured alike."""
    # A port that is taken must fail loudly, never be shared with another process.
    return [("grpc.so_reuseport", 0), *(policy or keepalive.current()).server_options()]


def build_server(
    registrations: Iterable[Registration],
    address: str = "127.0.0.1:0",
    max_workers: int = 32,
    policy: keepalive.Keepalive | None = None,
) -> ServerHandle:
    """Builds a server with the servicers, health and reflection, bound to ``address``, with
    the keepalive of ``policy`` (by default the process's).

    Raises RuntimeError if the address cannot be bound (port taken, bad host).
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        interceptors=[_Interceptor()],
        options=server_options(policy),
    )
    names = []
    for add, servicer, name in registrations:
        add(servicer, server)
        names.append(name)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise RuntimeError(f"cannot listen on {address}: {exc}") from None
    if port == 0:
        raise RuntimeError(f"cannot listen on {address}")
    return ServerHandle(server, port, health_servicer, names)


def set_serving(handle: ServerHandle, serving: bool) -> None:
    """Sets the overall and per-service health status."""
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ["", *handle.service_names]:
        handle.health.set(name, status)


STOP_POLL_SECONDS = 0.5
"""How often the main thread wakes to run a signal handler another thread received."""


def install_stop_handlers(handle: ServerHandle) -> None:
    """Makes SIGTERM and SIGINT stop ``handle`` gracefully. Installed before the server starts:
    a signal that arrives as soon as a client can see the server serving must not find Python's
    default action (an exit without the graceful stop)."""

    def _stop(signum: int, _frame: object) -> None:
        logger.info("received signal %s, stopping", signal.Signals(signum).name)
        handle.stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def serve(
    handle: ServerHandle,
    grace: float = 5.0,
    on_stop: Callable[[], None] | None = None,
    on_stopping: Callable[[], None] | None = None,
) -> None:
    """Starts the server (if not started) and blocks until SIGTERM or SIGINT, then stops it
    gracefully: NOT_SERVING first, then ``on_stopping`` (which ends the long-lived streams, so
    that they do not hold the stop for the whole grace period), then in-flight calls get
    ``grace`` seconds to finish, then ``on_stop``."""
    install_stop_handlers(handle)
    if not handle.started:
        handle.server.start()
        handle.started = True
    set_serving(handle, True)
    # Wait in short slices: a process-directed signal may be taken by any thread, and then only
    # sets Python's pending flag; the main thread runs the handler when it next runs bytecode,
    # which an untimed wait would postpone forever.
    while not handle.stopped.wait(STOP_POLL_SECONDS):
        pass
    set_serving(handle, False)
    if on_stopping is not None:
        on_stopping()
    handle.server.stop(grace).wait()
    if on_stop is not None:
        on_stop()
    logger.info("stopped")


def write_port_file(path: str, service: str, grpc_port: int, metrics_port: int) -> None:
    """Writes ``{"service", "pid", "grpc_port", "metrics_port"}`` to ``path`` atomically, so that
    a launcher that asked for port 0 learns the ports the process really bound."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "service": service,
                "pid": os.getpid(),
                "grpc_port": grpc_port,
                "metrics_port": metrics_port,
            },
            fh,
        )
    os.replace(tmp, path)


def run_service(
    service: str,
    registrations: Iterable[Registration],
    *,
    listen: str,
    metrics_port: int,
    metrics_host: str | None = None,
    port_file: str = "",
    grace: float = 5.0,
    on_stop: Callable[[], None] | None = None,
    on_stopping: Callable[[], None] | None = None,
    max_workers: int = 32,
) -> None:
    """Builds, starts and serves a process's gRPC server until SIGTERM or SIGINT, working on at
    most ``max_workers`` requests at once.

    The metrics endpoint listens on ``metrics_host`` (by default the host of ``listen``, so that a
    server on 0.0.0.0 in a pod is scraped like it is called). Writes ``port_file`` once both are
    bound, and exits with a one-line reason (status 2) if an address cannot be bound.
    """
    host = listen.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"
    metrics_host = metrics_host or host
    try:
        handle = build_server(registrations, listen, max_workers=max_workers)
        bound_metrics = metrics.start_metrics_server(metrics_port, metrics_host)
    except (RuntimeError, OSError) as exc:
        print(f"{service}: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logger.info(
        "%s listening on %s:%d, metrics on %s:%d",
        service,
        host,
        handle.port,
        metrics_host,
        bound_metrics,
        extra={"grpc_port": handle.port, "metrics_port": bound_metrics},
    )
    install_stop_handlers(handle)
    handle.server.start()
    handle.started = True
    if port_file:
        write_port_file(port_file, service, handle.port, bound_metrics)
    serve(handle, grace=grace, on_stop=on_stop, on_stopping=on_stopping)
