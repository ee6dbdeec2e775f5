"""An index that serves ListAgents by agent type at any depth.

ListAgents reads in (host, agent_type) order. With an agent_type filter that order is the host
order, so the single-column index on agent_type becomes (agent_type, host): a page is then one
range of the index instead of every agent of the type, read and sorted.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_agents_agent_type_host", "agents", ["agent_type", "host"])
    op.drop_index("ix_agents_agent_type", table_name="agents")


def downgrade() -> None:
    op.create_index("ix_agents_agent_type", "agents", ["agent_type"])
    op.drop_index("ix_agents_agent_type_host", table_name="agents")
