"""The auth interceptor in front of a real gRPC server on loopback, threaded and asyncio:
health and reflection open, every other method UNAUTHENTICATED without a valid token, the
caller's identity available to the handler, and method rules closing methods to some callers."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from ml2_driver_sdk.runtime import policy
from ml2_driver_sdk.runtime.auth import (
    AsyncAuthInterceptor,
    Authenticator,
    AuthInterceptor,
    Identity,
    JwtVerifier,
    StaticTokenVerifier,
    TokenSource,
    current,
    current_or_none,
    intercept,
)
from ml2_driver_sdk.runtime.auth import errors as reasons

from services.security import tokens

SERVICE = "test.Whoami"


def _who() -> bytes:
    identity = current()
    return f"{identity.subject}|{identity.project_id}|{','.join(sorted(identity.roles))}".encode()


def whoami(_request: bytes, _context: Any) -> bytes:
    return _who()


def whoami_stream(_request: bytes, _context: Any) -> Iterator[bytes]:
    yield _who()
    yield _who()


async def whoami_async(_request: bytes, _context: Any) -> bytes:
    await asyncio.sleep(0)
    return _who()


def handlers(asynchronous: bool) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Who": grpc.unary_unary_rpc_method_handler(whoami_async if asynchronous else whoami),
            "WhoStream": grpc.unary_stream_rpc_method_handler(whoami_stream),
            "Admin": grpc.unary_unary_rpc_method_handler(whoami),
        },
    )


@pytest.fixture
def secret(tmp_path: Path) -> tokens.SigningKey:
    path = tmp_path / "signing.secret"
    tokens.generate_hs256_secret(str(path))
    return tokens.SigningKey.from_file(str(path))


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": {"static-1": {"subject": "alice", "roles": ["member"]}}}))
    return path


def authenticator(tmp_path: Path) -> Authenticator:
    rules = policy.Policy({"admin_only": "role:admin"})
    verifier = JwtVerifier(
        secret_files=[str(tmp_path / "signing.secret")], audience=[tokens.DEFAULT_AUDIENCE]
    )
    return Authenticator(verifier, policy=rules, method_rules={f"/{SERVICE}/Admin": "admin_only"})


@pytest.fixture
def threaded(tmp_path: Path, secret: tokens.SigningKey) -> Iterator[tuple[str, Authenticator]]:
    auth = authenticator(tmp_path)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[AuthInterceptor(auth)]
    )
    server.add_generic_rpc_handlers((handlers(False),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([SERVICE, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", auth
    server.stop(None)


def call(target: str, method: str, token: str | None = None) -> list[bytes]:
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else None
    with grpc.insecure_channel(target) as channel:
        if method == "WhoStream":
            return list(
                channel.unary_stream(f"/{SERVICE}/{method}")(b"", metadata=metadata, timeout=10)
            )
        return [channel.unary_unary(f"/{SERVICE}/{method}")(b"", metadata=metadata, timeout=10)]


def refusal(target: str, method: str, token: str | None = None) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(target, method, token)
    return info.value


def reason_of(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    from google.rpc import error_details_pb2

    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    return info.reason


def test_health_and_reflection_answer_without_a_token(threaded: tuple[str, Authenticator]):
    target, _ = threaded
    with grpc.insecure_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(
            stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
            )
        )
        names = {s.name for s in replies[0].list_services_response.service}
        assert SERVICE in names


@pytest.mark.parametrize("method", ["Who", "WhoStream"])
def test_a_call_without_a_token_is_unauthenticated(threaded: tuple[str, Authenticator], method):
    target, _ = threaded
    error = refusal(target, method)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization: Bearer" in error.details()
    assert reason_of(error) == reasons.MISSING


def test_a_call_with_a_wrong_scheme_is_unauthenticated(threaded: tuple[str, Authenticator]):
    target, _ = threaded
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(f"/{SERVICE}/Who")(b"", metadata=(("authorization", "Basic x"),))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason_of(info.value) == reasons.MALFORMED


@pytest.mark.parametrize(
    ("make", "reason", "words"),
    [
        (lambda key: "not-a-jwt", reasons.MALFORMED, "not a well-formed JWT"),
        (lambda key: tokens.admin(key, now=0), reasons.EXPIRED, "expired"),
        (lambda key: tokens.admin(key, audience="other"), reasons.WRONG_AUDIENCE, "audience"),
        (
            lambda key: tokens.admin(tokens.SigningKey(b"x" * 32, "HS256", "signing")),
            reasons.BAD_SIGNATURE,
            "signature",
        ),
    ],
)
def test_a_bad_token_is_unauthenticated_with_its_reason(
    threaded: tuple[str, Authenticator], secret: tokens.SigningKey, make, reason, words
):
    target, _ = threaded
    error = refusal(target, "Who", make(secret))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert words in error.details()
    assert reason_of(error) == reason


def test_the_handler_sees_the_callers_identity(
    threaded: tuple[str, Authenticator], secret: tokens.SigningKey
):
    target, auth = threaded
    token = tokens.member(secret, "p1", user="alice")
    assert call(target, "Who", token) == [b"alice|p1|member"]
    assert call(target, "WhoStream", token) == [b"alice|p1|member"] * 2
    assert len(auth.cache) == 1  # verified once, then served from the cache
    assert current_or_none() is None  # nothing leaks to the test's own context


def test_a_method_rule_denies_other_callers(
    threaded: tuple[str, Authenticator], secret: tokens.SigningKey
):
    target, _ = threaded
    error = refusal(target, "Admin", tokens.member(secret, "p1"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "admin_only" in error.details()
    assert call(target, "Admin", tokens.admin(secret)) == [b"admin||admin"]


def test_a_revoked_static_token_stops_working_although_it_was_cached(token_file: Path):
    auth = Authenticator(StaticTokenVerifier(str(token_file), reload_interval=0))
    assert auth.authenticate([("authorization", "Bearer static-1")]).subject == "alice"
    assert auth.authenticate([("authorization", "Bearer static-1")]).subject == "alice"
    token_file.write_text(json.dumps({"tokens": {"static-2": {"subject": "bob"}}}))
    st = token_file.stat()
    os.utime(token_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(reasons.AuthError) as info:
        auth.authenticate([("authorization", "Bearer static-1")])
    assert info.value.reason == reasons.UNKNOWN_TOKEN


def test_a_cached_token_is_not_served_past_its_expiry(tmp_path: Path, secret: tokens.SigningKey):
    clock = [1_000_000.0]
    verifier = JwtVerifier(secret_files=[str(tmp_path / "signing.secret")], leeway=0)
    auth = Authenticator(verifier, clock=lambda: clock[0])
    # The token is valid on the verifier's (real) clock; the authenticator's clock passes its
    # expiry while it is cached.
    token = tokens.admin(secret, audience="", lifetime=10**9)
    identity = auth.authenticate([("authorization", f"Bearer {token}")])
    assert auth.cache.get(token, clock[0], verifier.generation()) is identity
    assert identity.expires_at is not None
    clock[0] = identity.expires_at + 1
    with pytest.raises(reasons.AuthError) as info:
        auth.authenticate([("authorization", f"Bearer {token}")])
    assert info.value.reason == reasons.EXPIRED


def test_the_cache_keeps_the_most_recently_used_tokens() -> None:
    from ml2_driver_sdk.runtime.auth import TokenCache

    cache = TokenCache(size=2)
    for name in ("a", "b"):
        cache.put(name, Identity(name), 100.0, 0)
    assert cache.get("a", 0.0, 0) is not None  # a is now the most recent
    cache.put("c", Identity("c"), 100.0, 0)
    assert cache.get("b", 0.0, 0) is None
    assert cache.get("a", 0.0, 0) is not None
    assert cache.get("c", 0.0, 1) is None  # another generation: forgotten


def test_a_client_attaches_the_token_of_its_token_file(
    threaded: tuple[str, Authenticator], secret: tokens.SigningKey, tmp_path: Path
):
    target, _ = threaded
    path = tmp_path / "token"
    path.write_text(tokens.member(secret, "p1", user="alice") + "\n")
    source = TokenSource(path=str(path), interval=0)
    with grpc.insecure_channel(target) as channel:
        who = intercept(channel, source).unary_unary(f"/{SERVICE}/Who")
        assert who(b"", timeout=10) == b"alice|p1|member"
        path.write_text(tokens.member(secret, "p2", user="bob"))
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert who(b"", timeout=10) == b"bob|p2|member"


def test_token_source_reads_the_environment(tmp_path: Path) -> None:
    assert TokenSource.from_env({}) is None
    source = TokenSource.from_env({"ML2_TOKEN": "abc"})
    assert source is not None and source.metadata() == (("authorization", "Bearer abc"),)
    path = tmp_path / "token"
    path.write_text("from-file\n")
    source = TokenSource.from_env({"ML2_TOKEN_FILE": str(path), "ML2_TOKEN": "abc"})
    assert source is not None and source.token() == "from-file"


def test_an_asyncio_server_authenticates_alike(tmp_path: Path, secret: tokens.SigningKey):
    auth = authenticator(tmp_path)

    async def scenario() -> None:
        server = grpc.aio.server(interceptors=[AsyncAuthInterceptor(auth)])
        server.add_generic_rpc_handlers((handlers(True),))
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
                who = channel.unary_unary(f"/{SERVICE}/Who")
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await who(b"")
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
                token = tokens.member(secret, "p1", user="alice")
                metadata = (("authorization", f"Bearer {token}"),)
                assert await who(b"", metadata=metadata) == b"alice|p1|member"
                stream = channel.unary_stream(f"/{SERVICE}/WhoStream")
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    [m async for m in stream(b"")]
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert [m async for m in stream(b"", metadata=metadata)] == [b"alice|p1|member"] * 2
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await channel.unary_unary(f"/{SERVICE}/Admin")(b"", metadata=metadata)
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        finally:
            await server.stop(None)

    asyncio.run(scenario())


class CountingVerifier:
    """A real verifier, counting the tokens it is asked to verify."""

    def __init__(self, inner: JwtVerifier) -> None:
        self.inner = inner
        self.calls = 0

    def generation(self) -> int:
        return self.inner.generation()

    def verify(self, token: str) -> Identity:
        self.calls += 1
        return self.inner.verify(token)


def test_a_token_is_verified_once_then_served_from_the_cache(
    tmp_path: Path, secret: tokens.SigningKey
):
    verifier = CountingVerifier(JwtVerifier(secret_files=[str(tmp_path / "signing.secret")]))
    auth = Authenticator(verifier)
    metadata = [("authorization", f"Bearer {tokens.admin(secret)}")]
    for _ in range(5):
        assert auth.authenticate(metadata).is_admin
    assert verifier.calls == 1
    with pytest.raises(reasons.AuthError):
        auth.authenticate([("authorization", "Bearer not-a-jwt")])
    with pytest.raises(reasons.AuthError):
        auth.authenticate([("authorization", "Bearer not-a-jwt")])
    assert verifier.calls == 3  # refusals are not cached


def test_method_rules_must_name_rules_of_the_policy(tmp_path: Path, secret: tokens.SigningKey):
    verifier = JwtVerifier(secret_files=[str(tmp_path / "signing.secret")])
    with pytest.raises(ValueError, match="need a policy"):
        Authenticator(verifier, method_rules={"/a.B/C": "x"})
    with pytest.raises(ValueError, match=r"\['missing'\]"):
        Authenticator(verifier, policy=policy.Policy({}), method_rules={"/a.B/C": "missing"})


def test_a_service_wide_method_rule_covers_its_methods(tmp_path: Path, secret: tokens.SigningKey):
    rules = policy.Policy({"admins": "role:admin", "anyone": "@"})
    verifier = JwtVerifier(secret_files=[str(tmp_path / "signing.secret")])
    auth = Authenticator(
        verifier, policy=rules, method_rules={"/a.B/*": "admins", "/a.B/Open": "anyone"}
    )
    member = [("authorization", f"Bearer {tokens.member(secret, 'p1')}")]
    with pytest.raises(policy.PermissionDenied, match="admins"):
        auth.check("/a.B/Close", member)
    assert auth.check("/a.B/Open", member).project_id == "p1"
    assert auth.check("/a.C/Other", member).project_id == "p1"


async def echo_forever(requests: Any, _context: Any) -> Any:
    """A heartbeat-like stream: answers every request, for as long as the caller sends."""
    async for request in requests:
        yield request


def echo_handlers() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {"Echo": grpc.stream_stream_rpc_method_handler(echo_forever)},
    )


class Clock:
    """The authenticator's clock: real time, plus what a test adds."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


