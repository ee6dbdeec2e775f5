"""Reading and writing ``network_segments`` rows; rows become ``Segment`` values here."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import sql
from services.typemgr.db.models import NetworkSegment
from services.typemgr.segments import Segment


class SegmentExists(Exception):
    """A concurrent caller stored the same static index or dynamic pool of the network first."""


def to_segment(row: NetworkSegment) -> Segment:
    """Returns the value form of a row."""
    return Segment(
        id=row.id,
        network_id=row.network_id,
        network_type=row.network_type,
        physical_network=row.physical_network,
        segmentation_id=int(row.segmentation_id),
        mtu=row.mtu,
        is_dynamic=row.is_dynamic,
        segment_index=row.segment_index,
    )


def add(session: Session, segment: Segment) -> None:
    """Stores ``segment``. Raises SegmentExists if the network already has a static segment at
    that index, or a dynamic segment of that type and physical network."""
    try:
        with session.begin_nested():
            session.execute(
                insert(NetworkSegment).values(
                    id=segment.id,
                    network_id=segment.network_id,
                    network_type=segment.network_type,
                    physical_network=segment.physical_network,
                    segmentation_id=segment.segmentation_id,
                    mtu=segment.mtu,
                    is_dynamic=segment.is_dynamic,
                    segment_index=segment.segment_index,
                )
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
    query = select(NetworkSegment).where(NetworkSegment.network_id == network_id)
    if not include_dynamic:
        query = query.where(NetworkSegment.is_dynamic.is_(False))
    query = query.order_by(
        NetworkSegment.is_dynamic,
        NetworkSegment.segment_index,
        NetworkSegment.created_at,
        NetworkSegment.id,
    )
    if lock:
        query = query.with_for_update()
    return [to_segment(row) for row in session.scalars(query)]


def dynamic_of(
    session: Session, network_id: str, network_type: str, physical_network: str
) -> Segment | None:
    """Returns the network's dynamic segment of that type and physical network, if any."""
    row = session.scalars(
        select(NetworkSegment).where(
            NetworkSegment.network_id == network_id,
            NetworkSegment.network_type == network_type,
            NetworkSegment.physical_network == physical_network,
            NetworkSegment.is_dynamic.is_(True),
        )
    ).first()
    return None if row is None else to_segment(row)


def get(session: Session, segment_id: str, *, lock: bool = False) -> Segment | None:
    """Returns the segment with that id, or None."""
    query = select(NetworkSegment).where(NetworkSegment.id == segment_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    return None if row is None else to_segment(row)


def remove(session: Session, segment_ids: list[str]) -> None:
    """Deletes the segments with those ids."""
    if segment_ids:
        session.execute(delete(NetworkSegment).where(NetworkSegment.id.in_(segment_ids)))
