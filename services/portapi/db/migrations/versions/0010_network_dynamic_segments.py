"""portapi's record of the dynamic segments its ports' bindings use (``network_dynamic_segments``),
which level 0 is offered after the static segments instead of asking typemgr for them at every
bind. Filled at the upgrade from the committed binding levels.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "network_dynamic_segments",
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("first_used", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name="fk_network_dynamic_segments_network_id_networks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", name="pk_network_dynamic_segments"),
    )
    op.create_index(
        "ix_network_dynamic_segments_network_id_first_used",
        "network_dynamic_segments",
        ["network_id", "first_used", "segment_id"],
    )
    levels = sa.table(
        "port_binding_levels",
        sa.column("port_id", sa.String()),
        sa.column("segment_id", sa.String()),
        sa.column("segment", sa.Text()),
    )
    ports = sa.table("ports", sa.column("id", sa.String()), sa.column("network_id", sa.String()))
    found = op.get_bind().execute(
        sa.select(ports.c.network_id, levels.c.segment_id, levels.c.segment)
        .select_from(levels.join(ports, ports.c.id == levels.c.port_id))
        .order_by(levels.c.segment_id)
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    rows: dict[str, dict[str, object]] = {}
    for network_id, segment_id, text in found:
        if segment_id not in rows and json.loads(text).get("is_dynamic"):
            rows[segment_id] = {
                "segment_id": segment_id,
                "network_id": network_id,
                "segment": text,
                "first_used": now,
            }
    if rows:
        op.bulk_insert(table, list(rows.values()))


def downgrade() -> None:
    op.drop_index(
        "ix_network_dynamic_segments_network_id_first_used", table_name="network_dynamic_segments"
    )
    op.drop_table("network_dynamic_segments")
