"""Channels send an idempotent call again when it fails UNAVAILABLE, and never any other call.

A real server whose servicers fail the first calls with UNAVAILABLE, as a call does that meets a
connection its peer has just closed, and a real channel from ``make_channel``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    mechanism_driver_service_pb2,
    mechanism_driver_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import errors, server

from services.rpc import channels


class Flaky(
    mechanism_driver_service_pb2_grpc.MechanismDriverServiceServicer,
    agent_service_pb2_grpc.AgentServiceServicer,
):
    """Fails the first ``failures`` calls of every method with UNAVAILABLE."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.calls[method] <= self.failures:
            raise errors.Unavailable("the connection was closed")

    def DescribeDriver(self, request: Any, context: Any) -> Any:
        self._count("DescribeDriver")
        return mechanism_driver_service_pb2.DescribeDriverResponse()

    def RegisterAgent(self, request: Any, context: Any) -> Any:
        self._count("RegisterAgent")
        return agent_service_pb2.RegisterAgentResponse(agent=request.agent)


@pytest.fixture
def flaky(request: pytest.FixtureRequest) -> Iterator[tuple[Flaky, grpc.Channel]]:
    servicer = Flaky(request.param)
    handle = server.build_server(
        [
            (
                mechanism_driver_service_pb2_grpc.add_MechanismDriverServiceServicer_to_server,
                servicer,
                "ml2.v1.MechanismDriverService",
            ),
            (
                agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
                servicer,
                "ml2.v1.AgentService",
            ),
        ]
    )
    handle.server.start()
    channel = channels.make_channel(f"127.0.0.1:{handle.port}")
    yield servicer, channel
    channel.close()
    handle.server.stop(0)


@pytest.mark.parametrize("flaky", [channels.RETRY_ATTEMPTS - 1], indirect=True)
def test_an_idempotent_call_is_sent_again(flaky: tuple[Flaky, grpc.Channel]) -> None:
    servicer, channel = flaky
    stub = mechanism_driver_service_pb2_grpc.MechanismDriverServiceStub(channel)
    stub.DescribeDriver(mechanism_driver_service_pb2.DescribeDriverRequest(), timeout=10)
    assert servicer.calls["DescribeDriver"] == channels.RETRY_ATTEMPTS


@pytest.mark.parametrize("flaky", [channels.RETRY_ATTEMPTS], indirect=True)
def test_retries_are_bounded(flaky: tuple[Flaky, grpc.Channel]) -> None:
    servicer, channel = flaky
    stub = mechanism_driver_service_pb2_grpc.MechanismDriverServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.DescribeDriver(mechanism_driver_service_pb2.DescribeDriverRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls["DescribeDriver"] == channels.RETRY_ATTEMPTS


@pytest.mark.parametrize("flaky", [1], indirect=True)
def test_a_call_that_changes_something_is_not_sent_again(
    flaky: tuple[Flaky, grpc.Channel],
) -> None:
    servicer, channel = flaky
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    request = agent_service_pb2.RegisterAgentRequest(agent=agent_pb2.Agent(host="h"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.RegisterAgent(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls["RegisterAgent"] == 1


def test_every_retried_method_exists() -> None:
    """A renamed method would silently lose its retries."""
    services = (
        "agent_service",
        "mechanism_driver_service",
        "mechanism_manager_service",
        "network_service",
        "port_service",
        "segment_range_service",
        "segment_service",
    )
    modules = [importlib.import_module(f"ml2.v1.{name}_pb2") for name in services]
    known = {
        s.full_name: {m.name for m in s.methods}
        for module in modules
        for s in module.DESCRIPTOR.services_by_name.values()
    }
    known["grpc.health.v1.Health"] = {"Check", "Watch"}
    for service, methods in channels.IDEMPOTENT_METHODS.items():
        assert set(methods) <= known[service], service
