"""Indexes that serve typemgr's list RPCs at any depth.

ListSegmentRanges and ListSegmentAllocations read in (network_type, physical_network, ...)
order, which the pool index and the allocations' primary key serve with or without a type
filter. With only a physical network filter the order is (network_type, ...) within that
network: two new indexes serve it. ListDynamicSegmentHolds of one holder pages by segment, so
the holder index becomes (holder, segment_id).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_segment_ranges_physical_network",
        "segment_ranges",
        ["physical_network", "network_type", "minimum"],
    )
    op.create_index(
        "ix_segment_allocations_physical_network",
        "segment_allocations",
        ["physical_network", "network_type", "segmentation_id"],
    )
    op.create_index(
        "ix_dynamic_segment_holds_holder_segment_id",
        "dynamic_segment_holds",
        ["holder", "segment_id"],
    )
    op.drop_index("ix_dynamic_segment_holds_holder", table_name="dynamic_segment_holds")


def downgrade() -> None:
    op.create_index("ix_dynamic_segment_holds_holder", "dynamic_segment_holds", ["holder"])
    op.drop_index("ix_dynamic_segment_holds_holder_segment_id", table_name="dynamic_segment_holds")
    op.drop_index("ix_segment_allocations_physical_network", table_name="segment_allocations")
    op.drop_index("ix_segment_ranges_physical_network", table_name="segment_ranges")
