"""The statements portapi runs, as functions that take an open session.

Hot paths use single Core statements: reading a port with its binding and levels is one query,
recording new binding inputs is one ``UPDATE ... RETURNING``, and committing a result is one
compare-and-set ``UPDATE`` plus one ``INSERT`` of the levels. Callers own the transactions
(``services.sql.write_session`` / ``read_session``); ``run_write`` retries a whole write
transaction after a deadlock or serialization failure.

Statements on the bind path are built once at import with bound parameters, so each call only
executes them (building and cache-keying a statement costs more than running it on SQLite).

Invariant kept here: a binding has levels if and only if its state is BOUND. Changing the inputs
deletes the levels in the same write; a result is only stored over a state that is not BOUND.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import resources as r
from services.portapi.db import models

logger = logging.getLogger(__name__)

T = TypeVar("T")

N = models.networks
P = models.ports
B = models.port_bindings
L = models.port_binding_levels

WRITE_TRIES = 5


def now() -> datetime:
    """Returns the current time as naive UTC, the form every stored time takes."""
    return datetime.now(UTC).replace(tzinfo=None)


def dumps(value: Any) -> str:
    """Serializes a JSON document compactly and deterministically, as it is stored."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# SQLite lets one writer in at a time. Threads of this process queue on this lock instead of
# polling the file lock in SQLite's busy handler, which sleeps up to 100 ms between polls.
_SQLITE_WRITER = threading.Lock()


