"""Which change of a network's static segments is pending (``networks.segments_pending_change``:
``segmentation_id``, ``add`` or ``remove``; empty when none), so that a binding committed while a
new segmentation id is pending can tell whether its driver follows it.

A change left pending by a portapi stopped before the upgrade is recorded as of no known kind
(empty); the reconciler finishes it as before.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "networks",
        sa.Column(
            "segments_pending_change",
            sa.String(length=16),
            nullable=False,
            server_default=sa.text("''"),
        ),
    )


def downgrade() -> None:
    op.drop_column("networks", "segments_pending_change")
