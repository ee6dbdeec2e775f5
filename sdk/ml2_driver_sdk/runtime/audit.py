"""The audit log: one structured record for every call of a method that changes something.

A process declares the methods it audits (``Auditor(methods=...)``, the services take
``services.policy.rules.AUDITED_METHODS``); the rest, reads and heartbeats, leave no record.
``AuditInterceptor`` (a threaded server) and ``AsyncAuditInterceptor`` (an asyncio one) sit
first among a server's interceptors, before the auth interceptor, so that the calls it refuses
(``UNAUTHENTICATED``, ``PERMISSION_DENIED``) are recorded too, as are a handler's refusals
(``NOT_FOUND`` for what the caller may not see). Each record is a log record of the
``ml2.audit`` logger, with ``audit: true`` and:

==================  =============================================================================
``grpc_service``    ``ml2.v1.PortService``
``grpc_method``     ``UpdatePort``
``caller_*``        ``subject``, ``project_id``, ``roles``, ``service``, ``agent_host`` of the
                    verified caller (empty when the token was refused, or no authentication)
``resource_ids``    ids the request names (``port.id``, ``network_id``, ``agent.host`` ...)
``response_ids``    ids the answer names (the id of what a create created)
``grpc_code``       the status code's name (``OK``, ``PERMISSION_DENIED`` ...)
``reason``          the ``ErrorInfo`` reason of a failure (``TOKEN_EXPIRED``, ``PORT_NOT_FOUND``)
``request_id``      the request's ``request_id`` field, else the call's ``x-request-id``
``peer``            the caller's address
``duration_ms``     how long the call took
==================  =============================================================================

``ML2_AUDIT_LOG`` (``from_env``) says where the records go: ``log`` (the default) with the
process's other records, ``stderr`` or a file path (JSON lines of their own, not in the
process's log), ``off`` (no audit).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from ml2_driver_sdk.runtime import config
from ml2_driver_sdk.runtime.auth.errors import AuthError
from ml2_driver_sdk.runtime.auth.interceptor import Authenticator

AUDIT_LOG_ENV = "ML2_AUDIT_LOG"
LOGGER_NAME = "ml2.audit"
MAX_IDS = 20
"""Ids kept of one repeated field (the rest are counted, not listed)."""

_STATUS_DETAILS = "grpc-status-details-bin"
_ABORT_ERRORS = ("_AbortError", "AbortError")


def _id_field(name: str) -> bool:
    return name in ("id", "host", "holder") or name.endswith(("_id", "_ids"))


def ids_of(message: Any) -> dict[str, Any]:
    """The ids ``message`` names: its string fields named ``id``, ``*_id``, ``*_ids``,
    ``host`` or ``holder``, and those of the messages it holds (one level down, repeated ones
    as lists), keyed by their path (``port.id``, ``segments.id``). ``request_id`` is not one."""
    found: dict[str, Any] = {}
    if message is None or not hasattr(message, "ListFields"):
        return found
    for field, value in message.ListFields():
        name = field.name
        if field.message_type is None:
            if _id_field(name) and name != "request_id":
                found[name] = _strings(value)
            continue
        if field.message_type.GetOptions().map_entry:
            continue
        repeated = not hasattr(value, "ListFields")
        items = list(value) if repeated else [value]
        for item in items[:MAX_IDS]:
            for inner_field, inner in item.ListFields():
                if inner_field.message_type is not None or not _id_field(inner_field.name):
                    continue
                path = f"{name}.{inner_field.name}"
                if repeated:
                    found.setdefault(path, []).append(_strings(inner))
                else:
                    found[path] = _strings(inner)
    return found


def _strings(value: Any) -> Any:
    if isinstance(value, str | bytes | int):
        return str(value)
    values = [str(v) for v in list(value)[:MAX_IDS]]
    return values


class Auditor:
    """Writes the audit records of ``methods`` (full names, ``/ml2.v1.PortService/CreatePort``)
    to ``logger``; ``authenticator`` tells who the caller is (its cache makes that a lookup)."""

    def __init__(
        self,
        methods: Collection[str],
        *,
        authenticator: Authenticator | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.methods = frozenset(methods)
        self.authenticator = authenticator
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self._clock = clock

    def audits(self, method: str) -> bool:
        return method in self.methods

    def caller(self, metadata: Iterable[Any] | None) -> dict[str, Any]:
        """The ``caller_*`` fields of the call's token, empty ones when it has none valid."""
        fields: dict[str, Any] = {
            "caller_subject": "",
            "caller_project_id": "",
            "caller_roles": [],
            "caller_service": "",
            "caller_agent_host": "",
        }
        if self.authenticator is None:
            return fields
        try:
            identity = self.authenticator.authenticate(metadata)
        except AuthError:
            return fields
        fields.update(
            caller_subject=identity.subject,
            caller_project_id=identity.project_id,
            caller_roles=sorted(identity.roles),
            caller_service=identity.service,
            caller_agent_host=identity.agent_host,
        )
        return fields

    def record(self, call: _Call, code: grpc.StatusCode, reason: str) -> None:
        service, _, method = call.method.lstrip("/").partition("/")
        fields: dict[str, Any] = {
            "audit": True,
            "grpc_service": service,
            "grpc_method": method,
            **self.caller(call.metadata),
            "resource_ids": call.resource_ids,
            "response_ids": call.response_ids,
            "grpc_code": code.name,
            "reason": reason,
            "request_id": call.request_id,
            "peer": call.peer,
            "duration_ms": round((self._clock() - call.start) * 1000, 3),
        }
        suffix = f" ({reason})" if reason else ""
        self.logger.info("%s %s: %s%s", service, method, code.name, suffix, extra=fields)


