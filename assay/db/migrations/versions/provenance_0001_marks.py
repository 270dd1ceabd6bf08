"""Provenance: mark namespaces and their sequence leases, providers' signing certificates, mark records.

Revision ID: provenance_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "provenance_0001"
down_revision = None
branch_labels = ("provenance",)
depends_on = ("register_0001",)

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provenance_namespaces",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(
            "provider_id", sa.String(64), sa.ForeignKey("providers.id", name="fk_prov_ns_provider"), nullable=False
        ),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("next_sequence", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("revoked_reason", sa.String(300), nullable=False),
        sa.Column("issued_log_index", sa.BigInteger, nullable=True),
        sa.Column("revoked_log_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_provenance_namespaces_provider_id", "provenance_namespaces", ["provider_id"])
    op.create_table(
        "provenance_leases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "namespace",
            sa.Integer,
            sa.ForeignKey("provenance_namespaces.number", name="fk_prov_lease_ns"),
            nullable=False,
        ),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("issued_at", _TZ, nullable=False),
    )
    op.create_index("ix_provenance_leases_namespace", "provenance_leases", ["namespace"])
    op.create_table(
        "provenance_certificates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "provider_id", sa.String(64), sa.ForeignKey("providers.id", name="fk_prov_cert_provider"), nullable=False
        ),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("chain_pem", sa.Text, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("not_before", _TZ, nullable=False),
        sa.Column("not_after", _TZ, nullable=False),
        sa.Column("key_file", sa.String(300), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("revoked_reason", sa.String(300), nullable=False),
        sa.Column("issued_log_index", sa.BigInteger, nullable=True),
        sa.Column("revoked_log_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_provenance_certificates_provider_id", "provenance_certificates", ["provider_id"])
    op.create_table(
        "provenance_marks",
        sa.Column("mark_id", sa.String(16), primary_key=True),
        sa.Column(
            "namespace",
            sa.Integer,
            sa.ForeignKey("provenance_namespaces.number", name="fk_prov_mark_ns"),
            nullable=False,
        ),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("system_id", sa.String(80), sa.ForeignKey("systems.id", name="fk_prov_mark_system"), nullable=False),
        sa.Column("system_version_number", sa.Integer, nullable=False),
        sa.Column(
            "provider_id", sa.String(64), sa.ForeignKey("providers.id", name="fk_prov_mark_provider"), nullable=False
        ),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("recorded_at", _TZ, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("phash", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("alg", sa.String(100), nullable=False),
        sa.Column("manifest_id", sa.String(120), nullable=True, unique=True),
        sa.Column("manifest", sa.LargeBinary, nullable=True),
        sa.Column("certificate_fingerprint", sa.String(64), nullable=False),
        sa.Column("visible_label", sa.Boolean, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.Column(
            "recorded_by_token", sa.Integer, sa.ForeignKey("api_tokens.id", name="fk_prov_mark_token"), nullable=True
        ),
        sa.UniqueConstraint("namespace", "sequence", name="uq_prov_mark_ns_seq"),
    )
    op.create_index("ix_provenance_marks_system_id", "provenance_marks", ["system_id"])
    op.create_index("ix_provenance_marks_provider_id", "provenance_marks", ["provider_id"])
    op.create_index("ix_provenance_marks_created_at", "provenance_marks", ["created_at"])
    op.create_index("ix_provenance_marks_sha256", "provenance_marks", ["sha256"])


def downgrade() -> None:
    op.drop_table("provenance_marks")
    op.drop_table("provenance_certificates")
    op.drop_table("provenance_leases")
    op.drop_table("provenance_namespaces")
