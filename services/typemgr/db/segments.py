"""Reading and writing ``network_segments`` rows; rows become ``Segment`` values here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from ml2_contract.values import Segment
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import sql
from services.typemgr.db.models import NetworkSegment


class SegmentExists(Exception):
    """A concurrent caller stored the same static index or dynamic pool of the network first."""


_N = NetworkSegment
_COLUMNS = (
    _N.id,
    _N.network_id,
    _N.network_type,
    _N.physical_network,
    _N.segmentation_id,
    _N.mtu,
    _N.is_dynamic,
    _N.segment_index,
)
"""The columns a Segment is made of, read with Core (no ORM objects on the hot path)."""
_INSERT = insert(cast(Table, NetworkSegment.__table__))
"""Built once; each call passes the row as parameters."""


def to_segment(row: Any) -> Segment:
    """Returns the value form of a row of ``_COLUMNS`` (or a NetworkSegment)."""
    return Segment(
        id=row.id,
        network_id=row.network_id,
        network_type=row.network_type,
        physical_network=row.physical_network,
        segmentation_id=int(row.segmentation_id),
        mtu=int(row.mtu),
        is_dynamic=bool(row.is_dynamic),
        segment_index=int(row.segment_index),
    )


def _rows(session: Session, query: Any) -> list[Segment]:
    return [to_segment(row) for row in session.connection().execute(query)]


def add(session: Session, segment: Segment) -> None:
    """Stores ``segment``. Raises SegmentExists if the network already has a static segment at
    that index, or a dynamic segment of that type and physical network; the transaction must
    then be rolled back."""
    # No savepoint: a violation ends the request's transaction, which runs again from scratch.
    try:
        session.connection().execute(
            _INSERT,
            {
                "id": segment.id,
                "network_id": segment.network_id,
                "network_type": segment.network_type,
                "physical_network": segment.physical_network,
                "segmentation_id": segment.segmentation_id,
                "mtu": segment.mtu,
                "is_dynamic": segment.is_dynamic,
                "segment_index": segment.segment_index,
                "created_at": datetime.now(UTC),
            },
        )
    except IntegrityError as exc:
        if sql.is_unique_violation(exc):
            raise SegmentExists() from None
        raise


def of_network(
    session: Session, network_id: str, *, include_dynamic: bool, lock: bool = False
) -> list[Segment]:
    """Returns the network's segments: static ones in index order, then dynamic ones in creation
    order. With ``lock``, the rows are locked until the transaction ends (PostgreSQL)."""
    query = select(*_COLUMNS).where(_N.network_id == network_id)
    if not include_dynamic:
        query = query.where(_N.is_dynamic.is_(False))
    query = query.order_by(_N.is_dynamic, _N.segment_index, _N.created_at, _N.id)
    if lock:
        query = query.with_for_update()
    return _rows(session, query)


def dynamic_of(
    session: Session, network_id: str, network_type: str, physical_network: str
) -> Segment | None:
    """Returns the network's dynamic segment of that type and physical network, if any."""
    found = _rows(
        session,
        select(*_COLUMNS).where(
            _N.network_id == network_id,
            _N.network_type == network_type,
            _N.physical_network == physical_network,
            _N.is_dynamic.is_(True),
        ),
    )
    return found[0] if found else None


def get(session: Session, segment_id: str, *, lock: bool = False) -> Segment | None:
    """Returns the segment with that id, or None."""
    query = select(*_COLUMNS).where(_N.id == segment_id)
    if lock:
        query = query.with_for_update()
    found = _rows(session, query)
    return found[0] if found else None


def set_segmentation_id(session: Session, segment_id: str, segmentation_id: int) -> None:
    """Sets the segmentation id of the segment with that id."""
    session.connection().execute(
        update(_N).where(_N.id == segment_id).values(segmentation_id=segmentation_id)
    )


def remove(session: Session, segment_ids: list[str]) -> None:
    """Deletes the segments with those ids."""
    if segment_ids:
        session.connection().execute(delete(_N).where(_N.id.in_(segment_ids)))
