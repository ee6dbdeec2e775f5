"""Indexes that serve every ListNetworks and ListPorts page at any depth.

Each filter's single-column index becomes a composite one that continues with the listing order
(create_time, id), so a page is read from the index in order instead of reading and sorting all
of the filter's rows. port_bindings gets a copy of its port's create_time (filled from ports
here, written with the port afterwards) so that the host filter, whose column lives there, has
such an index too.

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

# (table, old single-column index, its column, new composite index, its columns)
_REPLACED = (
    (
        "networks",
        "ix_networks_project_id",
        "project_id",
        "ix_networks_project_id_create_time_id",
        ["project_id", "create_time", "id"],
    ),
    (
        "ports",
        "ix_ports_network_id",
        "network_id",
        "ix_ports_network_id_create_time_id",
        ["network_id", "create_time", "id"],
    ),
    (
        "ports",
        "ix_ports_project_id",
        "project_id",
        "ix_ports_project_id_create_time_id",
        ["project_id", "create_time", "id"],
    ),
    (
        "ports",
        "ix_ports_device_id",
        "device_id",
        "ix_ports_device_id_create_time_id",
        ["device_id", "create_time", "id"],
    ),
)


def upgrade() -> None:
    for table, old, _column, new, columns in _REPLACED:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)
    op.create_index(
        "ix_networks_shared_create_time_id", "networks", ["shared", "create_time", "id"]
    )
    with op.batch_alter_table("port_bindings") as batch:
        batch.add_column(sa.Column("create_time", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE port_bindings SET create_time = "
        "(SELECT ports.create_time FROM ports WHERE ports.id = port_bindings.port_id)"
    )
    with op.batch_alter_table("port_bindings") as batch:
        batch.alter_column("create_time", existing_type=sa.DateTime(), nullable=False)
    op.create_index(
        "ix_port_bindings_host_id_create_time_port_id",
        "port_bindings",
        ["host_id", "create_time", "port_id"],
    )
    op.drop_index("ix_port_bindings_host_id", table_name="port_bindings")


def downgrade() -> None:
    op.create_index("ix_port_bindings_host_id", "port_bindings", ["host_id"])
    op.drop_index("ix_port_bindings_host_id_create_time_port_id", table_name="port_bindings")
    with op.batch_alter_table("port_bindings") as batch:
        batch.drop_column("create_time")
    op.drop_index("ix_networks_shared_create_time_id", table_name="networks")
    for table, old, column, new, _columns in _REPLACED:
        op.create_index(old, table, [column])
        op.drop_index(new, table_name=table)
