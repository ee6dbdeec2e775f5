"""Stored rows to portapi's typed values and back: the JSON documents and the row shapes.

JSON is stored compactly and deterministically (``dumps``) so that SQLite and PostgreSQL hold the
same text and size limits apply to exactly what is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.portapi import resources as r


def now() -> datetime:
    """Returns the current time as naive UTC, the form every stored time takes."""
    return datetime.now(UTC).replace(tzinfo=None)


def dumps(value: Any) -> str:
    """Serializes a JSON document compactly and deterministically, as it is stored."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def segments(text: str) -> tuple[r.Segment, ...]:
    """Returns the segments of a stored JSON list."""
    return tuple(r.Segment.from_dict(item) for item in json.loads(text or "[]"))


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
    )


def ports_with_levels(rows: Iterable[Any]) -> list[r.Port]:
    """Returns the ports of rows of ports joined with their binding and (outer) their levels,
    ordered by port then level."""
    grouped: dict[str, tuple[Any, list[r.BindingLevel]]] = {}
    for row in rows:
        entry = grouped.setdefault(row.id, (row, []))
        if row.level is not None:
            segment = r.Segment.from_dict(json.loads(row.level_segment))
            entry[1].append(r.BindingLevel(row.level, row.level_driver, segment))
    return [port(row, tuple(levels)) for row, levels in grouped.values()]


def port(row: Any, levels: tuple[r.BindingLevel, ...]) -> r.Port:
    """Returns the port of a row of a port joined with its binding."""
    result = r.BindingResult(
        state=row.state,
        vif_type=row.vif_type,
        vif_details=json.loads(row.vif_details),
        levels=levels,
        trace=tuple(verdict(item) for item in json.loads(row.trace)),
        failure_message=row.failure_message,
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
        binding=r.Binding(inputs, result, int(row.generation)),
        create_time=row.create_time,
        update_time=row.update_time,
    )


def verdict_dict(verdict: r.Verdict) -> dict[str, Any]:
    """Returns a verdict as a JSON-ready dict."""
    return {
        "level": verdict.level,
        "driver": verdict.driver,
        "outcome": verdict.outcome,
        "segment_id": verdict.segment_id,
        "duration": verdict.duration,
        "reasons": [
            {
                "code": x.code,
                "message": x.message,
                "segment_id": x.segment_id,
                "details": dict(x.details),
            }
            for x in verdict.reasons
        ],
    }


def verdict(data: Mapping[str, Any]) -> r.Verdict:
    """Returns the verdict stored by ``verdict_dict``."""
    return r.Verdict(
        level=int(data["level"]),
        driver=str(data["driver"]),
        outcome=str(data["outcome"]),
        segment_id=str(data.get("segment_id", "")),
        duration=float(data.get("duration", 0.0)),
        reasons=tuple(
            r.DeclineReason(x["code"], x["message"], x.get("segment_id", ""), x.get("details", {}))
            for x in data.get("reasons", ())
        ),
    )
