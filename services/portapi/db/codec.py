"""Stored rows to portapi's typed values and back: the JSON documents and the row shapes.

JSON is stored compactly and deterministically (``dumps``) so that SQLite and PostgreSQL hold the
same text and size limits apply to exactly what is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ml2_contract import convert, values, vocabulary

from services.portapi import resources as r


def now() -> datetime:
    """Returns the current time as naive UTC, the form every stored time takes."""
    return datetime.now(UTC).replace(tzinfo=None)


def dumps(value: Any) -> str:
    """Serializes a JSON document compactly and deterministically, as it is stored."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def segment_dict(seg: values.Segment) -> dict[str, Any]:
    """Returns a segment as a JSON-ready dict, as it is stored."""
    return {
        "id": seg.id,
        "network_id": seg.network_id,
        "network_type": seg.network_type,
        "physical_network": seg.physical_network,
        "segmentation_id": seg.segmentation_id,
        "mtu": seg.mtu,
        "is_dynamic": seg.is_dynamic,
        "segment_index": seg.segment_index,
    }


def segment(data: Mapping[str, Any]) -> values.Segment:
    """Returns the segment stored by ``segment_dict``."""
    return values.Segment(
        id=str(data["id"]),
        network_id=str(data.get("network_id", "")),
        network_type=str(data.get("network_type", "")),
        physical_network=str(data.get("physical_network", "")),
        segmentation_id=int(data.get("segmentation_id", 0)),
        mtu=int(data.get("mtu", 0)),
        is_dynamic=bool(data.get("is_dynamic", False)),
        segment_index=int(data.get("segment_index", 0)),
    )


def original_dict(binding: values.OriginalBinding) -> dict[str, Any]:
    """Returns an original binding as a JSON-ready dict, as it is stored."""
    return {
        "host": binding.host,
        "vnic_type": binding.vnic_type,
        "profile": dict(binding.profile),
        "vif_type": binding.vif_type,
        "vif_details": dict(binding.vif_details),
        "segment": segment_dict(binding.segment) if binding.segment is not None else None,
    }


def original(text: str) -> values.OriginalBinding | None:
    """Returns the original binding stored by ``original_dict`` (``""``: None)."""
    if not text:
        return None
    data = json.loads(text)
    found = data.get("segment")
    return values.OriginalBinding(
        host=str(data["host"]),
        vif_type=str(data["vif_type"]),
        vnic_type=str(data.get("vnic_type", vocabulary.VNIC_NORMAL)),
        profile=data.get("profile") or {},
        vif_details=data.get("vif_details") or {},
        segment=segment(found) if found else None,
    )


def segments(text: str) -> tuple[values.Segment, ...]:
    """Returns the segments of a stored JSON list."""
    return tuple(segment(item) for item in json.loads(text or "[]"))


def network(row: Any) -> r.Network:
    """Returns the network of a ``networks`` row."""
    return r.Network(
        id=row.id,
        name=row.name,
        project_id=row.project_id,
        shared=bool(row.shared),
        admin_state_up=bool(row.admin_state_up),
        mtu=int(row.mtu),
        segments=segments(row.segments),
        status=row.status,
        create_time=row.create_time,
        mtu_requested=int(row.mtu_requested),
        segments_pending=row.segments_pending_since is not None,
    )


def ports_with_levels(rows: Iterable[Any]) -> list[r.Port]:
    """Returns the ports of rows of ports joined with their binding and (outer) their levels,
    in the order the ports first appear; a port's levels are sorted here."""
    grouped: dict[str, tuple[Any, list[values.BindingLevel]]] = {}
    for row in rows:
        entry = grouped.setdefault(row.id, (row, []))
        if row.level is not None:
            level_segment = segment(json.loads(row.level_segment))
            entry[1].append(values.BindingLevel(row.level, row.level_driver, level_segment))
    return [
        port(row, tuple(sorted(levels, key=lambda level: level.level)))
        for row, levels in grouped.values()
    ]


