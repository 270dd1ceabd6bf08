"""Mark the demo oversight key that 'assay demo load' publishes, so every page and command can say so.

Revision ID: complaints_0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "complaints_0011"
down_revision = "complaints_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaints_keys") as batch:
        batch.add_column(sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("complaints_keys") as batch:
        batch.drop_column("demo")
