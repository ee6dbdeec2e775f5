"""How ``ml2`` prints resources: protobuf JSON with ``--json``, aligned tables for people."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format, message, struct_pb2, timestamp_pb2
from ml2.v1 import (
    agent_pb2,
    binding_pb2,
    mechanism_manager_service_pb2,
    network_pb2,
    port_pb2,
    port_service_pb2,
    segment_pb2,
)
from ml2_contract import convert

if TYPE_CHECKING:
    from services.cli import stack


def _with_binding_fields(msg: message.Message) -> message.Message:
    """A port always shows ``binding`` with ``profile`` and ``vif_details``, even when empty:
    message fields have presence, so protobuf JSON would otherwise leave them out."""
    if isinstance(msg, port_pb2.Port):
        msg.binding.profile.SetInParent()
        msg.binding.vif_details.SetInParent()
    return msg


def to_dict(msg: message.Message) -> dict[str, Any]:
    """The protobuf JSON form of ``msg``, with proto field names and every field present."""
    return json_format.MessageToDict(
        _with_binding_fields(msg),
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


def to_json(msg: message.Message) -> str:
    """The protobuf JSON text of one resource."""
    return json_format.MessageToJson(
        _with_binding_fields(msg),
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


def list_json(msgs: Iterable[message.Message]) -> str:
    """A JSON array of resources, each in protobuf JSON form."""
    return json.dumps([to_dict(m) for m in msgs], indent=2)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], indent: str = "") -> str:
    """Returns rows aligned under upper-case headers, columns two spaces apart."""
    cells = [[str(h).upper() for h in headers]]
    cells += [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, object]]) -> str:
    """Returns ``name: value`` lines with the values aligned."""
    width = max((len(name) for name, _ in pairs), default=0) + 1
    return "\n".join(f"{name + ':':<{width}} {value}".rstrip() for name, value in pairs)


def enum_name(msg: message.Message, field_name: str, prefix: str) -> str:
    """``PORT_STATUS_DOWN`` → ``DOWN``: the value name of an enum field without its prefix."""
    descriptor = msg.DESCRIPTOR.fields_by_name[field_name].enum_type
    number = getattr(msg, field_name)
    value = descriptor.values_by_number.get(number) if descriptor is not None else None
    return value.name.removeprefix(prefix) if value is not None else str(number)


def vnic_type(binding: binding_pb2.PortBinding) -> str:
    """The vnic type as Neutron writes it: normal, direct, direct-physical, ..."""
    try:
        return convert.vnic_type_name(binding.vnic_type)
    except ValueError:
        return str(binding.vnic_type)


def struct_text(value: struct_pb2.Struct) -> str:
    """``{"a": 1, "b": true}`` → ``a=1, b=true``; empty structs print as ``-``."""
    data = convert.struct_to_dict(value)
    if not data:
        return "-"
    return ", ".join(
        f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in data.items()
    )


def segment_text(seg: segment_pb2.Segment) -> str:
    """``vlan physnet1 101``, ``vxlan 1001`` or ``flat physnet1``."""
    parts = [seg.network_type, seg.physical_network]
    if seg.network_type not in ("flat", "local"):
        parts.append(str(seg.segmentation_id))
    return " ".join(p for p in parts if p)


def time_text(ts: timestamp_pb2.Timestamp) -> str:
    """An RFC 3339 time in UTC to the second, or ``-`` when unset."""
    if not ts.seconds and not ts.nanos:
        return "-"
    when = ts.ToDatetime(tzinfo=datetime.UTC).replace(microsecond=0)
    return when.isoformat().replace("+00:00", "Z")


def age_text(ts: timestamp_pb2.Timestamp, now: datetime.datetime | None = None) -> str:
    """How long ago ``ts`` was, e.g. ``3s ago``; ``-`` when unset."""
    if not ts.seconds and not ts.nanos:
        return "-"
    now = now or datetime.datetime.now(datetime.UTC)
    seconds = max(0, int((now - ts.ToDatetime(tzinfo=datetime.UTC)).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def mapping_text(mapping: Any) -> str:
    """``{"physnet1": "br-eth1"}`` → ``physnet1:br-eth1``."""
    return ",".join(f"{k}:{v}" for k, v in sorted(mapping.items())) or "-"


def network_rows(networks: Iterable[network_pb2.Network]) -> str:
    """The table of ``ml2 network list``."""
    rows = (
        (
            n.id,
            n.name or "-",
            n.project_id or "-",
            "yes" if n.shared else "no",
            "; ".join(segment_text(s) for s in n.segments) or "-",
            n.mtu or "-",
        )
        for n in networks
    )
    return table(("id", "name", "project", "shared", "segments", "mtu"), rows)


def network_detail(n: network_pb2.Network) -> str:
    """The text of ``ml2 network show``."""
    text = fields(
        [
            ("id", n.id),
            ("name", n.name or "-"),
            ("project_id", n.project_id or "-"),
            ("shared", "yes" if n.shared else "no"),
            ("admin_state", enum_name(n, "admin_state", "ADMIN_STATE_")),
            ("mtu", n.mtu or "-"),
            ("created", time_text(n.create_time)),
        ]
    )
    segments = table(
        ("index", "id", "type", "physical_network", "segmentation_id", "mtu"),
        (
            (
                s.segment_index,
                s.id,
                s.network_type,
                s.physical_network or "-",
                s.segmentation_id if s.network_type not in ("flat", "local") else "-",
                s.mtu or "-",
            )
            for s in n.segments
        ),
        indent="  ",
    )
    return f"{text}\nsegments:\n{segments}"


def port_rows(ports: Iterable[port_pb2.Port], networks: Mapping[str, str] | None = None) -> str:
    """The table of ``ml2 port list``; ``networks`` maps network ids to the names to show."""
    names = networks or {}
    rows = (
        (
            p.id,
            p.name or "-",
            names.get(p.network_id, p.network_id),
            p.binding.host_id or "-",
            enum_name(p, "status", "PORT_STATUS_"),
            enum_name(p.binding, "state", "BINDING_STATE_"),
            p.binding.vif_type or "-",
        )
        for p in ports
    )
    return table(("id", "name", "network", "host", "status", "binding", "vif_type"), rows)


def port_detail(p: port_pb2.Port) -> str:
    """The text of ``ml2 port show``: fields, binding levels and every driver verdict."""
    b = p.binding
    pairs: list[tuple[str, object]] = [
        ("id", p.id),
        ("name", p.name or "-"),
        ("network_id", p.network_id),
        ("project_id", p.project_id or "-"),
        ("mac_address", p.mac_address or "-"),
        ("device_id", p.device_id or "-"),
        ("device_owner", p.device_owner or "-"),
        ("admin_state", enum_name(p, "admin_state", "ADMIN_STATE_")),
        ("status", port_status(p)),
        ("reported_by", p.status_agent_id or "-"),
        ("host_id", b.host_id or "-"),
        ("vnic_type", vnic_type(b)),
        ("profile", struct_text(b.profile)),
        ("binding", enum_name(b, "state", "BINDING_STATE_")),
        ("vif_type", b.vif_type or "-"),
        ("vif_details", struct_text(b.vif_details)),
    ]
    if b.failure_message:
        pairs.append(("failure", b.failure_message))
    pairs.append(("generation", b.generation))
    parts = [fields(pairs)]
    if b.levels:
        parts.append("binding levels:\n" + levels_table(b.levels))
    if b.trace:
        parts.append("driver verdicts:\n" + trace_text(b.trace))
    return "\n".join(parts)


def levels_table(levels: Iterable[binding_pb2.BindingLevel], indent: str = "  ") -> str:
    """The bound levels: level, driver and segment."""
    rows = ((lv.level, lv.driver, segment_text(lv.segment), lv.segment.id) for lv in levels)
    return table(("level", "driver", "segment", "segment_id"), rows, indent=indent)


def trace_text(trace: Iterable[binding_pb2.DriverVerdict], indent: str = "  ") -> str:
    """One line per verdict, followed by one indented line per decline reason."""
    lines = []
    for v in trace:
        try:
            outcome = convert.outcome_name(v.outcome)
        except ValueError:
            outcome = enum_name(v, "outcome", "OUTCOME_")
        took = v.duration.ToTimedelta().total_seconds() * 1000
        head = f"{indent}level {v.level}  {v.driver:<12} {outcome:<8}"
        if v.segment_id:
            head += f" segment {v.segment_id}"
        lines.append(f"{head}  ({took:.1f} ms)")
        lines.extend(f"{indent}    - {reason_text(r)}" for r in v.reasons)
    return "\n".join(lines)


def reason_text(r: binding_pb2.DeclineReason) -> str:
    """``AGENT_DEAD: <message> [agent_id=...]``."""
    text = f"{r.code}: {r.message}" if r.code else r.message
    if r.details:
        text += " [" + ", ".join(f"{k}={v}" for k, v in sorted(r.details.items())) + "]"
    return text


def agent_rows(agents: Iterable[agent_pb2.Agent]) -> str:
    """The table of ``ml2 agent list``."""
    rows = []
    for a in agents:
        caps = a.capabilities
        mappings = {
            **dict(caps.vswitch_mappings),
            **{k: ";".join(v.devices) for k, v in caps.device_mappings.items()},
            **dict(caps.interface_mappings),
            **dict(caps.bridge_mappings),
        }
        rows.append(
            (
                a.id,
                a.agent_type,
                a.host,
                "alive" if a.alive else "dead",
                "up" if a.admin_state_up else "down",
                age_text(a.heartbeat_time),
                mapping_text(mappings),
                ",".join(caps.tunnel_types) or "-",
                caps.local_ip or "-",
            )
        )
    headers = (
        "id",
        "type",
        "host",
        "state",
        "admin",
        "heartbeat",
        "mappings",
        "tunnels",
        "local_ip",
    )
    return table(headers, rows)


def agent_detail(a: agent_pb2.Agent) -> str:
    """The text of ``ml2 agent show|set``."""
    caps = a.capabilities
    return fields(
        [
            ("id", a.id),
            ("agent_type", a.agent_type),
            ("host", a.host),
            ("binary", a.binary or "-"),
            ("state", "alive" if a.alive else "dead"),
            (
                "admin_state_up",
                "yes" if a.admin_state_up else "no (ports are not bound through it)",
            ),
            ("heartbeat", f"{time_text(a.heartbeat_time)} ({age_text(a.heartbeat_time)})"),
            ("created", time_text(a.create_time)),
            ("revision", str(a.revision)),
            ("bridge_mappings", mapping_text(caps.bridge_mappings)),
            ("interface_mappings", mapping_text(caps.interface_mappings)),
            *_optional_capabilities(caps),
            ("tunnel_types", ",".join(caps.tunnel_types) or "-"),
            ("local_ip", caps.local_ip or "-"),
            ("network_types", ",".join(caps.network_types) or "(all of its mechanism)"),
        ]
    )


def _optional_capabilities(caps: agent_pb2.HostCapabilities) -> list[tuple[str, str]]:
    """The lines of the capabilities only some kinds of agent report, when they do."""
    shown = []
    if caps.vswitch_mappings:
        shown.append(("vswitch_mappings", mapping_text(caps.vswitch_mappings)))
    if caps.device_mappings:
        devices = {k: ";".join(v.devices) for k, v in caps.device_mappings.items()}
        shown.append(("device_mappings", mapping_text(devices)))
    flags = [f for f in ("baremetal_smartnic", "hw_offload") if getattr(caps, f)]
    if flags:
        shown.append(("flags", ",".join(flags)))
    if caps.extensions:
        shown.append(("extensions", ",".join(caps.extensions)))
    return shown


def driver_rows(drivers: Iterable[Any], sources: Mapping[str, str] | None = None) -> str:
    """The table of ``ml2 driver list`` (MechanismDriverInfo, in binding order); ``sources``:
    the distribution each driver installed here comes from, by name."""
    known = sources or {}
    rows = (
        (
            i,
            d.name,
            d.address,
            "yes" if d.reachable else f"NO ({d.error or 'no answer'})",
            d.agent_type or "-",
            ",".join(d.supported_network_types) or "-",
            ",".join(d.vif_types) or "-",
            known.get(d.name, "-"),
            breaker_text(d),
        )
        for i, d in enumerate(drivers)
    )
    headers = (
        "order",
        "name",
        "address",
        "reachable",
        "agent_type",
        "network_types",
        "vif_types",
        "from",
        "breaker",
    )
    return table(headers, rows)


def installed_driver_rows(drivers: Iterable[tuple[str, str, str, str]]) -> str:
    """The table of ``ml2 driver list --installed``: (name, from, entry point, summary)."""
    return table(("name", "from", "entry_point", "summary"), drivers)


def breaker_text(driver: Any) -> str:
    """The circuit breaker of a MechanismDriverInfo: closed, half-open, or open and when it
    retries (UTC)."""
    state = driver.breaker_state
    if state == mechanism_manager_service_pb2.BREAKER_STATE_OPEN:
        retry = driver.breaker_retry_time.ToDatetime(datetime.UTC).strftime("%H:%M:%SZ")
        return f"open (retries {retry})"
    if state == mechanism_manager_service_pb2.BREAKER_STATE_HALF_OPEN:
        return "half-open"
    if state == mechanism_manager_service_pb2.BREAKER_STATE_CLOSED:
        return "closed"
    return "-"


def process_rows(rows: Iterable[stack.ProcessRow]) -> str:
    """The table ``ml2 up`` prints once every process serves."""
    return table(
        ("process", "address", "metrics", "pid", "log"),
        ((r.name, r.address, r.metrics_url, r.pid, r.log) for r in rows),
    )


def port_status(p: port_pb2.Port) -> str:
    """``BUILD (waiting for the agent on host h to wire it)``: the status and why."""
    name = enum_name(p, "status", "PORT_STATUS_")
    return f"{name} ({p.status_message})" if p.status_message else name


def watch_line(reply: port_service_pb2.WatchPortsResponse) -> str:
    """One line of ``ml2 port watch``: ``REV TYPE PORT host=H status=S [from=H] [why]``."""
    kind = reply.WhichOneof("kind")
    if kind == "synced":
        return f"{reply.synced.revision} SYNCED"
    if kind == "resync":
        return f"RESYNC oldest_revision={reply.resync.oldest_revision}: {reply.resync.message}"
    event = reply.event
    port = event.port
    parts = [
        str(event.revision),
        enum_name(event, "type", "PORT_EVENT_TYPE_"),
        port.id,
        f"network={port.network_id}",
        f"host={port.binding.host_id or '-'}",
        f"status={enum_name(port, 'status', 'PORT_STATUS_')}",
        f"binding={enum_name(port.binding, 'state', 'BINDING_STATE_')}",
        f"generation={port.binding.generation}",
    ]
    if event.previous_host_id:
        parts.append(f"from={event.previous_host_id}")
    if port.status_message:
        parts.append(f"({port.status_message})")
    return " ".join(parts)


def watch_json(reply: port_service_pb2.WatchPortsResponse) -> str:
    """One line of ``ml2 port watch --output json``: the response as compact protobuf JSON."""
    data = json_format.MessageToDict(reply, preserving_proto_field_name=True)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)
