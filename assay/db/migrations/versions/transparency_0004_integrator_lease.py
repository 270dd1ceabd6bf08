"""The integrator's lease: which process of the register integrates the log, until when.

Every web worker runs a background integrator, but only the holder of this lease integrates; if it dies, its
lease expires and another worker takes over. (Integration is safe without it, by compare-and-swap on the head;
the lease only keeps N workers from doing the same work N times.)

Revision ID: transparency_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "transparency_0004"
down_revision = "transparency_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "tlog_integrator_lease",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "holder": "", "expires_at": 0.0}])


def downgrade() -> None:
    op.drop_table("tlog_integrator_lease")
