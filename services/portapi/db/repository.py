"""The statements on networks and ports, as functions that take an open session, and
``run_write``, the write transaction every portapi write goes through.

Hot paths use single Core statements built once at import: reading a port with its binding and
levels is one query; locking a port for an update reads its network's cached segments in the same
query. Callers own the transactions (``services.sql.write_session`` / ``read_session``);
``run_write`` retries a whole write transaction after a deadlock or serialization failure. The
statements of the bind flow itself are in ``bindings``.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ml2_contract import values, vocabulary
from sqlalchemy import (
    Boolean,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import resources as r
from services.portapi.db import codec, models
from services.portapi.db import events as db_events

logger = logging.getLogger(__name__)

T = TypeVar("T")

N = models.networks
P = models.ports
B = models.port_bindings
L = models.port_binding_levels

WRITE_TRIES = 5


CommitListener = Callable[[Sequence[str]], None]
_commit_listeners: list[CommitListener] = []


def add_commit_listener(listener: CommitListener) -> None:
    """Calls ``listener`` with the event types of every write transaction of this process that
    committed port events (the hub's in-process wakeup, the metrics)."""
    _commit_listeners.append(listener)


def remove_commit_listener(listener: CommitListener) -> None:
    """Stops calling ``listener``."""
    if listener in _commit_listeners:
        _commit_listeners.remove(listener)


def run_write(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Runs ``work`` in a write transaction, again from the start (up to WRITE_TRIES times) when
    the database reports a deadlock, a serialization failure or a lock timeout. ``work`` must
    not open another write transaction.

    The port events ``work`` staged are written last, just before the commit (``events.flush``),
    and the commit listeners hear of them once it succeeded."""
    for attempt in range(1, WRITE_TRIES + 1):
        try:
            with sql.write_session(factory) as session:
                session.info.pop(db_events.PENDING, None)
                result = work(session)
                written = db_events.flush(session, codec.now())
        except Exception as exc:
            if attempt == WRITE_TRIES or not sql.is_retryable(exc):
                raise
            logger.info("retrying a write transaction after %s (attempt %d)", exc, attempt)
            continue
        for listener in list(_commit_listeners) if written else ():
            try:
                listener(written)
            except Exception:  # a listener's failure must not fail a committed write
                logger.exception("a port event commit listener failed")
        return result
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------- networks


def insert_network(
    session: Session, network_id: str, spec: r.NetworkSpec, request_id: str | None
) -> None:
    """Inserts a CREATING network without segments, pending from now. Raises IntegrityError if
    request_id is taken."""
    stamp = codec.now()
    session.execute(
        insert(N).values(
            id=network_id,
            name=spec.name,
            project_id=spec.project_id,
            shared=spec.shared,
            admin_state_up=spec.admin_state_up,
            mtu=0,
            mtu_requested=spec.mtu,
            segments="[]",
            status=r.NETWORK_CREATING,
            create_time=stamp,
            request_id=request_id,
            pending_since=stamp,
        )
    )


def store_segments(
    session: Session, network_id: str, segments: Sequence[values.Segment], mtu: int
) -> bool:
    """Caches the segments and MTU of a CREATING network and makes it ACTIVE. Returns False,
    writing nothing, if the network is no longer CREATING (finished or being deleted)."""
    changed = session.execute(
        update(N)
        .where(N.c.id == network_id, N.c.status == r.NETWORK_CREATING)
        .values(
            segments=codec.dumps([codec.segment_dict(s) for s in segments]),
            mtu=mtu,
            status=r.NETWORK_ACTIVE,
            pending_since=None,
        )
    )
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def update_network_fields(session: Session, network_id: str, values: Mapping[str, Any]) -> None:
    """Sets columns of a network row (name, admin_state_up, mtu)."""
    if values:
        session.execute(update(N).where(N.c.id == network_id).values(**values))


def set_network_status(session: Session, network_id: str, status: str) -> None:
    """Sets the lifecycle status of a network: ACTIVE ends its pending time, CREATING and
    DELETING start it now."""
    pending = None if status == r.NETWORK_ACTIVE else codec.now()
    session.execute(
        update(N).where(N.c.id == network_id).values(status=status, pending_since=pending)
    )


def get_network(session: Session, network_id: str, *, lock: str = "") -> r.Network | None:
    """Returns the network, or None. ``lock`` is ``share`` (keeps it from being deleted until
    the transaction ends) or ``update`` (excludes concurrent port creation); SQLite ignores it
    because its write transactions are serialized anyway."""
    row = session.execute(_GET_NETWORK[lock], {"network_id": network_id}).first()
    return codec.network(row) if row is not None else None


_SELECT_NETWORK = select(N).where(N.c.id == bindparam("network_id"))
_GET_NETWORK = {
    "": _SELECT_NETWORK,
    "share": _SELECT_NETWORK.with_for_update(read=True, key_share=True),
    "update": _SELECT_NETWORK.with_for_update(),
}


def network_by_request_id(session: Session, request_id: str) -> r.Network | None:
    """Returns the network a CreateNetwork with this request id created, or None."""
    row = session.execute(select(N).where(N.c.request_id == request_id)).first()
    return codec.network(row) if row is not None else None


def count_ports(session: Session, network_id: str) -> int:
    """Returns how many ports the network has."""
    stmt = select(func.count()).where(P.c.network_id == network_id)
    return int(session.execute(stmt).scalar_one())


def delete_network(session: Session, network_id: str) -> None:
    """Deletes the network row."""
    session.execute(delete(N).where(N.c.id == network_id))


# ``shared = true`` (not ``IS true``), which both databases match against an index.
_SHARED = N.c.shared == literal(True, Boolean)

NetworkPosition = tuple[datetime, str]
"""Where a network listing resumes: after the network with this (create_time, id)."""


def list_networks(
    session: Session, project_id: str, after: NetworkPosition | None, limit: int
) -> list[r.Network]:
    """Returns up to ``limit`` networks in (create_time, id) order after ``after``; with
    ``project_id``, only that project's networks and shared ones.

    Every read is one range of one index in listing order: all networks from
    (create_time, id); a project's from (project_id, create_time, id) merged here with the
    shared networks of other projects from (shared, create_time, id). So a page costs its size
    at any depth.
    """
    if not project_id:
        return _networks(session, (), after, limit)
    own = _networks(session, (N.c.project_id == project_id,), after, limit)
    shared = _networks(session, (_SHARED, N.c.project_id != project_id), after, limit)
    merged = heapq.merge(own, shared, key=lambda n: (n.create_time, n.id))
    return list(itertools.islice(merged, limit))


def list_networks_within(
    session: Session, project_id: str, shared: bool, after: NetworkPosition | None, limit: int
) -> list[r.Network]:
    """As ``list_networks`` for a caller that sees only ``project_id``'s networks (none when
    empty) and, if ``shared``, the shared ones: each part one range of one index."""
    if project_id and shared:
        return list_networks(session, project_id, after, limit)
    if project_id:
        return _networks(session, (N.c.project_id == project_id,), after, limit)
    if shared:
        return _networks(session, (_SHARED,), after, limit)
    return []


def list_networks_statements(project_id: str) -> list[Select[Any]]:
    """The statements ``list_networks`` runs for ``project_id`` (for the query plan checks)."""
    position = (datetime(2000, 1, 1), "")
    if not project_id:
        return [_networks_stmt((), position, 100)]
    return [
        _networks_stmt((N.c.project_id == project_id,), position, 100),
        _networks_stmt((_SHARED, N.c.project_id != project_id), position, 100),
    ]


def _networks(
    session: Session, where: tuple[Any, ...], after: NetworkPosition | None, limit: int
) -> list[r.Network]:
    stmt = _networks_stmt(where, after, limit)
    return [codec.network(row) for row in session.execute(stmt)]


def _networks_stmt(
    where: tuple[Any, ...], after: NetworkPosition | None, limit: int
) -> Select[Any]:
    stmt = select(N).where(*where)
    if after is not None:
        stmt = stmt.where(sql.after_position((N.c.create_time, N.c.id), after))
    return stmt.order_by(N.c.create_time, N.c.id).limit(limit)


# ------------------------------------------------------------------------------------- ports


def insert_port(
    session: Session,
    port_id: str,
    spec: r.PortSpec,
    mac_address: str,
    request_id: str | None,
    status_message: str = "unbound",
) -> None:
    """Inserts a DOWN port (``status_message`` saying why) and its UNBOUND binding
    (generation 1) with the spec's inputs.

    Raises IntegrityError when the MAC is taken on the network or request_id is taken.
    """
    stamp = codec.now()
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
            "status_message": status_message,
            "status_agent_id": "",
            "status_time": stamp,
        },
    )
    session.execute(
        _INSERT_BINDING,
        {
            "port_id": port_id,
            "host_id": spec.inputs.host_id,
            "vnic_type": spec.inputs.vnic_type,
            "profile": codec.dumps(dict(spec.inputs.profile)),
            "vif_type": vocabulary.VIF_TYPE_UNBOUND,
            "vif_details": "{}",
            "state": vocabulary.UNBOUND,
            "trace": "[]",
            "failure_message": "",
            "generation": 1,
            "port_status": "",
            "original": "",
            "pending_since": stamp if spec.inputs.host_id else None,
            "create_time": stamp,
        },
    )


_INSERT_PORT = insert(P)
_INSERT_BINDING = insert(B)


def port_id_by_request_id(session: Session, request_id: str) -> str | None:
    """Returns the id of the port a CreatePort with this request id created, or None."""
    return session.execute(select(P.c.id).where(P.c.request_id == request_id)).scalar_one_or_none()


_PORT_COLUMNS = (
    P.c.id,
    P.c.network_id,
    P.c.project_id,
    P.c.name,
    P.c.mac_address,
    P.c.device_id,
    P.c.device_owner,
    P.c.admin_state_up,
    P.c.status,
    P.c.create_time,
    P.c.update_time,
    P.c.status_message,
    P.c.status_agent_id,
    B.c.host_id,
    B.c.vnic_type,
    B.c.profile,
    B.c.vif_type,
    B.c.vif_details,
    B.c.state,
    B.c.trace,
    B.c.failure_message,
    B.c.generation,
    B.c.port_status,
    B.c.original,
)
_LEVEL_COLUMNS = (
    L.c.level.label("level"),
    L.c.driver.label("level_driver"),
    L.c.segment.label("level_segment"),
)


_GET_PORT = (
    select(*_PORT_COLUMNS, *_LEVEL_COLUMNS)
    .select_from(P.join(B, B.c.port_id == P.c.id).outerjoin(L, L.c.port_id == P.c.id))
    .where(P.c.id == bindparam("port_id"))
    .order_by(L.c.level)
)


_GET_PORT_LOCKED = _GET_PORT.with_for_update(key_share=True, of=[P, B])


def get_port(session: Session, port_id: str, *, lock: bool = False) -> r.Port | None:
    """Returns the port with its binding and levels (one query), or None. With ``lock`` the
    port and binding rows stay locked until the transaction ends (as ``lock_port``)."""
    stmt = _GET_PORT_LOCKED if lock else _GET_PORT
    ports = codec.ports_with_levels(session.execute(stmt, {"port_id": port_id}))
    return ports[0] if ports else None


PortPosition = tuple[datetime, str]
"""Where a port listing resumes: after the port with this (create_time, id)."""

PORT_FILTERS = ("network_id", "host_id", "device_id", "project_id")
_PORT_FILTER_COLUMNS = {
    "network_id": P.c.network_id,
    "device_id": P.c.device_id,
    "project_id": P.c.project_id,
    "host_id": B.c.host_id,
}


def list_ports(
    session: Session, filters: Mapping[str, str], after: PortPosition | None, limit: int
) -> list[r.Port]:
    """Returns up to ``limit`` ports in (create_time, id) order after ``after``, matching every
    non-empty filter among network_id, host_id, device_id and project_id.

    Two queries: the page's ids, one range of an index in listing order (see ``page_ids``),
    then those ports with their bindings and levels by primary key.
    """
    ids = [row.id for row in session.execute(page_ids(filters, after, limit))]
    if not ids:
        return []
    rows = session.execute(PORTS_BY_ID, {"ids": ids})
    found = {port.id: port for port in codec.ports_with_levels(rows)}
    return [found[port_id] for port_id in ids if port_id in found]


def page_ids(filters: Mapping[str, str], after: PortPosition | None, limit: int) -> Select[Any]:
    """The statement of the ids of one page of ports, in listing order.

    A port's create_time is also on its binding, so each filter has an index that starts with
    its column and continues in listing order: (network_id | device_id | project_id,
    create_time, id) on ports, (host_id, create_time, port_id) on port_bindings, and
    (create_time, id) without filters. With a host filter the read walks the bindings' index
    and joins each port by primary key; with several filters the planner walks one of their
    indexes and checks the others on the rows it meets.
    """
    wanted = {name: filters[name] for name in PORT_FILTERS if filters.get(name)}
    if "host_id" in wanted:
        key: tuple[Any, ...] = (B.c.create_time, B.c.port_id)
        stmt = select(B.c.port_id.label("id")).where(B.c.host_id == wanted.pop("host_id"))
        if wanted:
            stmt = stmt.join(P, P.c.id == B.c.port_id)
    else:
        key = (P.c.create_time, P.c.id)
        stmt = select(P.c.id)
    for name, value in wanted.items():
        stmt = stmt.where(_PORT_FILTER_COLUMNS[name] == value)
    if after is not None:
        stmt = stmt.where(sql.after_position(key, after))
    return stmt.order_by(*key).limit(limit)


# The ports of a page with their bindings and levels, by primary key; levels sorted in codec.
PORTS_BY_ID = (
    select(*_PORT_COLUMNS, *_LEVEL_COLUMNS)
    .select_from(P.join(B, B.c.port_id == P.c.id).outerjoin(L, L.c.port_id == P.c.id))
    .where(P.c.id.in_(bindparam("ids", expanding=True)))
)


def lock_port(session: Session, port_id: str) -> tuple[r.Port, tuple[values.Segment, ...]] | None:
    """Returns the port (binding levels NOT loaded) and its network's cached segments, locking
    the port and binding rows until the transaction ends; None if there is no such port.

    The lock is FOR NO KEY UPDATE, which does not block the key-share locks that foreign key
    checks of concurrent inserts take.
    """
    row = session.execute(_LOCK_PORT, {"port_id": port_id}).first()
    if row is None:
        return None
    return codec.port(row, ()), codec.segments(row.network_segments)


_LOCK_PORT = (
    select(*_PORT_COLUMNS, N.c.segments.label("network_segments"))
    .select_from(P.join(B, B.c.port_id == P.c.id).join(N, N.c.id == P.c.network_id))
    .where(P.c.id == bindparam("port_id"))
    .with_for_update(key_share=True, of=[P, B])
)


def lock_port_rows(session: Session, port_id: str) -> None:
    """Locks the port and binding rows until the transaction ends (as ``lock_port``), reading
    nothing else."""
    session.execute(_LOCK_PORT_ROWS, {"port_id": port_id})


_LOCK_PORT_ROWS = (
    select(P.c.id)
    .select_from(P.join(B, B.c.port_id == P.c.id))
    .where(P.c.id == bindparam("port_id"))
    .with_for_update(key_share=True, of=[P, B])
)


def port_with_mac(session: Session, network_id: str, mac_address: str) -> str | None:
    """Returns the id of the network's port that has ``mac_address``, or None."""
    found = session.execute(
        select(P.c.id).where(P.c.network_id == network_id, P.c.mac_address == mac_address)
    ).first()
    return None if found is None else str(found.id)


def update_port_fields(session: Session, port_id: str, values: Mapping[str, Any]) -> None:
    """Sets plain port columns (name, admin_state_up, device_id, device_owner, mac_address,
    status) and update_time."""
    params = {f"new_{name}": value for name, value in values.items()}
    params.update(u_port_id=port_id, new_update_time=codec.now())
    session.execute(_update_port_stmt(tuple(sorted(values))), params)


@functools.cache
def _update_port_stmt(columns: tuple[str, ...]) -> Any:
    names = (*columns, "update_time")
    return (
        update(P)
        .where(P.c.id == bindparam("u_port_id"))
        .values({name: bindparam(f"new_{name}") for name in names})
    )


def set_status(
    session: Session, port_id: str, status: str, message: str, agent_id: str, stamp: datetime
) -> None:
    """Sets the port's status, its message and reporting agent, and update_time; status_time
    moves only when the status itself changes."""
    session.execute(
        _SET_STATUS,
        {
            "s_port_id": port_id,
            "s_status": status,
            "s_message": message,
            "s_agent_id": agent_id,
            "s_stamp": stamp,
        },
    )


_SET_STATUS = (
    update(P)
    .where(P.c.id == bindparam("s_port_id"))
    .values(
        status=bindparam("s_status"),
        status_message=bindparam("s_message"),
        status_agent_id=bindparam("s_agent_id"),
        update_time=bindparam("s_stamp"),
        status_time=case(
            (P.c.status != bindparam("s_status"), bindparam("s_stamp")), else_=P.c.status_time
        ),
    )
)


def ports_reported_by(session: Session, agent_id: str, statuses: Sequence[str]) -> list[str]:
    """Returns the ids of the ports in one of ``statuses`` whose device ``agent_id`` reported
    last."""
    stmt = select(P.c.id).where(P.c.status_agent_id == agent_id, P.c.status.in_(statuses))
    return [str(port_id) for port_id in session.execute(stmt).scalars()]


def reporting_agents(session: Session, statuses: Sequence[str]) -> list[str]:
    """Returns the agents that last reported the devices of ports in one of ``statuses``."""
    stmt = (
        select(P.c.status_agent_id)
        .where(P.c.status.in_(statuses), P.c.status_agent_id != "")
        .distinct()
    )
    return [str(agent_id) for agent_id in session.execute(stmt).scalars()]


def count_by_status(session: Session) -> dict[str, int]:
    """Returns the number of ports per status."""
    stmt = select(P.c.status, func.count()).group_by(P.c.status)
    return {str(status): int(n) for status, n in session.execute(stmt)}


def count_in_status_since(session: Session, status: str, before: datetime) -> int:
    """Returns how many ports have had ``status`` since before ``before``."""
    stmt = select(func.count()).where(P.c.status == status, P.c.status_time < before)
    return int(session.execute(stmt).scalar_one())


def delete_port(session: Session, port_id: str) -> None:
    """Deletes the port; its binding and levels go with it (ON DELETE CASCADE)."""
    session.execute(delete(P).where(P.c.id == port_id))


def matching_ports(
    session: Session, filt: r.WatchFilter, after_id: str, limit: int
) -> list[r.Port]:
    """Returns up to ``limit`` ports matching ``filt`` (a port's host is its binding's host) in
    id order after ``after_id``, with their bindings and levels: one page of a watcher's
    snapshot."""
    stmt = select(P.c.id).select_from(P.join(B, B.c.port_id == P.c.id)).where(P.c.id > after_id)
    if filt.port_ids:
        stmt = stmt.where(P.c.id.in_(sorted(filt.port_ids)))
    if filt.network_ids:
        stmt = stmt.where(P.c.network_id.in_(sorted(filt.network_ids)))
    if filt.host_ids:
        stmt = stmt.where(B.c.host_id.in_(sorted(filt.host_ids)))
    ids = [
        str(port_id) for port_id in session.execute(stmt.order_by(P.c.id).limit(limit)).scalars()
    ]
    if not ids:
        return []
    found = {
        port.id: port
        for port in codec.ports_with_levels(session.execute(PORTS_BY_ID, {"ids": ids}))
    }
    return [found[port_id] for port_id in ids if port_id in found]
