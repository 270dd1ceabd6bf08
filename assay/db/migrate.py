"""Alembic, driven from code: every part of Assay keeps its own migration branch in ``migrations/versions``.

Branches: ``register``, ``transparency``, ``provenance``, ``complaints``. A migration that needs another
part's tables names that part's revision in ``depends_on``. ``upgrade`` brings all branches to their heads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

DataStep = Callable[[Connection], None]


class _Migratable(Protocol):
    """What migrating needs of :class:`assay.db.Database` (a protocol, so this module does not import the one
    that imports it)."""

    @property
    def url(self) -> str: ...
    @property
    def is_sqlite(self) -> bool: ...
    @property
    def engine(self) -> Engine: ...


MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(db: _Migratable) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["database"] = db
    return cfg


# The PostgreSQL advisory lock every Assay process takes around its migrations (one number for the whole server,
# so it must not collide with another application's: the first 8 bytes of SHA-256("assay migrations")).
MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"assay migrations").digest()[:8], "big", signed=True)


def upgrade(db: _Migratable, target: str = "heads", *, data_steps: Mapping[str, DataStep] | None = None) -> None:
    """Bring every branch to ``target``, once however many processes or machines start at the same moment.

    ``data_steps``: by revision, what a migration cannot do itself because it needs the register's keys (which
    this package never holds), run inside it on its connection: provenance_0021 indexes the field messages of
    the marks made before it (``assay.provenance.fieldindex.migration_steps``). Without one, the rows it would
    fill stay as they were.

    The migrations run in one transaction, under an exclusive lock held to its end: on PostgreSQL a
    transaction-level advisory lock (released by the commit, or by the server if the process dies); on SQLite a
    lock file next to the database and ``BEGIN IMMEDIATE``. A process that waited finds the schema current and
    does nothing.
    """
    cfg = alembic_config(db)
    cfg.attributes["data_steps"] = dict(data_steps or {})
    with _sqlite_file_lock(db), db.engine.connect() as conn:
        if db.is_sqlite:
            conn = conn.execution_options(assay_immediate=True)  # BEGIN IMMEDIATE (see assay.db)
        with conn.begin():
            if not db.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, target)


@contextmanager
def _sqlite_file_lock(db: _Migratable) -> Iterator[None]:
    """An exclusive ``flock`` on ``<database>.migrate-lock`` (SQLite's own lock times out after 30 s; a long
    migration must make the others wait, not fail)."""
    path = db.url.split("sqlite:///", 1)[-1] if db.is_sqlite else ""
    if not path or path == ":memory:":
        yield
        return
    import fcntl

    fd = os.open(f"{path}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def pending(db: _Migratable) -> list[str]:
    """Revisions not yet applied (empty when the schema is current)."""
    script = ScriptDirectory.from_config(alembic_config(db))
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    heads = set(script.get_heads())
    if heads <= current:
        return []
    return sorted(heads - current)
