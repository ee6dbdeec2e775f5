"""The L2 agent runtime: keeps a host's dataplane in line with portapi, for any dataplane.

It does what Neutron's L2 agents do, over this project's contract:

- **registers and keeps alive** with mechmgr's AgentService, with the capabilities the
  dataplane reports (``simulated.SimulatedAgent`` does the registering, heartbeats, backoff and
  re-registration for both kinds of agent);
- **watches its host's ports**: ``WatchPorts(host_ids=[host], snapshot=true)``, resumed after
  the last revision seen when the stream breaks, and snapshotted again after RESYNC;
- **reconciles** on every port change, every device change the dataplane signals
  (``wait_for_change``) and every ``resync_interval``: ``decisions.plan`` compares the ports
  bound here (the binding's last level's segment), the devices present and what was done, and
  the runtime wires, isolates and forgets accordingly. Nothing is done before the first
  snapshot, so a restarted agent first learns what should be wired: what it wired before
  stays wired (wiring is idempotent), a port deleted meanwhile is isolated;
- **reports** each device's state with ReportDeviceStatus and the binding generation it wired:
  UP (ACTIVE), DOWN (admin down, or its device disappeared) or ERROR with the wiring error,
  once per distinct error; a failed wiring is tried again after ``WIRING_RETRY_SECONDS``,
  doubling with each failure in a row up to ``resync_interval``. NOT_FOUND and
  NOT_BOUND_HERE isolate the device; STALE_GENERATION takes the port as the answer gives it
  and wires the newer binding. Reports that cannot be delivered are retried;
- **l2-population**: for the networks of its tunnelled ports, a second ``WatchPorts`` (by
  ``network_ids``) shows which other hosts have ports bound to the same segments, mechmgr's
  agent registry (ListAgents) their ``local_ip``, and ``set_tunnel_peers`` follows both.

Metrics (``ml2_agent_*``) and structured logs as every service has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from ml2.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)
from ml2_contract import convert, values, vocabulary
from prometheus_client import Counter, Gauge, Histogram

from services.agent import decisions, simulated
from services.agent.dataplane import Attachment, Dataplane, TunnelPeer, WiringError

logger = logging.getLogger(__name__)

WIRING_RETRY_SECONDS = 1.0
"""The first wait before a failed wiring is tried again; it doubles with each failure in a
row, up to the resync interval."""

PORTS_WIRED = Gauge("ml2_agent_ports_wired", "Ports this agent has wired (reported UP or DOWN).")
PORTS_FAILED = Gauge(
    "ml2_agent_ports_wiring_failed",
    "Ports bound here whose last wiring failed (reported ERROR; retried with backoff).",
)
AGENT_INFO = Gauge(
    "ml2_agent_info",
    "1, labelled with the agent's type and the host id it wires ports of (to name the host of "
    "an instance in alerts).",
    ["agent_type", "host"],
)
WIRING_SECONDS = Histogram(
    "ml2_agent_wiring_seconds",
    "From the agent learning that a port can be wired (its binding or its device) to the "
    "dataplane having wired it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RESYNCS = Counter(
    "ml2_agent_resyncs_total",
    "Snapshots the agent took of its ports, by watch (host, network) and why.",
    ["watch", "reason"],
)
ERRORS = Counter(
    "ml2_agent_errors_total",
    "Failures of the agent, by kind (wiring, report, watch, agents, dataplane).",
    ["kind"],
)
REPORTS = Counter(
    "ml2_agent_device_reports_total",
    "Device reports portapi answered, by reported state and result.",
    ["state", "result"],
)

STATE_NAMES = {
    port_service_pb2.DEVICE_STATE_UP: "UP",
    port_service_pb2.DEVICE_STATE_DOWN: "DOWN",
    port_service_pb2.DEVICE_STATE_ERROR: "ERROR",
}
MAX_REPORTS = 1000
"""Devices per ReportDeviceStatus call (the contract's limit)."""
AGENTS_REFRESH_SECONDS = 30.0
"""How old the cached agent registry (tunnel endpoints) may get."""
AGENTS_MISSING_RETRY_SECONDS = 1.0
"""How soon to list agents again when a peer host has no known endpoint."""


class PortWatch:
    """One WatchPorts stream and the ports it shows, kept current; runs in its own thread.

    ``keep`` decides which ports of the stream are in ``ports`` (the host watch drops ports
    bound elsewhere; the network watch keeps every port of its networks). ``set_filter``
    changes the request; the stream restarts with a snapshot. ``on_change`` is called after
    every change of ``ports``.
    """

    def __init__(
        self,
        name: str,
        stub: port_service_pb2_grpc.PortServiceStub,
        keep: Callable[[port_pb2.Port], bool],
        on_change: Callable[[], None],
        stop: threading.Event,
        *,
        host_ids: Iterable[str] = (),
        network_ids: Iterable[str] = (),
        max_backoff: float = 5.0,
    ) -> None:
        self.name = name
        self.stub = stub
        self.keep = keep
        self.on_change = on_change
        self.stop = stop
        self.backoff = simulated.Backoff(initial=0.2, maximum=max_backoff)
        self.synced = threading.Event()
        self.revision = 0
        self.seen_at: dict[str, float] = {}
        """Port id -> when (monotonic) its last change arrived."""
        self._lock = threading.Lock()
        self._ports: dict[str, port_pb2.Port] = {}
        self._filter = (tuple(sorted(host_ids)), tuple(sorted(network_ids)))
        self._filter_changed = threading.Event()
        self._call: Any = None
        self._outage = False
        self._thread = threading.Thread(target=self.run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        """Starts the watch thread."""
        self._thread.start()

    def join(self, timeout: float = 5.0) -> None:
        """Cancels the stream and waits for the thread."""
        self._cancel()
        self._filter_changed.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def ports(self) -> list[port_pb2.Port]:
        """The ports as last seen."""
        with self._lock:
            return list(self._ports.values())

    def put(self, port: port_pb2.Port) -> None:
        """Takes ``port`` as it is now (from another answer than the stream's)."""
        with self._lock:
            self._apply(port, deleted=False)

    def discard(self, port_id: str) -> None:
        """Forgets ``port_id`` (portapi said it does not exist)."""
        with self._lock:
            self._ports.pop(port_id, None)

    def set_filter(self, *, host_ids: Iterable[str] = (), network_ids: Iterable[str] = ()) -> None:
        """Watches other ports from now on, starting with a snapshot."""
        wanted = (tuple(sorted(host_ids)), tuple(sorted(network_ids)))
        with self._lock:
            if wanted == self._filter:
                return
            self._filter = wanted
            self.synced.clear()
        self._filter_changed.set()
        self._cancel()

    def _cancel(self) -> None:
        call = self._call
        if call is not None:
            call.cancel()

    def _apply(self, port: port_pb2.Port, *, deleted: bool) -> None:
        if deleted or not self.keep(port):
            self._ports.pop(port.id, None)
        else:
            self._ports[port.id] = port
        self.seen_at[port.id] = time.monotonic()

    def run(self) -> None:
        """Streams until stopped: snapshot, then changes; resumes or snapshots again."""
        need_snapshot = True
        reason = "start"
        while not self.stop.is_set():
            with self._lock:
                host_ids, network_ids = self._filter
            if not host_ids and not network_ids:
                with self._lock:
                    self._ports.clear()
                self.synced.set()
                self._filter_changed.wait(1.0)
                self._filter_changed.clear()
                need_snapshot, reason = True, "filter"
                continue
            self._filter_changed.clear()
            request = port_service_pb2.WatchPortsRequest(
                host_ids=host_ids,
                network_ids=network_ids,
                snapshot=need_snapshot,
                after_revision=0 if need_snapshot else self.revision,
            )
            try:
                need_snapshot, reason = self._stream(request, need_snapshot, reason)
            except grpc.RpcError as err:
                if self.stop.is_set():
                    break
                if self._filter_changed.is_set():
                    need_snapshot, reason = True, "filter"
                    continue
                code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
                ERRORS.labels("watch").inc()
                if not self.synced.is_set():
                    need_snapshot = True
                log = logger.debug if self._outage else logger.warning
                self._outage = True
                log(
                    "port watch %s lost (%s: %s); %s",
                    self.name,
                    code.name,
                    err.details() if isinstance(err, grpc.Call) else err,
                    "snapshot again"
                    if need_snapshot
                    else f"resuming after revision {self.revision}",
                )
                reason = "reconnect"
                self.stop.wait(self.backoff.next())
            finally:
                self._call = None

    def _stream(
        self, request: port_service_pb2.WatchPortsRequest, snapshotting: bool, reason: str
    ) -> tuple[bool, str]:
        """Reads one stream; returns (need_snapshot, reason) for the next one."""
        call = self.stub.WatchPorts(request)
        self._call = call
        if self.stop.is_set() or self._filter_changed.is_set():
            call.cancel()
        snapshot: dict[str, port_pb2.Port] | None = {} if snapshotting else None
        for message in call:
            self.backoff.reset()
            if self._outage:
                logger.info("port watch %s streams again", self.name)
                self._outage = False
            kind = message.WhichOneof("kind")
            if kind == "event":
                event = message.event
                if snapshot is not None and event.type == port_service_pb2.PORT_EVENT_TYPE_SNAPSHOT:
                    if self.keep(event.port):
                        snapshot[event.port.id] = event.port
                    continue
                with self._lock:
                    deleted = event.type == port_service_pb2.PORT_EVENT_TYPE_DELETED
                    self._apply(event.port, deleted=deleted)
                    self.revision = max(self.revision, event.revision)
                self.on_change()
            elif kind == "synced":
                now = time.monotonic()
                with self._lock:
                    if snapshot is not None:
                        self._ports = snapshot
                        for port_id in snapshot:
                            self.seen_at[port_id] = now
                        snapshot = None
                    self.revision = message.synced.revision
                RESYNCS.labels(self.name, reason).inc()
                logger.info(
                    "port watch %s synced at revision %d: %d ports",
                    self.name,
                    self.revision,
                    len(self._ports),
                )
                self.synced.set()
                self.on_change()
            elif kind == "resync":
                logger.warning(
                    "port watch %s: history after revision %d is gone (%s); snapshot again",
                    self.name,
                    self.revision,
                    message.resync.message,
                )
                return True, "resync"
        # The server ended the stream (it is stopping): resume after what was seen.
        return not self.synced.is_set(), "reconnect"


class AgentRuntime:
    """Runs one agent for ``host`` over ``dataplane`` until ``stop`` is set (``run``)."""

    def __init__(
        self,
        dataplane: Dataplane,
        host: str,
        agents: agent_service_pb2_grpc.AgentServiceStub,
        ports: port_service_pb2_grpc.PortServiceStub,
        stop: threading.Event | None = None,
        *,
        mechanism: str = "",
        binary: str = "",
        resync_interval: float = 60.0,
        rpc_timeout: float = 5.0,
        max_backoff: float = 10.0,
        hold: bool = True,
    ) -> None:
        self.dataplane = dataplane
        self.host = host
        self.agents = agents
        self.port_stub = ports
        self.stop = stop or threading.Event()
        self.mechanism = mechanism or dataplane.agent_type
        self.binary = binary or f"ml2-agent-{dataplane.agent_type}"
        self.resync_interval = resync_interval
        self.rpc_timeout = rpc_timeout
        self.max_backoff = max_backoff
        self.hold = hold
        self.wake = threading.Event()
        self.records: dict[str, decisions.Record] = {}
        self.reconciliations = 0
        """How many reconciliations ran (tests wait on it)."""
        self.ready = threading.Event()
        """Set after the first reconciliation from a snapshot."""
        self.keepalive: simulated.SimulatedAgent | None = None
        self._pending: dict[str, port_service_pb2.DeviceReport] = {}
        self._report_retry_at = 0.0
        self._report_backoff = simulated.Backoff(maximum=max_backoff)
        self._peers: dict[str, tuple[values.Segment, frozenset[TunnelPeer]]] = {}
        self._endpoints: dict[str, dict[str, str]] = {}
        self._endpoints_at = 0.0
        self._present: set[str] = set()
        self._device_seen: dict[str, float] = {}
        self.failure: BaseException | None = None
        self.host_watch = PortWatch(
            "host",
            ports,
            keep=lambda p: p.binding.host_id == host,
            on_change=self.wake.set,
            stop=self.stop,
            host_ids=[host],
            max_backoff=max_backoff,
        )
        self.network_watch = PortWatch(
            "network", ports, keep=lambda p: True, on_change=self.wake.set, stop=self.stop
        )

    @property
    def agent_id(self) -> str:
        """The id mechmgr gave this agent (empty before registration)."""
        return self.keepalive.agent_id if self.keepalive else ""

    # ---------------------------------------------------------------------------- running

    def run(self) -> None:
        """Sets up the dataplane, registers, then reconciles until ``stop``. Raises WiringError
        when the host cannot serve, AgentRefused when mechmgr refuses the agent."""
        AGENT_INFO.labels(self.dataplane.agent_type, self.host).set(1)
        self.dataplane.setup()
        spec = simulated.AgentSpec.from_capabilities(
            self.dataplane.agent_type, self.host, self.dataplane.capabilities(), self.binary
        )
        self.keepalive = simulated.SimulatedAgent(
            spec,
            self.agents,
            self.stop,
            rpc_timeout=self.rpc_timeout,
            max_backoff=self.max_backoff,
            hold=self.hold,
        )
        threads = [
            threading.Thread(target=self._keep_alive, name="agent-keepalive", daemon=True),
            threading.Thread(target=self._watch_devices, name="agent-devices", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            while not self.keepalive.registered.wait(0.2) and not self.stop.is_set():
                pass
            if not self.stop.is_set():
                self.host_watch.start()
                self.network_watch.start()
                self._loop()
        finally:
            self.stop.set()
            self.host_watch.join()
            self.network_watch.join()
            for thread in threads:
                thread.join(5.0)
            self.dataplane.close()
        if self.failure is not None:
            raise self.failure

    def _keep_alive(self) -> None:
        assert self.keepalive is not None
        try:
            self.keepalive.run()
        except simulated.AgentRefused as err:
            self.failure = err
            self.stop.set()

    def _watch_devices(self) -> None:
        while not self.stop.is_set():
            try:
                if self.dataplane.wait_for_change(1.0):
                    self.wake.set()
            except Exception:
                ERRORS.labels("dataplane").inc()
                logger.exception("watching the dataplane's devices failed")
                self.stop.wait(1.0)

    def _loop(self) -> None:
        last_full = 0.0
        while not self.stop.is_set():
            self.wake.wait(1.0)
            woken = time.monotonic()
            self.wake.clear()
            if self.stop.is_set():
                break
            if not self.host_watch.synced.is_set():
                continue
            full = woken - last_full >= self.resync_interval
            if full:
                last_full = woken
            try:
                self.reconcile(retry_errors=full, woken=woken)
            except Exception:
                ERRORS.labels("dataplane").inc()
                logger.exception("reconciling the host failed; again in a second")
                self.stop.wait(1.0)
                self.wake.set()

    # ------------------------------------------------------------------------- reconciling

    def desired(self, ports: Iterable[port_pb2.Port] | None = None) -> dict[str, Attachment]:
        """The ports bound here by this agent's mechanism, as attachments."""
        result: dict[str, Attachment] = {}
        for port in self.host_watch.ports() if ports is None else ports:
            att = decisions.attachment_of(port, self.host, self.mechanism)
            if att is not None:
                result[att.port_id] = att
        return result

    def reconcile(self, *, retry_errors: bool = False, woken: float | None = None) -> None:
        """One pass: plan, act, report, l2-population."""
        woken = time.monotonic() if woken is None else woken
        ports = self.host_watch.ports()
        desired = self.desired(ports)
        expect = getattr(self.dataplane, "expect", None)
        if callable(expect):
            # Dataplanes that name devices after a truncated port id (Linux bridge taps) learn
            # the full ids to look for.
            expect(desired.keys())
        present = self.dataplane.devices()
        for port_id in present.keys() - self._present:
            self._device_seen[port_id] = woken
        for port_id in self._present - present.keys():
            self._device_seen.pop(port_id, None)
        self._present = set(present)
        actions = decisions.plan(
            desired, present, self.records, retry_errors=retry_errors, now=woken
        )
        for port_id in actions.unwire:
            self._unwire(port_id, present=port_id in present)
        for att in actions.wire:
            self._wire(att, woken)
        for att in actions.gone:
            logger.info(
                "device of port %s is gone; reporting DOWN",
                att.port_id,
                extra={"port_id": att.port_id},
            )
            try:
                # Lets the dataplane release what only this port used (a local VLAN, a bridge).
                self.dataplane.unwire(att.port_id)
            except WiringError as err:
                ERRORS.labels("wiring").inc()
                logger.error("releasing port %s failed: %s", att.port_id, err)
            self.records[att.port_id] = decisions.Record(None, device=False)
            self._queue(att, port_service_pb2.DEVICE_STATE_DOWN, "device unplugged")
        for port_id in actions.forget:
            self.records.pop(port_id, None)
        statuses = {p.id: int(p.status) for p in ports}
        for att in decisions.to_report_up_again(self.records, statuses, present):
            if att.port_id not in self._pending:
                logger.info(
                    "port %s is DOWN in portapi but wired here; reporting UP again",
                    att.port_id,
                    extra={"port_id": att.port_id},
                )
                self._queue(att, port_service_pb2.DEVICE_STATE_UP, "")
        self._send_reports()
        self._populate()
        PORTS_WIRED.set(
            sum(1 for r in self.records.values() if r.attachment is not None and not r.error)
        )
        PORTS_FAILED.set(sum(1 for r in self.records.values() if r.error))
        self.reconciliations += 1
        self.ready.set()

    def _wire(self, att: Attachment, now: float) -> None:
        seen = max(
            self.host_watch.seen_at.get(att.port_id, 0.0), self._device_seen.get(att.port_id, 0.0)
        )
        try:
            self.dataplane.wire(att)
        except WiringError as err:
            ERRORS.labels("wiring").inc()
            before = self.records.get(att.port_id)
            again = before is not None and bool(before.error) and before.attachment == att
            failures = before.failures + 1 if again and before is not None else 1
            delay = min(self.resync_interval, WIRING_RETRY_SECONDS * 2 ** (failures - 1))
            logger.error(
                "wiring port %s failed: %s; trying again in %gs",
                att.port_id,
                err,
                delay,
                extra={"port_id": att.port_id, "network_id": att.network_id},
            )
            self.records[att.port_id] = decisions.Record(
                att, device=True, error=str(err), failures=failures, retry_at=now + delay
            )
            if not (again and before is not None and before.error == str(err)):
                self._queue(att, port_service_pb2.DEVICE_STATE_ERROR, str(err))
            return
        if seen:
            WIRING_SECONDS.observe(max(0.0, time.monotonic() - seen))
        self.records[att.port_id] = decisions.Record(att, device=True)
        state = (
            port_service_pb2.DEVICE_STATE_UP if att.admin_up else port_service_pb2.DEVICE_STATE_DOWN
        )
        logger.info(
            "wired port %s (%s, generation %d): %s",
            att.port_id,
            att.segment.describe(),
            att.generation,
            STATE_NAMES[state],
            extra={"port_id": att.port_id, "network_id": att.network_id},
        )
        self._queue(att, state, "" if att.admin_up else "admin down")

    def _unwire(self, port_id: str, *, present: bool) -> None:
        try:
            self.dataplane.unwire(port_id)
        except WiringError as err:
            ERRORS.labels("wiring").inc()
            logger.error("isolating port %s failed: %s", port_id, err, extra={"port_id": port_id})
            return
        logger.info("isolated port %s (not bound here)", port_id, extra={"port_id": port_id})
        self.records[port_id] = decisions.Record(None, device=present)
        self._pending.pop(port_id, None)

    # ---------------------------------------------------------------------------- reports

    def _queue(self, att: Attachment, state: int, message: str) -> None:
        self._pending[att.port_id] = port_service_pb2.DeviceReport(
            port_id=att.port_id,
            state=state,  # type: ignore[arg-type]
            binding_generation=att.generation,
            message=message,
        )

    def _send_reports(self) -> None:
        if not self._pending or not self.agent_id or time.monotonic() < self._report_retry_at:
            return
        reports = list(self._pending.values())
        for start in range(0, len(reports), MAX_REPORTS):
            chunk = reports[start : start + MAX_REPORTS]
            request = port_service_pb2.ReportDeviceStatusRequest(
                host_id=self.host, agent_id=self.agent_id, devices=chunk
            )
            try:
                reply = self.port_stub.ReportDeviceStatus(request, timeout=self.rpc_timeout)
            except grpc.RpcError as err:
                ERRORS.labels("report").inc()
                code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
                delay = self._report_backoff.next()
                logger.warning(
                    "reporting %d devices failed (%s); again in %.1fs",
                    len(chunk),
                    code.name,
                    delay,
                )
                self._report_retry_at = time.monotonic() + delay
                return
            self._report_backoff.reset()
            self._report_retry_at = 0.0
            sent = {r.port_id: r for r in chunk}
            for outcome in reply.outcomes:
                self._outcome(outcome, sent.get(outcome.port_id))

    def _outcome(
        self,
        outcome: port_service_pb2.DeviceReportOutcome,
        report: port_service_pb2.DeviceReport | None,
    ) -> None:
        port_id = outcome.port_id
        if report is not None and self._pending.get(port_id) is report:
            del self._pending[port_id]
        result = port_service_pb2.DeviceReportResult.Name(outcome.result)
        result = result.removeprefix("DEVICE_REPORT_RESULT_")
        state = STATE_NAMES.get(report.state, "?") if report is not None else "?"
        REPORTS.labels(state, result).inc()
        if outcome.result == port_service_pb2.DEVICE_REPORT_RESULT_APPLIED:
            return
        logger.info("report %s of port %s: %s", state, port_id, result, extra={"port_id": port_id})
        if outcome.result == port_service_pb2.DEVICE_REPORT_RESULT_NOT_FOUND:
            self.host_watch.discard(port_id)
            self._unwire(port_id, present=port_id in self._present)
        elif outcome.result == port_service_pb2.DEVICE_REPORT_RESULT_NOT_BOUND_HERE:
            if outcome.HasField("port"):
                self.host_watch.put(outcome.port)
            else:
                self.host_watch.discard(port_id)
            self._unwire(port_id, present=port_id in self._present)
        elif outcome.result == port_service_pb2.DEVICE_REPORT_RESULT_STALE_GENERATION:
            if outcome.HasField("port"):
                self.host_watch.put(outcome.port)
            self.wake.set()

    # ----------------------------------------------------------------------- l2-population

    def _populate(self) -> None:
        wired = [
            r.attachment
            for r in self.records.values()
            if r.attachment is not None
            and not r.error
            and r.attachment.segment.network_type in vocabulary.TUNNEL_TYPES
        ]
        self.network_watch.set_filter(network_ids={a.network_id for a in wired})
        if wired and not self.network_watch.synced.is_set():
            return
        network_ports = self.network_watch.ports() if wired else []
        hosts = {
            p.binding.host_id for p in network_ports if p.binding.host_id not in ("", self.host)
        }
        self._refresh_endpoints(hosts)
        wanted = decisions.tunnel_peers(self.host, wired, network_ports, self._endpoints)
        for seg_id, (segment, peers) in wanted.items():
            if self._peers.get(seg_id, (None, None))[1] == peers:
                continue
            try:
                self.dataplane.set_tunnel_peers(segment, peers)
            except WiringError as err:
                ERRORS.labels("wiring").inc()
                logger.error("tunnel peers of %s: %s", segment.describe(), err)
                continue
            logger.info(
                "%s reaches %s",
                segment.describe(),
                ", ".join(sorted(f"{p.host} ({p.ip})" for p in peers)) or "no other host",
            )
            self._peers[seg_id] = (segment, peers)
        for seg_id in list(self._peers.keys() - wanted.keys()):
            segment, _ = self._peers.pop(seg_id)
            try:
                self.dataplane.set_tunnel_peers(segment, frozenset())
            except WiringError as err:
                ERRORS.labels("wiring").inc()
                logger.error("tunnel peers of %s: %s", segment.describe(), err)

    def _refresh_endpoints(self, hosts: set[str]) -> None:
        now = time.monotonic()
        age = now - self._endpoints_at
        missing = hosts - self._endpoints.keys()
        if not hosts or not (
            age > AGENTS_REFRESH_SECONDS or (missing and age > AGENTS_MISSING_RETRY_SECONDS)
        ):
            return
        agents: list[values.Agent] = []
        token = ""
        try:
            while True:
                reply = self.agents.ListAgents(
                    agent_service_pb2.ListAgentsRequest(page_size=1000, page_token=token),
                    timeout=self.rpc_timeout,
                )
                agents.extend(convert.agent_from_proto(a) for a in reply.agents)
                token = reply.next_page_token
                if not token:
                    break
        except grpc.RpcError as err:
            ERRORS.labels("agents").inc()
            code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
            logger.warning("listing agents for tunnel endpoints failed (%s)", code.name)
            self._endpoints_at = now
            return
        self._endpoints = decisions.endpoints_of(agents)
        self._endpoints_at = now
