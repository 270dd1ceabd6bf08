"""The complaints channel: installation salt, the oversight body's keys, sealed complaints and messages.

Revision ID: complaints_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "complaints_0001"
down_revision = None
branch_labels = ("complaints",)
depends_on = None

_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "complaints_channel",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("kdf_opslimit", sa.Integer(), nullable=False),
        sa.Column("kdf_memlimit", sa.BigInteger(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "complaints_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("retired_on", sa.Date(), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("system_id", sa.String(64), nullable=False),
        sa.Column("lookup", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("reply_public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("acknowledged_on", sa.Date(), nullable=True),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
    )
    op.create_index("ix_complaints_system_id", "complaints", ["system_id"])
    op.create_index("ix_complaints_status", "complaints", ["status"])
    op.create_table(
        "complaint_messages",
        sa.Column("id", _Seq, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(32), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key_id", sa.String(16), sa.ForeignKey("complaints_keys.key_id"), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("body_copy", sa.LargeBinary(), nullable=True),
        sa.Column("body_copy_key_id", sa.String(16), sa.ForeignKey("complaints_keys.key_id"), nullable=True),
    )
    op.create_index("ix_complaint_messages_complaint_id", "complaint_messages", ["complaint_id"])
    op.create_table(
        "complaint_status_changes",
        sa.Column("id", _Seq, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(32), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
    )
    op.create_index("ix_complaint_status_changes_complaint_id", "complaint_status_changes", ["complaint_id"])


def downgrade() -> None:
    op.drop_table("complaint_status_changes")
    op.drop_table("complaint_messages")
    op.drop_table("complaints")
    op.drop_table("complaints_keys")
    op.drop_table("complaints_channel")
