"""The binding statements of the bind flow: record new inputs, compare-and-set a result, and
reload the current inputs after a lost compare-and-set.

Built once at import with bound parameters: building and cache-keying a statement costs more than
running it on SQLite.

Invariant kept here: a binding has levels if and only if its state is BOUND. Changing the inputs
resets the result to UNBOUND, bumps the generation and deletes the levels in one transaction; a
result is only stored over a state that is not BOUND, for the generation it was resolved for.
"""

from __future__ import annotations

import json

from ml2_contract import values, vocabulary
from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from services.portapi import resources as r
from services.portapi.db import codec, models

N = models.networks
P = models.ports
B = models.port_bindings
L = models.port_binding_levels


def has_lower_levels(session: Session, port_id: str) -> bool:
    """True if the port's committed binding may hold a dynamic segment: it has levels below
    level 0, or a level bound on one of the network's recorded dynamic segments (level 0 is
    offered those after the static ones, and a level 0 driver may bind one directly)."""
    return session.execute(_HAS_DYNAMIC_LEVELS, {"port_id": port_id}).first() is not None


_HAS_DYNAMIC_LEVELS = (
    select(L.c.level)
    .where(
        L.c.port_id == bindparam("port_id"),
        or_(
            L.c.level > 0,
            L.c.segment_id.in_(select(models.network_dynamic_segments.c.segment_id)),
        ),
    )
    .limit(1)
)


def original_of(
    session: Session, port: r.Port, inputs: r.BindingInputs
) -> values.OriginalBinding | None:
    """Returns the original binding ``port`` (as locked, levels loaded or not) has once its
    inputs become ``inputs``: its binding now, when bound; none once unbound (no host); else
    the original it had (a change while no result was bound keeps the last bound binding)."""
    if not inputs.host_id:
        return None
    binding = port.binding
    if binding.result.state != vocabulary.BOUND:
        return binding.original
    levels = binding.result.levels
    if levels:
        bottom: values.Segment | None = levels[-1].segment
    else:
        row = session.execute(_BOTTOM_SEGMENT, {"port_id": port.id}).first()
        bottom = codec.segment(json.loads(row.segment)) if row is not None else None
    return values.OriginalBinding(
        host=binding.inputs.host_id,
        vif_type=binding.result.vif_type,
        vnic_type=binding.inputs.vnic_type,
        profile=binding.inputs.profile,
        vif_details=binding.result.vif_details,
        segment=bottom,
    )


_BOTTOM_SEGMENT = (
    select(L.c.segment)
    .where(L.c.port_id == bindparam("port_id"))
    .order_by(L.c.level.desc())
    .limit(1)
)


def write_inputs(
    session: Session,
    port_id: str,
    inputs: r.BindingInputs,
    *,
    had_levels: bool,
    original: values.OriginalBinding | None = None,
) -> int:
    """Stores new binding inputs and the port's ``original`` binding, resets the result to
    UNBOUND and bumps the generation, in one statement; deletes the levels if the binding had
    any. Returns the new generation. With a host the binding is pending from now on
    (``pending_since``), without one it needs nothing."""
    params = {
        "w_port_id": port_id,
        "w_host_id": inputs.host_id,
        "w_vnic_type": inputs.vnic_type,
        "w_profile": codec.dumps(dict(inputs.profile)),
        "w_pending_since": codec.now() if inputs.host_id else None,
        "w_original": codec.dumps(codec.original_dict(original)) if original is not None else "",
    }
    generation = session.execute(_WRITE_INPUTS, params).scalar_one()
    if had_levels:
        session.execute(_DELETE_LEVELS, {"port_id": port_id})
    return int(generation)


_WRITE_INPUTS = (
    update(B)
    .where(B.c.port_id == bindparam("w_port_id"))
    .values(
        host_id=bindparam("w_host_id"),
        vnic_type=bindparam("w_vnic_type"),
        profile=bindparam("w_profile"),
        vif_type=vocabulary.VIF_TYPE_UNBOUND,
        vif_details="{}",
        state=vocabulary.UNBOUND,
        trace="[]",
        failure_message="",
        port_status="",
        original=bindparam("w_original"),
        generation=B.c.generation + 1,
        pending_since=bindparam("w_pending_since"),
    )
    .returning(B.c.generation)
)
_DELETE_LEVELS = delete(L).where(L.c.port_id == bindparam("port_id"))


def commit_result(
    session: Session, port_id: str, generation: int, result: values.BindingResult
) -> bool:
    """Stores ``result`` if the binding is still at ``generation`` and not BOUND (compare-and-set
    on the row count), with its levels, and ends its pending time. Returns False, writing
    nothing, otherwise."""
    params = {
        "c_port_id": port_id,
        "c_generation": generation,
        "c_vif_type": result.vif_type,
        "c_vif_details": codec.dumps(dict(result.vif_details)),
        "c_state": result.state,
        "c_trace": codec.dumps([codec.verdict_dict(v) for v in result.trace]),
        "c_failure_message": result.failure_message,
        "c_port_status": result.port_status if result.state == vocabulary.BOUND else "",
    }
    if session.execute(_COMMIT_RESULT, params).rowcount != 1:  # type: ignore[attr-defined]
        return False
    if result.levels:
        session.execute(
            _INSERT_LEVELS,
            [
                {
                    "port_id": port_id,
                    "level": level.level,
                    "driver": level.driver,
                    "segment_id": level.segment.id,
                    "segment": codec.dumps(codec.segment_dict(level.segment)),
                }
                for level in result.levels
            ],
        )
    return True


_COMMIT_RESULT = (
    update(B)
    .where(
        B.c.port_id == bindparam("c_port_id"),
        B.c.generation == bindparam("c_generation"),
        B.c.state != vocabulary.BOUND,
    )
    .values(
        vif_type=bindparam("c_vif_type"),
        vif_details=bindparam("c_vif_details"),
        state=bindparam("c_state"),
        trace=bindparam("c_trace"),
        failure_message=bindparam("c_failure_message"),
        port_status=bindparam("c_port_status"),
        pending_since=None,
    )
)
_INSERT_LEVELS = insert(L)


def binding_state(session: Session, port_id: str) -> tuple[str, r.BindTicket] | None:
    """Returns the binding's state and a ticket for its current inputs and generation, or None
    if the port is gone."""
    row = session.execute(_BINDING_STATE, {"port_id": port_id}).first()
    if row is None:
        return None
    inputs = r.BindingInputs(row.host_id, row.vnic_type, json.loads(row.profile))
    ticket = r.BindTicket(
        port_id,
        row.network_id,
        int(row.generation),
        inputs,
        codec.segments(row.segments),
        original=codec.original(row.original),
    )
    return row.state, ticket


_BINDING_STATE = (
    select(
        P.c.network_id,
        B.c.host_id,
        B.c.vnic_type,
        B.c.profile,
        B.c.state,
        B.c.generation,
        B.c.original,
        N.c.segments,
    )
    .select_from(P.join(B, B.c.port_id == P.c.id).join(N, N.c.id == P.c.network_id))
    .where(P.c.id == bindparam("port_id"))
)
