"""The driver client against in-process driver servers: failures become declines, never hangs."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import grpc
import pytest
from ml2.v1 import mechanism_driver_service_pb2_grpc as pb_grpc
from ml2_contract import values, vocabulary
from ml2_driver_sdk import base, serve
from ml2_driver_sdk.runtime import server
from prometheus_client import REGISTRY

from services.drivers.noop import driver as noop
from services.mechmgr import driver_client

CTX = values.BindingContext(
    "port-1", "net-1", "compute-1", 0, (values.Segment("s1", "vlan", "physnet1", 101),)
)


class Broken(base.MechanismDriver):
    def describe(self) -> values.DriverDescription:
        return values.DriverDescription("broken")

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        raise RuntimeError("broken driver")


@pytest.fixture
def start_driver() -> Iterator:
    handles, channels = [], []

    def start(driver: base.MechanismDriver, timeout: float = 1.0) -> driver_client.DriverClient:
        handle = server.build_server(
            [
                (
                    pb_grpc.add_MechanismDriverServiceServicer_to_server,
                    serve.DriverServicer(driver),
                    "x",
                )
            ]
        )
        handle.server.start()
        handles.append(handle)
        address = f"127.0.0.1:{handle.port}"
        channels.append(grpc.insecure_channel(address))
        return driver_client.DriverClient(driver.describe().name, address, channels[-1], timeout)

    yield start
    for ch in channels:
        ch.close()
    for handle in handles:
        handle.server.stop(0)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def only_reason(proposal: values.Proposal) -> values.DeclineReason:
    assert isinstance(proposal, values.Decline)
    (reason,) = proposal.reasons
    return reason


def test_a_driver_answer_comes_back_as_its_proposal(start_driver):
    client = start_driver(noop.NoopDriver())

    assert client.propose(CTX) == values.Complete("s1", "other", {"connectivity": "l2"})


def test_a_driver_slower_than_the_deadline_declines_as_unavailable_without_waiting_for_it(
    start_driver,
):
    slow = noop.NoopDriver(noop.NoopSettings(name="slow", delay_seconds=3.0))
    client = start_driver(slow, timeout=0.2)

    started = time.monotonic()
    reason = only_reason(client.propose(CTX))

    assert time.monotonic() - started < 2.0
    assert reason.code == vocabulary.DRIVER_UNAVAILABLE
    assert "no answer within 0.2s" in reason.message
    assert reason.details["grpc_code"] == "DEADLINE_EXCEEDED"


def test_an_unreachable_driver_declines_as_unavailable():
    address = f"127.0.0.1:{closed_port()}"
    with grpc.insecure_channel(address) as channel:
        client = driver_client.DriverClient("gone", address, channel, timeout=5.0)

        started = time.monotonic()
        reason = only_reason(client.propose(CTX))

    assert time.monotonic() - started < 4.0
    assert reason.code == vocabulary.DRIVER_UNAVAILABLE
    assert address in reason.message


def test_a_driver_that_fails_declines_with_driver_error(start_driver):
    reason = only_reason(start_driver(Broken()).propose(CTX))

    assert reason.code == vocabulary.DRIVER_ERROR
    assert "INTERNAL" in reason.message


def test_a_driver_is_not_asked_once_the_callers_deadline_has_passed(start_driver):
    reason = only_reason(
        start_driver(noop.NoopDriver()).propose(CTX, deadline=time.monotonic() - 1)
    )

    assert reason.code == vocabulary.DRIVER_UNAVAILABLE
    assert "deadline has passed" in reason.message


def test_describe_all_reports_answering_and_unreachable_drivers_in_order(start_driver):
    up = start_driver(noop.NoopDriver())
    address = f"127.0.0.1:{closed_port()}"
    with grpc.insecure_channel(address) as channel:
        down = driver_client.DriverClient("down", address, channel, timeout=1.0)

        infos = driver_client.describe_all([down, up], timeout=1.0)

    assert [(i.name, i.description is not None) for i in infos] == [("down", False), ("noop", True)]
    assert "UNAVAILABLE" in infos[0].error
    assert infos[1].description == noop.NoopDriver().describe()


def test_a_failing_driver_is_logged_once_as_a_warning_not_once_per_bind(caplog):
    address = f"127.0.0.1:{closed_port()}"
    with grpc.insecure_channel(address) as channel:
        client = driver_client.DriverClient("gone", address, channel, timeout=1.0)

        with caplog.at_level("DEBUG", logger="services.mechmgr.driver_client"):
            for _ in range(3):
                client.propose(CTX)

    levels = [r.levelname for r in caplog.records if "failed" in r.getMessage()]
    assert levels == ["WARNING", "DEBUG", "DEBUG"]


class Hostile(base.MechanismDriver):
    """Completes with the vif_details it is given, whatever they are."""

    def __init__(self, vif_details: dict) -> None:
        self.vif_details = vif_details

    def describe(self) -> values.DriverDescription:
        return values.DriverDescription("hostile")

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        return values.Complete("s1", "ovs", self.vif_details)


def deep(levels: int) -> dict:
    value: dict = {"v": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("vif_details", "problem"),
    [
        ({"mtu": float("nan")}, "complete.vif_details.mtu: must be a finite number"),
        ({"a": [float("-inf")]}, "complete.vif_details.a[0]: must be a finite number"),
        (deep(17), "complete.vif_details: must nest objects and lists at most 16 levels deep"),
        ({"k": "x" * 5000}, "complete.vif_details: must be at most 4095 characters as JSON"),
    ],
)
def test_a_driver_answering_vif_details_json_cannot_carry_declines_with_driver_error(
    start_driver, vif_details, problem
):
    reason = only_reason(start_driver(Hostile(vif_details)).propose(CTX))

    assert reason.code == vocabulary.DRIVER_ERROR
    assert "answered a malformed proposal" in reason.message and problem in reason.message


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def breaker_gauge(driver: str, state: str) -> float | None:
    return sample("ml2_mechmgr_driver_breaker_state", driver=driver, state=state)


def test_an_unreachable_driver_opens_its_breaker_and_is_then_declined_without_a_call():
    address = f"127.0.0.1:{closed_port()}"
    clock = Clock()
    with grpc.insecure_channel(address) as channel:
        client = driver_client.DriverClient(
            "gone-breaker",
            address,
            channel,
            timeout=5.0,
            breaker_settings=driver_client.BreakerSettings(failures=2, cooldown=10.0),
            clock=clock.monotonic,
            wall=clock.wall,
        )
        assert breaker_gauge("gone-breaker", "closed") == 1.0
        for _ in range(2):
            assert "unreachable" in only_reason(client.propose(CTX)).message

        assert sample("ml2_mechmgr_driver_call_seconds_count", driver="gone-breaker") == 2.0
        reason = only_reason(client.propose(CTX))

    # Not called: still two calls.
    assert sample("ml2_mechmgr_driver_call_seconds_count", driver="gone-breaker") == 2.0
    assert reason.code == vocabulary.DRIVER_UNAVAILABLE
    assert reason.message == (
        f"mechanism driver gone-breaker at {address} not asked: its circuit breaker is open "
        "since 2023-11-14T22:14:10Z after 2 failed calls; it retries at 2023-11-14T22:14:20Z"
    )
    assert reason.details["breaker_state"] == "open"
    assert (breaker_gauge("gone-breaker", "open"), breaker_gauge("gone-breaker", "closed")) == (
        1.0,
        0.0,
    )
    transitions = "ml2_mechmgr_driver_breaker_transitions_total"
    assert sample(transitions, driver="gone-breaker", state="open") == 1.0
    assert sample(transitions, driver="gone-breaker", state="closed") == 0.0


def test_after_the_cooldown_one_answer_closes_the_breaker(start_driver):
    client = start_driver(noop.NoopDriver(noop.NoopSettings(name="back")))
    clock = Clock()
    client.breaker = driver_client.breaker.CircuitBreaker(
        1, 10.0, clock=clock.monotonic, wall=clock.wall
    )
    client.breaker.failed()
    assert only_reason(client.propose(CTX)).details["breaker_state"] == "open"

    clock.now += 10
    proposal = client.propose(CTX)

    assert isinstance(proposal, values.Complete)
    assert client.breaker.status().state is driver_client.breaker.State.CLOSED


def test_a_call_cut_by_the_callers_deadline_does_not_count_against_the_driver(start_driver):
    slow = noop.NoopDriver(noop.NoopSettings(name="slow-caller", delay_seconds=2.0))
    client = start_driver(slow, timeout=5.0)
    client.breaker = driver_client.breaker.CircuitBreaker(1, 10.0)

    reason = only_reason(client.propose(CTX, deadline=time.monotonic() + 0.2))

    assert reason.details["grpc_code"] == "DEADLINE_EXCEEDED"
    assert client.breaker.status().state is driver_client.breaker.State.CLOSED
    assert client.breaker.status().failures == 0


def test_a_driver_that_fails_with_an_error_answered_and_keeps_its_breaker_closed(start_driver):
    client = start_driver(Broken())
    client.breaker = driver_client.breaker.CircuitBreaker(1, 10.0)

    assert only_reason(client.propose(CTX)).code == vocabulary.DRIVER_ERROR
    assert client.breaker.status().state is driver_client.breaker.State.CLOSED


def propose_async(client: driver_client.DriverClient, **kwargs) -> values.Proposal:
    """``propose_async`` on a loop of its own, as ResolveBinding runs it on the server's."""
    return asyncio.run(client.propose_async(CTX, **kwargs))


