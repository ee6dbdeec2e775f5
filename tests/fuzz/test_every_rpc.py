"""Property: whatever bytes a client sends to whichever RPC of whichever service, the answer is
never UNKNOWN, INTERNAL, DATA_LOSS or UNIMPLEMENTED, a refusal is the service's own (it carries
the ErrorInfo of the modular-l2 domain, so it is no transport or library error such as trailers
too large), every process keeps running, and a request that is refused changes no table of any
service.

Every RPC is found from the generated descriptors (each ``ml2.v1.*_service_pb2``), and its
requests are generated from its message descriptor (``requests.py``). The run is derandomized,
so it sends the same requests every time. ``ML2_FUZZ_EXAMPLES`` sets the requests per RPC
(default 25); the count of requests tried per RPC is printed (``pytest -s``) and, when
``ML2_FUZZ_COUNTS`` names a file, written there as JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from collections.abc import Iterator
from typing import Any

import grpc
import ml2.v1
import pytest
from google.protobuf import descriptor as d
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ml2_driver_sdk.runtime import errors

from . import requests, templates
from .stack import DRIVERS, SERVICE_PROCESS, TIMEOUT, Stack

EXAMPLES = int(os.environ.get("ML2_FUZZ_EXAMPLES", "25"))
FORBIDDEN = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNIMPLEMENTED,
}
STREAM_SECONDS = 0.5
"""How long a server stream is read before the probe lets it go (an open stream is an answer)."""
UNDECODABLE = [b"\xff\xff\xff\xff", b"\x0b\x14", b"\x0a"]
"""Bytes no request message decodes from: a cut-off tag, a group closed by another field's end,
a length-delimited field without its length."""


def every_rpc() -> list[d.MethodDescriptor]:
    """Every method of every service of the contract, from the generated descriptors."""
    methods = []
    for module in pkgutil.iter_modules(ml2.v1.__path__):
        if module.name.endswith("_service_pb2"):
            generated = importlib.import_module(f"ml2.v1.{module.name}")
            for service in generated.DESCRIPTOR.services_by_name.values():
                methods.extend(service.methods)
    return sorted(methods, key=lambda m: m.full_name)


RPCS = every_rpc()


@pytest.fixture(scope="module")
def counts() -> Iterator[dict[str, dict[str, int]]]:
    """Requests tried per RPC and the status codes they got; printed and written to
    ``ML2_FUZZ_COUNTS`` at the end."""
    tried: dict[str, dict[str, int]] = {}
    yield tried
    print("\nfuzz counts (requests tried per RPC, by status code):")
    for name, codes in tried.items():
        by_code = ", ".join(f"{code} {n}" for code, n in sorted(codes.items()))
        print(f"  {name:52} {sum(codes.values()):6}  {by_code}")
    print(f"  {'total':52} {sum(sum(c.values()) for c in tried.values()):6}")
    path = os.environ.get("ML2_FUZZ_COUNTS")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(tried, fh, indent=2)


def test_the_contract_has_rpcs_in_every_service() -> None:
    services = {m.containing_service.full_name for m in RPCS}
    assert services == set(SERVICE_PROCESS)
    assert len(RPCS) >= 30


class Prober:
    """Sends bytes to one RPC and checks the property, keeping the last snapshot of the tables
    so that each request costs one snapshot."""

    def __init__(self, stack: Stack, method: d.MethodDescriptor) -> None:
        self.stack = stack
        self.path = f"/{method.containing_service.full_name}/{method.name}"
        self.service = method.containing_service.full_name
        self.streaming = method.server_streaming
        self.last = stack.snapshot()
        self.tried = 0
        self.codes: dict[str, int] = {}

    def send(self, data: bytes, process: str = "") -> grpc.StatusCode:
        process = process or SERVICE_PROCESS[self.service]
        channel = self.stack.channels[process]
        self.tried += 1
        code, details, domain = grpc.StatusCode.OK, "", errors.DOMAIN
        try:
            if self.streaming:
                stream = channel.unary_stream(
                    self.path, request_serializer=None, response_deserializer=None
                )
                for _ in stream(data, timeout=STREAM_SECONDS):
                    pass
            else:
                call = channel.unary_unary(
                    self.path, request_serializer=None, response_deserializer=None
                )
                call(data, timeout=TIMEOUT)
        except grpc.RpcError as err:
            code, details = err.code(), err.details()  # type: ignore[attr-defined]
            domain = error_domain(err)
            if self.streaming and code == grpc.StatusCode.DEADLINE_EXCEEDED:
                code, domain = grpc.StatusCode.OK, errors.DOMAIN  # still open: it was accepted
        self.codes[code.name] = self.codes.get(code.name, 0) + 1
        assert code not in FORBIDDEN, f"{self.path} answered {code.name}: {details} to {data!r}"
        assert domain == errors.DOMAIN, (
            f"{self.path} answered {code.name} without our ErrorInfo: {details} to {data!r}"
        )
        dead = self.stack.dead()
        assert not dead, f"{self.path} with {data!r} left processes dead: {dead}"
        now = self.stack.snapshot()
        if code != grpc.StatusCode.OK:
            assert now == self.last, (
                f"{self.path} refused {data!r} with {code.name}: {details}, "
                f"but changed {changed(self.last, now)}"
            )
        self.last = now
        return code


def error_domain(err: grpc.RpcError) -> str:
    """The domain of the ErrorInfo a failed call carries, or "" if it carries none."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.domain)
    return ""


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The service.table names whose rows differ."""
    return [
        f"{service}.{table}"
        for service in before
        for table in sorted(set(before[service]) | set(after[service]))
        if before[service].get(table) != after[service].get(table)
    ]


@pytest.mark.parametrize("method", RPCS, ids=[m.full_name for m in RPCS])
def test_no_request_is_answered_as_a_server_error_or_changes_anything_when_refused(
    stack: Stack, counts: dict[str, dict[str, int]], method: d.MethodDescriptor
) -> None:
    prober = Prober(stack, method)
    for data in UNDECODABLE:
        assert prober.send(data) == grpc.StatusCode.INVALID_ARGUMENT
    drivers = st.sampled_from(DRIVERS) if prober.service.endswith("DriverService") else st.just("")

    bases = templates.templates(stack.seeds).get(method.full_name, [])
    generated = requests.request_bytes(method.input_type, stack.seeds, bases)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=generated, process=drivers)
    def probe(data: bytes, process: str) -> None:
        prober.send(data, process)

    try:
        probe()
    finally:
        counts[method.full_name] = prober.codes
        print(f"{method.full_name}: {prober.tried} requests")
