"""Waiting for ACTIVE: the verdicts of WatchPorts messages, and the wait over a fake stream."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from ml2.v1 import binding_pb2, port_pb2, port_service_pb2

from services.compute import waiting

PORT = "port-1"
HOST = "compute-1"


def event(
    status: int = port_pb2.PORT_STATUS_DOWN,
    *,
    kind: int = port_service_pb2.PORT_EVENT_TYPE_UPDATED,
    host: str = HOST,
    port_id: str = PORT,
    message: str = "",
) -> port_service_pb2.WatchPortsResponse:
    port = port_pb2.Port(
        id=port_id,
        status=status,  # type: ignore[arg-type]
        status_message=message,
        binding=binding_pb2.PortBinding(host_id=host),
    )
    return port_service_pb2.WatchPortsResponse(
        event=port_service_pb2.PortEvent(type=kind, port=port)  # type: ignore[arg-type]
    )


SYNCED = port_service_pb2.WatchPortsResponse(synced=port_service_pb2.Synced(revision=3))
RESYNC = port_service_pb2.WatchPortsResponse(resync=port_service_pb2.Resync(oldest_revision=9))


def test_a_snapshot_of_an_active_port_ends_the_wait() -> None:
    watch = waiting.PortWatch(PORT, HOST)

    verdict = watch.feed(
        event(port_pb2.PORT_STATUS_ACTIVE, kind=port_service_pb2.PORT_EVENT_TYPE_SNAPSHOT)
    )

    assert verdict is waiting.Verdict.ACTIVE


def test_down_build_and_other_ports_keep_waiting_and_vif_plugged_ends_it() -> None:
    watch = waiting.PortWatch(PORT, HOST)

    assert watch.feed(event(port_pb2.PORT_STATUS_DOWN)) is None
    assert watch.feed(SYNCED) is None
    assert watch.feed(event(port_pb2.PORT_STATUS_ACTIVE, port_id="port-2")) is None
    assert watch.feed(event(port_pb2.PORT_STATUS_BUILD)) is None
    plugged = event(port_pb2.PORT_STATUS_ACTIVE, kind=port_service_pb2.PORT_EVENT_TYPE_VIF_PLUGGED)
    assert watch.feed(plugged) is waiting.Verdict.ACTIVE
    assert watch.events == 3


@pytest.mark.parametrize(
    ("message", "failure"),
    [
        (event(port_pb2.PORT_STATUS_ERROR, message="no such bridge"), "is ERROR: no such bridge"),
        (event(kind=port_service_pb2.PORT_EVENT_TYPE_DELETED), "was deleted"),
        (event(host="compute-2"), "was bound to host compute-2 while waiting"),
        (event(host=""), "was bound to no host while waiting"),
    ],
)
def test_error_deletion_and_another_host_fail_the_wait(
    message: port_service_pb2.WatchPortsResponse, failure: str
) -> None:
    watch = waiting.PortWatch(PORT, HOST)

    assert watch.feed(message) is waiting.Verdict.FAILED
    assert failure in watch.failure


def test_resync_asks_for_a_new_watch() -> None:
    assert waiting.PortWatch(PORT, HOST).feed(RESYNC) is waiting.Verdict.RESYNC


class Stream:
    """A WatchPorts stream: yields its messages, then ends or fails."""

    def __init__(
        self, messages: list[port_service_pb2.WatchPortsResponse], error: grpc.RpcError | None
    ) -> None:
        self.messages = messages
        self.error = error
        self.cancelled = False

    def __iter__(self) -> Iterator[port_service_pb2.WatchPortsResponse]:
        yield from self.messages
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        self.cancelled = True


class Failure(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._code.name.lower()


class FakeWatch:
    """Hands out one prepared stream per call and records the requests."""

    def __init__(self, *streams: Stream) -> None:
        self.streams = list(streams)
        self.requests: list[port_service_pb2.WatchPortsRequest] = []

    def __call__(self, request: port_service_pb2.WatchPortsRequest, timeout: float) -> Stream:
        self.requests.append(request)
        return self.streams.pop(0)


def test_wait_watches_only_the_port_with_a_snapshot_and_returns_it_active() -> None:
    first = Stream(
        [event(port_pb2.PORT_STATUS_DOWN), SYNCED, event(port_pb2.PORT_STATUS_ACTIVE)], None
    )
    watch = FakeWatch(first)

    port = waiting.wait_active(watch, PORT, HOST, timeout=5)

    assert port.status == port_pb2.PORT_STATUS_ACTIVE
    assert list(watch.requests[0].port_ids) == [PORT]
    assert watch.requests[0].snapshot
    assert first.cancelled


def test_wait_watches_again_after_resync_and_a_dropped_stream() -> None:
    watch = FakeWatch(
        Stream([event(), RESYNC], None),
        Stream([event()], Failure(grpc.StatusCode.UNAVAILABLE)),
        Stream([event(port_pb2.PORT_STATUS_ACTIVE)], None),
    )

    assert waiting.wait_active(watch, PORT, HOST, timeout=5).status == port_pb2.PORT_STATUS_ACTIVE
    assert len(watch.requests) == 3


def test_a_timeout_names_the_ports_status_and_status_message() -> None:
    watch = FakeWatch(
        Stream([event(message="no agent reported it")], Failure(grpc.StatusCode.DEADLINE_EXCEEDED))
    )

    with pytest.raises(waiting.NotActive) as err:
        waiting.wait_active(watch, PORT, HOST, timeout=0.5)

    assert err.value.timed_out
    assert str(err.value) == (
        "port port-1 is not ACTIVE after 0.5 s on host compute-1: "
        "status DOWN (no agent reported it)"
    )


def test_an_error_status_fails_at_once_with_the_agents_message() -> None:
    watch = FakeWatch(Stream([event(port_pb2.PORT_STATUS_ERROR, message="bridge missing")], None))

    with pytest.raises(waiting.NotActive, match="is ERROR: bridge missing") as err:
        waiting.wait_active(watch, PORT, HOST, timeout=5)

    assert not err.value.timed_out


def test_a_portapi_without_watchports_is_named() -> None:
    watch = FakeWatch(Stream([], Failure(grpc.StatusCode.UNIMPLEMENTED)))

    with pytest.raises(waiting.NotActive, match=r"does not serve WatchPorts.*--no-wait"):
        waiting.wait_active(watch, PORT, HOST, timeout=5, address="127.0.0.1:1")
