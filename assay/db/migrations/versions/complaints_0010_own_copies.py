"""Complainants' own copies: what they sent, encrypted under a key only their receipt gives.

Revision ID: complaints_0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "complaints_0010"
down_revision = "complaints_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_messages") as batch:
        batch.add_column(sa.Column("own_copy", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaint_messages") as batch:
        batch.drop_column("own_copy")
