"""The register: indexes for "recently updated" lists under a filter (outcome, impact level, status, provider),
so such a list is an index range scan at any page instead of a sort of every match.

Revision ID: register_0004
Revises: register_0003
"""

from __future__ import annotations

from alembic import op

revision = "register_0004"
down_revision = "register_0003"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_systems_outcome_updated": "outcome",
    "ix_systems_impact_level_updated": "impact_level",
    "ix_systems_status_updated": "status",
    "ix_systems_provider_updated": "provider_id",
}


def upgrade() -> None:
    for name, column in _INDEXES.items():
        op.create_index(name, "systems", [column, "updated_at", "id"])


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="systems")
