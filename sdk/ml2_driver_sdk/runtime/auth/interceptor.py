"""The server side: every call authenticated, the identity bound for the handler.

``Authenticator`` reads ``authorization: Bearer <token>`` from a call's metadata and verifies
it, keeping the identities of verified tokens in a small LRU cache (keyed by the token, each
entry kept no longer than the token's expiry, ``max_cache_seconds``, or a reload of the
verifier's keys or tokens), so that a caller's every call after its first costs a dictionary
lookup. Failures are not cached.

``AuthInterceptor`` (a threaded server) and ``AsyncAuthInterceptor`` (an asyncio one) put it in
front of every method except the open ones (gRPC health and reflection by default): a call
without a valid token ends UNAUTHENTICATED with the reason (missing, malformed, expired, bad
signature, wrong audience or issuer, unknown) in words and in its ``ErrorInfo``. The handler
then finds the caller with ``identity.current()``. With a ``policy`` and ``method_rules``
(method or ``/package.Service/*`` to rule name), a method can also be closed to all but some
callers (``service:mechmgr or role:admin``): PERMISSION_DENIED naming the method otherwise.
With ``request_rules`` (method to ``(rule, target)``, ``target(request)`` giving the policy
target, or None when there is nothing to check it against), a method whose rule needs a field
of the request (the host an agent acts for) is checked once the request has arrived, before
the handler runs; a caller the rule admits without a target (an administrator) is not looked
at further. Only methods with one request message (unary or server-streaming) can have one.

Install the interceptor first, so that it also sees the calls that other interceptors refuse.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc
from grpc_status import rpc_status
from ml2_driver_sdk.runtime import decoding
from ml2_driver_sdk.runtime import errors as service_errors
from ml2_driver_sdk.runtime.auth import errors
from ml2_driver_sdk.runtime.auth.errors import AuthError, Unauthenticated
from ml2_driver_sdk.runtime.auth.identity import _CURRENT, Identity
from ml2_driver_sdk.runtime.auth.verifiers import Verifier
from ml2_driver_sdk.runtime.policy import PermissionDenied, Policy

OPEN_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
"""Methods every caller may call without a token."""


RequestTarget = Callable[[Any], Mapping[str, Any] | None]
"""The policy target of a request (``{"host": request.agent.host}``), or None: nothing to check
the caller against (an unknown agent id, which the handler answers NOT_FOUND)."""


class TokenCache:
    """At most ``size`` verified tokens, the least recently used dropped first."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[Identity, float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: float, generation: int) -> Identity | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            identity, deadline, entry_generation = entry
            if now >= deadline or entry_generation != generation:
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return identity

    def put(self, token: str, identity: Identity, deadline: float, generation: int) -> None:
        with self._lock:
            self._entries[token] = (identity, deadline, generation)
            self._entries.move_to_end(token)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def bearer_token(metadata: Iterable[Any] | None) -> str:
    """The token of a call's ``authorization: Bearer <token>`` metadata; raises AuthError."""
    value = None
    for item in metadata or ():
        if item[0] == "authorization":
            value = item[1]
            break
    if value is None:
        raise AuthError(errors.MISSING, "no credentials: send 'authorization: Bearer <token>'")
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError(errors.MALFORMED, "authorization metadata must be 'Bearer <token>'")
    return token


