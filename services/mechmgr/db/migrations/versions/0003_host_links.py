"""The operator's topology: the switch port each host is wired to.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_links",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("switch_id", sa.String(length=255), nullable=False),
        sa.Column("port_id", sa.String(length=255), nullable=False),
        sa.Column("switch_info", sa.String(length=255), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("host"),
    )


def downgrade() -> None:
    op.drop_table("host_links")
