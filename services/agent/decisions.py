"""What an L2 agent does, decided from what it knows: pure functions, no I/O.

The runtime (``services.agent.runtime``) keeps three pictures of its host and hands them here:

- *desired*: the ports portapi says are bound here by this agent's mechanism, each as the
  ``Attachment`` to wire (``attachment_of``);
- *present*: the devices the dataplane finds on the host now;
- *done*: what the runtime last did for each port (``Record``): wired as which attachment, or
  isolated, and whether its device was there.

``plan`` compares them and returns the actions that make the host match portapi, each taken
once: wiring what is bound and present (again when the binding changed, e.g. a new
generation), isolating devices of ports not bound here, reporting DOWN when a wired port's
device disappears. ``tunnel_peers`` does the same for l2-population: which other hosts each
tunnelled segment must reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ml2.v1 import admin_state_pb2, binding_pb2, port_pb2
from ml2_contract import convert, values, vocabulary

from services.agent.dataplane import Attachment, Device, TunnelPeer


def attachment_of(port: port_pb2.Port, host: str, mechanism: str) -> Attachment | None:
    """The attachment to wire for ``port`` on ``host``, or None when this agent has nothing to
    wire: not bound here, not bound (yet, or failed), or bound by another mechanism (a Linux
    bridge port on a host that also runs Open vSwitch). The segment is the binding's last
    level's: the one this host's mechanism bound."""
    binding = port.binding
    if binding.host_id != host or binding.state != binding_pb2.BINDING_STATE_BOUND:
        return None
    if not binding.levels or binding.vif_type in vocabulary.RESERVED_VIF_TYPES:
        return None
    last = binding.levels[-1]
    if last.driver != mechanism:
        return None
    return Attachment(
        port_id=port.id,
        network_id=port.network_id,
        mac_address=port.mac_address,
        segment=convert.segment_from_proto(last.segment),
        vif_type=binding.vif_type,
        vif_details=convert.struct_to_dict(binding.vif_details) if binding.vif_details else {},
        admin_up=port.admin_state != admin_state_pb2.ADMIN_STATE_DOWN,
        generation=binding.generation,
        device_id=port.device_id,
    )


@dataclass(frozen=True)
class Record:
    """What the runtime last did for a port."""

    attachment: Attachment | None
    """Wired as this; None: isolated (or never wired)."""
    device: bool
    """Whether the port's device was present then."""
    error: str = ""
    """Why wiring ``attachment`` failed (reported ERROR), empty when it succeeded."""
    failures: int = 0
    """How many times in a row wiring ``attachment`` failed."""
    retry_at: float = 0.0
    """When a failed wiring is tried again (``time.monotonic`` seconds)."""


@dataclass
class Plan:
    """The actions of one reconciliation, in the order the runtime takes them."""

    unwire: list[str] = field(default_factory=list)
    """Ports whose devices to isolate, or whose wiring to forget (device gone)."""
    wire: list[Attachment] = field(default_factory=list)
    gone: list[Attachment] = field(default_factory=list)
    """Wired ports whose device disappeared: report DOWN."""
    forget: list[str] = field(default_factory=list)
    """Ports to drop from the records (not bound here, no device)."""

    def __bool__(self) -> bool:
        return bool(self.unwire or self.wire or self.gone or self.forget)


def _due(rec: Record, retry_errors: bool, now: float | None) -> bool:
    return retry_errors or (now is not None and rec.retry_at <= now)


def plan(
    desired: Mapping[str, Attachment],
    present: Mapping[str, Device],
    done: Mapping[str, Record],
    *,
    retry_errors: bool = False,
    now: float | None = None,
) -> Plan:
    """The actions that take the host from ``done`` to ``desired`` given ``present``.

    A port whose wiring failed is wired again for the same attachment once its ``retry_at``
    has come (at ``now``), or at the runtime's periodic resync (``retry_errors``), so a broken
    port backs off instead of spinning.
    """
    result = Plan()
    for port_id, att in desired.items():
        rec = done.get(port_id)
        if port_id in present:
            changed = rec is None or not rec.device or rec.attachment != att
            if changed or (rec is not None and rec.error and _due(rec, retry_errors, now)):
                result.wire.append(att)
        elif rec is not None and rec.device and rec.attachment is not None:
            result.gone.append(rec.attachment)
    for port_id in present.keys() - desired.keys():
        rec = done.get(port_id)
        if rec is None or rec.attachment is not None or not rec.device:
            result.unwire.append(port_id)
    for port_id, rec in done.items():
        if port_id in desired or port_id in present:
            continue
        if rec.attachment is not None:
            result.unwire.append(port_id)
        result.forget.append(port_id)
    result.unwire.sort()
    result.wire.sort(key=lambda a: a.port_id)
    result.gone.sort(key=lambda a: a.port_id)
    result.forget.sort()
    return result


def to_report_up_again(
    done: Mapping[str, Record],
    statuses: Mapping[str, int],
    present: Iterable[str],
) -> list[Attachment]:
    """Wired ports that portapi shows DOWN although nothing here changed: their agent was
    taken for dead (a partition, a long pause) and is back. Reporting them UP again makes them
    ACTIVE; the ports this agent itself reported DOWN (admin down, unplugged) are not among
    them."""
    here = set(present)
    result = []
    for port_id, rec in sorted(done.items()):
        att = rec.attachment
        if att is None or rec.error or not att.admin_up or port_id not in here:
            continue
        if statuses.get(port_id) == port_pb2.PORT_STATUS_DOWN:
            result.append(att)
    return result


def tunnel_peers(
    host: str,
    wired: Iterable[Attachment],
    network_ports: Iterable[port_pb2.Port],
    endpoints: Mapping[str, Mapping[str, str]],
) -> dict[str, tuple[values.Segment, frozenset[TunnelPeer]]]:
    """For each tunnelled segment of the ``wired`` attachments (by segment id): the segment
    and the other hosts with a port bound to that same segment, at their tunnel endpoint.

    ``endpoints`` maps host -> tunnel type -> the ``local_ip`` of an agent there terminating
    that type (from mechmgr's registry); a host without one is left out (it cannot be reached
    by that tunnel type anyway).
    """
    segments: dict[str, values.Segment] = {}
    for att in wired:
        if att.segment.network_type in vocabulary.TUNNEL_TYPES:
            segments[att.segment.id] = att.segment
    peers: dict[str, set[TunnelPeer]] = {seg_id: set() for seg_id in segments}
    for port in network_ports:
        binding = port.binding
        other = binding.host_id
        if not other or other == host or binding.state != binding_pb2.BINDING_STATE_BOUND:
            continue
        if not binding.levels:
            continue
        seg_id = binding.levels[-1].segment.id
        segment = segments.get(seg_id)
        if segment is None:
            continue
        ip = endpoints.get(other, {}).get(segment.network_type, "")
        if ip:
            peers[seg_id].add(TunnelPeer(other, ip))
    return {seg_id: (segments[seg_id], frozenset(p)) for seg_id, p in peers.items()}


def endpoints_of(agents: Iterable[values.Agent]) -> dict[str, dict[str, str]]:
    """Host -> tunnel type -> local_ip, from registered agents (alive or not: a peer whose
    agent is briefly silent keeps its tunnel)."""
    result: dict[str, dict[str, str]] = {}
    for agent in agents:
        caps = agent.capabilities
        if not caps.local_ip:
            continue
        for tunnel_type in caps.tunnel_types:
            result.setdefault(agent.host, {}).setdefault(tunnel_type, caps.local_ip)
    return result
