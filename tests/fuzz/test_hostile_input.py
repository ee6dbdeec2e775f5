"""Hostile values that used to reach INTERNAL, against the real processes: NaN and ±Infinity in a
binding profile, Structs nested past the depth limit (decodable or not), profiles past the size
limit, and bytes that do not decode. Each is INVALID_ARGUMENT naming the field and the limit,
and changes no table."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ml2.v1 import (
    agent_service_pb2,
    mechanism_driver_service_pb2,
    mechanism_manager_service_pb2,
    network_service_pb2,
    port_service_pb2,
    segment_pb2,
    segment_service_pb2,
    segment_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import structs

from services import launcher

from .stack import TIMEOUT, Stack, code_of, mask

CREATE_PORT = "/ml2.v1.PortService/CreatePort"
UPDATE_PORT = "/ml2.v1.PortService/UpdatePort"
RESOLVE = "/ml2.v1.MechanismManagerService/ResolveBinding"
PROPOSE = "/ml2.v1.MechanismDriverService/ProposeBinding"
CREATE_NETWORK = "/ml2.v1.NetworkService/CreateNetwork"
REGISTER_AGENT = "/ml2.v1.AgentService/RegisterAgent"
PROCESS = {
    CREATE_PORT: "portapi",
    UPDATE_PORT: "portapi",
    RESOLVE: "mechmgr",
    PROPOSE: "noop",
    CREATE_NETWORK: "portapi",
    REGISTER_AGENT: "mechmgr",
}
TOO_DEEP = f"must nest objects and lists at most {structs.MAX_DEPTH} levels deep"


def send(stack: Stack, method: str, data: bytes) -> tuple[grpc.StatusCode, str, str]:
    """Sends ``data`` as the request of ``method``; returns the code, details and reason."""
    call = stack.channels[PROCESS[method]].unary_unary(
        method, request_serializer=None, response_deserializer=None
    )
    try:
        call(data, timeout=TIMEOUT)
    except grpc.RpcError as err:
        reason = ""
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
        for detail in status.details if status is not None else ():
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                reason = info.reason
        return err.code(), err.details(), reason  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, "", ""


def refused(stack: Stack, method: str, data: bytes) -> tuple[str, str]:
    """Sends ``data``, which must be refused INVALID_ARGUMENT without changing any table;
    returns the details and the reason."""
    before = stack.snapshot()
    code, details, reason = send(stack, method, data)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert stack.snapshot() == before
    assert not stack.dead()
    return details, reason


def nested(levels: int) -> dict[str, Any]:
    """A JSON object of ``levels`` levels of objects: nested(1) == {"v": 1}."""
    value: dict[str, Any] = {"v": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


Fill = Callable[[struct_pb2.Struct], None]
"""Writes a profile into the request's Struct in place (a Struct too deep to decode cannot be
copied into a message, as copying decodes it)."""


def deep(levels: int) -> Fill:
    """A Struct of ``levels`` levels of objects."""

    def fill(top: struct_pb2.Struct) -> None:
        inner = top
        for _ in range(levels - 1):
            inner = inner.fields["a"].struct_value
        inner.fields["v"].number_value = 1

    return fill


def struct(value: dict[str, Any]) -> Fill:
    """A Struct of a JSON object."""
    return lambda top: top.update(value)


def create_port(stack: Stack, profile: Fill) -> bytes:
    request = port_service_pb2.CreatePortRequest()
    request.port.network_id = stack.seeds.strings["network_id"][0]
    request.port.admin_state_up = True
    request.port.binding.host_id = "compute-ovs"
    profile(request.port.binding.profile)
    return request.SerializeToString()


def update_port(stack: Stack, profile: Fill) -> bytes:
    request = port_service_pb2.UpdatePortRequest(update_mask=mask("binding.profile"))
    request.port.id = stack.seeds.strings["port_id"][0]
    profile(request.port.binding.profile)
    return request.SerializeToString()


def resolve(stack: Stack, profile: Fill) -> bytes:
    request = mechanism_manager_service_pb2.ResolveBindingRequest(
        port_id="p-1",
        network_id="n-1",
        host="compute-ovs",
        segments=[segment_pb2.Segment(id="s-1", network_type="vxlan", segmentation_id=1001)],
    )
    profile(request.profile)
    return request.SerializeToString()


def propose(stack: Stack, profile: Fill) -> bytes:
    request = mechanism_driver_service_pb2.ProposeBindingRequest(
        port_id="p-1",
        network_id="n-1",
        host="tor-1",
        segments_to_bind=[segment_pb2.Segment(id="s-1", network_type="vxlan", segmentation_id=1)],
    )
    profile(request.profile)
    return request.SerializeToString()


REQUESTS = {CREATE_PORT: create_port, UPDATE_PORT: update_port, RESOLVE: resolve, PROPOSE: propose}
PROFILE_FIELD = {
    CREATE_PORT: "port.binding.profile",
    UPDATE_PORT: "port.binding.profile",
    RESOLVE: "profile",
    PROPOSE: "profile",
}


@pytest.mark.parametrize("method", [CREATE_PORT, UPDATE_PORT, RESOLVE, PROPOSE])
@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_in_a_profile_are_invalid_argument_naming_the_path(
    stack: Stack, method: str, number: float
) -> None:
    profile = struct({"ok": 1, "a": {"b": number}})
    details, reason = refused(stack, method, REQUESTS[method](stack, profile))
    field = PROFILE_FIELD[method]
    assert details == (
        f"{field}.a.b: must be a finite number (JSON has no NaN or Infinity), got {number}"
    )
    assert reason == structs.NOT_JSON
    listed = struct({"items": [1, 2, number]})
    details, _ = refused(stack, method, REQUESTS[method](stack, listed))
    assert details.startswith(f"{field}.items[2]: must be a finite number")


@pytest.mark.parametrize("method", [CREATE_PORT, UPDATE_PORT, RESOLVE, PROPOSE])
@pytest.mark.parametrize("levels", [structs.MAX_DEPTH + 1, 40, 95, 300])
def test_a_profile_nested_too_deep_is_invalid_argument_naming_the_field_and_the_limit(
    stack: Stack, method: str, levels: int
) -> None:
    # 17 levels still decode and are refused by the Struct check; from about 33 levels on the
    # request does not decode at all and the decoder's refusal names the field the same way.
    details, reason = refused(stack, method, REQUESTS[method](stack, deep(levels)))
    assert details == f"{PROFILE_FIELD[method]}: {TOO_DEEP}"
    assert reason == structs.TOO_DEEP


def test_a_profile_at_the_depth_limit_is_accepted(stack: Stack) -> None:
    code, details, _ = send(stack, CREATE_PORT, create_port(stack, deep(structs.MAX_DEPTH)))
    assert code == grpc.StatusCode.OK, details


def test_a_profile_past_the_size_limit_is_invalid_argument_naming_the_limit(stack: Stack) -> None:
    filler = "x" * (structs.MAX_JSON_CHARS - len('{"k":""}'))
    code, details, _ = send(stack, CREATE_PORT, create_port(stack, struct({"k": filler})))
    assert code == grpc.StatusCode.OK, details
    for method in (CREATE_PORT, UPDATE_PORT):
        data = REQUESTS[method](stack, struct({"k": filler + "x"}))
        details, reason = refused(stack, method, data)
        assert details == "port.binding.profile: must be at most 4095 characters as JSON, got 4096"
        assert reason == "BINDING_PROFILE_TOO_LARGE"
    for method in (RESOLVE, PROPOSE):
        details, reason = refused(stack, method, REQUESTS[method](stack, struct({"k": "y" * 9000})))
        assert details == "profile: must be at most 4095 characters as JSON, got 9008"
        assert reason == structs.TOO_LARGE


@pytest.mark.parametrize("method", [CREATE_PORT, UPDATE_PORT, RESOLVE, PROPOSE])
@pytest.mark.parametrize(
    "data",
    [b"\xff\xff\xff\xff", b"\x0a\x10abc", b"\x0a\x03\x0a\x01\xc3", b"\x0b\x14"],
    ids=["cut-varint", "short-field", "not-utf8", "group"],
)
def test_bytes_that_do_not_decode_are_invalid_argument(
    stack: Stack, method: str, data: bytes
) -> None:
    details, reason = refused(stack, method, data)
    assert details.startswith("request: cannot be decoded as ml2.v1.")
    assert reason == "UNDECODABLE_REQUEST"


def network_with_nul_name() -> bytes:
    request = network_service_pb2.CreateNetworkRequest()
    request.network.name = "net\x00"
    request.network.project_id = "proj-a"
    return request.SerializeToString()


def agent_with_nul_mapping() -> bytes:
    request = agent_service_pb2.RegisterAgentRequest()
    request.agent.agent_type = "openvswitch"
    request.agent.host = "compute-nul"
    request.agent.capabilities.bridge_mappings["physnet1"] = "br-\x00"
    return request.SerializeToString()


@pytest.mark.parametrize(
    ("method", "build", "field"),
    [
        (CREATE_NETWORK, network_with_nul_name, "network.name"),
        (REGISTER_AGENT, agent_with_nul_mapping, 'agent.capabilities.bridge_mappings["physnet1"]'),
    ],
)
def test_a_nul_in_any_string_is_invalid_argument_naming_the_field(
    stack: Stack, method: str, build: Callable[[], bytes], field: str
) -> None:
    details, reason = refused(stack, method, build())
    assert details == f"{field}: must not contain NUL characters (U+0000)"
    assert reason == "NUL_IN_STRING"


def test_a_nul_in_a_profile_is_invalid_argument_naming_its_path(stack: Stack) -> None:
    details, _ = refused(stack, CREATE_PORT, create_port(stack, struct({"pci": ["ok", "a\x00"]})))
    assert details == "port.binding.profile.pci[1]: must not contain NUL characters (U+0000)"


def test_a_nul_is_refused_on_postgresql_where_it_cannot_be_stored(
    postgres_url: str, tmp_path: Path
) -> None:
    typemgr = launcher.start(
        "typemgr-pg",
        "services.typemgr",
        {
            "TYPEMGR_LISTEN": "127.0.0.1:0",
            "TYPEMGR_METRICS_PORT": "0",
            "TYPEMGR_DATABASE_URL": postgres_url,
        },
        log_dir=tmp_path,
        timeout=60,
    )
    try:
        with grpc.insecure_channel(typemgr.address) as channel:
            segments = segment_service_pb2_grpc.SegmentServiceStub(channel)

            def create(project: str) -> tuple[grpc.StatusCode, str]:
                request = segment_service_pb2.CreateNetworkSegmentsRequest(
                    network_id=str(uuid.uuid4()),
                    project_id=project,
                    segments=[segment_pb2.SegmentSpec(network_type="vxlan")],
                )
                return code_of(lambda: segments.CreateNetworkSegments(request, timeout=TIMEOUT))

            assert create("proj\x00") == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "project_id: must not contain NUL characters (U+0000)",
            )
            assert create("proj")[0] == grpc.StatusCode.OK
    finally:
        assert typemgr.stop() == 0


@pytest.mark.parametrize(
    ("method", "process", "data"),
    [
        (
            "/ml2.v1.PortService/GetPort",
            "portapi",
            port_service_pb2.GetPortRequest(port_id="y" * 5000).SerializeToString(),
        ),
        (
            "/ml2.v1.AgentService/ListAgents",
            "mechmgr",
            agent_service_pb2.ListAgentsRequest(host="日" * 3000).SerializeToString(),
        ),
    ],
)
def test_an_error_echoing_a_huge_value_still_reaches_the_client(
    stack: Stack, method: str, process: str, data: bytes
) -> None:
    # The error used to echo the whole value: gRPC refused the trailers as larger than 8 KiB and
    # the client got RESOURCE_EXHAUSTED "Stream removed" instead of the service's answer.
    call = stack.channels[process].unary_unary(
        method, request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.RpcError) as info:
        call(data, timeout=TIMEOUT)
    assert info.value.code() in (  # type: ignore[attr-defined]
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
    ), info.value.details()  # type: ignore[attr-defined]
    assert info.value.details().endswith(" more characters)")  # type: ignore[attr-defined]
