"""The one way every process builds and runs its gRPC server.

``build_server`` registers the servicers behind an interceptor that maps errors, counts and times
every call, and adds the standard health service and reflection; with an authenticator, the
auth interceptor comes first (health and reflection stay open). ``serve`` starts it, marks
it SERVING, and on SIGTERM or SIGINT marks it NOT_SERVING and stops with a grace period.
``run_service`` reads the authentication from the ``ML2_AUTH_*`` settings
(``authenticator_from_env``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from ml2_driver_sdk.runtime import audit, auth, config, decoding, errors, keepalive, metrics, tls

logger = logging.getLogger(__name__)

Registration = tuple[Callable[[Any, grpc.Server], None], Any, str]
"""``(add_XServicer_to_server, servicer, full service name)``."""


def _wrap(handler: Any, handler_call_details: Any) -> Any:
    """Returns ``handler`` behind the error mapping, the counting and timing of calls and the
    safe request decoding (see ``_Interceptor``)."""
    if handler is None:
        return None
    service, _, method = handler_call_details.method.lstrip("/").partition("/")
    deserializer = decoding.safe(handler.request_deserializer)
    if _is_async(handler):
        return _wrap_async(handler, service, method, deserializer)
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return inner(_decoded(request), context)
            except Exception as exc:
                code = _status_code(exc)
                _abort(exc, context, method)
            finally:
                _observe(service, method, code, start)

        return grpc.unary_unary_rpc_method_handler(
            unary, deserializer, _pass_bytes(handler.response_serializer)
        )
    if handler.unary_stream is not None:
        inner_stream = handler.unary_stream

        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                yield from inner_stream(_decoded(request), context)
            except Exception as exc:
                code = _status_code(exc)
                _abort(exc, context, method)
            finally:
                _observe(service, method, code, start)

        return grpc.unary_stream_rpc_method_handler(
            stream, deserializer, _pass_bytes(handler.response_serializer)
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


def _is_async(handler: Any) -> bool:
    behaviour = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    return inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)


def _wrap_async(handler: Any, service: str, method: str, deserializer: Any) -> Any:
    """``_wrap`` for methods written as coroutines or async generators (an asyncio server's)."""

    async def fail(exc: Exception, context: Any) -> None:
        status = _failure_status(exc, method)
        if status is None:
            raise exc
        await context.abort(status.code, status.details, status.trailing_metadata)

    if handler.unary_unary is not None:
        inner = handler.unary_unary

        async def unary(request: Any, context: Any) -> Any:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(_decoded(request), context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:
                code = _status_code(exc)
                await fail(exc, context)
            finally:
                _observe(service, method, code, start)

        return grpc.unary_unary_rpc_method_handler(
            unary, deserializer, _pass_bytes(handler.response_serializer)
        )
    if handler.unary_stream is not None:
        inner_stream = handler.unary_stream

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                async for item in inner_stream(_decoded(request), context):
                    yield item
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:
                code = _status_code(exc)
                await fail(exc, context)
            finally:
                _observe(service, method, code, start)

        return grpc.unary_stream_rpc_method_handler(
            stream, deserializer, _pass_bytes(handler.response_serializer)
        )
    if handler.stream_unary is not None:
        inner_client_stream = handler.stream_unary

        async def client_stream(requests: AsyncIterator[Any], context: Any) -> Any:
            try:
                return await inner_client_stream(_async_decoded_all(requests), context)
            except errors.InvalidArgument as exc:
                await fail(exc, context)

        return grpc.stream_unary_rpc_method_handler(
            client_stream, deserializer, handler.response_serializer
        )
    inner_bidi = handler.stream_stream

    async def bidi(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        try:
            async for item in inner_bidi(_async_decoded_all(requests), context):
                yield item
        except Exception as exc:  # a ServiceError (or a bug) ends the stream with its status
            await fail(exc, context)

    return grpc.stream_stream_rpc_method_handler(
        bidi, deserializer, _pass_bytes(handler.response_serializer)
    )


async def _async_decoded_all(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _decoded(request)


def _pass_bytes(serializer: Callable[[Any], bytes] | None) -> Callable[[Any], bytes] | None:
    """A response serializer that sends a message already serialized (bytes) as it is, so that
    a stream can encode an event once for all its watchers, and a unary method can pass on a
    peer's answer without decoding it."""
    if serializer is None:
        return None

    def serialize(message: Any) -> bytes:
        return message if isinstance(message, bytes) else serializer(message)

    return serialize


class _Interceptor(grpc.ServerInterceptor):
    """Turns ServiceError into rich status, anything else into INTERNAL; counts and times calls.

    It also wraps each handler's request deserializer (``decoding.safe``), so that a request that
    does not decode, or has a NUL in a string, is answered INVALID_ARGUMENT naming the problem,
    not INTERNAL. A method may return (a streaming one yield) messages already serialized (bytes).
    """

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        return _wrap(continuation(handler_call_details), handler_call_details)


class _AsyncInterceptor(grpc.aio.ServerInterceptor):
    """``_Interceptor`` for an asyncio server: the same wrapping, and streaming methods written
    as async generators."""

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        return _wrap(await continuation(handler_call_details), handler_call_details)


def _decoded(request: Any) -> Any:
    """Returns the request; raises its InvalidArgument if it did not decode."""
    if isinstance(request, decoding.Refused):
        raise request.error
    return request


def _decoded_all(requests: Iterator[Any]) -> Iterator[Any]:
    """Yields the streamed requests; raises at the first that did not decode."""
    for request in requests:
        yield _decoded(request)


def _failure_status(exc: Exception, method: str) -> Any:
    """The status a failed call ends with (logged), or None when ``exc`` is an abort already
    under way (``context.abort`` was called)."""
    if isinstance(exc, errors.ServiceError):
        logger.info(
            "%s failed: %s",
            method,
            exc.message,
            extra={"grpc_method": method, "grpc_code": exc.code.name, "reason": exc.reason},
        )
        return rpc_status.to_status(exc.to_status())
    if isinstance(exc, grpc.RpcError) or type(exc).__name__ in _ABORT_ERRORS:
        return None
    logger.exception("%s failed with an unexpected error", method, extra={"grpc_method": method})
    internal = errors.ServiceError(f"internal error: {type(exc).__name__}")
    return rpc_status.to_status(internal.to_status())


_ABORT_ERRORS = ("_AbortError", "AbortError")
"""What ``context.abort`` raises on a threaded server and on an asyncio one."""


def _status_code(exc: Exception) -> grpc.StatusCode:
    if isinstance(exc, errors.ServiceError):
        return exc.code
    if isinstance(exc, grpc.RpcError) or type(exc).__name__ in _ABORT_ERRORS:
        return grpc.StatusCode.UNKNOWN
    return grpc.StatusCode.INTERNAL


def _abort(exc: Exception, context: grpc.ServicerContext, method: str) -> None:
    status = _failure_status(exc, method)
    if status is None:
        raise exc  # context.abort was already called
    # set_trailing_metadata and abort, rather than abort_with_status: a threaded handler on an
    # asyncio server gets a context that has only these.
    context.set_trailing_metadata(status.trailing_metadata)
    context.abort(status.code, status.details)


def _observe(service: str, method: str, code: grpc.StatusCode, start: float) -> None:
    metrics.RPC_LATENCY.labels(service, method).observe(time.perf_counter() - start)
    metrics.RPC_REQUESTS.labels(service, method, code.name).inc()


class AsyncServer:
    """A ``grpc.aio`` server on an event loop thread of its own, driven like a ``grpc.Server``
    (``start``, ``stop(grace).wait()``) by the thread that runs the process.

    Handlers written as async generators run on the loop, so a long-lived stream costs a
    coroutine, not a thread; every other handler runs in the ``max_workers`` thread pool as on
    a threaded server.
    """

    def __init__(
        self,
        max_workers: int,
        options: list[tuple[str, int]],
        authenticator: auth.Authenticator | None = None,
        auditor: audit.Auditor | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._auditor = auditor
        self.loop = asyncio.new_event_loop()
        self.pool = futures.ThreadPoolExecutor(max_workers=max_workers)
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="grpc-aio-loop", daemon=True
        )
        self._thread.start()
        self.server: grpc.aio.Server = self.call(self._make, options)

    async def _make(self, options: list[tuple[str, int]]) -> grpc.aio.Server:
        interceptors: list[grpc.aio.ServerInterceptor] = [_AsyncInterceptor()]
        if self._authenticator is not None:
            interceptors.insert(0, auth.AsyncAuthInterceptor(self._authenticator))
        if self._auditor is not None:
            interceptors.insert(0, audit.AsyncAuditInterceptor(self._auditor))
        return grpc.aio.server(
            migration_thread_pool=self.pool, interceptors=interceptors, options=options
        )

    def call(self, coroutine: Callable[..., Any], *args: Any) -> Any:
        """Runs ``coroutine(*args)`` on the loop; returns its result."""
        return asyncio.run_coroutine_threadsafe(coroutine(*args), self.loop).result()

    def start(self) -> None:
        """Starts serving."""
        self.call(self.server.start)

    def stop(self, grace: float | None) -> threading.Event:
        """Stops, giving calls in flight ``grace`` seconds; the event is set once stopped."""
        done = threading.Event()

        async def stop() -> None:
            try:
                await self.server.stop(grace)
            finally:
                self.pool.shutdown(wait=False)
                done.set()

        asyncio.run_coroutine_threadsafe(stop(), self.loop)
        return done


class _AsyncHealth:
    """The health servicer of an ``AsyncServer``, set from any thread like the threaded one."""

    def __init__(self, server: AsyncServer) -> None:
        self._server = server
        self.servicer = health.aio.HealthServicer()

    def set(self, service: str, status: Any) -> None:
        self._server.call(self.servicer.set, service, status)


@dataclass
class ServerHandle:
    """A built server, the port it is bound to and its health servicer."""

    server: Any
    """A ``grpc.Server``, or an ``AsyncServer`` (driven alike)."""
    port: int
    health: Any
    """``set(service, status)``: grpc_health's servicer, or ``_AsyncHealth``."""
    service_names: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)
    started: bool = False


PENDING_CALLS_VAR = "ML2_GRPC_MAX_PENDING_CALLS"
DEFAULT_PENDING_CALLS = 20_000
"""Calls a server lets wait for the process to take them before it refuses new ones.

gRPC's core queues a call that arrives before the process has asked for its next one. By
default it refuses new calls at random once 1,000 wait (CANCELLED at the client), and every new
call once 3,000 do: a burst such as thousands of agents opening their heartbeat streams at once
(mechmgr restarted, or its replicas' clients moved by a load balancer) arrives faster than a
Python server takes calls, and a third of it was refused that way. A server here starts
refusing at ``ML2_GRPC_MAX_PENDING_CALLS`` waiting calls and refuses all at twice as many; a
call that waits longer than gRPC's own limit (30 s) is still cancelled."""


def pending_calls(environ: Mapping[str, str] | None = None) -> int:
    """``ML2_GRPC_MAX_PENDING_CALLS``: at least 1. Raises ConfigError naming the variable."""
    return config.get_int(config.env(environ), PENDING_CALLS_VAR, DEFAULT_PENDING_CALLS, minimum=1)


def server_options(
    policy: keepalive.Keepalive | None = None, pending: int | None = None
) -> list[tuple[str, int]]:
    """The options of every server, with the keepalive of ``policy`` (by default the process's,
    ``keepalive.current()``), which permits the pings of clients configured alike, and room for
    ``pending`` calls waiting to be taken (by default ``pending_calls()``)."""
    waiting = pending_calls() if pending is None else pending
    return [
        # A port that is taken must fail loudly, never be shared with another process.
        ("grpc.so_reuseport", 0),
        ("grpc.server.max_pending_requests", waiting),
        ("grpc.server.max_pending_requests_hard_limit", 2 * waiting),
        *(policy or keepalive.current()).server_options(),
    ]


def build_server(
    registrations: Iterable[Registration],
    address: str = "127.0.0.1:0",
    max_workers: int = 32,
    policy: keepalive.Keepalive | None = None,
    *,
    asyncio_streams: bool = False,
    authenticator: auth.Authenticator | None = None,
    tls_files: tls.TlsFiles | None = None,
    auditor: audit.Auditor | None = None,
) -> ServerHandle:
    """Builds a server with the servicers, health and reflection, bound to ``address``, with
    the keepalive of ``policy`` (by default the process's). ``asyncio_streams``: an
    ``AsyncServer``, for servicers whose streaming methods are async generators.
    ``authenticator``: every call but health and reflection needs a valid token (the auth
    interceptor first among the server's). ``tls_files``: the port (health and reflection too)
    serves mutual TLS only (``tls.server_credentials``), else plaintext. ``auditor``: the
    calls of its methods leave an audit record (its interceptor before the auth interceptor,
    which it sees refuse calls).

    Raises RuntimeError if the address cannot be bound (port taken, bad host).
    """
    options = server_options(policy)
    credentials = tls.server_credentials(tls_files) if tls_files is not None else None
    if asyncio_streams:
        aio = AsyncServer(max_workers, options, authenticator, auditor)
        handle: ServerHandle = aio.call(
            _register_async, aio, list(registrations), address, credentials
        )
        return handle
    interceptors: list[grpc.ServerInterceptor] = [_Interceptor()]
    if authenticator is not None:
        interceptors.insert(0, auth.AuthInterceptor(authenticator))
    if auditor is not None:
        interceptors.insert(0, audit.AuditInterceptor(auditor))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        interceptors=interceptors,
        options=options,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return _register(server, registrations, address, health_servicer, credentials)


async def _register_async(
    aio: AsyncServer,
    registrations: list[Registration],
    address: str,
    credentials: grpc.ServerCredentials | None,
) -> ServerHandle:
    """``_register`` on the loop, where the asyncio server must be set up."""
    monitor = _AsyncHealth(aio)
    health_pb2_grpc.add_HealthServicer_to_server(monitor.servicer, aio.server)
    handle = _register(aio.server, registrations, address, monitor, credentials)
    handle.server = aio
    return handle


def _register(
    server: Any,
    registrations: Iterable[Registration],
    address: str,
    monitor: Any,
    credentials: grpc.ServerCredentials | None = None,
) -> ServerHandle:
    names = []
    for add, servicer, name in registrations:
        add(servicer, server)
        names.append(name)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    try:
        if credentials is not None:
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise RuntimeError(f"cannot listen on {address}: {exc}") from None
    if port == 0:
        raise RuntimeError(f"cannot listen on {address}")
    return ServerHandle(server, port, monitor, names)


AUTH_REQUIRED_ENV = "ML2_AUTH_REQUIRED"
"""``1``: what a process does anyway, refuse to start without authentication settings (kept
so that older manifests stay valid); without settings it contradicts ``ML2_AUTH_DISABLED=1``
and the process refuses to start."""

AUTH_DISABLED_ENV = "ML2_AUTH_DISABLED"
"""``1``: a process without authentication settings serves every caller without a token (with
a warning) instead of refusing to start: ``ml2 up --no-auth``, stacks built in code, tests."""

VERIFYING_SETTINGS = (
    "ML2_AUTH_TOKEN_FILE",
    "ML2_AUTH_JWT_KEY_FILES",
    "ML2_AUTH_JWT_SECRET_FILES",
    "ML2_AUTH_JWKS_FILES",
)

AuthBuilder = Callable[[auth.Verifier], auth.Authenticator]
"""Builds a process's authenticator (its policy and method rules) on the verifier."""


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = config.get_str(environ, name, "0").lower()
    if value not in ("0", "1", "", "false", "true"):
        raise config.ConfigError(f"{name}={value}: must be 0 or 1")
    return value in ("1", "true")


def authenticator_from_env(
    service: str,
    build: AuthBuilder | None = None,
    environ: Mapping[str, str] | None = None,
) -> auth.Authenticator | None:
    """The authenticator of ``service``: the verifier of the ``ML2_AUTH_*`` settings, wrapped
    by ``build`` (by default one that only authenticates). Without settings: a ConfigError
    naming them, unless ``ML2_AUTH_DISABLED=1``, which gives None (every caller served) with a
    warning (a ConfigError if ``ML2_AUTH_REQUIRED=1`` too). Settings given win over
    ``ML2_AUTH_DISABLED``. Raises ConfigError naming the setting."""
    environ = config.env(environ)
    verifier, disabled = _verifier_or_disabled(environ)
    if verifier is None:
        logger.warning(
            "AUTHENTICATION IS OFF (%s=1): %s answers every caller without a token; set "
            "ML2_AUTH_* (docs/auth.md) to require one",
            AUTH_DISABLED_ENV,
            service,
            extra={"auth": "off"},
        )
        return None
    if disabled:
        logger.warning(
            "%s=1 is ignored: authentication settings are given, every call needs a token",
            AUTH_DISABLED_ENV,
        )
    return build(verifier) if build is not None else auth.Authenticator(verifier)


def _verifier_or_disabled(environ: Mapping[str, str]) -> tuple[auth.Verifier | None, bool]:
    """The verifier of the ``ML2_AUTH_*`` settings (None when there are none and
    ``ML2_AUTH_DISABLED=1`` allows it) and whether ``ML2_AUTH_DISABLED=1``; raises ConfigError
    for missing settings, contradicting flags or a setting that does not load."""
    required = _flag(environ, AUTH_REQUIRED_ENV)
    disabled = _flag(environ, AUTH_DISABLED_ENV)
    verifier = auth.from_env(environ)
    if verifier is None:
        settings = f"{', '.join(VERIFYING_SETTINGS[:-1])} or {VERIFYING_SETTINGS[-1]}"
        if required and disabled:
            raise config.ConfigError(
                f"{AUTH_REQUIRED_ENV}=1 and {AUTH_DISABLED_ENV}=1 contradict each other: set "
                f"{settings} (docs/auth.md), or unset {AUTH_REQUIRED_ENV} to serve every "
                f"caller without a token with {AUTH_DISABLED_ENV}=1"
            )
        if not disabled:
            raise config.ConfigError(
                f"no authentication is configured: set {settings} (docs/auth.md), or "
                f"{AUTH_DISABLED_ENV}=1 to serve every caller without a token"
            )
    return verifier, disabled


def check_start_settings(service: str, environ: Mapping[str, str] | None = None) -> None:
    """Checks the authentication and TLS settings as ``run_service`` will read them, exiting
    with its one-line reason (status 2) when one is missing, contradicts another or does not
    load. A process with a database calls it before it opens or migrates that database, so
    that a process refused at start has changed nothing."""
    try:
        environ = config.env(environ)
        _verifier_or_disabled(environ)
        tls.TlsFiles.from_env(environ)
        pending_calls(environ)
    except config.ConfigError as err:
        config.exit_on_config_error(service, err)


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
    asyncio_streams: bool = False,
    auth_builder: AuthBuilder | None = None,
    audited_methods: Collection[str] = (),
) -> None:
    """Builds, starts and serves a process's gRPC server until SIGTERM or SIGINT, working on at
    most ``max_workers`` requests at once (``asyncio_streams``: see ``build_server``), every
    call authenticated as ``authenticator_from_env(service, auth_builder)`` says, over mutual
    TLS when the ``ML2_TLS_*`` settings are given (``tls.TlsFiles.from_env``), each call of
    ``audited_methods`` audited where ``ML2_AUDIT_LOG`` says (``audit.from_env``).

    The metrics endpoint listens on ``metrics_host`` (by default the host of ``listen``, so that a
    server on 0.0.0.0 in a pod is scraped like it is called). Writes ``port_file`` once both are
    bound, and exits with a one-line reason (status 2) if an address cannot be bound.
    """
    host = listen.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"
    metrics_host = metrics_host or host
    try:
        authenticator = authenticator_from_env(service, auth_builder)
        tls_files = tls.TlsFiles.from_env()
        auditor = audit.from_env(service, audited_methods, authenticator)
    except config.ConfigError as err:
        config.exit_on_config_error(service, err)
        return
    try:
        handle = build_server(
            registrations,
            listen,
            max_workers=max_workers,
            asyncio_streams=asyncio_streams,
            authenticator=authenticator,
            tls_files=tls_files,
            auditor=auditor,
        )
        bound_metrics = metrics.start_metrics_server(metrics_port, metrics_host)
    except config.ConfigError as err:
        config.exit_on_config_error(service, err)
        return
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
        extra={
            "grpc_port": handle.port,
            "metrics_port": bound_metrics,
            "tls": "mutual" if tls_files is not None else "off",
        },
    )
    install_stop_handlers(handle)
    handle.server.start()
    handle.started = True
    if port_file:
        write_port_file(port_file, service, handle.port, bound_metrics)
    serve(handle, grace=grace, on_stop=on_stop, on_stopping=on_stopping)
