"""The register's index of its marks' field messages.

A version-3 field read gives a 64-bit message and names no key: without an index the register decrypts it under
every system key and asks which decryption is a mark (15 microseconds a key: 15 ms with 1,000 keys, a quarter of
a check). Each mark made with a system key is recorded with its message (:func:`entry`), so a check beside the
database looks the message up and asks only the key it names::

    lookup = FieldIndex(db)
    watermark.detect(pixels, keys=ring, field_secret=secrets, accept=accept, lookup=lookup)

The index only narrows whom to ask: the key it names must still decrypt the message into a mark the register's
check takes (its namespace and tag), so a stale or tampered row costs the loop over every key, not a wrong name.
One difference is meant: where a second key's decryption also passes the check (about 2^-16 times the share of
namespaces in use, per key), the loop names neither key and the index names the one the mark was recorded with.
A worker without the database (a batch's) holds an index that names nothing, and decrypts under every key.

The marks made before the index are indexed by its migration, with the step :func:`migration_steps` gives (it
derives their keys from the register's master key, which the migrations do not hold).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from assay.errors import ConfigError
from assay.provenance.keys import MarkId, WatermarkKey, load_watermark_keys
from assay.provenance.models import FieldMessage

__all__ = ["FieldIndex", "entry", "index_missing", "message_hex", "migration_steps"]

log = logging.getLogger(__name__)

_MOST = 4  # rows a lookup reads: two marks with one 64-bit message would be a collision (never met)
_PAGE = 1000  # marks indexed per statement by the migration


def message_hex(mark: MarkId, key: WatermarkKey) -> str:
    """The field message of ``mark`` made with the system key ``key``, as the index keeps it (16 hex digits)."""
    from assay import watermark  # here: every 'assay' command passes migration_steps, few mark (0.8 s of imports)

    return f"{watermark.field_message(key.payload_of(mark), key=key.key):016x}"


def entry(mark: MarkId, key: WatermarkKey) -> FieldMessage | None:
    """The index row of a mark made with ``key`` (None for the legacy register-wide key: it has no field)."""
    if key.legacy:
        return None
    return FieldMessage(mark_id=mark.hex, message=message_hex(mark, key), key_id=key.key_id)


class FieldIndex:
    """``lookup(message)``: the ids of the keys whose recorded marks carry this field message (one, or none).

    Safe to share between threads (each lookup takes its own connection). Bound to the process that made it: a
    copy in another process, pickled (a spawned worker, Dask) or inherited (a forked one, whose connections
    are the parent's), names nothing, as does an index whose database is gone (it is held weakly: the cached
    verifier material must not keep a database alive)."""

    def __init__(self, db: Any | None) -> None:
        self._db = weakref.ref(db) if db is not None else None
        self._pid = os.getpid()

    def __call__(self, message: int) -> Iterable[str]:
        db = self._db() if self._db is not None and os.getpid() == self._pid else None
        if db is None:
            return ()
        query = (
            select(FieldMessage.key_id)
            .where(FieldMessage.message == f"{message:016x}")
            .order_by(FieldMessage.key_id)
            .limit(_MOST)
        )
        try:
            with db.engine.connect() as conn:
                return tuple(conn.execute(query).scalars())
        except SQLAlchemyError:
            # The index is a shortcut: without it every key is asked (see the module's docstring).
            log.warning("the field-message index could not be read; decrypting under every key instead")
            return ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (FieldIndex, (None,))

    def __repr__(self) -> str:
        return f"FieldIndex({'no database' if self._db is None else 'database'})"


def migration_steps(data_dir: Path | str) -> dict[str, Callable[[sa.Connection], None]]:
    """The data steps of the migrations that need the register's keys (``Database.upgrade(data_steps=...)``):
    provenance_0021 indexes the field messages of the marks made before it."""
    return {"provenance_0021": lambda conn: _index_step(conn, Path(data_dir))}


def _index_step(conn: sa.Connection, data_dir: Path) -> None:
    _index_missing(conn, data_dir)


def index_missing(db: Any, data_dir: Path | str) -> int:
    """Index the marks made with a system key that have no row yet (recorded by a process from before the
    index, during a rolling upgrade, or migrated without the register's keys); returns how many. Idempotent."""
    with db.write() as session:
        return _index_missing(session.connection(), Path(data_dir))


def _index_missing(conn: sa.Connection, data_dir: Path) -> int:
    # About 17 us a mark: a minute for 3.5 million, inside the migration's transaction, once. The system keys as
    # every check derives them (no master key: none, and no mark made with one).
    try:
        with Session(bind=conn) as session:
            derived = {k.key_id: k for k in load_watermark_keys(data_dir, session) if not k.legacy}
    except (ConfigError, OSError) as exc:
        log.warning("marks' field messages not indexed: the register's keys are unreadable (%s)", exc)
        return 0
    # Tables as they are at provenance_0021 (not the models, which may grow later).
    marks = sa.table("provenance_marks", sa.column("mark_id"), sa.column("key_id"))
    index = sa.table("provenance_field_messages", sa.column("mark_id"), sa.column("message"), sa.column("key_id"))
    missing = ~sa.exists().where(index.c.mark_id == marks.c.mark_id)
    after, done = "", 0
    while True:  # in pages by mark id: no cursor stays open across the inserts, and memory stays flat
        page = conn.execute(
            sa.select(marks.c.mark_id, marks.c.key_id)
            .where(marks.c.key_id.is_not(None), marks.c.mark_id > after, missing)
            .order_by(marks.c.mark_id)
            .limit(_PAGE)
        ).all()
        if not page:
            break
        after = page[-1][0]
        rows = [
            {"mark_id": mark_id, "message": message_hex(MarkId.parse(mark_id), derived[key_id]), "key_id": key_id}
            for mark_id, key_id in page
            if key_id in derived
        ]
        if rows:
            conn.execute(index.insert(), rows)
            done += len(rows)
    if done:
        log.info("indexed the field messages of %d marks", done)
    return done
