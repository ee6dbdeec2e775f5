"""The agent runtime's reactions to portapi's answers, over a dataplane that records calls.

No gRPC here: the watches are not started, the reconciliation and the report outcomes are
driven directly (the runtime against real processes is tests/integration/test_ovs_agent.py).
"""

from __future__ import annotations

import threading
from typing import Any

from ml2.v1 import port_service_pb2
from ml2_contract import values

from services.agent.dataplane import Attachment, Device, TunnelPeer, WiringError
from services.agent.runtime import AgentRuntime
from tests.unit.agent.test_decisions import HOST, _port


class RecordingDataplane:
    agent_type = "openvswitch"

    def __init__(self) -> None:
        self.present: dict[str, Device] = {}
        self.calls: list[tuple[str, Any]] = []

    def capabilities(self) -> values.HostCapabilities:
        return values.HostCapabilities()

    def setup(self) -> None:
        pass

    def devices(self) -> dict[str, Device]:
        return dict(self.present)

    def wire(self, attachment: Attachment) -> None:
        self.calls.append(("wire", (attachment.port_id, attachment.generation)))

    def unwire(self, port_id: str) -> None:
        self.calls.append(("unwire", port_id))

    def set_tunnel_peers(self, segment: values.Segment, peers: frozenset[TunnelPeer]) -> None:
        self.calls.append(("peers", (segment.id, peers)))

    def wait_for_change(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass


class FailingDataplane(RecordingDataplane):
    """Wiring fails ``failures`` times, then works."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def wire(self, attachment: Attachment) -> None:
        super().wire(attachment)
        if self.failures:
            self.failures -= 1
            raise WiringError("the bridge is not there")


def _runtime() -> tuple[AgentRuntime, RecordingDataplane]:
    dp = RecordingDataplane()
    runtime = AgentRuntime(dp, HOST, None, None, threading.Event())  # type: ignore[arg-type]
    return runtime, dp


def _outcome(result: int, port: Any = None) -> port_service_pb2.DeviceReportOutcome:
    outcome = port_service_pb2.DeviceReportOutcome(port_id="p1", result=result)  # type: ignore[arg-type]
    if port is not None:
        outcome.port.CopyFrom(port)
    return outcome


def _wired(runtime: AgentRuntime, dp: RecordingDataplane, generation: int = 1) -> None:
    dp.present["p1"] = Device("p1", "tap1")
    runtime.host_watch.put(_port(generation=generation))
    runtime._populate = lambda: None  # type: ignore[method-assign]  (no network watch here)
    runtime.reconcile()


def test_a_bound_present_port_is_wired_and_reported_up() -> None:
    runtime, dp = _runtime()
    _wired(runtime, dp)
    assert dp.calls == [("wire", ("p1", 1))]
    report = runtime._pending["p1"]
    assert report.state == port_service_pb2.DEVICE_STATE_UP and report.binding_generation == 1
    runtime.reconcile()
    assert dp.calls == [("wire", ("p1", 1))]  # nothing new


def test_not_found_unwires_and_forgets_the_port() -> None:
    runtime, dp = _runtime()
    _wired(runtime, dp)
    report = runtime._pending["p1"]
    runtime._outcome(_outcome(port_service_pb2.DEVICE_REPORT_RESULT_NOT_FOUND), report)
    assert dp.calls[-1] == ("unwire", "p1")
    assert runtime.host_watch.ports() == []
    assert runtime.records["p1"].attachment is None
    assert "p1" not in runtime._pending


def test_not_bound_here_takes_the_port_as_answered_and_unwires() -> None:
    runtime, dp = _runtime()
    _wired(runtime, dp)
    elsewhere = _port(host="compute-2", generation=2)
    runtime._outcome(
        _outcome(port_service_pb2.DEVICE_REPORT_RESULT_NOT_BOUND_HERE, elsewhere),
        runtime._pending["p1"],
    )
    assert dp.calls[-1] == ("unwire", "p1")
    runtime.reconcile()
    assert dp.calls[-1] == ("unwire", "p1")  # stays isolated, not wired again


def test_stale_generation_wires_the_newer_binding() -> None:
    runtime, dp = _runtime()
    _wired(runtime, dp)
    runtime._outcome(
        _outcome(port_service_pb2.DEVICE_REPORT_RESULT_STALE_GENERATION, _port(generation=3)),
        runtime._pending["p1"],
    )
    assert runtime.wake.is_set()
    runtime.reconcile()
    assert dp.calls[-1] == ("wire", ("p1", 3))
    assert runtime._pending["p1"].binding_generation == 3


def test_an_unplugged_device_is_released_and_reported_down() -> None:
    runtime, dp = _runtime()
    _wired(runtime, dp)
    runtime._pending.clear()
    del dp.present["p1"]
    runtime.reconcile()
    assert dp.calls[-1] == ("unwire", "p1")
    report = runtime._pending["p1"]
    assert report.state == port_service_pb2.DEVICE_STATE_DOWN and "unplugged" in report.message


def test_failed_wiring_backs_off_and_reports_error_once_then_up() -> None:
    dp = FailingDataplane(failures=2)
    runtime = AgentRuntime(dp, HOST, None, None, threading.Event())  # type: ignore[arg-type]
    runtime._populate = lambda: None  # type: ignore[method-assign]
    dp.present["p1"] = Device("p1", "tap1")
    runtime.host_watch.put(_port())
    wires = lambda: sum(1 for call in dp.calls if call[0] == "wire")  # noqa: E731

    runtime.reconcile(woken=100.0)  # fails: again in 1 s
    assert wires() == 1
    report = runtime._pending.pop("p1")
    assert report.state == port_service_pb2.DEVICE_STATE_ERROR
    assert report.message == "the bridge is not there"
    runtime.reconcile(woken=100.9)
    assert wires() == 1
    runtime.reconcile(woken=101.0)  # fails again, same error: not reported again; then 2 s
    assert wires() == 2 and "p1" not in runtime._pending
    runtime.reconcile(woken=102.9)
    assert wires() == 2
    runtime.reconcile(woken=103.0)  # works
    assert wires() == 3
    assert runtime._pending["p1"].state == port_service_pb2.DEVICE_STATE_UP
    assert not runtime.records["p1"].error
