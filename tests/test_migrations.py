"""The Alembic migrations create exactly the tables the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from assay.db import Base, Database, _import_all_models
from assay.db.migrate import pending


def test_migrated_schema_matches_the_models(db: Database) -> None:
    _import_all_models()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    # Index and constraint naming can differ harmlessly between dialects; tables and columns may not.
    relevant = [
        d for d in diff if d[0] in ("add_table", "remove_table", "add_column", "remove_column") and not _search_index(d)
    ]
    assert relevant == [], f"models and migrations disagree: {relevant}"


def test_no_migration_is_pending_after_upgrade(db: Database) -> None:
    assert pending(db) == []


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()
    db.upgrade()
    assert pending(db) == []


def _search_index(d: tuple) -> bool:  # type: ignore[type-arg]
    # Full-text search artefacts are dialect-specific and live only in migrations, not in the models:
    # SQLite FTS5 virtual tables (and their shadow tables), PostgreSQL tsvector columns.
    if d[0] == "remove_table":
        return "_fts" in d[1].name
    if d[0] == "remove_column":
        return type(d[3].type).__name__ == "TSVECTOR"
    return False
