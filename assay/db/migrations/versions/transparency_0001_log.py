"""The transparency log's tables: entries, the sequence counter, the head and the checkpoint history.

Revision ID: transparency_0001
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "transparency_0001"
down_revision = None
branch_labels = ("transparency",)
depends_on = None

_Index = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tlog_entries",
        sa.Column("idx", _Index, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    sequence = op.create_table(
        "tlog_sequence",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
    )
    head = op.create_table(
        "tlog_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("vkey", sa.Text(), nullable=False),
        sa.Column("tiles_dir", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "tlog_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(sequence, [{"id": 1, "next_index": 0}])
    op.bulk_insert(
        head,
        [
            {
                "id": 1,
                "generation": 0,
                "tree_size": 0,
                "root_hash": hashlib.sha256(b"").digest(),
                "checkpoint": "",
                "vkey": "",
                "tiles_dir": "",
                "published_at": None,
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("tlog_checkpoints")
    op.drop_table("tlog_head")
    op.drop_table("tlog_sequence")
    op.drop_table("tlog_entries")
