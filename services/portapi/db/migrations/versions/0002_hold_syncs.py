"""The hold outbox: dynamic segment holds of ports still to be told to typemgr.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hold_syncs",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("segment_ids", sa.Text(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("port_id", name="pk_hold_syncs"),
    )
    op.create_index("ix_hold_syncs_written_at", "hold_syncs", ["written_at"])


def downgrade() -> None:
    op.drop_index("ix_hold_syncs_written_at", table_name="hold_syncs")
    op.drop_table("hold_syncs")
