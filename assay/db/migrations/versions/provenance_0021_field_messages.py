"""Provenance: the index of the marks' field messages (a version-3 field read names its key at once).

Marks recorded before it are indexed here when the caller passes the step that derives their messages from the
register's keys (``Database.upgrade(data_steps=...)``, as ``assay`` and the web app do). Without it, or without a
master key (then no mark was made with a system key), nothing is indexed, and a field read of an older mark is
decrypted under every key, as before: slower, the same key named (``assay keys index`` indexes them later).

Revision ID: provenance_0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "provenance_0021"
down_revision = "provenance_0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provenance_field_messages",
        sa.Column(
            "mark_id",
            sa.String(16),
            sa.ForeignKey("provenance_marks.mark_id", name="fk_prov_field_message_mark"),
            primary_key=True,
        ),
        sa.Column("message", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
    )
    op.create_index("ix_prov_field_message", "provenance_field_messages", ["message", "key_id"])
    # The marks made before it: indexed by the caller's step, which holds the register's keys (this package
    # does not: assay.provenance.fieldindex.migration_steps). Without it they stay unindexed.
    config = op.get_context().config
    step = config.attributes.get("data_steps", {}).get(revision) if config is not None else None
    if step is not None:
        step(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_prov_field_message", table_name="provenance_field_messages")
    op.drop_table("provenance_field_messages")
