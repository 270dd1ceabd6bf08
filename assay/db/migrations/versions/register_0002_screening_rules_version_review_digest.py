"""The register: record which rule set screened each version, tie each exception review to the exact claim it
decided (its SHA-256), and name review decisions as the screening rules do ('upheld' / 'rejected').

Revision ID: register_0002
Revises: register_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "register_0002"
down_revision = "register_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("system_screenings") as batch:
        batch.add_column(sa.Column("rules_version", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("exception_reviews") as batch:
        batch.add_column(sa.Column("claim_digest", sa.String(64), nullable=True))
        batch.drop_constraint("ck_exception_reviews_decision", type_="check")
    op.execute("UPDATE exception_reviews SET decision = 'upheld' WHERE decision = 'accepted'")
    with op.batch_alter_table("exception_reviews") as batch:
        batch.create_check_constraint("ck_exception_reviews_decision", "decision IN ('upheld', 'rejected')")


def downgrade() -> None:
    with op.batch_alter_table("exception_reviews") as batch:
        batch.drop_constraint("ck_exception_reviews_decision", type_="check")
    op.execute("UPDATE exception_reviews SET decision = 'accepted' WHERE decision = 'upheld'")
    with op.batch_alter_table("exception_reviews") as batch:
        batch.drop_column("claim_digest")
        batch.create_check_constraint("ck_exception_reviews_decision", "decision IN ('accepted', 'rejected')")
    with op.batch_alter_table("system_screenings") as batch:
        batch.drop_column("rules_version")
