"""Provenance: per-system watermark keys, and the server-only image binding of each mark.

Existing marks keep ``key_id`` and ``binding`` empty: they were made with the legacy register-wide key and
check as legacy marks (docs/provenance.md says what that proves and what not).

Revision ID: provenance_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "provenance_0002"
down_revision = "provenance_0001"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provenance_watermark_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("system_id", sa.String(80), sa.ForeignKey("systems.id", name="fk_prov_wmkey_system"), nullable=False),
        sa.Column(
            "provider_id", sa.String(64), sa.ForeignKey("providers.id", name="fk_prov_wmkey_provider"), nullable=False
        ),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("algorithm", sa.String(100), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("system_id", "generation", name="uq_prov_wmkey_system_generation"),
    )
    op.create_index("ix_provenance_watermark_keys_system_id", "provenance_watermark_keys", ["system_id"])
    op.create_index("ix_provenance_watermark_keys_provider_id", "provenance_watermark_keys", ["provider_id"])
    with op.batch_alter_table("provenance_marks") as batch:
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))
        batch.add_column(sa.Column("binding", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provenance_marks") as batch:
        batch.drop_column("binding")
        batch.drop_column("key_id")
    op.drop_index("ix_provenance_watermark_keys_provider_id", "provenance_watermark_keys")
    op.drop_index("ix_provenance_watermark_keys_system_id", "provenance_watermark_keys")
    op.drop_table("provenance_watermark_keys")
