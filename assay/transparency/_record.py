"""Sequencing: :func:`record` appends one entry inside the caller's write transaction."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, update
from sqlalchemy.orm import Session

from assay.transparency.entry import encode_entry
from assay.transparency.models import LogEntry, LogSequence

# Set after any commit that recorded an entry, so an integrator thread in this process wakes up at once
# instead of waiting for its next period.
entries_committed = threading.Event()


def record(session: Session, kind: str, body: Mapping[str, Any], *, time: datetime | None = None) -> int:
    """Append an entry in the caller's transaction and return its log index.

    The entry is durable exactly when the caller's transaction commits (and vanishes with its rollback,
    leaving no gap). Indexes are gapless and follow commit order: the counter row stays locked until the
    caller commits (on SQLite by the single writer, on PostgreSQL by the row lock of ``UPDATE``), so call
    ``record`` as late in the transaction as you can. Raises :class:`assay.errors.InvalidInput` or
    :class:`assay.errors.TooLarge` for a body that may not be logged; nothing is written then.
    """
    data = encode_entry(kind, body, time=time or datetime.now(UTC))
    next_index = session.execute(
        update(LogSequence)
        .where(LogSequence.id == 1)
        .values(next_index=LogSequence.next_index + 1)
        .returning(LogSequence.next_index)
    ).scalar_one()
    index = int(next_index) - 1
    session.execute(insert(LogEntry).values(idx=index, kind=kind, data=data))
    if not session.info.get("assay_tlog_listening"):
        session.info["assay_tlog_listening"] = True
        event.listen(session, "after_commit", _after_commit)
    return index


def _after_commit(session: Session) -> None:
    entries_committed.set()
