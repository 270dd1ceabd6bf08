"""Identities that cannot be borrowed: deployers confirm being named, and later systems bearing another provider's
system name are marked as copies.

- ``deployer_confirmations``: a registered organisation named as a deployer in a system's disclosure confirms
  (or denies) it with its own token; one row per decision, never updated. A decision holds for the deployer
  entry it was made on (``entry_sha256``): when the provider changes what it says about the deployer, the
  entry is unconfirmed again.
- ``systems.name_copy``: true when another provider registered a system of the same name earlier. Search ranks
  such a system after the others, so a copy never outranks the original. Backfilled here.

Revision ID: register_0007
Revises: register_0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "register_0007"
down_revision = "register_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployer_confirmations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system_id", sa.String(80), sa.ForeignKey("systems.id"), nullable=False),
        sa.Column("deployer_id", sa.String(64), sa.ForeignKey("providers.id"), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("entry_sha256", sa.String(64), nullable=False),
        sa.Column("version_number", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_token_id", sa.Integer, sa.ForeignKey("api_tokens.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.CheckConstraint("decision IN ('confirmed', 'denied')", name="ck_deployer_confirmations_decision"),
    )
    op.create_index("ix_deployer_confirmations_system", "deployer_confirmations", ["system_id", "deployer_id", "id"])
    op.create_index("ix_deployer_confirmations_deployer", "deployer_confirmations", ["deployer_id", "id"])
    # A plain ADD COLUMN (SQLite and PostgreSQL alike): a batch copy of "systems" would have to drop the table,
    # which the foreign keys pointing at it forbid on a register that has data.
    op.add_column("systems", sa.Column("name_copy", sa.Boolean, nullable=False, server_default=sa.false()))
    # A system is a copy when another system of the same name was registered before it (earlier, or as early
    # with a smaller id); the same provider cannot have two systems of one name (uq_systems_provider_name).
    op.execute(
        "UPDATE systems SET name_copy = EXISTS (SELECT 1 FROM systems AS earlier "
        "WHERE earlier.name_key = systems.name_key AND earlier.provider_id <> systems.provider_id "
        "AND (earlier.created_at < systems.created_at "
        "OR (earlier.created_at = systems.created_at AND earlier.id < systems.id)))"
    )
    op.create_index(
        "ix_systems_name_copy",
        "systems",
        ["search_key"],
        sqlite_where=sa.text("name_copy"),
        postgresql_where=sa.text("name_copy"),
    )


def downgrade() -> None:
    op.drop_index("ix_systems_name_copy", table_name="systems")
    op.drop_column("systems", "name_copy")  # SQLite >= 3.35 drops a column in place
    op.drop_index("ix_deployer_confirmations_deployer", table_name="deployer_confirmations")
    op.drop_index("ix_deployer_confirmations_system", table_name="deployer_confirmations")
    op.drop_table("deployer_confirmations")
