"""Logs this register witnesses (C2SP tlog-witness), with the latest checkpoint cosigned for each.

Revision ID: transparency_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "transparency_0002"
down_revision = "transparency_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tlog_witnessed_logs",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("vkeys", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tlog_witnessed_logs")
