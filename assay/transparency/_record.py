"""Sequencing: :func:`record` appends entries inside the caller's write transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, event, text
from sqlalchemy.orm import Session, SessionTransaction

from assay.errors import StorageError
from assay.transparency.entry import encode_entry

# Set after any commit that recorded an entry, so an integrator thread in this process wakes up at once
# instead of waiting for its next period.
entries_committed = threading.Event()

# Plain SQL (portable to SQLite >= 3.35 and PostgreSQL): recording is on every write path, and the ORM's
# per-statement overhead would cost more than the database work itself.
_LOCK = text("UPDATE tlog_sequence SET next_index = next_index WHERE id = 1 RETURNING next_index")
_TAKE = text("UPDATE tlog_sequence SET next_index = next_index + :n WHERE id = 1 RETURNING next_index")
_ADVANCE = text("UPDATE tlog_sequence SET next_index = :end WHERE id = 1 AND next_index = :start")
_INSERT = text("INSERT INTO tlog_entries (idx, kind, data) VALUES (:idx, :kind, :data)")
_PENDING = "assay_tlog_pending"


class _Pending:
    """Entries recorded in one transaction, written in one statement just before it commits.

    The first record of the transaction locks the counter row (``UPDATE ... RETURNING``: SQLite's single
    writer, PostgreSQL's row lock until commit), so nobody else can take indexes until this transaction
    ends; the indexes handed out meanwhile are counted here.
    """

    def __init__(self, transaction: SessionTransaction, start: int) -> None:
        self.transaction = transaction
        self.start = start
        self.rows: list[dict[str, Any]] = []

    @property
    def next(self) -> int:
        return self.start + len(self.rows)


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
    """Append several entries at once; returns their indexes. All bodies are checked before anything is
    recorded: one bad body refuses the whole call."""
    when = time or datetime.now(UTC)
    encoded = [(kind, encode_entry(kind, body, time=when)) for kind, body in items]
    if not encoded:
        return []
    transaction = session.get_transaction()
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None or transaction is None or pending.transaction is not transaction:
        start = int(session.execute(_LOCK).scalar_one())  # begins the transaction if it has not yet begun
        transaction = session.get_transaction()
        assert transaction is not None
        pending = _Pending(transaction, start)
        session.info[_PENDING] = pending
    first = pending.next
    pending.rows.extend({"idx": first + i, "kind": k, "data": d} for i, (k, d) in enumerate(encoded))
    return list(range(first, first + len(encoded)))


def _flush(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    session.info.pop(_SAVEPOINTS, None)
    if pending is None or not pending.rows or pending.transaction is not session.get_transaction():
        return
    advanced = session.execute(_ADVANCE, {"end": pending.next, "start": pending.start})
    # Cannot happen while the first UPDATE's lock is held; refuse rather than fork.
    if cast(CursorResult[Any], advanced).rowcount != 1:
        raise StorageError(
            "the log's index counter moved during the transaction",
            hint="write to the database only through assay.db.Database.write()",
        )
    session.execute(_INSERT, pending.rows)
    session.info[_PENDING + "_wrote"] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_PENDING + "_wrote", False):
        entries_committed.set()


# SAVEPOINTs: entries recorded inside one that rolls back must vanish with it (and their indexes be reused),
# exactly as rows written inside it do. Each savepoint remembers how many entries were staged when it began.
_SAVEPOINTS = "assay_tlog_savepoints"


def _savepoint_begins(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        pending: _Pending | None = session.info.get(_PENDING)
        if pending is not None and pending.transaction is not session.get_transaction():
            pending = None
        marks = session.info.setdefault(_SAVEPOINTS, {})
        marks[id(transaction)] = len(pending.rows) if pending is not None else None


def _savepoint_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        if previous_transaction.parent is None:  # the whole transaction rolled back: forget everything
            session.info.pop(_PENDING, None)
            session.info.pop(_PENDING + "_wrote", None)
            session.info.pop(_SAVEPOINTS, None)
        return
    marks = session.info.get(_SAVEPOINTS) or {}
    if id(previous_transaction) not in marks:
        return
    staged = marks.pop(id(previous_transaction))
    if staged is None:
        # The counter row was first locked inside the savepoint; its rollback may release the lock.
        session.info.pop(_PENDING, None)
        return
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is not None:
        del pending.rows[staged:]


# Listen on every session (these are no-ops for sessions that recorded nothing): a savepoint may begin
# before the first entry of its session is recorded.
event.listen(Session, "before_commit", _flush)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_transaction_create", _savepoint_begins)
event.listen(Session, "after_soft_rollback", _savepoint_rolled_back)
