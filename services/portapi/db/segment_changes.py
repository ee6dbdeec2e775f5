"""The statements of changing a network's static segments: what the rules look at (the vif
types of the network's ports, the ports bound through a segment), marking a change pending,
and storing the segments typemgr answered with into the network's cache and its ports'
binding levels."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from ml2_contract import values, vocabulary
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from services.portapi.db import codec, models

N = models.networks
P = models.ports
B = models.port_bindings
L = models.port_binding_levels


def ports_with_vif_types_other_than(
    session: Session, network_id: str, allowed: Collection[str], limit: int
) -> list[tuple[str, str]]:
    """Returns up to ``limit`` (port id, vif type) of the network's ports whose vif type is not
    in ``allowed``, in port id order."""
    stmt = (
        select(P.c.id, B.c.vif_type)
        .join(B, B.c.port_id == P.c.id)
        .where(P.c.network_id == network_id, B.c.vif_type.not_in(list(allowed)))
        .order_by(P.c.id)
        .limit(limit)
    )
    return [(row.id, row.vif_type) for row in session.execute(stmt)]


def ports_bound_through(session: Session, segment_id: str, limit: int) -> list[str]:
    """Returns up to ``limit`` ids of ports whose committed binding has a level on the segment."""
    stmt = (
        select(L.c.port_id)
        .where(L.c.segment_id == segment_id)
        .distinct()
        .order_by(L.c.port_id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


SEGMENTATION_ID = "segmentation_id"
ADD = "add"
REMOVE = "remove"
"""The kinds of pending change (``networks.segments_pending_change``)."""


def mark_pending(
    session: Session,
    network_id: str,
    segments: Sequence[values.Segment],
    now: datetime,
    change: str = "",
) -> None:
    """Records that a change of the network's static segments (of kind ``change``) waits for
    typemgr from ``now``, and caches ``segments`` (the segments bindings may be offered
    meanwhile)."""
    session.execute(
        update(N)
        .where(N.c.id == network_id)
        .values(
            segments=codec.dumps([codec.segment_dict(s) for s in segments]),
            segments_pending_since=now,
            segments_pending_change=change,
        )
    )


def clear_pending(session: Session, network_id: str) -> None:
    """Ends the network's pending segment change without changing its segments."""
    session.execute(
        update(N)
        .where(N.c.id == network_id)
        .values(segments_pending_since=None, segments_pending_change="")
    )


def pending_change(session: Session, network_id: str, *, lock: bool = False) -> str:
    """Returns the kind of the network's pending segment change (empty when none, or when the
    network is gone). ``lock`` takes a key-share lock on the network row until the transaction
    ends: a change cannot begin (it locks the row for update) before the transaction ends, and
    the transaction waits for one that is beginning, then sees its mark."""
    stmt = _LOCKED_PENDING_CHANGE if lock else _PENDING_CHANGE
    found = session.execute(stmt, {"network_id": network_id}).scalar_one_or_none()
    return found or ""


_PENDING_CHANGE = select(N.c.segments_pending_change).where(N.c.id == bindparam("network_id"))
_LOCKED_PENDING_CHANGE = _PENDING_CHANGE.with_for_update(read=True, key_share=True)


def store(
    session: Session, network_id: str, segments: Sequence[values.Segment], mtu: int
) -> list[str]:
    """Caches typemgr's static segments and the MTU of the network, ends its pending change,
    rewrites the binding levels on those segments (a new segmentation id) and restarts the
    bindings still being resolved on the network, so that none commits a result resolved on
    the segments as they were (bumping the generation makes that result's compare-and-set
    fail; the binder then resolves again on these segments). Returns the ids of the ports
    whose levels changed."""
    session.execute(
        update(N)
        .where(N.c.id == network_id)
        .values(
            segments=codec.dumps([codec.segment_dict(s) for s in segments]),
            mtu=mtu,
            segments_pending_since=None,
            segments_pending_change="",
        )
    )
    changed: set[str] = set()
    for segment in segments:
        text = codec.dumps(codec.segment_dict(segment))
        stmt = (
            update(L)
            .where(L.c.segment_id == segment.id, L.c.segment != text)
            .values(segment=text)
            .returning(L.c.port_id)
        )
        changed.update(session.execute(stmt).scalars())
    restart_in_flight(session, network_id)
    return sorted(changed)


def restart_in_flight(session: Session, network_id: str) -> None:
    """Bumps the generation of the network's bindings still being resolved (inputs with a
    host, no result yet), so that a result resolved on the segments as they were fails its
    compare-and-set and the binder resolves again on the cached segments."""
    in_flight = select(P.c.id).where(P.c.network_id == network_id).scalar_subquery()
    session.execute(
        update(B)
        .where(
            B.c.port_id.in_(in_flight),
            B.c.state == vocabulary.UNBOUND,
            B.c.pending_since.is_not(None),
        )
        .values(generation=B.c.generation + 1)
    )


def due(session: Session, cutoff: datetime, limit: int) -> list[str]:
    """Returns up to ``limit`` networks whose segment change has waited since before
    ``cutoff``, longest first."""
    stmt = (
        select(N.c.id)
        .where(N.c.segments_pending_since < cutoff)
        .order_by(N.c.segments_pending_since, N.c.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def claim(session: Session, network_id: str, cutoff: datetime, now: datetime) -> bool:
    """Claims the network's pending segment change (its pending time becomes ``now``) if it
    waits since before ``cutoff``; returns whether this replica won it."""
    stmt = (
        update(N)
        .where(N.c.id == network_id, N.c.segments_pending_since < cutoff)
        .values(segments_pending_since=now)
    )
    return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]
