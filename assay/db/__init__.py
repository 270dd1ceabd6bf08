"""The register's database: SQLite by default, PostgreSQL when ``ASSAY_DATABASE_URL`` says so.

Contract:

- Schema changes only through the Alembic migrations in ``assay/db/migrations`` (``Database.upgrade()``), under
  a lock (PostgreSQL advisory lock; on SQLite a lock file and ``BEGIN IMMEDIATE``), so workers and machines
  starting at once migrate once (:mod:`assay.db.migrate`).
- Writes go through :meth:`Database.write`, one transaction each. On SQLite there is exactly one writer at a
  time (a process-wide lock plus ``BEGIN IMMEDIATE``), so a read-modify-write inside ``write()`` never loses
  an update; on PostgreSQL code that reads before it writes locks the rows it reads
  (``select(...).with_for_update()``).
- Reads go through :meth:`Database.read`, which never writes and sees one consistent snapshot (REPEATABLE READ
  on PostgreSQL, a WAL read transaction on SQLite).
- SQLite runs in WAL mode with ``synchronous=FULL``: a committed write survives a power cut.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from assay.errors import StorageError


class Base(DeclarativeBase):
    """Declarative base shared by every part's tables (so one Alembic environment sees them all)."""


def _import_all_models() -> None:
    # Each part keeps its tables in its own ``models`` module; importing them registers them on Base.metadata.
    import importlib

    for name in (
        "assay.register.models",
        "assay.transparency.models",
        "assay.provenance.models",
        "assay.provenance.textmodels",
        "assay.complaints.models",
    ):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise


class Database:
    """A handle on the database: engine, sessions, and the single-writer discipline."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("sqlite:///", 1)[-1]
            if path and path != ":memory:":
                folder = Path(path).parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    why = "a file of that name is in the way" if isinstance(exc, FileExistsError) else exc.strerror
                    raise StorageError(
                        f"cannot create the folder {str(folder)!r} for the database: {why}",
                        hint="set --data-dir (ASSAY_DATA_DIR) to a folder you can write to",
                    ) from None
            self.engine: Engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=8,
                max_overflow=16,
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(url, echo=echo, pool_size=10, max_overflow=40, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Protects the single SQLite writer: one write transaction at a time in this process.
        self._write_lock = threading.Lock()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back everything on any exception."""
        lock = self._write_lock if self.is_sqlite else _NullLock()
        with lock:
            session = self._sessions()
            try:
                if self.is_sqlite:
                    # Take SQLite's write lock at BEGIN, so reads inside the transaction are never stale.
                    session.connection(execution_options={"assay_immediate": True})
                yield session
                session.commit()
            except OperationalError as exc:
                session.rollback()
                raise StorageError(
                    f"the database could not complete the write: {exc.orig}",
                    hint="check that the data folder is writable and the database server is reachable",
                ) from exc
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction that sees one snapshot of the database from its first query to its end."""
        session = self._sessions()
        try:
            if not self.is_sqlite:
                # PostgreSQL's default (READ COMMITTED) gives every statement its own snapshot: a page or an
                # export read in several queries could mix two versions of a system. SQLite's WAL readers
                # already keep one snapshot per transaction.
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session
        finally:
            session.rollback()
            session.close()

    def upgrade(self, data_steps: Mapping[str, Callable[[Any], None]] | None = None) -> None:
        """Bring the schema to the newest migration (creates it on an empty database). ``data_steps``: what a
        migration needs the register's keys for, by revision (see :func:`assay.db.migrate.upgrade`)."""
        from assay.db.migrate import upgrade

        try:
            upgrade(self, data_steps=data_steps)
        except OperationalError as exc:
            raise StorageError(
                f"cannot bring the database schema up to date at "
                f"{self.engine.url.render_as_string(hide_password=True)}: {exc.orig}",
                hint="check ASSAY_DATABASE_URL (is the server running and reachable?), "
                "or unset it to use SQLite in the data folder",
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _sqlite_on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (so BEGIN IMMEDIATE works).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_on_begin(conn) -> None:  # type: ignore[no-untyped-def]
    immediate = bool(conn.get_execution_options().get("assay_immediate"))
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def check_connection(db: Database) -> None:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise StorageError(
            f"cannot connect to the database at {db.engine.url.render_as_string(hide_password=True)}: {exc.orig}",
            hint="check ASSAY_DATABASE_URL, or unset it to use SQLite in the data folder",
        ) from exc
