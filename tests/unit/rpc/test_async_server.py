"""The asyncio server ``build_server(asyncio_streams=True)`` builds (portapi's): threaded
unary methods and async generator streams behind the same error mapping, decoding and metrics
as the threaded server, health and reflection, pre-serialized stream messages, graceful stop.
Also: a failed call is counted under its own status code, on either kind of server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import errors, metrics, server

SERVICE = "ml2.v1.PortService"


class Servicer(port_service_pb2_grpc.PortServiceServicer):
    """GetPort answers or fails by the id it is asked; WatchPorts streams by its filter."""

    def GetPort(self, request: Any, context: Any) -> port_service_pb2.GetPortResponse:
        if request.port_id == "missing":
            raise errors.NotFound(f"port {request.port_id} does not exist", reason="PORT_NOT_FOUND")
        if request.port_id == "crash":
            raise ZeroDivisionError("a bug")
        return port_service_pb2.GetPortResponse(port=port_pb2.Port(id=request.port_id))

    async def WatchPorts(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for i, port_id in enumerate(request.port_ids):
            event = port_service_pb2.PortEvent(revision=i + 1, port=port_pb2.Port(id=port_id))
            message = port_service_pb2.WatchPortsResponse(event=event)
            # Every other message goes out already serialized, as portapi sends events.
            yield message.SerializeToString() if i % 2 else message
            await asyncio.sleep(0)
        if request.host_ids:
            raise errors.InvalidArgument("host_ids[0]", "is not a host")


@pytest.fixture(scope="module")
def handle() -> Iterator[server.ServerHandle]:
    built = server.build_server(
        [(port_service_pb2_grpc.add_PortServiceServicer_to_server, Servicer(), SERVICE)],
        max_workers=4,
        asyncio_streams=True,
    )
    built.server.start()
    server.set_serving(built, True)
    yield built
    built.server.stop(0).wait(10)


@pytest.fixture(scope="module")
def stub(handle: server.ServerHandle) -> Iterator[port_service_pb2_grpc.PortServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        yield port_service_pb2_grpc.PortServiceStub(channel)


def reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def handled(method: str, code: str) -> float:
    value = metrics.RPC_REQUESTS.labels(SERVICE, method, code)._value.get()
    return float(value)


def counted(method: str, code: str, value: float) -> bool:
    """Whether the server counted ``value`` calls of ``method`` under ``code``: it counts as
    the handler ends, which the client may see a moment before."""
    deadline = time.monotonic() + 10
    while handled(method, code) < value and time.monotonic() < deadline:
        time.sleep(0.01)
    return handled(method, code) == value


def test_a_threaded_unary_method_answers(stub: port_service_pb2_grpc.PortServiceStub) -> None:
    got = stub.GetPort(port_service_pb2.GetPortRequest(port_id="p1"), timeout=10)
    assert got.port.id == "p1"


def test_a_service_error_keeps_its_code_reason_and_is_counted_under_it(
    stub: port_service_pb2_grpc.PortServiceStub,
) -> None:
    before = handled("GetPort", "NOT_FOUND")
    with pytest.raises(grpc.RpcError) as info:
        stub.GetPort(port_service_pb2.GetPortRequest(port_id="missing"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert info.value.details() == "port missing does not exist"  # type: ignore[attr-defined]
    assert reason(info.value) == "PORT_NOT_FOUND"
    assert counted("GetPort", "NOT_FOUND", before + 1)


def test_an_unexpected_error_is_internal_and_counted_so(
    stub: port_service_pb2_grpc.PortServiceStub,
) -> None:
    before = handled("GetPort", "INTERNAL")
    with pytest.raises(grpc.RpcError) as info:
        stub.GetPort(port_service_pb2.GetPortRequest(port_id="crash"), timeout=10)
    assert info.value.code() == grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert "ZeroDivisionError" in info.value.details()  # type: ignore[attr-defined]
    assert counted("GetPort", "INTERNAL", before + 1)


def test_a_threaded_server_counts_a_failed_call_under_its_code() -> None:
    built = server.build_server(
        [(port_service_pb2_grpc.add_PortServiceServicer_to_server, Servicer(), SERVICE)],
        max_workers=2,
    )
    built.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{built.port}") as channel:
            stub = port_service_pb2_grpc.PortServiceStub(channel)
            before = handled("GetPort", "NOT_FOUND")
            with pytest.raises(grpc.RpcError):
                stub.GetPort(port_service_pb2.GetPortRequest(port_id="missing"), timeout=10)
            assert counted("GetPort", "NOT_FOUND", before + 1)
    finally:
        built.server.stop(0).wait(10)


def test_a_stream_sends_messages_and_pre_serialized_bytes_alike(
    stub: port_service_pb2_grpc.PortServiceStub,
) -> None:
    ids = ["a", "b", "c", "d"]
    got = list(stub.WatchPorts(port_service_pb2.WatchPortsRequest(port_ids=ids), timeout=10))
    assert [m.event.port.id for m in got] == ids
    assert [m.event.revision for m in got] == [1, 2, 3, 4]


def test_a_stream_that_fails_after_messages_ends_with_the_errors_status(
    stub: port_service_pb2_grpc.PortServiceStub,
) -> None:
    before = handled("WatchPorts", "INVALID_ARGUMENT")
    request = port_service_pb2.WatchPortsRequest(port_ids=["a"], host_ids=["x"])
    got = []
    with pytest.raises(grpc.RpcError) as info:
        for message in stub.WatchPorts(request, timeout=10):
            got.append(message.event.port.id)
    assert got == ["a"]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert info.value.details() == "host_ids[0]: is not a host"  # type: ignore[attr-defined]
    assert counted("WatchPorts", "INVALID_ARGUMENT", before + 1)


def test_a_request_that_does_not_decode_is_invalid_argument_on_a_stream(
    handle: server.ServerHandle,
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        watch = channel.unary_stream(
            f"/{SERVICE}/WatchPorts", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.RpcError) as info:
            list(watch(b"\xff\xff\xff", timeout=10))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "cannot be decoded as ml2.v1.WatchPortsRequest" in info.value.details()  # type: ignore[attr-defined]


def test_health_follows_set_serving(handle: server.ServerHandle) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        serving = health_pb2.HealthCheckResponse.SERVING
        assert check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10).status == serving
        server.set_serving(handle, False)
        try:
            answer = check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
        finally:
            server.set_serving(handle, True)


def test_reflection_lists_the_services(handle: server.ServerHandle) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        [answer] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {s.name for s in answer.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def test_stop_ends_an_open_stream_within_the_grace() -> None:
    class Endless(port_service_pb2_grpc.PortServiceServicer):
        async def WatchPorts(self, request: Any, context: Any) -> AsyncIterator[Any]:
            yield port_service_pb2.WatchPortsResponse()
            await asyncio.Event().wait()

    built = server.build_server(
        [(port_service_pb2_grpc.add_PortServiceServicer_to_server, Endless(), SERVICE)],
        asyncio_streams=True,
    )
    built.server.start()
    with grpc.insecure_channel(f"127.0.0.1:{built.port}") as channel:
        stream = port_service_pb2_grpc.PortServiceStub(channel).WatchPorts(
            port_service_pb2.WatchPortsRequest(), timeout=30
        )
        next(stream)
        assert built.server.stop(0.2).wait(10)
        with pytest.raises(grpc.RpcError) as info:
            next(stream)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)  # type: ignore[attr-defined]


class Heartbeats(agent_service_pb2_grpc.AgentServiceServicer):
    """A bidirectional stream that answers each message, and fails on an unknown agent."""

    async def StreamHeartbeats(self, requests: Any, context: Any) -> AsyncIterator[Any]:
        async for request in requests:
            if request.agent_id == "missing":
                raise errors.NotFound("agent missing not found", reason="AGENT_NOT_FOUND")
            agent = agent_pb2.Agent(id=request.agent_id)
            yield agent_service_pb2.StreamHeartbeatsResponse(agent=agent)


def test_a_bidirectional_stream_ends_with_a_service_errors_status_after_its_answers() -> None:
    built = server.build_server(
        [
            (
                agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
                Heartbeats(),
                "ml2.v1.AgentService",
            )
        ],
        max_workers=2,
        asyncio_streams=True,
    )
    built.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{built.port}") as channel:
            stub = agent_service_pb2_grpc.AgentServiceStub(channel)
            requests = [
                agent_service_pb2.StreamHeartbeatsRequest(agent_id=agent_id)
                for agent_id in ("a", "b", "missing", "c")
            ]
            answered = []
            with pytest.raises(grpc.RpcError) as caught:
                for reply in stub.StreamHeartbeats(iter(requests), timeout=10):
                    answered.append(reply.agent.id)
        assert answered == ["a", "b"]
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
        assert caught.value.details() == "agent missing not found"  # type: ignore[attr-defined]
        assert reason(caught.value) == "AGENT_NOT_FOUND"
    finally:
        built.server.stop(0).wait(10)
