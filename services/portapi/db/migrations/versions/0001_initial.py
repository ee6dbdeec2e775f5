"""portapi's first schema: networks, ports, their bindings and binding levels.

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
        "networks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("mtu", sa.Integer(), nullable=False),
        sa.Column("segments", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_networks"),
        sa.UniqueConstraint("request_id", name="uq_networks_request_id"),
    )
    op.create_index("ix_networks_project_id", "networks", ["project_id"])
    op.create_index("ix_networks_create_time_id", "networks", ["create_time", "id"])

    op.create_table(
        "ports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mac_address", sa.String(length=17), nullable=False),
        sa.Column("device_id", sa.String(length=255), nullable=False),
        sa.Column("device_owner", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ports"),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name="fk_ports_network_id_networks",
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("network_id", "mac_address", name="uq_ports_network_id_mac_address"),
        sa.UniqueConstraint("request_id", name="uq_ports_request_id"),
    )
    op.create_index("ix_ports_network_id", "ports", ["network_id"])
    op.create_index("ix_ports_project_id", "ports", ["project_id"])
    op.create_index("ix_ports_device_id", "ports", ["device_id"])
    op.create_index("ix_ports_create_time_id", "ports", ["create_time", "id"])

    op.create_table(
        "port_bindings",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("host_id", sa.String(length=255), nullable=False),
        sa.Column("vnic_type", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("vif_type", sa.String(length=64), nullable=False),
        sa.Column("vif_details", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("trace", sa.Text(), nullable=False),
        sa.Column("failure_message", sa.Text(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("port_id", name="pk_port_bindings"),
        sa.ForeignKeyConstraint(
            ["port_id"], ["ports.id"], name="fk_port_bindings_port_id_ports", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_port_bindings_host_id", "port_bindings", ["host_id"])

    op.create_table(
        "port_binding_levels",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("driver", sa.String(length=64), nullable=False),
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("port_id", "level", name="pk_port_binding_levels"),
        sa.ForeignKeyConstraint(
            ["port_id"],
            ["port_bindings.port_id"],
            name="fk_port_binding_levels_port_id_port_bindings",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("port_binding_levels")
    op.drop_index("ix_port_bindings_host_id", table_name="port_bindings")
    op.drop_table("port_bindings")
    for index in (
        "ix_ports_create_time_id",
        "ix_ports_device_id",
        "ix_ports_project_id",
        "ix_ports_network_id",
    ):
        op.drop_index(index, table_name="ports")
    op.drop_table("ports")
    op.drop_index("ix_networks_create_time_id", table_name="networks")
    op.drop_index("ix_networks_project_id", table_name="networks")
    op.drop_table("networks")
