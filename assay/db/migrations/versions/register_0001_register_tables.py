"""The register: providers, API tokens, systems and their append-only versions, screenings, impact
assessments, exception reviews, suspensions, and full-text search (FTS5 on SQLite, tsvector + GIN on
PostgreSQL).

Revision ID: register_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "register_0001"
down_revision = None
branch_labels = ("register",)
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("jurisdiction", sa.String(100), nullable=False),
        sa.Column("website", sa.String(500), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column(
            "provider_id", sa.String(64), sa.ForeignKey("providers.id", name="fk_api_tokens_provider"), nullable=True
        ),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.Column("revoke_log_index", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
        sa.CheckConstraint(
            "(is_admin AND provider_id IS NULL) OR (NOT is_admin AND provider_id IS NOT NULL)",
            name="ck_api_tokens_role",
        ),
    )
    op.create_index("ix_api_tokens_provider_id", "api_tokens", ["provider_id"])

    op.create_table(
        "systems",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column(
            "provider_id", sa.String(64), sa.ForeignKey("providers.id", name="fk_systems_provider"), nullable=False
        ),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("name_key", sa.String(300), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("version_label", sa.String(100), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("impact_level", sa.SmallInteger, nullable=False),
        sa.Column("needs_review", sa.Boolean, nullable=False),
        sa.Column("suspended", sa.Boolean, nullable=False),
        sa.Column("training_data_headline", sa.Text, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.UniqueConstraint("provider_id", "name_key", name="uq_systems_provider_name"),
    )
    op.create_index("ix_systems_name_key", "systems", ["name_key", "id"])
    op.create_index("ix_systems_updated_at", "systems", ["updated_at"])
    op.create_index("ix_systems_outcome", "systems", ["outcome", "name_key"])
    op.create_index("ix_systems_impact_level", "systems", ["impact_level", "name_key"])
    op.create_index("ix_systems_status", "systems", ["status", "name_key"])
    op.create_index("ix_systems_provider", "systems", ["provider_id", "name_key"])
    op.create_index("ix_systems_suspended", "systems", ["suspended"])

    for table, column in (("system_capabilities", "capability"), ("system_contexts", "context")):
        op.create_table(
            table,
            sa.Column(
                "system_id",
                sa.String(80),
                sa.ForeignKey("systems.id", name=f"fk_{table}_system", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column(column, sa.String(80), primary_key=True),
        )
        op.create_index(f"ix_{table}_{column}", table, [column, "system_id"])

    op.create_table(
        "system_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "system_id", sa.String(80), sa.ForeignKey("systems.id", name="fk_system_versions_system"), nullable=False
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("disclosure", sa.Text, nullable=False),
        sa.Column("disclosure_sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("version_label", sa.String(100), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column(
            "actor_token_id", sa.Integer, sa.ForeignKey("api_tokens.id", name="fk_system_versions_token"), nullable=True
        ),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("system_id", "number", name="uq_system_versions_number"),
    )
    op.create_table(
        "system_screenings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("system_versions.id", name="fk_system_screenings_version"),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("needs_review", sa.Boolean, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("cause", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_index("ix_system_screenings_version_id", "system_screenings", ["version_id"])
    op.create_table(
        "system_impacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("system_versions.id", name="fk_system_impacts_version"),
            nullable=False,
        ),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("assessment", sa.JSON, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.UniqueConstraint("version_id", name="uq_system_impacts_version_id"),
    )
    op.create_table(
        "exception_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "system_id", sa.String(80), sa.ForeignKey("systems.id", name="fk_exception_reviews_system"), nullable=False
        ),
        sa.Column("version_number", sa.Integer, nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column(
            "actor_token_id",
            sa.Integer,
            sa.ForeignKey("api_tokens.id", name="fk_exception_reviews_token"),
            nullable=True,
        ),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.CheckConstraint("decision IN ('accepted', 'rejected')", name="ck_exception_reviews_decision"),
    )
    op.create_index("ix_exception_reviews_system", "exception_reviews", ["system_id", "version_number"])
    op.create_table(
        "system_suspensions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "system_id", sa.String(80), sa.ForeignKey("systems.id", name="fk_system_suspensions_system"), nullable=False
        ),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column(
            "actor_token_id",
            sa.Integer,
            sa.ForeignKey("api_tokens.id", name="fk_system_suspensions_token"),
            nullable=True,
        ),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.CheckConstraint("action IN ('suspended', 'reinstated')", name="ck_system_suspensions_action"),
    )
    op.create_index("ix_system_suspensions_system", "system_suspensions", ["system_id", "id"])

    # Full-text search, kept by assay.register.search in the same transaction as the row it indexes.
    if op.get_bind().dialect.name == "sqlite":
        # remove_diacritics 2: "Bewerbung" finds "bewerbung", "credit" finds "crédit"; prefix indexes make
        # the as-you-type prefix queries (word*) index lookups rather than scans.
        op.execute(
            "CREATE VIRTUAL TABLE systems_fts USING fts5("
            "system_id UNINDEXED, name, provider, body, "
            "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
    else:
        op.add_column("systems", sa.Column("search_document", sa.dialects.postgresql.TSVECTOR, nullable=True))
        op.create_index("ix_systems_search_document", "systems", ["search_document"], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS systems_fts")
    for table in (
        "system_suspensions",
        "exception_reviews",
        "system_impacts",
        "system_screenings",
        "system_versions",
        "system_contexts",
        "system_capabilities",
        "systems",
        "api_tokens",
        "providers",
    ):
        op.drop_table(table)
