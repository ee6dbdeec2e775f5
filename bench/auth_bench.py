"""What authentication and authorization add to a call: p50 and p99 of each part, in µs.

    python bench/auth_bench.py [--calls N]

Measures, in process:

    verify (cold)          a JWT verified from scratch (HS256 and ES256), the cache's miss
    authenticate (cached)  ``Authenticator.authenticate``: metadata read, cache hit
    intercept (cached)     ``AuthInterceptor.intercept_service``: the above, the method rule
                           and the handler wrapped to bind the identity
    policy, bind           what a servicer decides on a bind (UpdatePort binding.host_id):
                           ``authorize`` + ``require_fields`` + ``hidden_fields``
    portapi bind, service  what portapi's UpdatePort adds to a bind by a service: the check of
                           the stored port (target, rule, fields) and the answer's hidden fields
    portapi answer, member the same for a member renaming its port, the binding cleared from
                           the answer

and, over loopback, the p50 of a unary call to a threaded server with the interceptor and to
one with a pass-through interceptor instead (every server has the runtime's own already),
calls to both interleaved so that both see the same machine load; the difference is the whole
cost a caller sees.
"""

# ruff: noqa: E402 - the imports follow the path set-up that makes a source checkout importable
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "contract"), str(ROOT / "sdk")]

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent import futures
from datetime import UTC, datetime
from typing import Any

import grpc
from ml2_contract import values
from ml2_driver_sdk.runtime.auth import Authenticator, AuthInterceptor, Identity, JwtVerifier

from services import policy
from services.policy.rules import METHOD_RULES
from services.portapi import access
from services.portapi import resources as r
from services.portapi.convert import port_msg
from services.security import tokens


def timed(fn: Callable[[], Any], calls: int) -> tuple[float, float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.99)] * 1e6


class _Details:
    def __init__(self, method: str, metadata: tuple[tuple[str, str], ...]) -> None:
        self.method = method
        self.invocation_metadata = metadata


class _Passthrough(grpc.ServerInterceptor):
    """An interceptor that does nothing: the baseline has one too, as every server has the
    runtime's own."""

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        return continuation(handler_call_details)


def _server(interceptors: list[Any]) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=interceptors)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "ml2.v1.PortService",
                {"UpdatePort": grpc.unary_unary_rpc_method_handler(lambda r, c: b"ok")},
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def loopback_p50s(interceptor: Any, metadata: Any, calls: int) -> tuple[float, float]:
    """p50 of calls to a server without and with ``interceptor``, interleaved one by one so
    that both see the same machine load."""
    plain_server, plain_port = _server([_Passthrough()])
    auth_server, auth_port = _server([interceptor])
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{plain_port}") as a,
            grpc.insecure_channel(f"127.0.0.1:{auth_port}") as b,
        ):
            plain = a.unary_unary("/ml2.v1.PortService/UpdatePort")
            guarded = b.unary_unary("/ml2.v1.PortService/UpdatePort")
            samples: tuple[list[float], list[float]] = ([], [])
            for i in range(calls + 200):
                for call, kept in ((plain, samples[0]), (guarded, samples[1])):
                    start = time.perf_counter()
                    call(b"", metadata=metadata)
                    if i >= 200:
                        kept.append(time.perf_counter() - start)
            return statistics.median(samples[0]) * 1e6, statistics.median(samples[1]) * 1e6
    finally:
        plain_server.stop(None)
        auth_server.stop(None)


def _port() -> r.Port:
    """A bound port of project p1, as portapi stores it."""
    now = datetime.now(UTC)
    result = values.BindingResult("BOUND", "ovs", {"port_filter": True})
    binding = r.Binding(r.BindingInputs("ovs-1"), result, 1)
    return r.Port(
        "port-1", "n1", "p1", "vm", "fa:16:3e:00:00:01", "", "", True, "ACTIVE", binding, now, now
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    calls = args.calls
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        secret = f"{tmp}/signing.secret"
        tokens.generate_hs256_secret(secret)
        kid = tokens.generate_es256_key(f"{tmp}/es.key", f"{tmp}/es.pem", f"{tmp}/jwks.json")
        hs_key = tokens.SigningKey.from_file(secret)
        es_key = tokens.SigningKey.from_file(f"{tmp}/es.key", kid=kid)
        verifier = JwtVerifier(
            secret_files=[secret],
            jwks_files=[f"{tmp}/jwks.json"],
            audience=[tokens.DEFAULT_AUDIENCE],
            issuer=[tokens.DEFAULT_ISSUER],
        )
        enforcer = policy.load()
        for name, key in (("HS256", hs_key), ("ES256", es_key)):
            token = tokens.service(key, "portapi")
            rows.append(
                (f"verify (cold, {name})", *timed(lambda t=token: verifier.verify(t), calls // 10))
            )
        token = tokens.admin(hs_key)
        metadata = (("authorization", f"Bearer {token}"),)
        auth = Authenticator(verifier, policy=enforcer.policy, method_rules=METHOD_RULES)
        rows.append(("authenticate (cached)", *timed(lambda: auth.authenticate(metadata), calls)))
        interceptor = AuthInterceptor(auth)
        handler = grpc.unary_unary_rpc_method_handler(lambda r, c: b"ok")
        details = _Details("/ml2.v1.PortService/UpdatePort", metadata)
        rows.append(
            (
                "intercept (cached)",
                *timed(lambda: interceptor.intercept_service(lambda d: handler, details), calls),
            )
        )
        identity = auth.authenticate(metadata)
        target = {
            "id": "p",
            "project_id": "p1",
            "network_id": "n1",
            "network:project_id": "p1",
            "binding:host_id": "",
        }

        def bind_policy() -> None:
            enforcer.authorize("update_port", identity, target, kind="port", resource_id="p")
            enforcer.require_fields("update_port", identity, ["binding.host_id"], target)
            enforcer.hidden_fields("get_port", identity, target)

        rows.append(("policy, bind", *timed(bind_policy, calls)))
        policy.configure(enforcer)
        port = _port()
        message = port_msg(port)
        nova = Identity("nova", roles=frozenset({"service"}))
        member = Identity("alice", project_id="p1", roles=frozenset({"member"}))
        for name, who, paths in (
            ("portapi bind, service", nova, ["binding.host_id"]),
            ("portapi answer, member", member, ["name"]),
        ):

            def portapi_bind(who: Identity = who, paths: list[str] = paths) -> None:
                stored = access.require_port(who, "update_port", port)
                access.require_fields(who, "update_port", paths, stored)
                hidden = access.hidden_port_fields(who, access.port_target(port))
                if hidden:
                    answer = type(message)()
                    answer.CopyFrom(message)  # port_msg builds a new one in the servicer
                    access.hide(answer, hidden)

            rows.append((name, *timed(portapi_bind, calls)))
        plain, guarded = loopback_p50s(interceptor, metadata, calls // 4)
    print(f"{'part':28} {'p50 µs':>8} {'p99 µs':>8}")
    for name, p50, p99 in rows:
        print(f"{name:28} {p50:8.1f} {p99:8.1f}")
    print(f"{'loopback call, no auth':28} {plain:8.1f}")
    print(f"{'loopback call, auth':28} {guarded:8.1f}")
    print(f"{'difference':28} {guarded - plain:8.1f}")


if __name__ == "__main__":
    main()
