"""A simulated L2 agent: registers with mechmgr's AgentService and keeps alive, no dataplane.

It behaves as a Neutron L2 agent does towards the server: it registers its type, host and
capabilities, sends a heartbeat at the interval the server returns, registers again when the
server no longer knows it (NOT_FOUND), and rides out a mechmgr restart by retrying with a capped
exponential backoff. On SIGTERM or Ctrl-C it stops without deregistering, so its liveness lapses
after the server's down time, as it does when a real agent stops.

Heartbeats go over one long-lived ``StreamHeartbeats`` stream, re-opened with the same backoff
when it breaks (and the agent registered again on NOT_FOUND); a reply that does not come within
``rpc_timeout`` breaks it too. By default (``hold``) the stream's first request asks mechmgr to
hold the agent's lease: mechmgr then keeps the agent alive for as long as the stream stays open,
the agent sends nothing more, and the connection's keepalive pings stand for the heartbeats; the
stream brings only the agent's changes (admin_state_up). A mechmgr that does not hold leases
answers without ``held``: the agent then sends a message each interval on the same stream.
A mechmgr that answers UNIMPLEMENTED (older than the stream) gets ``HeartbeatAgent`` calls
instead, at the same interval, for the rest of the agent's life. The channel's keepalive
(``ml2_driver_sdk.runtime.keepalive``) keeps the stream's connection watched between
heartbeats, however long the stack stays idle.
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import random
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import grpc
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from ml2_contract import convert, hosts, values, vocabulary
from ml2_driver_sdk.runtime import errors as rpc_errors
from ml2_driver_sdk.runtime.auth import errors as auth_errors

logger = logging.getLogger(__name__)

AGENT_TYPES = (
    vocabulary.AGENT_TYPE_OVS,
    vocabulary.AGENT_TYPE_LINUXBRIDGE,
    vocabulary.AGENT_TYPE_HYPERV,
    vocabulary.AGENT_TYPE_SRIOV,
    vocabulary.AGENT_TYPE_MACVTAP,
)
MAPPING_OPTIONS: Mapping[str, frozenset[str]] = {
    vocabulary.AGENT_TYPE_OVS: frozenset({"bridge_mappings"}),
    vocabulary.AGENT_TYPE_LINUXBRIDGE: frozenset({"bridge_mappings", "interface_mappings"}),
    vocabulary.AGENT_TYPE_HYPERV: frozenset({"vswitch_mappings"}),
    vocabulary.AGENT_TYPE_SRIOV: frozenset({"device_mappings"}),
    vocabulary.AGENT_TYPE_MACVTAP: frozenset({"interface_mappings"}),
}
"""The mappings each kind of agent reports, as its Neutron counterpart does."""
TUNNEL_TYPES = (vocabulary.TYPE_VXLAN, vocabulary.TYPE_GRE, vocabulary.TYPE_GENEVE)
DEFAULT_HEARTBEAT_SECONDS = 30.0
_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


class AgentConfigError(ValueError):
    """An agent option is malformed. The message names the option and the rule."""


class AgentRefused(RuntimeError):
    """mechmgr refused the registration for a reason retrying cannot fix."""


def _pairs(option: str, text: str, what: str, *, last: bool = False) -> Iterator[tuple[str, str]]:
    """The ``PHYSNET:WHAT`` items of a comma-separated option, split at the first ``:`` (at the
    last with ``last``); raises AgentConfigError naming the option and the malformed item."""
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = (p.strip() for p in (item.rpartition if last else item.partition)(":"))
        if not sep or not key or not value:
            raise AgentConfigError(f"{option}: {item!r} must be PHYSNET:{what}")
        yield key, value


def parse_mappings(option: str, text: str) -> dict[str, str]:
    """Parses ``physnet1:br-eth1,physnet2:br-eth2`` into a dict; raises AgentConfigError."""
    result: dict[str, str] = {}
    for physnet, target in _pairs(option, text, "NAME"):
        if physnet in result:
            raise AgentConfigError(f"{option}: physical network {physnet!r} is mapped twice")
        result[physnet] = target
    return result


def parse_device_mappings(text: str) -> dict[str, tuple[str, ...]]:
    """Parses ``physnet1:ens1f0,physnet1:ens1f1,physnet2:ens2f0`` (a physical network may be
    given several devices, as Neutron's SR-IOV agent allows); raises AgentConfigError."""
    result: dict[str, tuple[str, ...]] = {}
    for physnet, device in _pairs("--device-mappings", text, "DEVICE"):
        if device in result.get(physnet, ()):
            raise AgentConfigError(
                f"--device-mappings: device {device!r} is given twice for {physnet!r}"
            )
        result[physnet] = (*result.get(physnet, ()), device)
    return result


def parse_vswitch_mappings(text: str) -> dict[str, str]:
    """Parses ``physnet1:external,physnet.*:private``: a physical network or a regular
    expression over its name, then the virtual switch after the last ``:``."""
    result: dict[str, str] = {}
    for pattern, vswitch in _pairs("--vswitch-mappings", text, "VSWITCH", last=True):
        try:
            re.compile(pattern)
        except re.error as err:
            raise AgentConfigError(
                f"--vswitch-mappings: {pattern!r} is not a regular expression: {err}"
            ) from None
        if pattern in result:
            raise AgentConfigError(f"--vswitch-mappings: {pattern!r} is mapped twice")
        result[pattern] = vswitch
    return result


def parse_tunnel_types(text: str) -> tuple[str, ...]:
    """Parses ``vxlan,gre``; raises AgentConfigError on an unknown type."""
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    for t in types:
        if t not in TUNNEL_TYPES:
            raise AgentConfigError(
                f"--tunnel-types: unknown tunnel type {t!r}; use {', '.join(TUNNEL_TYPES)}"
            )
    return types


MECHANISM_NETWORK_TYPES: Mapping[str, frozenset[str]] = {
    vocabulary.AGENT_TYPE_OVS: frozenset(vocabulary.NETWORK_TYPES),
    vocabulary.AGENT_TYPE_LINUXBRIDGE: vocabulary.NON_TUNNEL_TYPES | {vocabulary.TYPE_VXLAN},
    vocabulary.AGENT_TYPE_HYPERV: frozenset(vocabulary.NETWORK_TYPES),
    vocabulary.AGENT_TYPE_SRIOV: vocabulary.PHYSICAL_TYPES,
    vocabulary.AGENT_TYPE_MACVTAP: vocabulary.PHYSICAL_TYPES,
}
"""The network types each kind of agent can carry at all (its mechanism driver's)."""


def parse_network_types(text: str) -> tuple[str, ...]:
    """Parses ``flat,vxlan``; raises AgentConfigError on an unknown or repeated type."""
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    for t in types:
        if t not in vocabulary.NETWORK_TYPES:
            raise AgentConfigError(
                f"--network-types: unknown network type {t!r}; "
                f"use {', '.join(vocabulary.NETWORK_TYPES)}"
            )
    if len(set(types)) != len(types):
        raise AgentConfigError(f"--network-types: {','.join(types)} repeats a network type")
    return types


_CAPABILITY_FIELDS = tuple(f.name for f in fields(values.HostCapabilities))
"""The fields an AgentSpec shares with the HostCapabilities it describes."""


@dataclass(frozen=True)
class AgentSpec:
    """What the agent tells mechmgr about itself."""

    agent_type: str
    host: str
    bridge_mappings: Mapping[str, str] = field(default_factory=dict)
    interface_mappings: Mapping[str, str] = field(default_factory=dict)
    tunnel_types: tuple[str, ...] = ()
    local_ip: str = ""
    integration_bridge: str = ""
    datapath_type: str = ""
    ovs_hybrid_plug: bool = False
    port_filter: bool = True
    iface_types: tuple[str, ...] = ()
    vhostuser_socket_dir: str = ""
    network_types: tuple[str, ...] = ()
    """The network types the host can realise; empty: all its mechanism carries."""
    vswitch_mappings: Mapping[str, str] = field(default_factory=dict)
    device_mappings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    baremetal_smartnic: bool = False
    hw_offload: bool = False
    extensions: tuple[str, ...] = ()
    binary: str = ""
    """The program's name for operators; default ``ml2-agent-<type> (simulated)``."""

    @classmethod
    def from_capabilities(
        cls, agent_type: str, host: str, caps: values.HostCapabilities, binary: str
    ) -> AgentSpec:
        """The spec of a real agent, whose dataplane says what the host can do."""
        own = {name: getattr(caps, name) for name in _CAPABILITY_FIELDS}
        return cls(agent_type=agent_type, host=host, binary=binary, **own)

    def validate(self) -> None:
        """Raises AgentConfigError if the combination of options cannot describe a real agent."""
        if self.agent_type not in AGENT_TYPES:
            raise AgentConfigError(f"--type: must be one of {', '.join(AGENT_TYPES)}")
        if not self.host:
            raise AgentConfigError("--host: must not be empty")
        self._validate_mappings()
        ovs = self.agent_type == vocabulary.AGENT_TYPE_OVS
        if not ovs and (self.iface_types or self.vhostuser_socket_dir):
            raise AgentConfigError(
                "--iface-types and --vhostuser-socket-dir describe Open vSwitch hosts only"
            )
        if not ovs and (self.baremetal_smartnic or self.hw_offload):
            raise AgentConfigError(
                "--baremetal-smartnic and --hw-offload describe Open vSwitch hosts only"
            )
        if self.agent_type == "linuxbridge" and set(self.tunnel_types) - {"vxlan"}:
            raise AgentConfigError(
                "--tunnel-types: Linux bridge agents tunnel only vxlan, "
                f"got {','.join(self.tunnel_types)}"
            )
        if self.tunnel_types and not MECHANISM_NETWORK_TYPES[self.agent_type] & set(
            self.tunnel_types
        ):
            raise AgentConfigError(f"--tunnel-types: {self.agent_type} agents do not tunnel")
        self._validate_network_types()
        if self.tunnel_types and not self.local_ip:
            raise AgentConfigError("--local-ip: required when --tunnel-types is set")
        if self.local_ip:
            try:
                ipaddress.ip_address(self.local_ip)
            except ValueError:
                raise AgentConfigError(
                    f"--local-ip: {self.local_ip!r} is not an IP address"
                ) from None

    def _validate_mappings(self) -> None:
        allowed = MAPPING_OPTIONS[self.agent_type]
        given = [
            name
            for name in (
                "bridge_mappings",
                "interface_mappings",
                "vswitch_mappings",
                "device_mappings",
            )
            if getattr(self, name) and name not in allowed
        ]
        if given:
            wanted = " or ".join(f"--{n.replace('_', '-')}" for n in sorted(allowed))
            option = given[0].replace("_", "-")
            raise AgentConfigError(
                f"--{option}: {self.agent_type} agents do not map physical networks that "
                f"way; use {wanted}"
            )

    def _validate_network_types(self) -> None:
        carried = MECHANISM_NETWORK_TYPES.get(self.agent_type, frozenset())
        beyond = [t for t in self.network_types if t not in carried]
        if beyond:
            raise AgentConfigError(
                f"--network-types: {self.agent_type} agents cannot carry {','.join(beyond)}"
            )
        untunnelled = [
            t
            for t in self.network_types
            if t in vocabulary.TUNNEL_TYPES and t not in self.tunnel_types
        ]
        if untunnelled:
            raise AgentConfigError(
                f"--network-types: {','.join(untunnelled)} needs --tunnel-types "
                f"{','.join(untunnelled)}"
            )

    def to_proto(self) -> agent_pb2.Agent:
        """The Agent message sent to RegisterAgent."""
        return agent_pb2.Agent(
            agent_type=self.agent_type,
            host=self.host,
            binary=self.binary or f"ml2-agent-{self.agent_type} (simulated)",
            admin_state_up=True,
            capabilities=convert.capabilities_to_proto(self.capabilities),
        )

    @property
    def capabilities(self) -> values.HostCapabilities:
        """What the agent can do on its host, as the contract types it."""
        return values.HostCapabilities(**{name: getattr(self, name) for name in _CAPABILITY_FIELDS})


def default_host() -> str:
    """The host id both sides agree on without configuration: the hostname (the one function
    the compute node's VIF driver uses too, ``ml2_contract.hosts``)."""
    return hosts.default_host()


class Backoff:
    """Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to ``maximum``."""

    def __init__(self, initial: float = 0.5, maximum: float = 10.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0

    def next(self) -> float:
        """Returns the next delay in seconds."""
        delay = min(self.maximum, self.initial * 2.0**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        """Starts over after a success."""
        self.attempt = 0


class SimulatedAgent:
    """Registers ``spec`` and keeps it alive until ``stop`` is set. Call ``run`` in a thread or
    in the main thread; ``registered`` is set once mechmgr has accepted the agent."""

    def __init__(
        self,
        spec: AgentSpec,
        stub: agent_service_pb2_grpc.AgentServiceStub,
        stop: threading.Event | None = None,
        *,
        rpc_timeout: float = 5.0,
        max_backoff: float = 10.0,
        stream: bool = True,
        hold: bool = True,
    ) -> None:
        self.spec = spec
        self.stub = stub
        self.stop = stop or threading.Event()
        self.rpc_timeout = rpc_timeout
        self.backoff = Backoff(maximum=max_backoff)
        self.registered = threading.Event()
        self.agent_id = ""
        self.interval = DEFAULT_HEARTBEAT_SECONDS
        self.heartbeats = 0
        self.streaming = stream
        """Whether heartbeats go over StreamHeartbeats (False: HeartbeatAgent calls, also after
        mechmgr answered the stream UNIMPLEMENTED)."""
        self.streams_opened = 0
        """How many StreamHeartbeats streams were opened (tests wait on it)."""
        self.hold = hold
        """Whether a stream asks mechmgr to hold the agent's lease (no message per interval
        while mechmgr holds it; False: a message per interval)."""
        self.holding = False
        """Whether mechmgr holds the lease on the stream open now (tests wait on it)."""
        self.changes = 0
        """How many answers mechmgr sent on held streams for changes of the agent."""
        self._call: Any = None
        self._watcher: threading.Thread | None = None
        self.last_agent: agent_pb2.Agent | None = None
        """The agent as the last heartbeat's answer gave it."""
        self._outage = False

    def run(self) -> None:
        """Registers, then heartbeats until stopped. Raises AgentRefused if mechmgr rejects the
        registration (bad request): retrying would not help."""
        if self._watcher is None:
            # A held stream waits for mechmgr without a timeout: a stop cancels it.
            self._watcher = threading.Thread(
                target=self._cancel_on_stop, name="agent-stop", daemon=True
            )
            self._watcher.start()
        while not self.stop.is_set():
            try:
                if not self.agent_id:
                    self._register()
                elif self.streaming:
                    self._stream()
                    continue  # the stream ended (mechmgr stopping, or a stop): open another
                else:
                    self._heartbeat()
            except grpc.RpcError as err:
                if self.stop.is_set():
                    break
                if not self._handle_error(err):
                    continue
                self.stop.wait(self.backoff.next())
                continue
            self._answered()
            self.stop.wait(self.interval)
        logger.info(
            "agent %s on %s stopped (not deregistered)", self.spec.agent_type, self.spec.host
        )

    def _cancel_on_stop(self) -> None:
        self.stop.wait()
        call = self._call
        if call is not None:
            call.cancel()

    def _answered(self) -> None:
        if self._outage:
            logger.info("mechmgr answers again; agent %s is alive", self.agent_id)
            self._outage = False
        self.backoff.reset()

    def _stream(self) -> None:
        """Keeps the agent alive over one StreamHeartbeats stream until ``stop`` or the stream
        ends; raises the RpcError that broke it (DEADLINE_EXCEEDED for a reply that did not
        come within ``rpc_timeout``). With ``hold`` the first request asks mechmgr to hold the
        lease: once it answers ``held`` the agent sends nothing more and only reads the agent's
        changes, the channel's keepalive standing for the heartbeats. Otherwise (or when mechmgr
        does not hold leases) a request each interval, each answered within ``rpc_timeout``."""
        outbox: queue.Queue[agent_service_pb2.StreamHeartbeatsRequest | None] = queue.Queue()

        def requests() -> Iterator[agent_service_pb2.StreamHeartbeatsRequest]:
            while (item := outbox.get()) is not None:
                yield item

        call = self.stub.StreamHeartbeats(requests())
        self._call = call
        self.streams_opened += 1
        late = threading.Event()

        def too_late() -> None:
            late.set()
            call.cancel()

        hold = self.hold
        try:
            if self.stop.is_set():
                return
            while not self.stop.is_set():
                outbox.put(
                    agent_service_pb2.StreamHeartbeatsRequest(agent_id=self.agent_id, hold=hold)
                )
                timer = threading.Timer(self.rpc_timeout, too_late)
                timer.daemon = True
                timer.start()
                try:
                    reply = next(call, None)
                except grpc.RpcError:
                    if late.is_set():
                        raise _LateReply(self.rpc_timeout) from None
                    raise
                finally:
                    timer.cancel()
                if reply is None:
                    logger.info("mechmgr ended the heartbeat stream; opening another")
                    self.stop.wait(self.backoff.next())
                    return
                self.heartbeats += 1
                self.last_agent = reply.agent
                logger.debug("heartbeat %d of agent %s (stream)", self.heartbeats, self.agent_id)
                self._answered()
                if reply.held:
                    self._held(call)
                    return
                hold = False  # mechmgr does not hold leases: a heartbeat each interval
                self.stop.wait(self.interval)
        finally:
            self.holding = False
            self._call = None
            outbox.put(None)
            call.cancel()

    def _held(self, call: Iterator[agent_service_pb2.StreamHeartbeatsResponse]) -> None:
        """Reads a held stream's answers (the agent's changes) until it ends or ``stop``."""
        self.holding = True
        logger.info("mechmgr holds agent %s alive while its stream is open", self.agent_id)
        for reply in call:
            self.changes += 1
            self.last_agent = reply.agent
            logger.info(
                "agent %s changed: admin_state_up=%s, revision %d",
                self.agent_id,
                reply.agent.admin_state_up,
                reply.agent.revision,
            )
        if not self.stop.is_set():
            logger.info("mechmgr ended the held heartbeat stream; opening another")
            self.stop.wait(self.backoff.next())

    def _register(self) -> None:
        request = agent_service_pb2.RegisterAgentRequest(agent=self.spec.to_proto())
        reply = self.stub.RegisterAgent(request, timeout=self.rpc_timeout)
        self.agent_id = reply.agent.id
        if reply.heartbeat_interval_seconds:
            self.interval = float(reply.heartbeat_interval_seconds)
        logger.info(
            "registered %s agent %s on host %s; heartbeat every %ss, dead after %ss of silence",
            self.spec.agent_type,
            self.agent_id,
            self.spec.host,
            _fmt(self.interval),
            reply.agent_down_time_seconds,
            extra={"agent_id": self.agent_id, "host": self.spec.host},
        )
        self.registered.set()

    def _heartbeat(self) -> None:
        request = agent_service_pb2.HeartbeatAgentRequest(agent_id=self.agent_id)
        self.last_agent = self.stub.HeartbeatAgent(request, timeout=self.rpc_timeout).agent
        self.heartbeats += 1
        logger.debug("heartbeat %d of agent %s", self.heartbeats, self.agent_id)

    def _handle_error(self, err: grpc.RpcError) -> bool:
        """Logs a failed call; returns True if the caller should back off before retrying."""
        call = isinstance(err, grpc.Call | _LateReply)
        code = err.code() if call else grpc.StatusCode.UNKNOWN
        details = err.details() if call else str(err)
        if code == grpc.StatusCode.NOT_FOUND and self.agent_id:
            logger.warning("mechmgr no longer knows agent %s; registering again", self.agent_id)
            self.agent_id = ""
            return False
        if code == grpc.StatusCode.UNIMPLEMENTED and self.streaming and self.agent_id:
            logger.info(
                "mechmgr has no StreamHeartbeats (an older version); agent %s sends "
                "HeartbeatAgent calls instead",
                self.agent_id,
            )
            self.streaming = False
            return False
        if code == grpc.StatusCode.CANCELLED and self.agent_id:
            code = grpc.StatusCode.UNAVAILABLE  # the server cancelled the stream (it stopped)
        if code == grpc.StatusCode.UNAUTHENTICATED and _reason(err) == auth_errors.EXPIRED:
            # A stream outlives no token: open it again with the token file as it is now
            # (renewed under a running agent, as Kubernetes does); until then, back off.
            logger.warning(
                "mechmgr ended the heartbeat stream: the agent's token expired (%s); opening "
                "it again with the token as it is now (TOKEN_EXPIRED)",
                details,
            )
            return True
        if code not in _RETRYABLE:
            raise AgentRefused(f"mechmgr refused the agent: {code.name}: {details}")
        if not self._outage:
            logger.warning(
                "mechmgr unreachable (%s: %s); retrying with backoff", code.name, details
            )
            self._outage = True
        else:
            logger.debug("mechmgr still unreachable (%s)", code.name)
        return True


def _reason(err: grpc.RpcError) -> str:
    """The reason (ErrorInfo) of a failed call, empty without one."""
    return rpc_errors.from_rpc_error(err).reason or ""


class _LateReply(grpc.RpcError):
    """A heartbeat of the stream not answered within the timeout: the stream was cancelled and
    is opened again, as after DEADLINE_EXCEEDED."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._details = f"no answer to a heartbeat within {timeout:g}s"

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self) -> str:
        return self._details


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if seconds.is_integer() else str(seconds)
