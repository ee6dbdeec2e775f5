"""Waiting until a plugged port is ACTIVE, through portapi's WatchPorts.

The compute node watches only its port (``port_ids=[id]``) with a snapshot, so a port that
became ACTIVE before the watch started is seen at once; then each change until the port is
ACTIVE (its host's agent wired the device and reported it UP: "vif plugged"), ERROR, deleted,
bound elsewhere, or the deadline passes. A RESYNC or a dropped stream starts a new watch with
a snapshot, which cannot miss the state the port is in.

``PortWatch`` is the pure part: it reads the stream's messages and says when the wait is over.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
from ml2.v1 import port_pb2, port_service_pb2

_RECONNECT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


class Verdict(enum.Enum):
    """What a stream message means for the wait."""

    ACTIVE = "active"
    """The port is ACTIVE: done."""
    FAILED = "failed"
    """The port will not become ACTIVE by waiting (ERROR, deleted, bound elsewhere)."""
    RESYNC = "resync"
    """The stream's history is gone: watch again with a snapshot."""


class NotActive(RuntimeError):
    """The port did not become ACTIVE. The message names its status and status message."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def status_name(status: int) -> str:
    """``PORT_STATUS_DOWN`` → ``DOWN``."""
    return port_pb2.PortStatus.Name(status).removeprefix("PORT_STATUS_")


def describe(port: port_pb2.Port | None) -> str:
    """``status DOWN (unbound)``: the port's status and, when it has one, its status message."""
    if port is None:
        return "status unknown"
    text = f"status {status_name(port.status)}"
    return f"{text} ({port.status_message})" if port.status_message else text


@dataclass
class PortWatch:
    """Reads WatchPorts messages about one port bound to ``host_id``."""

    port_id: str
    host_id: str
    last: port_pb2.Port | None = None
    """The port as the last event showed it."""
    failure: str = ""
    """Why the wait failed, for FAILED."""
    events: int = 0

    def feed(self, message: port_service_pb2.WatchPortsResponse) -> Verdict | None:
        """Returns the verdict the message gives, or None to keep waiting."""
        kind = message.WhichOneof("kind")
        if kind == "resync":
            return Verdict.RESYNC
        if kind != "event" or message.event.port.id != self.port_id:
            return None
        event = message.event
        self.events += 1
        self.last = event.port
        if event.type == port_service_pb2.PORT_EVENT_TYPE_DELETED:
            self.failure = f"port {self.port_id} was deleted while waiting for it to be ACTIVE"
            return Verdict.FAILED
        host = event.port.binding.host_id
        if host != self.host_id:
            self.failure = (
                f"port {self.port_id} was bound to {f'host {host}' if host else 'no host'} "
                f"while waiting for it to be ACTIVE on {self.host_id}"
            )
            return Verdict.FAILED
        if event.port.status == port_pb2.PORT_STATUS_ACTIVE:
            return Verdict.ACTIVE
        if event.port.status == port_pb2.PORT_STATUS_ERROR:
            self.failure = f"port {self.port_id} is ERROR: {event.port.status_message or '-'}"
            return Verdict.FAILED
        return None


Watch = Callable[..., Iterator[port_service_pb2.WatchPortsResponse]]
"""``PortServiceStub.WatchPorts``: (request, timeout=...) -> a stream that can be cancelled."""


def wait_active(
    watch: Watch,
    port_id: str,
    host_id: str,
    timeout: float,
    *,
    get_port: Callable[[], port_pb2.Port] | None = None,
    address: str = "portapi",
) -> port_pb2.Port:
    """Blocks until the port is ACTIVE and returns it as the event showed it. Raises NotActive
    when it becomes ERROR, is deleted or bound elsewhere, when ``timeout`` seconds pass
    (``timed_out``), or when portapi does not serve WatchPorts."""
    deadline = time.monotonic() + timeout
    state = PortWatch(port_id, host_id)
    pause = threading.Event()
    backoff = 0.1
    request = port_service_pb2.WatchPortsRequest(port_ids=[port_id], snapshot=True)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        stream = watch(request, timeout=remaining)
        resync = False
        try:
            for message in stream:
                verdict = state.feed(message)
                if verdict is Verdict.ACTIVE and state.last is not None:
                    return state.last
                if verdict is Verdict.FAILED:
                    raise NotActive(state.failure, timed_out=False)
                if verdict is Verdict.RESYNC:
                    resync = True
                    break
        except grpc.RpcError as err:
            code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                break
            if code == grpc.StatusCode.UNIMPLEMENTED:
                raise NotActive(
                    f"portapi at {address} does not serve WatchPorts, so the port's ACTIVE "
                    "cannot be awaited; plug with --no-wait",
                    timed_out=False,
                ) from None
            if code not in _RECONNECT:
                details = err.details() if isinstance(err, grpc.Call) else str(err)
                raise NotActive(
                    f"WatchPorts failed: {code.name}: {details}", timed_out=False
                ) from None
        finally:
            cancel = getattr(stream, "cancel", None)
            if cancel is not None:
                cancel()
        if not resync:
            # A restarting replica, a dropped connection or a stream the server ended: watch
            # again after a short pause, so a server that keeps failing is not hammered.
            pause.wait(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, 2.0)
    last = state.last
    if last is None and get_port is not None:
        try:
            last = get_port()
        except grpc.RpcError:
            last = None
    raise NotActive(
        f"port {port_id} is not ACTIVE after {timeout:g} s on host {host_id}: {describe(last)}",
        timed_out=True,
    )