class _Call:
    """What one audited call has shown so far."""

    def __init__(self, method: str, metadata: Any, start: float) -> None:
        self.method = method
        self.metadata = metadata
        self.start = start
        self.resource_ids: dict[str, Any] = {}
        self.response_ids: dict[str, Any] = {}
        self.request_id = _metadata_value(metadata, "x-request-id")
        self.peer = ""
        self.code: grpc.StatusCode | None = None
        self.trailing: Any = None

    def saw_request(self, request: Any) -> None:
        try:
            found = ids_of(request)
        except Exception:  # a request that did not decode names nothing
            return
        for key, value in found.items():
            self.resource_ids.setdefault(key, value)
        request_id = getattr(request, "request_id", "")
        if isinstance(request_id, str) and request_id:
            self.request_id = request_id

    def outcome(self, context: Any, failure: BaseException | None) -> tuple[grpc.StatusCode, str]:
        code = self.code
        if code is None:
            code = _code_of(_safe(context, "code"))
        trailing = self.trailing
        if trailing is None:
            trailing = _safe(context, "trailing_metadata")
        if code is None:
            if failure is None:
                code = grpc.StatusCode.OK
            elif type(failure).__name__ in _ABORT_ERRORS or isinstance(failure, grpc.RpcError):
                code = grpc.StatusCode.UNKNOWN
            elif isinstance(failure, GeneratorExit | _cancelled()):
                code = grpc.StatusCode.CANCELLED
            else:
                code = grpc.StatusCode.INTERNAL
        return code, _reason_of(trailing) if code != grpc.StatusCode.OK else ""


def _cancelled() -> type[BaseException]:
    import asyncio

    return asyncio.CancelledError


def _safe(context: Any, name: str) -> Any:
    getter = getattr(context, name, None)
    if getter is None:
        return None
    try:
        return getter()
    except Exception:
        return None


def _code_of(value: Any) -> grpc.StatusCode | None:
    if isinstance(value, grpc.StatusCode):
        return value
    if isinstance(value, int):
        for code in grpc.StatusCode:
            if code.value[0] == value:
                return code
    return None


def _metadata_value(metadata: Any, key: str) -> str:
    for item in metadata or ():
        if item[0] == key:
            value = item[1]
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return ""


def _reason_of(trailing: Any) -> str:
    """The ErrorInfo reason of a rich status in ``trailing`` metadata, or ``""``."""
    for item in trailing or ():
        if item[0] != _STATUS_DETAILS:
            continue
        try:
            status = status_pb2.Status.FromString(item[1])
        except Exception:
            return ""
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return str(info.reason)
    return ""


class _Context:
    """The servicer context a handler gets, remembering the status it ends the call with
    (a threaded handler on an asyncio server gets a context that cannot tell it afterwards)."""

    def __init__(self, real: Any, call: _Call) -> None:
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_call", call)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._real, name, value)

    def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = None) -> Any:
        self._call.code = code
        if trailing_metadata is not None:
            self._call.trailing = trailing_metadata
            return self._real.abort(code, details, trailing_metadata)
        return self._real.abort(code, details)

    def abort_with_status(self, status: Any) -> Any:
        self._call.code = status.code
        self._call.trailing = status.trailing_metadata
        return self._real.abort_with_status(status)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._call.code = code
        self._real.set_code(code)

    def set_trailing_metadata(self, metadata: Any) -> None:
        self._call.trailing = metadata
        self._real.set_trailing_metadata(metadata)


