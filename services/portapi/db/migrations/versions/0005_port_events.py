"""Port status and events: why a port has its status and who reported it
(``ports.status_message``, ``ports.status_agent_id``, ``ports.status_time``), the event log
WatchPorts streams (``port_events``) and the one-row counter its revisions come from
(``port_event_counter``).

Existing ports keep their status; their message is left empty and their status counts as set
at the upgrade. The counter starts at 0: the first event written is revision 1.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamp = datetime.now(UTC).replace(tzinfo=None)
    with op.batch_alter_table("ports") as batch:
        batch.add_column(sa.Column("status_message", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("status_agent_id", sa.String(length=36), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("status_time", sa.DateTime(), nullable=True))
    ports = sa.table("ports", sa.column("status_time", sa.DateTime()))
    op.execute(ports.update().values(status_time=stamp))
    with op.batch_alter_table("ports") as batch:
        batch.alter_column("status_time", existing_type=sa.DateTime(), nullable=False)
        batch.alter_column("status_message", server_default=None)
        batch.alter_column("status_agent_id", server_default=None)
    op.create_index("ix_ports_status_agent_id_status", "ports", ["status_agent_id", "status"])
    op.create_index("ix_ports_status_status_time", "ports", ["status", "status_time"])
    op.create_table(
        "port_events",
        sa.Column("revision", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("port", sa.LargeBinary(), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("host_id", sa.String(length=255), nullable=False),
        sa.Column("previous_host_id", sa.String(length=255), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("revision", name="pk_port_events"),
    )
    op.create_index("ix_port_events_time", "port_events", ["time"])
    counter = op.create_table(
        "port_event_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_port_event_counter"),
    )
    op.bulk_insert(counter, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("port_event_counter")
    op.drop_index("ix_port_events_time", table_name="port_events")
    op.drop_table("port_events")
    op.drop_index("ix_ports_status_status_time", table_name="ports")
    op.drop_index("ix_ports_status_agent_id_status", table_name="ports")
    with op.batch_alter_table("ports") as batch:
        batch.drop_column("status_time")
        batch.drop_column("status_agent_id")
        batch.drop_column("status_message")
