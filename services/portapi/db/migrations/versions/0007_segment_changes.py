"""Changing the segments of an existing network: the MTU a network was asked for
(``networks.mtu_requested``, 0 for the largest its segments allow), when a change of its
segments began waiting for typemgr (``networks.segments_pending_since``), and an index that
finds the ports bound through a segment (``port_binding_levels.segment_id``).

Networks created before the upgrade keep the MTU they have, as if it had been requested: an
added segment with a smaller MTU is refused for them, as Neutron refuses it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "networks", sa.Column("mtu_requested", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("networks", sa.Column("segments_pending_since", sa.DateTime(), nullable=True))
    op.create_index("ix_networks_segments_pending_since", "networks", ["segments_pending_since"])
    op.create_index("ix_port_binding_levels_segment_id", "port_binding_levels", ["segment_id"])
    networks = sa.table(
        "networks", sa.column("mtu", sa.Integer()), sa.column("mtu_requested", sa.Integer())
    )
    op.execute(networks.update().values(mtu_requested=networks.c.mtu))


def downgrade() -> None:
    op.drop_index("ix_port_binding_levels_segment_id", table_name="port_binding_levels")
    op.drop_index("ix_networks_segments_pending_since", table_name="networks")
    op.drop_column("networks", "segments_pending_since")
    op.drop_column("networks", "mtu_requested")
