"""The revision of each agent: a count that moves whenever the agent may bind more than before
(registered again with other capabilities, back alive, allowed to bind again), so that portapi
retries the failed bindings of its host.

Existing agents start at revision 1, as a new agent does.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=False, server_default="1"))
    with op.batch_alter_table("agents") as batch:
        batch.alter_column("revision", existing_type=sa.BigInteger(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("revision")
