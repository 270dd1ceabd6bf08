"""Drop the shared token buckets: the complaint channel stopped using them when filing got a price instead of a
cap (issue 10), and nothing else did. Their rows held a scope, a token count and a time: no data to keep.

Revision ID: complaints_0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "complaints_0012"
down_revision = "complaints_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("abuse_buckets")


def downgrade() -> None:
    op.create_table(
        "abuse_buckets",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
    )
