"""Witnesses of this log: the size each last cosigned for us, with that cosignature (C2SP tlog-witness).

Revision ID: transparency_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "transparency_0003"
down_revision = "transparency_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tlog_cosignatures",
        sa.Column("vkey", sa.String(512), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("cosignature", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tlog_cosignatures")
