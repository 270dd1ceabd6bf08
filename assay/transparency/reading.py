"""Reading the transparency log, never writing it: its head (the latest published checkpoint), the tiles inside
the published tree, inclusion proofs, and entries and checkpoints for the pages and commands that show them.

Both the integrator (:mod:`assay.transparency.service`) and the witness cosigning
(:mod:`assay.transparency.cosigning`) read through here, so neither imports the other for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from assay.db import Database
from assay.errors import StorageError, VerificationError
from assay.tlog import (
    TileCache,
    TileID,
    TileReader,
    TlogProof,
    bundle_prefix,
    inclusion_proof,
    leaf_hash,
    verify_inclusion,
)
from assay.transparency.models import LogCheckpoint, LogEntry, LogHead
from assay.transparency.storage import LogStorage

__all__ = [
    "Head",
    "checkpoints_published",
    "entries_between",
    "entry_at",
    "proof_at",
    "read_head",
    "read_published_tile",
    "recent_entries",
]


@dataclass(frozen=True)
class Head:
    """The latest published checkpoint, as stored in the database."""

    generation: int
    size: int
    root_hash: bytes
    checkpoint: str  # the signed note; "" before the first publication
    vkey: str
    tiles_dir: str
    published_at: datetime | None


def read_head(session: Session | Connection) -> Head:
    row = session.execute(
        select(
            LogHead.generation,
            LogHead.tree_size,
            LogHead.root_hash,
            LogHead.checkpoint,
            LogHead.vkey,
            LogHead.tiles_dir,
            LogHead.published_at,
        ).where(LogHead.id == 1)
    ).one_or_none()
    if row is None:
        raise StorageError("the transparency log's head row is missing", hint="run 'assay db upgrade'")
    return Head(int(row[0]), int(row[1]), bytes(row[2]), row[3], row[4], row[5], row[6])


def read_published_tile(storage: LogStorage, tile: TileID, head: Head) -> bytes | None:
    span = 1 if tile.is_entries else 1 << (8 * tile.level)
    first_node = tile.index << 8
    if (first_node + tile.width) * span > head.size:
        return None
    data = storage.read(tile.path)
    if data is None and tile.is_partial:
        full = storage.read(tile.full.path)
        if full is not None:
            if tile.is_entries:
                return bundle_prefix(full, tile.width)
            return full[: tile.width * 32]
    return data


def proof(
    db: Database,
    storage: LogStorage,
    index: int,
    vkey: str,
    cache: TileCache | None = None,
    note: Callable[[Head], str] | None = None,
) -> str | None:
    # A plain connection, not an ORM session: proofs are served on every check that resolves a mark.
    with db.engine.connect() as conn:
        head = read_head(conn)
        entry = conn.execute(select(LogEntry.data).where(LogEntry.idx == index)).scalar_one_or_none()
    if not head.checkpoint or index < 0 or index >= head.size or entry is None:
        return None
    return proof_at(storage, head, index, bytes(entry), cache, note(head) if note is not None else head.checkpoint)


def proof_at(
    storage: LogStorage, head: Head, index: int, entry: bytes, cache: TileCache | None, checkpoint: str
) -> str:
    def fetch(tile: TileID) -> bytes:
        data = read_published_tile(storage, tile, head)
        if data is None:
            raise StorageError(f"the log's tile {tile.path} is missing", hint="run 'assay log integrate' to repair")
        return data

    hashes = inclusion_proof(index, head.size, TileReader(head.size, fetch, cache=cache).node)
    # Fail closed: hand out a proof only if it leads from the entry to the published root. (The checkpoint's
    # signature was checked against the log's key when the integrator loaded it.)
    try:
        verify_inclusion(index, head.size, leaf_hash(entry), hashes, head.root_hash)
    except VerificationError as exc:
        raise StorageError(
            f"the log's tiles do not match its checkpoint: {exc.message}",
            hint="run 'assay log verify' and restore the data folder from a backup",
        ) from exc
    return TlogProof(index, tuple(hashes), checkpoint).render()


def entry_at(db: Database, index: int) -> bytes | None:
    with db.read() as s:
        data = s.execute(select(LogEntry.data).where(LogEntry.idx == index)).scalar_one_or_none()
    return None if data is None else bytes(data)


def entries_between(db: Database, start: int, end: int) -> list[bytes]:
    """The entries with indexes in [start, end), in order."""
    with db.read() as s:
        rows = s.execute(select(LogEntry.data).where(LogEntry.idx >= start, LogEntry.idx < end).order_by(LogEntry.idx))
        return [bytes(d) for (d,) in rows]


def recent_entries(db: Database, *, limit: int, before: int | None = None) -> list[tuple[int, bytes]]:
    """The newest ``limit`` entries (below index ``before`` when given), newest first, as (index, data)."""
    with db.read() as s:
        q = select(LogEntry.idx, LogEntry.data).order_by(LogEntry.idx.desc()).limit(limit)
        if before is not None:
            q = q.where(LogEntry.idx < before)
        return [(int(idx), bytes(data)) for idx, data in s.execute(q).all()]


def checkpoints_published(db: Database) -> list[str]:
    """Every checkpoint this log ever published (for consistency checks against the latest)."""
    with db.read() as s:
        return [c for (c,) in s.execute(select(LogCheckpoint.checkpoint))]
