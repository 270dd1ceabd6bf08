"""Sequencing: :func:`record` appends entries inside the caller's write transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from assay.transparency.entry import encode_entry

# Set after any commit that recorded an entry, so an integrator thread in this process wakes up at once
# instead of waiting for its next period.
entries_committed = threading.Event()

# Plain SQL (portable to SQLite >= 3.35 and PostgreSQL): recording is on every write path, and the ORM's
# per-statement overhead would cost more than the database work itself.
_TAKE = text("UPDATE tlog_sequence SET next_index = next_index + :n WHERE id = 1 RETURNING next_index")
_INSERT = text("INSERT INTO tlog_entries (idx, kind, data) VALUES (:idx, :kind, :data)")


def record(session: Session, kind: str, body: Mapping[str, Any], *, time: datetime | None = None) -> int:
    """Append an entry in the caller's transaction and return its log index.

    The entry is durable exactly when the caller's transaction commits (and vanishes with its rollback,
    leaving no gap). Indexes are gapless and follow commit order: the counter row stays locked until the
    caller commits (on SQLite by the single writer, on PostgreSQL by the row lock of ``UPDATE``), so call
    ``record`` as late in the transaction as you can. Raises :class:`assay.errors.InvalidInput` or
    :class:`assay.errors.TooLarge` for a body that may not be logged; nothing is written then.
    """
    return record_many(session, [(kind, body)], time=time)[0]


def record_many(
    session: Session, items: Iterable[tuple[str, Mapping[str, Any]]], *, time: datetime | None = None
) -> list[int]:
    """Append several entries at once (one counter update, one batched insert); returns their indexes.

    All entries are checked before anything is written: one bad body refuses the whole call.
    """
    when = time or datetime.now(UTC)
    encoded = [(kind, encode_entry(kind, body, time=when)) for kind, body in items]
    if not encoded:
        return []
    end = int(session.execute(_TAKE, {"n": len(encoded)}).scalar_one())
    first = end - len(encoded)
    session.execute(_INSERT, [{"idx": first + i, "kind": k, "data": d} for i, (k, d) in enumerate(encoded)])
    if not session.info.get("assay_tlog_listening"):
        session.info["assay_tlog_listening"] = True
        event.listen(session, "after_commit", _after_commit)
    return list(range(first, end))


def _after_commit(session: Session) -> None:
    entries_committed.set()
