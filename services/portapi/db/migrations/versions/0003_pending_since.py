"""What the reconciler finishes: when a binding or a network began waiting (``pending_since``
on ``port_bindings`` and ``networks``) and the segment releases typemgr still owes
(``network_releases``).

Bindings already waiting for a result and networks already CREATING or DELETING when the schema
is upgraded count as pending from the upgrade on, so the reconciler finishes them one grace
period later.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("port_bindings", sa.Column("pending_since", sa.DateTime(), nullable=True))
    op.create_index("ix_port_bindings_pending_since", "port_bindings", ["pending_since"])
    op.add_column("networks", sa.Column("pending_since", sa.DateTime(), nullable=True))
    op.create_index("ix_networks_pending_since", "networks", ["pending_since"])
    op.create_table(
        "network_releases",
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("pending_since", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("network_id", name="pk_network_releases"),
    )
    op.create_index("ix_network_releases_pending_since", "network_releases", ["pending_since"])
    stamp = datetime.now(UTC).replace(tzinfo=None)
    bindings = sa.table(
        "port_bindings",
        sa.column("pending_since", sa.DateTime()),
        sa.column("state", sa.String()),
        sa.column("host_id", sa.String()),
    )
    op.execute(
        bindings.update()
        .where(bindings.c.state == "UNBOUND", bindings.c.host_id != "")
        .values(pending_since=stamp)
    )
    networks = sa.table(
        "networks", sa.column("pending_since", sa.DateTime()), sa.column("status", sa.String())
    )
    op.execute(
        networks.update()
        .where(networks.c.status.in_(("CREATING", "DELETING")))
        .values(pending_since=stamp)
    )


def downgrade() -> None:
    op.drop_index("ix_network_releases_pending_since", table_name="network_releases")
    op.drop_table("network_releases")
    op.drop_index("ix_networks_pending_since", table_name="networks")
    op.drop_column("networks", "pending_since")
    op.drop_index("ix_port_bindings_pending_since", table_name="port_bindings")
    op.drop_column("port_bindings", "pending_since")
