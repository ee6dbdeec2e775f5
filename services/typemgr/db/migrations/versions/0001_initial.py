"""typemgr's first schema: network segments, segment ranges, the allocated ids only, and the
holds on dynamic segments.

Revision ID: 0001
Revises: nothing (the first revision)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_segments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("network_type", sa.String(length=32), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=False),
        sa.Column("segmentation_id", sa.BigInteger(), nullable=False),
        sa.Column("mtu", sa.Integer(), nullable=False),
        sa.Column("is_dynamic", sa.Boolean(), nullable=False),
        sa.Column("segment_index", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("segmentation_id >= 0", name="ck_network_segments_segmentation_id"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_segments", schema=None) as batch_op:
        batch_op.create_index("ix_network_segments_network_id", ["network_id"], unique=False)
        batch_op.create_index(
            "uq_network_segments_dynamic_pool",
            ["network_id", "network_type", "physical_network"],
            unique=True,
            sqlite_where=sa.text("is_dynamic = 1"),
            postgresql_where=sa.text("is_dynamic"),
        )
        batch_op.create_index(
            "uq_network_segments_static_index",
            ["network_id", "segment_index"],
            unique=True,
            sqlite_where=sa.text("is_dynamic = 0"),
            postgresql_where=sa.text("NOT is_dynamic"),
        )

    op.create_table(
        "segment_ranges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("network_type", sa.String(length=32), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=False),
        sa.Column("minimum", sa.BigInteger(), nullable=False),
        sa.Column("maximum", sa.BigInteger(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(shared AND project_id = '') OR (NOT shared AND project_id <> '')",
            name="ck_segment_ranges_owner",
        ),
        sa.CheckConstraint("minimum >= 1 AND minimum <= maximum", name="ck_segment_ranges_bounds"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("segment_ranges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_segment_ranges_pool", ["network_type", "physical_network", "minimum"], unique=False
        )

    op.create_table(
        "dynamic_segment_holds",
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["network_segments.id"],
        ),
        sa.PrimaryKeyConstraint("segment_id", "holder"),
    )
    with op.batch_alter_table("dynamic_segment_holds", schema=None) as batch_op:
        batch_op.create_index("ix_dynamic_segment_holds_holder", ["holder"], unique=False)

    op.create_table(
        "segment_allocations",
        sa.Column("network_type", sa.String(length=32), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=False),
        sa.Column("segmentation_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("segmentation_id >= 0", name="ck_segment_allocations_segmentation_id"),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["network_segments.id"],
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("network_type", "physical_network", "segmentation_id"),
        sa.UniqueConstraint("segment_id"),
    )


def downgrade() -> None:
    op.drop_table("segment_allocations")
    with op.batch_alter_table("dynamic_segment_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_dynamic_segment_holds_holder")

    op.drop_table("dynamic_segment_holds")
    with op.batch_alter_table("segment_ranges", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_ranges_pool")

    op.drop_table("segment_ranges")
    with op.batch_alter_table("network_segments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_network_segments_static_index",
            sqlite_where=sa.text("is_dynamic = 0"),
            postgresql_where=sa.text("NOT is_dynamic"),
        )
        batch_op.drop_index(
            "uq_network_segments_dynamic_pool",
            sqlite_where=sa.text("is_dynamic = 1"),
            postgresql_where=sa.text("is_dynamic"),
        )
        batch_op.drop_index("ix_network_segments_network_id")

    op.drop_table("network_segments")
