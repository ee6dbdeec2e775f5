"""What a driver decides beyond the vif and what it is shown of the port's past: the status the
completing driver gave the port (``port_bindings.port_status``, ``""`` when the host's agent
reports it) and the port's binding before its inputs last changed (``port_bindings.original``,
JSON; ``""`` when there is none).

Existing bindings keep their status from device reports and have no original binding: the next
change of their inputs records one.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("port_bindings") as batch:
        batch.add_column(
            sa.Column("port_status", sa.String(length=16), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("original", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("port_bindings") as batch:
        batch.alter_column("port_status", server_default=None)
        batch.alter_column("original", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("port_bindings") as batch:
        batch.drop_column("original")
        batch.drop_column("port_status")
