"""mechmgr's first schema: the agent registry.

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
        "agents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agent_type", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("binary", sa.String(length=255), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host", "agent_type", name="uq_agents_host_agent_type"),
    )
    op.create_index("ix_agents_agent_type", "agents", ["agent_type"])


def downgrade() -> None:
    op.drop_index("ix_agents_agent_type", table_name="agents")
    op.drop_table("agents")
