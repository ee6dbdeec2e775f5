"""The agent revisions whose host's failed bindings were retried (``agent_rebinds``).

Empty after the upgrade: every agent counts as new once, so the failed bindings of each host
with a live agent are retried once.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_rebinds",
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("rebound_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agent_rebinds"),
    )


def downgrade() -> None:
    op.drop_table("agent_rebinds")
