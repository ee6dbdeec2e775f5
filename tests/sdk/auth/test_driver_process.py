"""A driver's servicer behind the auth interceptor and the runtime's own, as a driver process
will run it: its RPCs answer mechmgr and administrators, health answers anyone."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2.v1 import mechanism_driver_service_pb2_grpc as pb_grpc
from ml2_driver_sdk.runtime import server as runtime_server
from ml2_driver_sdk.runtime.auth import Authenticator, AuthInterceptor, JwtVerifier
from ml2_driver_sdk.runtime.auth.driver_rules import DRIVER_METHOD_RULES, driver_policy
from ml2_driver_sdk.serve import DriverServicer

from services.drivers.noop.driver import NoopDriver
from services.security import tokens


@pytest.fixture
def driver(
    tmp_path: Path,
) -> Iterator[tuple[pb_grpc.MechanismDriverServiceStub, tokens.SigningKey]]:
    tokens.generate_hs256_secret(str(tmp_path / "signing.secret"))
    key = tokens.SigningKey.from_file(str(tmp_path / "signing.secret"))
    auth = Authenticator(
        JwtVerifier(secret_files=[str(tmp_path / "signing.secret")]),
        policy=driver_policy(),
        method_rules=DRIVER_METHOD_RULES,
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[AuthInterceptor(auth), runtime_server._Interceptor()],
    )
    pb_grpc.add_MechanismDriverServiceServicer_to_server(DriverServicer(NoopDriver()), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        yield pb_grpc.MechanismDriverServiceStub(channel), key
    server.stop(None)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def test_mechmgr_and_admins_are_answered(driver) -> None:
    stub, key = driver
    for token in (tokens.service(key, "mechmgr"), tokens.admin(key)):
        answer = stub.DescribeDriver(pb.DescribeDriverRequest(), metadata=bearer(token), timeout=10)
        assert answer.name == "noop"


def test_other_services_are_denied_naming_the_rule(driver) -> None:
    stub, key = driver
    for token in (tokens.service(key, "portapi"), tokens.agent(key, "host-1")):
        with pytest.raises(grpc.RpcError) as info:
            stub.DescribeDriver(pb.DescribeDriverRequest(), metadata=bearer(token), timeout=10)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "driver:describe" in info.value.details()


def test_a_call_without_a_token_is_unauthenticated(driver) -> None:
    stub, _ = driver
    with pytest.raises(grpc.RpcError) as info:
        stub.ProposeBindings(pb.ProposeBindingsRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