def run_write(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Runs ``work`` in a write transaction, again from the start (up to WRITE_TRIES times) when
    the database reports a deadlock, a serialization failure or a lock timeout. ``work`` must
    not open another write transaction."""
    bind = factory.kw.get("bind")
    serialize = bind is not None and bind.dialect.name == "sqlite"
    for attempt in range(1, WRITE_TRIES + 1):
        try:
            with (
                _SQLITE_WRITER if serialize else contextlib.nullcontext(),
                sql.write_session(factory) as session,
            ):
                return work(session)
        except Exception as exc:
            if attempt == WRITE_TRIES or not sql.is_retryable(exc):
                raise
            logger.info("retrying a write transaction after %s (attempt %d)", exc, attempt)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------- networks


def insert_network(
    session: Session, network_id: str, spec: r.NetworkSpec, request_id: str | None
) -> None:
    """Inserts a CREATING network without segments. Raises IntegrityError if request_id is taken."""
    session.execute(
        insert(N).values(
            id=network_id,
            name=spec.name,
            project_id=spec.project_id,
            shared=spec.shared,
            admin_state_up=spec.admin_state_up,
            mtu=0,
            segments="[]",
            status=r.NETWORK_CREATING,
            create_time=now(),
            request_id=request_id,
        )
    )


def store_segments(
    session: Session, network_id: str, segments: Sequence[r.Segment], mtu: int
) -> bool:
    """Caches the segments and MTU of a CREATING network and makes it ACTIVE. Returns False,
    writing nothing, if the network is no longer CREATING (finished or being deleted)."""
    changed = session.execute(
        update(N)
        .where(N.c.id == network_id, N.c.status == r.NETWORK_CREATING)
        .values(
            segments=dumps([s.to_dict() for s in segments]), mtu=mtu, status=r.NETWORK_ACTIVE
        )
    )
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def set_network_status(session: Session, network_id: str, status: str) -> None:
    """Sets the lifecycle status of a network."""
    session.execute(update(N).where(N.c.id == network_id).values(status=status))


def get_network(session: Session, network_id: str, *, lock: str = "") -> r.Network | None:
    """Returns the network, or None. ``lock`` is ``share`` (keeps it from being deleted until
    the transaction ends) or ``update`` (excludes concurrent port creation); SQLite ignores it
    because its write transactions are serialized anyway."""
    row = session.execute(_GET_NETWORK[lock], {"network_id": network_id}).first()
    return _network(row) if row is not None else None


_SELECT_NETWORK = select(N).where(N.c.id == bindparam("network_id"))
_GET_NETWORK = {
    "": _SELECT_NETWORK,
    "share": _SELECT_NETWORK.with_for_update(read=True, key_share=True),
    "update": _SELECT_NETWORK.with_for_update(),
}


def network_by_request_id(session: Session, request_id: str) -> r.Network | None:
    """Returns the network a CreateNetwork with this request id created, or None."""
    row = session.execute(select(N).where(N.c.request_id == request_id)).first()
    return _network(row) if row is not None else None


def count_ports(session: Session, network_id: str) -> int:
    """Returns how many ports the network has."""
    stmt = select(func.count()).where(P.c.network_id == network_id)
    return int(session.execute(stmt).scalar_one())


def delete_network(session: Session, network_id: str) -> None:
    """Deletes the network row."""
    session.execute(delete(N).where(N.c.id == network_id))


def list_networks(
    session: Session, project_id: str, after: r.Page | None, limit: int
) -> list[r.Network]:
    """Returns up to ``limit`` networks in creation order after ``after``; with ``project_id``,
    only that project's networks and shared ones."""
    stmt = select(N)
    if project_id:
        stmt = stmt.where(or_(N.c.project_id == project_id, N.c.shared.is_(True)))
    stmt = _after(stmt, N, after).order_by(N.c.create_time, N.c.id).limit(limit)
    return [_network(row) for row in session.execute(stmt)]


def _network(row: Any) -> r.Network:
    return r.Network(
        id=row.id,
        name=row.name,
        project_id=row.project_id,
        shared=bool(row.shared),
        admin_state_up=bool(row.admin_state_up),
        mtu=int(row.mtu),
        segments=_segments(row.segments),
        status=row.status,
        create_time=row.create_time,
    )


def _segments(text: str) -> tuple[r.Segment, ...]:
    return tuple(r.Segment.from_dict(item) for item in json.loads(text or "[]"))


def _after(stmt: Select[Any], table: Any, after: r.Page | None) -> Select[Any]:
    if after is None:
        return stmt
    return stmt.where(
        or_(
            table.c.create_time > after.create_time,
            and_(table.c.create_time == after.create_time, table.c.id > after.id),
        )
    )


# ------------------------------------------------------------------------------------- ports


def insert_port(
    session: Session, port_id: str, spec: r.PortSpec, mac_address: str, request_id: str | None
) -> None:
    """Inserts a DOWN port and its UNBOUND binding (generation 1) with the spec's inputs.

    Raises IntegrityError when the MAC is taken on the network or request_id is taken.
    """
    stamp = now()
    session.execute(
        _INSERT_PORT,
        {
            "id": port_id,
            "network_id": spec.network_id,
            "project_id": spec.project_id,
            "name": spec.name,
            "mac_address": mac_address,
            "device_id": spec.device_id,
            "device_owner": spec.device_owner,
            "admin_state_up": spec.admin_state_up,
            "status": r.PORT_DOWN,
            "create_time": stamp,
            "update_time": stamp,
            "request_id": request_id,
        },
    )
    session.execute(
        _INSERT_BINDING,
        {
            "port_id": port_id,
            "host_id": spec.inputs.host_id,
            "vnic_type": spec.inputs.vnic_type,
            "profile": dumps(dict(spec.inputs.profile)),
            "vif_type": r.VIF_TYPE_UNBOUND,
            "vif_details": "{}",
            "state": r.UNBOUND,
            "trace": "[]",
            "failure_message": "",
            "generation": 1,
        },
    )


_INSERT_PORT = insert(P)
_INSERT_BINDING = insert(B)


def port_id_by_request_id(session: Session, request_id: str) -> str | None:
    """Returns the id of the port a CreatePort with this request id created, or None."""
    return session.execute(select(P.c.id).where(P.c.request_id == request_id)).scalar_one_or_none()


_PORT_COLUMNS = (
    P.c.id, P.c.network_id, P.c.project_id, P.c.name, P.c.mac_address, P.c.device_id,
    P.c.device_owner, P.c.admin_state_up, P.c.status, P.c.create_time, P.c.update_time,
    B.c.host_id, B.c.vnic_type, B.c.profile, B.c.vif_type, B.c.vif_details, B.c.state,
    B.c.trace, B.c.failure_message, B.c.generation,
)
_LEVEL_COLUMNS = (
    L.c.level.label("level"), L.c.driver.label("level_driver"), L.c.segment.label("level_segment")
)


_GET_PORT = (
    select(*_PORT_COLUMNS, *_LEVEL_COLUMNS)
    .select_from(P.join(B, B.c.port_id == P.c.id).outerjoin(L, L.c.port_id == P.c.id))
    .where(P.c.id == bindparam("port_id"))
    .order_by(L.c.level)
)


def get_port(session: Session, port_id: str) -> r.Port | None:
    """Returns the port with its binding and levels (one query), or None."""
    ports = _ports_with_levels(session.execute(_GET_PORT, {"port_id": port_id}))
    return ports[0] if ports else None


def list_ports(
    session: Session, filters: Mapping[str, str], after: r.Page | None, limit: int
) -> list[r.Port]:
    """Returns up to ``limit`` ports in creation order after ``after``, matching every non-empty
    filter among network_id, host_id, device_id and project_id (one query)."""
    page = select(P.c.id).select_from(P.join(B, B.c.port_id == P.c.id))
    for name, column in (
        ("network_id", P.c.network_id),
        ("host_id", B.c.host_id),
        ("device_id", P.c.device_id),
        ("project_id", P.c.project_id),
    ):
        if filters.get(name):
            page = page.where(column == filters[name])
    page_ids = _after(page, P, after).order_by(P.c.create_time, P.c.id).limit(limit).subquery()
    stmt = (
        select(*_PORT_COLUMNS, *_LEVEL_COLUMNS)
        .select_from(
            page_ids.join(P, P.c.id == page_ids.c.id)
            .join(B, B.c.port_id == P.c.id)
            .outerjoin(L, L.c.port_id == P.c.id)
        )
        .order_by(P.c.create_time, P.c.id, L.c.level)
    )
    return _ports_with_levels(session.execute(stmt))


def lock_port(session: Session, port_id: str) -> tuple[r.Port, tuple[r.Segment, ...]] | None:
    """Returns the port (binding levels NOT loaded) and its network's cached segments, locking
    the port and binding rows until the transaction ends; None if there is no such port.

    The lock is FOR NO KEY UPDATE, which does not block the key-share locks that foreign key
    checks of concurrent inserts take.
    """
    row = session.execute(_LOCK_PORT, {"port_id": port_id}).first()
    if row is None:
        return None
    return _port(row, ()), _segments(row.network_segments)


_LOCK_PORT = (
    select(*_PORT_COLUMNS, N.c.segments.label("network_segments"))
    .select_from(P.join(B, B.c.port_id == P.c.id).join(N, N.c.id == P.c.network_id))
    .where(P.c.id == bindparam("port_id"))
    .with_for_update(key_share=True, of=[P, B])
)


def update_port_fields(session: Session, port_id: str, values: Mapping[str, Any]) -> None:
    """Sets plain port columns (name, admin_state_up, device_id, device_owner, status) and
    update_time."""
    params = {f"new_{name}": value for name, value in values.items()}
    params.update(u_port_id=port_id, new_update_time=now())
    session.execute(_update_port_stmt(tuple(sorted(values))), params)


@functools.cache
def _update_port_stmt(columns: tuple[str, ...]) -> Any:
    names = (*columns, "update_time")
    return (
        update(P)
        .where(P.c.id == bindparam("u_port_id"))
        .values({name: bindparam(f"new_{name}") for name in names})
    )


def write_inputs(
    session: Session, port_id: str, inputs: r.BindingInputs, *, had_levels: bool
) -> int:
    """Stores new binding inputs, resets the result to UNBOUND and bumps the generation, in one
    statement; deletes the levels if the binding had any. Returns the new generation."""
    params = {
        "w_port_id": port_id,
        "w_host_id": inputs.host_id,
        "w_vnic_type": inputs.vnic_type,
        "w_profile": dumps(dict(inputs.profile)),
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
        vif_type=r.VIF_TYPE_UNBOUND,
        vif_details="{}",
        state=r.UNBOUND,
        trace="[]",
        failure_message="",
        generation=B.c.generation + 1,
    )
    .returning(B.c.generation)
)
_DELETE_LEVELS = delete(L).where(L.c.port_id == bindparam("port_id"))