def with_aio(client: driver_client.DriverClient) -> driver_client.DriverClient:
    """The client with the grpc.aio channel the composition root gives it."""
    return driver_client.DriverClient(
        client.name,
        client.address,
        grpc.insecure_channel(client.address),
        client.timeout,
        aio_channel=lambda: grpc.aio.insecure_channel(client.address),
        metadata=lambda: (("authorization", "Bearer t"),),
    )


def test_the_coroutine_call_answers_as_the_blocking_one(start_driver):
    client = with_aio(start_driver(noop.NoopDriver()))

    assert propose_async(client) == client.propose(CTX)
    assert propose_async(client, deadline=time.monotonic() + 5) == client.propose(CTX)


def test_the_coroutine_call_declines_alike_for_a_slow_a_failing_and_a_late_driver(start_driver):
    slow = with_aio(
        start_driver(noop.NoopDriver(noop.NoopSettings(name="slow", delay_seconds=3.0)), 0.2)
    )
    started = time.monotonic()
    late = only_reason(propose_async(slow))
    assert time.monotonic() - started < 2.0
    assert (late.code, late.details["grpc_code"]) == ("DRIVER_UNAVAILABLE", "DEADLINE_EXCEEDED")
    assert "no answer within 0.2s" in late.message

    broken = only_reason(propose_async(with_aio(start_driver(Broken()))))
    assert broken.code == vocabulary.DRIVER_ERROR and "INTERNAL" in broken.message

    passed = only_reason(propose_async(slow, deadline=time.monotonic() - 1))
    assert "deadline has passed" in passed.message


def test_the_coroutine_calls_count_in_the_drivers_breaker():
    address = f"127.0.0.1:{closed_port()}"
    with grpc.insecure_channel(address) as channel:
        client = driver_client.DriverClient(
            "gone",
            address,
            channel,
            timeout=1.0,
            breaker_settings=driver_client.BreakerSettings(failures=2, cooldown=60),
            aio_channel=lambda: grpc.aio.insecure_channel(address),
        )

        first, second, third = (only_reason(propose_async(client)) for _ in range(3))

    assert first.code == second.code == vocabulary.DRIVER_UNAVAILABLE
    assert "unreachable" in first.message and "unreachable" in second.message
    assert "circuit breaker is open" in third.message
