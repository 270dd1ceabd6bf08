"""Shared abuse state of the complaints channel: spent tokens, request counters and shared token buckets.

Until now these lived in the memory of the one web process; in the database every worker and every machine of
one register sees the same (so a challenge solved on one worker cannot be replayed on another, and a limit is
one limit, not one per process).

Revision ID: complaints_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "complaints_0002"
down_revision = "complaints_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "abuse_spent",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("token", sa.LargeBinary(16), primary_key=True),
        sa.Column("expires", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_abuse_spent_expires", "abuse_spent", ["expires"])
    op.create_table(
        "abuse_counters",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("key", sa.LargeBinary(16), primary_key=True),
        sa.Column("window_no", sa.BigInteger(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "abuse_buckets",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("abuse_buckets")
    op.drop_table("abuse_counters")
    op.drop_index("ix_abuse_spent_expires", "abuse_spent")
    op.drop_table("abuse_spent")