def commit_result(
    session: Session, port_id: str, generation: int, result: r.BindingResult
) -> bool:
    """Stores ``result`` if the binding is still at ``generation`` and not BOUND (compare-and-set
    on the row count), with its levels. Returns False, writing nothing, otherwise."""
    params = {
        "c_port_id": port_id,
        "c_generation": generation,
        "c_vif_type": result.vif_type,
        "c_vif_details": dumps(dict(result.vif_details)),
        "c_state": result.state,
        "c_trace": dumps([_verdict_dict(v) for v in result.trace]),
        "c_failure_message": result.failure_message,
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
                    "segment": dumps(level.segment.to_dict()),
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
        B.c.state != r.BOUND,
    )
    .values(
        vif_type=bindparam("c_vif_type"),
        vif_details=bindparam("c_vif_details"),
        state=bindparam("c_state"),
        trace=bindparam("c_trace"),
        failure_message=bindparam("c_failure_message"),
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
    ticket = r.BindTicket(port_id, row.network_id, int(row.generation), inputs,
                          _segments(row.segments))
    return row.state, ticket


_BINDING_STATE = (
    select(
        P.c.network_id, B.c.host_id, B.c.vnic_type, B.c.profile, B.c.state, B.c.generation,
        N.c.segments,
    )
    .select_from(P.join(B, B.c.port_id == P.c.id).join(N, N.c.id == P.c.network_id))
    .where(P.c.id == bindparam("port_id"))
)


def delete_port(session: Session, port_id: str) -> None:
    """Deletes the port; its binding and levels go with it (ON DELETE CASCADE)."""
    session.execute(delete(P).where(P.c.id == port_id))


def _ports_with_levels(rows: Iterable[Any]) -> list[r.Port]:
    grouped: dict[str, tuple[Any, list[r.BindingLevel]]] = {}
    for row in rows:
        entry = grouped.setdefault(row.id, (row, []))
        if row.level is not None:
            segment = r.Segment.from_dict(json.loads(row.level_segment))
            entry[1].append(r.BindingLevel(row.level, row.level_driver, segment))
    return [_port(row, tuple(levels)) for row, levels in grouped.values()]


def _port(row: Any, levels: tuple[r.BindingLevel, ...]) -> r.Port:
    result = r.BindingResult(
        state=row.state,
        vif_type=row.vif_type,
        vif_details=json.loads(row.vif_details),
        levels=levels,
        trace=tuple(_verdict(item) for item in json.loads(row.trace)),
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


def _verdict_dict(verdict: r.Verdict) -> dict[str, Any]:
    return {
        "level": verdict.level,
        "driver": verdict.driver,
        "outcome": verdict.outcome,
        "segment_id": verdict.segment_id,
        "duration": verdict.duration,
        "reasons": [
            {"code": x.code, "message": x.message, "segment_id": x.segment_id,
             "details": dict(x.details)}
            for x in verdict.reasons
        ],
    }


def _verdict(data: Mapping[str, Any]) -> r.Verdict:
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
