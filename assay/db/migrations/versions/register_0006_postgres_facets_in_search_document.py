"""The register on PostgreSQL: the filters of a search move into ``search_document`` itself, as lexemes that begin
with "_" (search words are letters and digits only, so they can never match one), and ``facet_document``
(register_0005) goes. With words and filters in one GIN index, the planner no longer has to choose between two
indexes and then check the other condition row by row, detoasting each search document (it often did: a
filtered search took up to a second at 100,000 systems).

Revision ID: register_0006
Revises: register_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "register_0006"
down_revision = "register_0005"
branch_labels = None
depends_on = None


def _hex(expr: str) -> str:
    return f"encode(convert_to({expr}, 'UTF8'), 'hex')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.drop_index("ix_systems_facet_document", table_name="systems")
    op.drop_column("systems", "facet_document")
    # The same lexemes as assay.register.search.postgres_facets(); search documents from register_0003 have none.
    op.execute(
        "UPDATE systems s SET search_document = s.search_document || array_to_tsvector(array_remove(ARRAY["
        f"'_fp' || {_hex('s.provider_id')}, '_fo' || {_hex('s.outcome')}, '_fs' || {_hex('s.status')}, "
        "'_fl' || s.impact_level::text, CASE WHEN s.suspended THEN '_fz1' ELSE '_fz0' END] "
        f"|| ARRAY(SELECT '_fc' || {_hex('c.capability')} FROM system_capabilities c WHERE c.system_id = s.id) "
        f"|| ARRAY(SELECT '_fx' || {_hex('x.context')} FROM system_contexts x WHERE x.system_id = s.id), NULL))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("UPDATE systems SET search_document = ts_filter(search_document, '{a,b,c,d}')")
    op.add_column("systems", sa.Column("facet_document", sa.dialects.postgresql.TSVECTOR, nullable=True))
    op.create_index("ix_systems_facet_document", "systems", ["facet_document"], postgresql_using="gin")
