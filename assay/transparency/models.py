"""The log's tables (branch ``transparency`` of the migrations).

- ``tlog_entries``: every sequenced entry, by index; written by :func:`assay.transparency.record` in the
  caller's transaction, never updated or deleted. The log's source of truth: tiles can be rebuilt from it.
- ``tlog_sequence``: one row holding the next index. Recording locks it (``UPDATE ... RETURNING``), so indexes
  are gapless and in commit order on both SQLite and PostgreSQL.
- ``tlog_head``: one row, the latest published checkpoint, replaced only by compare-and-swap on
  ``generation`` (owned by the integrator).
- ``tlog_checkpoints``: every checkpoint ever published, one per tree size (the primary key makes two
  different trees of the same size impossible).
- ``tlog_integrator_lease``: one row, which process integrates the log and until when (see the service).
- ``tlog_cosignatures``: for each witness of this log (``ASSAY_LOG_WITNESSES``), the size it last cosigned
  and that cosignature (owned by :mod:`assay.transparency.cosigning`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from assay.db import Base
from assay.db.types import UTCDateTime

# SQLite makes INTEGER PRIMARY KEY the rowid (fast appends); PostgreSQL gets a real 64-bit column.
_Index = BigInteger().with_variant(Integer(), "sqlite")


class LogEntry(Base):
    __tablename__ = "tlog_entries"

    idx: Mapped[int] = mapped_column(_Index, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class LogSequence(Base):
    __tablename__ = "tlog_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_index: Mapped[int] = mapped_column(BigInteger, nullable=False)


class LogHead(Base):
    __tablename__ = "tlog_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tree_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    checkpoint: Mapped[str] = mapped_column(Text, nullable=False)  # signed note text; "" before the first
    vkey: Mapped[str] = mapped_column(Text, nullable=False)  # the key that signs; "" before the first
    tiles_dir: Mapped[str] = mapped_column(Text, nullable=False)  # where the integrator writes tiles
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LogCheckpoint(Base):
    __tablename__ = "tlog_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    checkpoint: Mapped[str] = mapped_column(Text, nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class WitnessedLog(Base):
    """A log this register witnesses (C2SP tlog-witness): its keys and the latest checkpoint it cosigned.

    ``size``/``root_hash``/``checkpoint`` are replaced only under the row's lock (owned by
    ``assay.transparency.witness``), so two add-checkpoint requests can never roll the state back.
    """

    __tablename__ = "tlog_witnessed_logs"

    origin: Mapped[str] = mapped_column(String(255), primary_key=True)
    vkeys: Mapped[str] = mapped_column(Text, nullable=False)  # one vkey per line
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    checkpoint: Mapped[str] = mapped_column(Text, nullable=False)  # with our cosignature; "" before the first
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WitnessCosignature(Base):
    """A witness of this log (``ASSAY_LOG_WITNESSES``, by its cosignature vkey): the tree size it last
    cosigned for us and that cosignature's line(s), verified before they were stored.

    Written by :mod:`assay.transparency.cosigning` only, and never to a smaller size.
    """

    __tablename__ = "tlog_cosignatures"

    vkey: Mapped[str] = mapped_column(String(512), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cosignature: Mapped[str] = mapped_column(Text, nullable=False)  # signed-note signature line(s)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class IntegratorLease(Base):
    """One row (id 1): the process that integrates the log (``holder``) and until when (Unix seconds).

    Taken and renewed by :class:`assay.transparency.integrator.IntegratorLease` only when free, expired or already
    its own, so at most one live holder at a time; a holder that dies is replaced when ``expires_at`` passes.
    """

    __tablename__ = "tlog_integrator_lease"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(128), nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)
