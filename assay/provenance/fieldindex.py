"""The register's index of its marks' field messages.

A version-3 field read gives a 64-bit message and names no key: without an index the register decrypts it under
every system key and asks which decryption is a mark (15 microseconds a key: 15 ms with 1,000 keys, a quarter of
a check). Each mark made with a system key is recorded with its message (:func:`entry`), so a check beside the
database looks the message up and asks only the key it names::

    lookup = FieldIndex(db)
    watermark.detect(pixels, keys=ring, field_secret=secrets, accept=accept, lookup=lookup)

The index only narrows whom to ask: the key it names must still decrypt the message into a mark the register's
check takes (its namespace and tag), so a stale or tampered index costs the loop over every key, never a verdict.
A worker without the database (a batch's) holds an index that names nothing, and decrypts under every key.

The marks made before the index are indexed by its migration, with the step :func:`migration_steps` gives (it
derives their keys from the register's master key, which the migrations do not hold).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from assay.errors import ConfigError
from assay.provenance.keys import MarkId, RegisterKeys, WatermarkKey, system_watermark_key, watermark_key_id
from assay.provenance.models import FieldMessage

__all__ = ["FieldIndex", "entry", "message_hex", "migration_steps"]

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

    Safe to share between threads (each lookup takes its own connection). Pickles to an index that names
    nothing: a database handle does not travel to workers."""

    def __init__(self, db: Any | None) -> None:
        self._db = db

    def __call__(self, message: int) -> Iterable[str]:
        if self._db is None:
            return ()
        query = select(FieldMessage.key_id).where(FieldMessage.message == f"{message:016x}").limit(_MOST)
        try:
            with self._db.engine.connect() as conn:
                return tuple(conn.execute(query).scalars())
        except SQLAlchemyError:
            # The index is a shortcut: without it every key is asked, and the verdict is the same.
            log.warning("the field-message index could not be read; decrypting under every key instead")
            return ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (FieldIndex, (None,))

    def __repr__(self) -> str:
        return f"FieldIndex({'no database' if self._db is None else 'database'})"


def migration_steps(data_dir: Path | str) -> dict[str, Callable[[sa.Connection], None]]:
    """The data steps of the migrations that need the register's keys (``Database.upgrade(data_steps=...)``):
    provenance_0021 indexes the field messages of the marks made before it."""
    return {"provenance_0021": lambda conn: _index_existing(conn, Path(data_dir))}


def _index_existing(conn: sa.Connection, data_dir: Path) -> None:
    # Tables as they are at provenance_0021 (not the models, which may grow later).
    try:
        master = RegisterKeys.open(data_dir, create=False).master
    except ConfigError:
        return  # no master key: no system key, no mark to index
    keys = sa.table(
        "provenance_watermark_keys",
        *(sa.column(name) for name in ("key_id", "system_id", "provider_id", "generation", "algorithm")),
    )
    derived: dict[str, WatermarkKey] = {}
    for key_id, system_id, provider_id, generation, algorithm in conn.execute(sa.select(keys)):
        key = system_watermark_key(master, system_id, generation)
        if watermark_key_id(key) == key_id:  # a key id that does not derive is never trusted
            derived[key_id] = WatermarkKey(key_id, key, algorithm, provider_id=provider_id, system_id=system_id)
    marks = sa.table("provenance_marks", sa.column("mark_id"), sa.column("key_id"))
    index = sa.table("provenance_field_messages", sa.column("mark_id"), sa.column("message"), sa.column("key_id"))
    after = ""
    while True:  # in pages by mark id: no cursor stays open across the inserts, and memory stays flat
        page = conn.execute(
            sa.select(marks.c.mark_id, marks.c.key_id)
            .where(marks.c.key_id.is_not(None), marks.c.mark_id > after)
            .order_by(marks.c.mark_id)
            .limit(_PAGE)
        ).all()
        if not page:
            return
        after = page[-1][0]
        rows = [
            {"mark_id": mark_id, "message": message_hex(MarkId.parse(mark_id), derived[key_id]), "key_id": key_id}
            for mark_id, key_id in page
            if key_id in derived
        ]
        if rows:
            conn.execute(index.insert(), rows)
