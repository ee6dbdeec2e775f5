"""typemgr's tables (SQLAlchemy 2.0 declarative, typed).

Four tables:

* ``network_segments``: every segment of every network. Static segments are unique per
  (network, index), so two concurrent creations of one network's segments converge on one set;
  dynamic segments are unique per (network, type, physical network), so concurrent binders
  converge on one dynamic segment.
* ``segment_ranges``: the ranges ids are allocated from, one row per range (never one per id):
  default ranges seeded from the configuration, and ranges created through the API.
* ``segment_allocations``: ONLY the ids in use, keyed by (type, physical network, id), each owned
  by one segment. The primary key is what makes concurrent allocators, in one process or many,
  never hand out an id twice. Flat networks hold the row (flat, physnet, 0): one per physnet.
* ``dynamic_segment_holds``: who uses each dynamic segment (reference counting).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of typemgr's tables."""


def _now() -> datetime:
    return datetime.now(UTC)


class NetworkSegment(Base):
    """A segment of a network, static (created with the network) or dynamic (allocated during
    binding). Deleted when released; its allocation row goes with it."""

    __tablename__ = "network_segments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str] = mapped_column(String(36), nullable=False)
    network_type: Mapped[str] = mapped_column(String(32), nullable=False)
    # "" rather than NULL, so that uniqueness over it works on every database.
    physical_network: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    segmentation_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    mtu: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_dynamic: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    segment_index: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=_now
    )

    __table_args__ = (
        CheckConstraint("segmentation_id >= 0", name="ck_network_segments_segmentation_id"),
        Index("ix_network_segments_network_id", "network_id"),
        Index(
            "uq_network_segments_static_index",
            "network_id",
            "segment_index",
            unique=True,
            sqlite_where=text("is_dynamic = 0"),
            postgresql_where=text("NOT is_dynamic"),
        ),
        Index(
            "uq_network_segments_dynamic_pool",
            "network_id",
            "network_type",
            "physical_network",
            unique=True,
            sqlite_where=text("is_dynamic = 1"),
            postgresql_where=text("is_dynamic"),
        ),
    )


class SegmentRange(Base):
    """A range of one pool: ids ``minimum..maximum`` of a network type on a physical network
    (``""`` for tunnels), shared or reserved for one project. Default ranges mirror the
    configuration (synchronised at start); the others are created through the API and survive
    restarts. Ranges of one pool never overlap (checked under a lock when written). Changing or
    deleting a range never touches ``segment_allocations``: ids it leaves out stay allocated."""

    __tablename__ = "segment_ranges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    network_type: Mapped[str] = mapped_column(String(32), nullable=False)
    physical_network: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    minimum: Mapped[int] = mapped_column(BigInteger, nullable=False)
    maximum: Mapped[int] = mapped_column(BigInteger, nullable=False)
    shared: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # "" for a shared range.
    project_id: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=_now
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=_now
    )

    __table_args__ = (
        Index("ix_segment_ranges_pool", "network_type", "physical_network", "minimum"),
        # ListSegmentRanges of one physical network pages in (network_type, minimum) order.
        Index(
            "ix_segment_ranges_physical_network",
            "physical_network",
            "network_type",
            "minimum",
        ),
        CheckConstraint("minimum >= 1 AND minimum <= maximum", name="ck_segment_ranges_bounds"),
        CheckConstraint(
            "(shared AND project_id = '') OR (NOT shared AND project_id <> '')",
            name="ck_segment_ranges_owner",
        ),
    )


class SegmentAllocation(Base):
    """An id in use. The row exists exactly while its segment exists: inserted in the
    transaction that creates the segment, deleted in the one that releases it. Ids outside every
    range (provider segments) are stored the same way and simply never chosen by the pool."""

    __tablename__ = "segment_allocations"

    network_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    physical_network: Mapped[str] = mapped_column(String(64), primary_key=True)
    segmentation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The allocation row is written before its segment row, in the same transaction.
    segment_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey(
            "network_segments.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"
        ),
        nullable=False,
        unique=True,
    )
    allocated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=_now
    )

    __table_args__ = (
        CheckConstraint("segmentation_id >= 0", name="ck_segment_allocations_segmentation_id"),
        # ListSegmentAllocations of one physical network pages in (network_type, id) order.
        Index(
            "ix_segment_allocations_physical_network",
            "physical_network",
            "network_type",
            "segmentation_id",
        ),
    )


class DynamicSegmentHold(Base):
    """A holder's use of a dynamic segment (usually a port bound through it). A dynamic segment with
    holds is never released; when its last hold is dropped by a sync, it is. Recorded by
    AllocateDynamicSegment with the generation of the holder it resolves for (0 if not given),
    confirmed by SyncDynamicSegmentHolds with the holder's generation. The foreign key has no
    cascade on purpose: a segment cannot be deleted while a hold names it, and a hold cannot name a
    deleted segment."""

    __tablename__ = "dynamic_segment_holds"

    segment_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("network_segments.id"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(255), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=_now
    )

    # A holder's holds, and ListDynamicSegmentHolds of one holder paged by segment.
    __table_args__ = (Index("ix_dynamic_segment_holds_holder_segment_id", "holder", "segment_id"),)
