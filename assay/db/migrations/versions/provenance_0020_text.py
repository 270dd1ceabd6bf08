"""Provenance for text: tokenizer files, systems' text watermark keys, recorded generations.

Revision ID: provenance_0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "provenance_0020"
down_revision = "provenance_0002"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provenance_tokenizers",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("vocab_size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_table(
        "provenance_text_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column(
            "system_id", sa.String(80), sa.ForeignKey("systems.id", name="fk_prov_text_key_system"), nullable=False
        ),
        sa.Column(
            "provider_id",
            sa.String(64),
            sa.ForeignKey("providers.id", name="fk_prov_text_key_provider"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("alg", sa.String(100), nullable=False),
        sa.Column("context_width", sa.Integer, nullable=False),
        sa.Column(
            "tokenizer_sha256",
            sa.String(64),
            sa.ForeignKey("provenance_tokenizers.sha256", name="fk_prov_text_key_tokenizer"),
            nullable=False,
        ),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("revoked_reason", sa.String(300), nullable=False),
        sa.Column("issued_log_index", sa.BigInteger, nullable=True),
        sa.Column("revoked_log_index", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("system_id", "number", name="uq_prov_text_key_system_number"),
    )
    op.create_index("ix_provenance_text_keys_system_id", "provenance_text_keys", ["system_id"])
    op.create_index("ix_provenance_text_keys_provider_id", "provenance_text_keys", ["provider_id"])
    op.create_table(
        "provenance_text_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column(
            "system_id", sa.String(80), sa.ForeignKey("systems.id", name="fk_prov_text_rec_system"), nullable=False
        ),
        sa.Column("system_version_number", sa.Integer, nullable=False),
        sa.Column(
            "provider_id",
            sa.String(64),
            sa.ForeignKey("providers.id", name="fk_prov_text_rec_provider"),
            nullable=False,
        ),
        sa.Column(
            "key_id",
            sa.String(16),
            sa.ForeignKey("provenance_text_keys.key_id", name="fk_prov_text_rec_key"),
            nullable=False,
        ),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("recorded_at", _TZ, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.Column(
            "recorded_by_token",
            sa.Integer,
            sa.ForeignKey("api_tokens.id", name="fk_prov_text_rec_token"),
            nullable=True,
        ),
    )
    op.create_index("ix_provenance_text_records_sha256", "provenance_text_records", ["sha256"])
    op.create_index("ix_provenance_text_records_system_id", "provenance_text_records", ["system_id"])


def downgrade() -> None:
    op.drop_table("provenance_text_records")
    op.drop_table("provenance_text_keys")
    op.drop_table("provenance_tokenizers")