def _wrap(auditor: Auditor, handler: Any, details: Any) -> Any:
    """``handler`` recording one audit record per call, of whichever kind it is."""
    if handler is None or not auditor.audits(details.method):
        return handler
    method, metadata = details.method, details.invocation_metadata
    inner = handler.unary_unary or handler.unary_stream or handler.stream_unary
    inner = inner or handler.stream_stream
    streamed_in = handler.stream_unary is not None or handler.stream_stream is not None
    streamed_out = handler.unary_stream is not None or handler.stream_stream is not None

    def begin(request: Any, context: Any) -> tuple[_Call, Any, Any]:
        call = _Call(method, metadata, auditor._clock())
        call.peer = _safe(context, "peer") or ""
        if streamed_in:
            request = _watched(request, call)
        else:
            call.saw_request(request)
        return call, request, _Context(context, call)

    def end(call: _Call, context: Any, failure: BaseException | None, response: Any) -> None:
        try:
            code, reason = call.outcome(context, failure)
            if code == grpc.StatusCode.OK and response is not None:
                call.response_ids = ids_of(response)
            auditor.record(call, code, reason)
        except Exception:  # the audit never changes the call's outcome
            logging.getLogger(__name__).exception("cannot audit %s", method)

    if inspect.isasyncgenfunction(inner):

        async def audited_async_gen(request: Any, context: Any) -> Any:
            call, request, proxy = begin(request, context)
            failure: BaseException | None = None
            try:
                async for item in inner(request, proxy):
                    yield item
            except BaseException as exc:
                failure = exc
                raise
            finally:
                end(call, context, failure, None)

        behaviour: Any = audited_async_gen
    elif inspect.iscoroutinefunction(inner):

        async def audited_coroutine(request: Any, context: Any) -> Any:
            call, request, proxy = begin(request, context)
            failure: BaseException | None = None
            response = None
            try:
                response = await inner(request, proxy)
                return response
            except BaseException as exc:
                failure = exc
                raise
            finally:
                end(call, context, failure, response)

        behaviour = audited_coroutine
    elif streamed_out:

        def audited_gen(request: Any, context: Any) -> Any:
            call, request, proxy = begin(request, context)
            failure: BaseException | None = None
            try:
                yield from inner(request, proxy)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                end(call, context, failure, None)

        behaviour = audited_gen
    else:

        def audited(request: Any, context: Any) -> Any:
            call, request, proxy = begin(request, context)
            failure: BaseException | None = None
            response = None
            try:
                response = inner(request, proxy)
                return response
            except BaseException as exc:
                failure = exc
                raise
            finally:
                end(call, context, failure, response)

        behaviour = audited
    return _same_kind(handler, behaviour)


def _watched(requests: Any, call: _Call) -> Any:
    """The stream of requests, each one's ids noted as it arrives."""
    if hasattr(requests, "__aiter__"):

        async def watched_async() -> Any:
            async for request in requests:
                call.saw_request(request)
                yield request

        return watched_async()

    def watched() -> Iterator[Any]:
        for request in requests:
            call.saw_request(request)
            yield request

    return watched()


def _same_kind(handler: Any, behaviour: Any) -> Any:
    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(behaviour, des, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(behaviour, des, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(behaviour, des, ser)
    return grpc.stream_stream_rpc_method_handler(behaviour, des, ser)


class AuditInterceptor(grpc.ServerInterceptor):
    """``Auditor`` in front of every method of a threaded server (first of its interceptors)."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        return _wrap(self.auditor, continuation(handler_call_details), handler_call_details)


class AsyncAuditInterceptor(grpc.aio.ServerInterceptor):
    """``Auditor`` in front of every method of an asyncio server."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = await continuation(handler_call_details)
        return _wrap(self.auditor, handler, handler_call_details)


def destination(environ: Mapping[str, str] | None = None) -> str:
    """``ML2_AUDIT_LOG``: ``log`` (default), ``stderr``, ``off`` or a file path."""
    value = config.get_str(config.env(environ), AUDIT_LOG_ENV, "log")
    return value or "log"


def from_env(
    service: str,
    methods: Collection[str],
    authenticator: Authenticator | None = None,
    environ: Mapping[str, str] | None = None,
) -> Auditor | None:
    """The auditor of ``methods`` in process ``service``, writing where ``ML2_AUDIT_LOG``
    says, or None (``off``, or nothing to audit). Raises ConfigError naming the setting when
    the value is empty or the file cannot be opened."""
    where = destination(environ)
    if where.lower() == "off" or not methods:
        return None
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)  # recorded whatever the process's log level
    if where.lower() not in ("log", "stderr"):
        try:
            handler: logging.Handler = logging.FileHandler(where, encoding="utf-8")
        except OSError as exc:
            raise config.ConfigError(f"{AUDIT_LOG_ENV}={where}: {exc.strerror}") from None
        _own_handler(logger, handler, service)
    elif where.lower() == "stderr":
        import sys

        _own_handler(logger, logging.StreamHandler(sys.stderr), service)
    return Auditor(methods, authenticator=authenticator, logger=logger)


class _ServiceName(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True


def _own_handler(logger: logging.Logger, handler: logging.Handler, service: str) -> None:
    """Sends the audit records to ``handler`` alone, one JSON object a line."""
    from pythonjsonlogger.json import JsonFormatter

    handler.addFilter(_ServiceName(service))
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{service}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.propagate = False