class Authenticator:
    """Verifies a call's bearer token (cached) and, with ``method_rules``, its right to call
    the method; see the module docstring."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        cache_size: int = 1024,
        max_cache_seconds: float = 300.0,
        open_methods: Iterable[str] = OPEN_METHOD_PREFIXES,
        policy: Policy | None = None,
        method_rules: Mapping[str, str] | None = None,
        request_rules: Mapping[str, tuple[str, RequestTarget]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.cache = TokenCache(cache_size)
        self._max_cache_seconds = max_cache_seconds
        self._open = tuple(open_methods)
        self._clock = clock
        self._policy = policy
        self._method_rules = dict(method_rules or {})
        self._request_rules = dict(request_rules or {})
        if (self._method_rules or self._request_rules) and policy is None:
            raise ValueError("method_rules and request_rules need a policy to evaluate them")
        if policy is not None:
            named = [*self._method_rules.values(), *(r for r, _ in self._request_rules.values())]
            unknown = sorted(r for r in named if r not in policy.rules)
            if unknown:
                raise ValueError(f"method_rules name rules the policy does not define: {unknown}")

    def is_open(self, method: str) -> bool:
        return method.startswith(self._open)

    def clock(self) -> float:
        """The time tokens are checked against (seconds since the epoch)."""
        return self._clock()

    def authenticate(self, metadata: Iterable[Any] | None) -> Identity:
        """The identity of the token in ``metadata``; raises AuthError."""
        token = bearer_token(metadata)
        now = self._clock()
        generation = self.verifier.generation()
        identity = self.cache.get(token, now, generation)
        if identity is not None:
            return identity
        identity = self.verifier.verify(token)
        if identity.expires_at is not None and identity.expires_at <= now:
            raise AuthError(errors.EXPIRED, "token has expired")
        deadline = now + self._max_cache_seconds
        if identity.expires_at is not None:
            deadline = min(deadline, identity.expires_at)
        self.cache.put(token, identity, deadline, generation)
        return identity

    def method_rule(self, method: str) -> str | None:
        """The rule ``method`` is closed by, if any (exact name first, then its service's)."""
        rule = self._method_rules.get(method)
        if rule is None and self._method_rules:
            rule = self._method_rules.get(method.rsplit("/", 1)[0] + "/*")
        return rule

    def check(self, method: str, metadata: Iterable[Any] | None) -> Identity:
        """Authenticates the call and checks its method rule; raises Unauthenticated or
        PermissionDenied (ServiceErrors, mapped to their status)."""
        try:
            identity = self.authenticate(metadata)
        except AuthError as exc:
            raise Unauthenticated(exc.message, reason=exc.reason) from None
        rule = self.method_rule(method)
        if rule is not None:
            assert self._policy is not None
            if not self._policy.enforce(rule, identity.credentials(), {}):
                raise PermissionDenied(
                    f"{method}: {identity.subject} may not call it (policy rule {rule})",
                    rule=rule,
                )
        return identity

    def has_request_rule(self, method: str) -> bool:
        return method in self._request_rules

    def check_request(self, method: str, identity: Identity, request: Any) -> None:
        """Checks the request rule of ``method``, if any; raises PermissionDenied. A request
        that did not decode is left to the handler, which refuses it."""
        entry = self._request_rules.get(method)
        if entry is None or isinstance(request, decoding.Refused):
            return
        assert self._policy is not None
        rule, target_of = entry
        credentials = identity.credentials()
        if self._policy.enforce(rule, credentials, {}):
            return
        target = target_of(request)
        if target is None or self._policy.enforce(rule, credentials, target):
            return
        raise PermissionDenied(
            f"{method}: {identity.subject} may not call it for this request (policy rule {rule})",
            rule=rule,
        )


def _status(exc: service_errors.ServiceError) -> Any:
    return rpc_status.to_status(exc.to_status())


def _refusal(handler: Any, exc: service_errors.ServiceError, asynchronous: bool) -> Any:
    """A handler of ``handler``'s kind that ends the call with ``exc``'s status."""
    status = _status(exc)
    if asynchronous:

        async def refuse_async(_request: Any, context: Any) -> None:
            await context.abort(status.code, status.details, status.trailing_metadata)

        behaviour: Any = refuse_async
    else:

        def refuse(_request: Any, context: Any) -> None:
            context.set_trailing_metadata(status.trailing_metadata)
            context.abort(status.code, status.details)

        behaviour = refuse
    return _same_kind(handler, behaviour)


def _same_kind(handler: Any, behaviour: Any) -> Any:
    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(behaviour, des, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(behaviour, des, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(behaviour, des, ser)
    return grpc.stream_stream_rpc_method_handler(behaviour, des, ser)


def _abort_sync(context: Any, exc: service_errors.ServiceError) -> None:
    status = _status(exc)
    context.set_trailing_metadata(status.trailing_metadata)
    context.abort(status.code, status.details)


async def _abort_async(context: Any, exc: service_errors.ServiceError) -> None:
    status = _status(exc)
    await context.abort(status.code, status.details, status.trailing_metadata)


def _expired(identity: Identity) -> Unauthenticated:
    return Unauthenticated(
        f"token of {identity.subject} has expired during the call: call again with a renewed token",
        reason=errors.EXPIRED,
    )


class _ExpiryGuard:
    """Cancels the task of a stream of an asyncio server when its caller's token expires, so
    that the stream ends UNAUTHENTICATED (TOKEN_EXPIRED) then: a token is checked when a call
    starts, and a stream may outlive it by days."""

    def __init__(self, task: asyncio.Task[Any], delay: float) -> None:
        self.fired = False
        self._task = task
        self._handle = asyncio.get_running_loop().call_later(delay, self._fire)

    @classmethod
    def start(cls, identity: Identity, clock: Callable[[], float]) -> _ExpiryGuard | None:
        """The guard of the running task for ``identity``; None when its token never
        expires."""
        task = asyncio.current_task()
        if identity.expires_at is None or task is None:
            return None
        return cls(task, max(0.0, identity.expires_at - clock()))

    def _fire(self) -> None:
        self.fired = True
        self._task.cancel()

    def cancel(self) -> None:
        self._handle.cancel()


def _bound(
    handler: Any,
    identity: Identity,
    precheck: Callable[[Any], None] | None,
    clock: Callable[[], float] = time.time,
) -> Any:
    """``handler`` with ``identity`` current while its behaviour runs; ``precheck(request)``
    (raising a ServiceError to refuse the call) first, for a method with one request."""
    inner = handler.unary_unary or handler.unary_stream or handler.stream_unary
    inner = inner or handler.stream_stream
    if handler.stream_unary is not None or handler.stream_stream is not None:
        precheck = None
    if inspect.isasyncgenfunction(inner):

        async def bound_async_gen(request: Any, context: Any) -> Any:
            if precheck is not None:
                try:
                    precheck(request)
                except service_errors.ServiceError as exc:
                    await _abort_async(context, exc)
                    return
            token = _CURRENT.set(identity)
            guard = _ExpiryGuard.start(identity, clock)
            try:
                async for item in inner(request, context):
                    yield item
            except asyncio.CancelledError:
                if guard is None or not guard.fired:
                    raise
                await _abort_async(context, _expired(identity))
            finally:
                if guard is not None:
                    guard.cancel()
                _CURRENT.reset(token)

        return _same_kind(handler, bound_async_gen)
    if inspect.iscoroutinefunction(inner):

        async def bound_coroutine(request: Any, context: Any) -> Any:
            if precheck is not None:
                try:
                    precheck(request)
                except service_errors.ServiceError as exc:
                    await _abort_async(context, exc)
                    return None
            token = _CURRENT.set(identity)
            try:
                return await inner(request, context)
            finally:
                _CURRENT.reset(token)

        return _same_kind(handler, bound_coroutine)
    if handler.unary_stream is not None or handler.stream_stream is not None:

        def bound_gen(request: Any, context: Any) -> Any:
            if precheck is not None:
                try:
                    precheck(request)
                except service_errors.ServiceError as exc:
                    _abort_sync(context, exc)
            token = _CURRENT.set(identity)
            try:
                expires_at = identity.expires_at
                for item in inner(request, context):
                    if expires_at is not None and clock() >= expires_at:
                        _abort_sync(context, _expired(identity))
                    yield item
            finally:
                _CURRENT.reset(token)

        return _same_kind(handler, bound_gen)

    def bound(request: Any, context: Any) -> Any:
        if precheck is not None:
            try:
                precheck(request)
            except service_errors.ServiceError as exc:
                _abort_sync(context, exc)
        token = _CURRENT.set(identity)
        try:
            return inner(request, context)
        finally:
            _CURRENT.reset(token)

    return _same_kind(handler, bound)


def _intercept(authenticator: Authenticator, handler: Any, details: Any, asynchronous: bool) -> Any:
    if handler is None or authenticator.is_open(details.method):
        return handler
    try:
        identity = authenticator.check(details.method, details.invocation_metadata)
    except service_errors.ServiceError as exc:
        return _refusal(handler, exc, asynchronous)
    precheck: Callable[[Any], None] | None = None
    if authenticator.has_request_rule(details.method):
        method = details.method

        def check_request(request: Any) -> None:
            authenticator.check_request(method, identity, request)

        precheck = check_request
    return _bound(handler, identity, precheck, authenticator.clock)


class AuthInterceptor(grpc.ServerInterceptor):
    """``Authenticator`` in front of every method of a threaded server."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        return _intercept(
            self.authenticator, continuation(handler_call_details), handler_call_details, False
        )


class AsyncAuthInterceptor(grpc.aio.ServerInterceptor):
    """``Authenticator`` in front of every method of an asyncio server."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = await continuation(handler_call_details)
        return _intercept(self.authenticator, handler, handler_call_details, True)
