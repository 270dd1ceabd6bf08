"""The register's search, rebuilt to stay fast at 100,000+ systems.

- ``systems.search_key``: a stable integer per system (the id of its first version), the rowid of its FTS5 row;
- SQLite: ``systems_fts`` gains a ``facets`` column (filter values as tokens), so words and filters are one
  FTS5 query;
- PostgreSQL: ``name_document`` (name and provider only) with a GIN index, to put name matches first cheaply;
- ``ix_systems_updated_at`` covers (updated_at, id), the order of "recently updated".

Every system is reindexed. The reindexing here is self-contained SQL and JSON on purpose: a migration must
not depend on ORM models or search code that later versions change.

Revision ID: register_0003
Revises: register_0002
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "register_0003"
down_revision = "register_0002"
branch_labels = None
depends_on = None

_BODY_LIMIT = 20_000


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("systems", sa.Column("search_key", sa.Integer, nullable=True))
    op.execute(
        "UPDATE systems SET search_key = (SELECT v.id FROM system_versions v "
        "WHERE v.system_id = systems.id AND v.number = 1)"
    )
    op.create_index("ix_systems_search_key", "systems", ["search_key"], unique=True)
    op.drop_index("ix_systems_updated_at", table_name="systems")
    op.create_index("ix_systems_updated_at", "systems", ["updated_at", "id"])
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS systems_fts")
        op.execute(
            "CREATE VIRTUAL TABLE systems_fts USING fts5("
            "system_id UNINDEXED, name, provider, body, facets, "
            "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
    else:
        op.add_column("systems", sa.Column("name_document", sa.dialects.postgresql.TSVECTOR, nullable=True))
        op.create_index("ix_systems_name_document", "systems", ["name_document"], postgresql_using="gin")
    _reindex(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS systems_fts")
        op.execute(
            "CREATE VIRTUAL TABLE systems_fts USING fts5("
            "system_id UNINDEXED, name, provider, body, "
            "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
    else:
        op.drop_index("ix_systems_name_document", table_name="systems")
        op.drop_column("systems", "name_document")
    op.drop_index("ix_systems_updated_at", table_name="systems")
    op.create_index("ix_systems_updated_at", "systems", ["updated_at"])
    op.drop_index("ix_systems_search_key", table_name="systems")
    op.drop_column("systems", "search_key")


def _reindex(bind: Any) -> None:
    rows = bind.execute(
        sa.text(
            "SELECT s.id, s.search_key, s.name, p.name, s.provider_id, s.outcome, s.impact_level, s.status, "
            "s.suspended, v.disclosure FROM systems s JOIN providers p ON p.id = s.provider_id "
            "JOIN system_versions v ON v.system_id = s.id AND v.number = s.current_version"
        )
    ).all()
    caps: dict[str, list[str]] = {}
    for sid, cap in bind.execute(sa.text("SELECT system_id, capability FROM system_capabilities")):
        caps.setdefault(sid, []).append(cap)
    ctxs: dict[str, list[str]] = {}
    for sid, ctx in bind.execute(sa.text("SELECT system_id, context FROM system_contexts")):
        ctxs.setdefault(sid, []).append(ctx)
    for sid, key, name, provider, pid, outcome, level, status, suspended, disclosure in rows:
        body = _body(json.loads(disclosure))
        if bind.dialect.name == "sqlite":
            facets = (
                [("fp", pid), ("fo", outcome), ("fs", status)]
                + [("fc", c) for c in caps.get(sid, [])]
                + [("fx", c) for c in ctxs.get(sid, [])]
            )
            tokens = [p + v.encode().hex() for p, v in facets] + [f"fl{int(level)}", "fz1" if suspended else "fz0"]
            bind.execute(
                sa.text(
                    "INSERT INTO systems_fts(rowid, system_id, name, provider, body, facets) "
                    "VALUES (:r, :id, :n, :p, :b, :f)"
                ),
                {"r": key, "id": sid, "n": name, "p": provider, "b": body, "f": " ".join(tokens)},
            )
        else:
            bind.execute(
                sa.text(
                    "UPDATE systems SET "
                    "search_document = setweight(to_tsvector('simple', :n), 'A') || "
                    "setweight(to_tsvector('simple', :p), 'B') || setweight(to_tsvector('simple', :b), 'D'), "
                    "name_document = setweight(to_tsvector('simple', :n), 'A') || "
                    "setweight(to_tsvector('simple', :p), 'B') WHERE id = :id"
                ),
                {"id": sid, "n": _fold(name), "p": _fold(provider), "b": _fold(body)},
            )


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _body(value: Any) -> str:
    parts: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            if v and not v.startswith(("http://", "https://")):
                parts.append(v)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(value)
    return " ".join(parts)[:_BODY_LIMIT]