def port(row: Any, levels: tuple[values.BindingLevel, ...]) -> r.Port:
    """Returns the port of a row of a port joined with its binding."""
    result = values.BindingResult(
        state=row.state,
        vif_type=row.vif_type,
        vif_details=json.loads(row.vif_details),
        levels=levels,
        trace=tuple(verdict(item) for item in json.loads(row.trace)),
        failure_message=row.failure_message,
        port_status=row.port_status,
    )
    inputs = r.BindingInputs(row.host_id, row.vnic_type, json.loads(row.profile))
    return r.Port(
        id=row.id,
        network_id=row.network_id,
        project_id=row.project_id,
        name=row.name,
        mac_address=row.mac_address,
        device_id=row.device_id,
        device_owner=row.device_owner,
        admin_state_up=bool(row.admin_state_up),
        status=row.status,
        binding=r.Binding(inputs, result, int(row.generation), original(row.original)),
        create_time=row.create_time,
        update_time=row.update_time,
        status_message=row.status_message,
        status_agent_id=row.status_agent_id,
    )


def verdict_dict(verdict: values.Verdict) -> dict[str, Any]:
    """Returns a verdict as a JSON-ready dict, with the segments it was offered and each
    reason's agent and segment."""
    return {
        "level": verdict.level,
        "driver": verdict.driver,
        "outcome": verdict.outcome,
        "segment_id": verdict.segment_id,
        "duration": verdict.duration,
        "offered_segments": [segment_dict(s) for s in verdict.offered_segments],
        "reasons": [reason_dict(x) for x in verdict.reasons],
    }


def verdict(data: Mapping[str, Any]) -> values.Verdict:
    """Returns the verdict stored by ``verdict_dict`` (a verdict stored without the segments
    it was offered reads with none)."""
    return values.Verdict(
        level=int(data["level"]),
        driver=str(data["driver"]),
        outcome=str(data["outcome"]),
        segment_id=str(data.get("segment_id", "")),
        duration=float(data.get("duration", 0.0)),
        reasons=tuple(reason(x) for x in data.get("reasons", ())),
        offered_segments=tuple(segment(x) for x in data.get("offered_segments", ())),
    )


def reason_dict(reason: values.DeclineReason) -> dict[str, Any]:
    """Returns a decline reason as a JSON-ready dict; its agent and segment only when set."""
    data: dict[str, Any] = {
        "code": reason.code,
        "message": reason.message,
        "segment_id": reason.segment_id,
        "details": dict(reason.details),
    }
    if reason.agent is not None:
        data["agent"] = agent_dict(reason.agent)
    if reason.segment is not None:
        data["segment"] = segment_dict(reason.segment)
    return data


def reason(data: Mapping[str, Any]) -> values.DeclineReason:
    """Returns the decline reason stored by ``reason_dict``."""
    return values.DeclineReason(
        data["code"],
        data["message"],
        data.get("segment_id", ""),
        data.get("details", {}),
        agent=agent(data["agent"]) if "agent" in data else None,
        segment=segment(data["segment"]) if "segment" in data else None,
    )


def agent_dict(agent: values.Agent) -> dict[str, Any]:
    """Returns an agent, as a binding saw it, as a JSON-ready dict; times as ISO 8601 UTC."""
    return {
        "id": agent.id,
        "agent_type": agent.agent_type,
        "host": agent.host,
        "binary": agent.binary,
        "admin_state_up": agent.admin_state_up,
        "alive": agent.alive,
        "heartbeat_at": _time_text(agent.heartbeat_at),
        "created_at": _time_text(agent.created_at),
        "capabilities": convert.capabilities_to_json(agent.capabilities),
    }


def agent(data: Mapping[str, Any]) -> values.Agent:
    """Returns the agent stored by ``agent_dict``."""
    return values.Agent(
        id=str(data["id"]),
        agent_type=str(data.get("agent_type", "")),
        host=str(data.get("host", "")),
        binary=str(data.get("binary", "")),
        admin_state_up=bool(data.get("admin_state_up", True)),
        alive=bool(data.get("alive", True)),
        heartbeat_at=_time_of(data.get("heartbeat_at")),
        created_at=_time_of(data.get("created_at")),
        capabilities=convert.capabilities_from_json(data.get("capabilities", {})),
    )


def _time_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _time_of(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