def clocked_authenticator(tmp_path: Path, clock: Clock) -> Authenticator:
    verifier = JwtVerifier(
        secret_files=[str(tmp_path / "signing.secret")], audience=[tokens.DEFAULT_AUDIENCE]
    )
    return Authenticator(verifier, clock=clock)


def test_a_stream_ends_unauthenticated_when_its_token_expires(
    tmp_path: Path, secret: tokens.SigningKey
):
    """A stream is authenticated when it opens; one whose token expires while it is open
    ends UNAUTHENTICATED (TOKEN_EXPIRED) then, without another message, while another
    caller's stream goes on."""
    clock = Clock()
    auth = clocked_authenticator(tmp_path, clock)
    short = tokens.member(secret, "p1", user="alice", lifetime=3600)
    lasting = tokens.member(secret, "p1", user="bob", lifetime=7200)
    expires_at = auth.authenticate([("authorization", f"Bearer {short}")]).expires_at
    assert expires_at is not None
    # On the authenticator's clock the short token has a quarter of a second left.
    clock.ahead = expires_at - time.time() - 0.25

    async def scenario() -> None:
        server = grpc.aio.server(interceptors=[AsyncAuthInterceptor(auth)])
        server.add_generic_rpc_handlers((echo_handlers(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                echo = channel.stream_stream(f"/{SERVICE}/Echo")
                ending = echo(metadata=(("authorization", f"Bearer {short}"),), timeout=60)
                going = echo(metadata=(("authorization", f"Bearer {lasting}"),), timeout=60)
                for call in (ending, going):
                    await call.write(b"beat")
                    assert await call.read() == b"beat"
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await ending.read()
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert reason_of(info.value) == reasons.EXPIRED
                assert "expired during the call" in (info.value.details() or "")
                await going.write(b"again")
                assert await going.read() == b"again"
                going.cancel()
        finally:
            await server.stop(None)

    asyncio.run(scenario())


def test_a_threaded_stream_sends_nothing_past_its_tokens_expiry(
    tmp_path: Path, secret: tokens.SigningKey
):
    """On a threaded server the next message after the expiry ends the stream
    UNAUTHENTICATED (TOKEN_EXPIRED) instead of reaching the caller."""
    clock = Clock()
    auth = clocked_authenticator(tmp_path, clock)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[AuthInterceptor(auth)]
    )

    def echo(requests: Iterator[bytes], _context: Any) -> Iterator[bytes]:
        yield from requests

    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE, {"Echo": grpc.stream_stream_rpc_method_handler(echo)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        token = tokens.member(secret, "p1", user="alice", lifetime=3600)
        sent = threading.Event()

        def requests() -> Iterator[bytes]:
            yield b"before"
            sent.wait(60)
            yield b"after"

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.stream_stream(f"/{SERVICE}/Echo")(
                requests(), metadata=(("authorization", f"Bearer {token}"),), timeout=60
            )
            assert next(call) == b"before"
            clock.ahead = 3601  # the token has expired on the authenticator's clock
            sent.set()
            with pytest.raises(grpc.RpcError) as info:
                next(call)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert reason_of(info.value) == reasons.EXPIRED
    finally:
        server.stop(None)
