"""The log service: integrates sequenced entries into tiles and a signed checkpoint, and serves proofs.

Sequencing (``record``) happens in the callers' transactions and fixes every entry's index. Integration,
here, is a single logical sequencer per log: it reads the entries after the published tree size in
batches, and for each batch

1. writes the new full tiles and entry bundles and the new partial ones (storage, durably),
2. signs a checkpoint for the new size and publishes it in the database by compare-and-swap on the head's
   ``generation`` (losing the race means another integrator published first: reload and go on),
3. writes the ``checkpoint`` file next to the tiles (a convenience copy; the database is the authority),
4. removes partial tiles made redundant by the full tiles of this batch.

A checkpoint is never published before the tiles it needs are durable, tiles are a deterministic function
of the entries (so rewriting them after a crash is harmless), and the head only moves forward by CAS, so
two integrators can never publish two different trees of the same size. After any failure the in-memory
state is dropped and rebuilt from storage and the database (or, if storage lost tiles, from the entries).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update

from assay.config import Config
from assay.db import Database
from assay.errors import ConfigError, StorageError, VerificationError
from assay.tlog import (
    EMPTY_ROOT,
    TILE_WIDTH,
    Checkpoint,
    Signer,
    TileCache,
    TileID,
    encode_bundle,
    leaf_hash,
    node_hash,
    split_hashes,
    tiles_for_size,
    verify_checkpoint,
)
from assay.transparency.cosigning import Cosigning
from assay.transparency.keys import load_or_create_signer, origin_is_configured
from assay.transparency.models import LogCheckpoint, LogEntry, LogHead
from assay.transparency.reading import Head, proof, proof_at, read_head, read_published_tile
from assay.transparency.storage import LogStorage, PosixStorage

log = logging.getLogger("assay.transparency")

DEFAULT_BATCH = 4096
_sha256 = hashlib.sha256


class _TreeState:
    """The right edge of the tree: the hashes of the rightmost (partial) tile of every level and the entries
    of the partial bundle. Enough to append entries and to compute the root. Owned by the integrator lock."""

    def __init__(
        self, size: int = 0, levels: list[list[bytes]] | None = None, bundle: list[bytes] | None = None
    ) -> None:
        self.size = size
        self.levels: list[list[bytes]] = levels if levels is not None else []
        self.bundle: list[bytes] = bundle if bundle is not None else []

    def append(self, entries: Iterable[bytes]) -> tuple[dict[str, bytes], list[TileID]]:
        """Add entries; return the files to write (full tiles, bundles, new partials) and the full tiles."""
        old_size = self.size
        files: dict[str, bytes] = {}
        full: list[TileID] = []
        levels = self.levels
        bundle = self.bundle
        size = self.size
        for data in entries:
            bundle.append(data)
            size += 1
            if len(bundle) == TILE_WIDTH:
                tile = TileID(-1, (size - 1) >> 8)
                files[tile.path] = encode_bundle(bundle)
                full.append(tile)
                bundle = self.bundle = []
            carry = _sha256(b"\x00" + data).digest()
            level = 0
            while True:
                if level == len(levels):
                    levels.append([])
                row = levels[level]
                row.append(carry)
                if len(row) < TILE_WIDTH:
                    break
                tile = TileID(level, ((size >> (8 * level)) - 1) >> 8)
                files[tile.path] = b"".join(row)
                full.append(tile)
                carry = _perfect_root(row)
                levels[level] = []
                level += 1
        self.size = size
        for level, row in enumerate(levels):
            if row and (size >> (8 * level)) != (old_size >> (8 * level)):
                files[TileID(level, (size >> (8 * level)) >> 8, len(row)).path] = b"".join(row)
        if self.bundle and size != old_size:
            files[TileID(-1, size >> 8, len(self.bundle)).path] = encode_bundle(self.bundle)
        return files, full

    def root(self) -> bytes:
        parts: list[bytes] = []
        for row in reversed(self.levels):  # leftmost (largest) subtrees live in the highest levels
            pos = 0
            remaining = len(row)
            while remaining:
                span = 1 << (remaining.bit_length() - 1)
                parts.append(_perfect_root(row[pos : pos + span]))
                pos += span
                remaining -= span
        if not parts:
            return EMPTY_ROOT
        acc = parts[-1]
        for h in reversed(parts[:-1]):
            acc = node_hash(h, acc)
        return acc


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    row = list(hashes)
    while len(row) > 1:
        row = [_sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
    return row[0]


class _MissingTile(StorageError):
    code = "missing_tile"


class _LostRace(Exception):
    pass


class TransparencyLog:
    """One log: its database tables, its tile storage and its signing key.

    ``integrate()`` is safe to call from many threads (one runs at a time) and from many processes (CAS).
    ``on_step(name, when)`` is a test hook called before and after each persistence step ("tiles",
    "publish", "checkpoint", "gc"); raising from it simulates a crash at that point.
    """

    def __init__(
        self,
        db: Database,
        storage: LogStorage,
        signer: Signer,
        *,
        tiles_dir: str = "",
        batch_size: int = DEFAULT_BATCH,
        on_step: Callable[[str, str], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError("the integration batch size must be positive", hint="give a batch size of 1 or more")
        self.db = db
        self.storage = storage
        self.signer = signer
        self.origin = signer.name
        self.vkey = signer.vkey
        self.tiles_dir = tiles_dir
        self.batch_size = batch_size
        self.rebuild_chunk = 65536  # entries read from the database at a time when rebuilding lost tiles
        self._on_step = on_step
        self._lock = threading.Lock()  # one integration at a time in this process
        self._state: _TreeState | None = None  # owned by _lock
        self._generation = -1  # owned by _lock
        self._tiles = TileCache(1024)  # tiles are immutable per (level, index, width): shared by proof readers
        self.cosigning: Cosigning | None = None  # the witnesses asked to cosign (ASSAY_LOG_WITNESSES)

    def __repr__(self) -> str:
        return f"TransparencyLog({self.origin!r}, {self.storage!r})"

    # -- integration -------------------------------------------------------------------------------------

    def integrate(self, *, max_entries: int | None = None) -> Head:
        """Integrate every sequenced entry (or up to ``max_entries``); return the head published last.

        Then, outside the lock, ask the witnesses (if any) to cosign that head; that never fails integration."""
        with self._lock:
            try:
                head = self._integrate(max_entries)
            except BaseException:
                # Never trust in-memory state after a failure: the next call reloads it from durable storage.
                self._state = None
                raise
        if self.cosigning is not None:
            self.cosigning.collect(head)
        return head

    def _step(self, name: str, when: str) -> None:
        if self._on_step is not None:
            self._on_step(name, when)

    def _integrate(self, max_entries: int | None) -> Head:
        done = 0
        while True:
            state, head = self._current()
            if not head.checkpoint:
                # A brand-new log publishes the empty tree first, so there is always a signed checkpoint.
                try:
                    self._publish(state, head, {}, [])
                except _LostRace:
                    self._state = None
                continue
            limit = self.batch_size if max_entries is None else min(self.batch_size, max_entries - done)
            if limit <= 0:
                return head
            entries = self._pending(state.size, limit)
            if not entries:
                return head
            files, full = state.append(entries)
            try:
                self._publish(state, head, files, full)
            except _LostRace:
                self._state = None
                continue
            done += len(entries)

    def _current(self) -> tuple[_TreeState, Head]:
        with self.db.read() as s:
            head = read_head(s)
        if head.tiles_dir.startswith("s3://") and head.tiles_dir != self.tiles_dir:
            # Another machine serves this log from object storage: tiles written anywhere else would be seen by
            # nobody, and every machine would rebuild them from the entries in turn.
            raise ConfigError(
                f"this log's tiles are in {head.tiles_dir}, but this process would write them to {self.tiles_dir}",
                hint=f"set ASSAY_LOG_STORAGE={head.tiles_dir} (and ASSAY_S3_ENDPOINT_URL) as on the other machines",
            )
        if head.vkey and head.vkey != self.vkey:
            raise ConfigError(
                "the log's signing key is not the key that signed its published checkpoints "
                f"(published: {head.vkey}; this key: {self.vkey})",
                hint="restore the original key file into the data folder (keys/transparency-log.key)",
            )
        if self._state is None or self._generation != head.generation:
            self._state = self._load(head)
            self._generation = head.generation
        return self._state, head

    def _pending(self, start: int, limit: int) -> list[bytes]:
        with self.db.read() as s:
            rows = s.execute(
                select(LogEntry.idx, LogEntry.data).where(LogEntry.idx >= start).order_by(LogEntry.idx).limit(limit)
            ).all()
        out = []
        for expected, (idx, data) in enumerate(rows, start):
            if idx != expected:
                # Cannot happen with record()'s counter; stop at a gap rather than integrate out of order.
                log.error("transparency log: entry %d is missing (found %d); integrating up to the gap", expected, idx)
                break
            out.append(bytes(data))
        return out

    def _publish(self, state: _TreeState, head: Head, files: dict[str, bytes], full: list[TileID]) -> None:
        # 1. Tiles and bundles, durably, before any checkpoint refers to them.
        self._step("tiles", "before")
        if files:
            self.storage.write_many(files)
        self._step("tiles", "after")
        # 2. Sign and publish by compare-and-swap on the generation.
        checkpoint = Checkpoint(self.origin, state.size, state.root())
        note = checkpoint.text() + "\n" + self.signer.sign(checkpoint.text()).line()
        now = datetime.now(UTC)
        self._step("publish", "before")
        with self.db.write() as s:
            result = s.execute(
                update(LogHead)
                .where(LogHead.id == 1, LogHead.generation == head.generation)
                .values(
                    generation=head.generation + 1,
                    tree_size=state.size,
                    root_hash=checkpoint.root_hash,
                    checkpoint=note,
                    vkey=self.vkey,
                    tiles_dir=self.tiles_dir,
                    published_at=now,
                )
            )
            if cast(CursorResult[Any], result).rowcount != 1:
                raise _LostRace()
            if state.size != head.size or not head.checkpoint:
                s.execute(
                    insert(LogCheckpoint).values(
                        tree_size=state.size, root_hash=checkpoint.root_hash, checkpoint=note, published_at=now
                    )
                )
        self._generation = head.generation + 1
        self._step("publish", "after")
        # 3. The checkpoint file, for static mirrors of the data folder.
        self._step("checkpoint", "before")
        self.storage.write_many({"checkpoint": note.encode()})
        self._step("checkpoint", "after")
        # 4. Partial tiles that a full tile of this batch replaces.
        self._step("gc", "before")
        for tile in full:
            self.storage.remove_partials(tile)
        self._step("gc", "after")

    def _load(self, head: Head) -> _TreeState:
        """The right edge of the published tree, from storage; rebuilt from the entries if storage lost it."""
        if head.checkpoint:
            verify_checkpoint(head.checkpoint, self.vkey, origin=self.origin)
        try:
            state = self._load_from_storage(head)
        except (_MissingTile, VerificationError) as exc:
            log.warning("transparency log: rebuilding tiles from the database (%s)", exc.message)
            state = self._rebuild(head)
        if head.checkpoint:
            if self.storage.read("checkpoint") != head.checkpoint.encode():
                self.storage.write_many({"checkpoint": head.checkpoint.encode()})
            # Partials of the latest full tiles may survive a crash between publishing and removing them.
            for level in range(len(state.levels)):
                count = head.size >> (8 * level)
                if count >= TILE_WIDTH:
                    self.storage.remove_partials(TileID(level, (count >> 8) - 1))
            if head.size >= TILE_WIDTH:
                self.storage.remove_partials(TileID(-1, (head.size >> 8) - 1))
        return state

    def _load_from_storage(self, head: Head) -> _TreeState:
        size = head.size
        levels: list[list[bytes]] = []
        level = 0
        while size >> (8 * level):
            width = (size >> (8 * level)) & (TILE_WIDTH - 1)
            tile = TileID(level, (size >> (8 * level)) >> 8, width) if width else None
            levels.append(split_hashes(self._read_tile(tile, head), width) if tile else [])
            level += 1
        start = size & ~(TILE_WIDTH - 1)
        bundle = self._entries(start, size)
        if bundle:
            stored = self._read_tile(TileID(-1, size >> 8, len(bundle)), head)
            if stored != encode_bundle(bundle) or (levels and [leaf_hash(e) for e in bundle] != levels[0]):
                raise _MissingTile("the stored partial entry bundle or level-0 tile does not match the database")
        state = _TreeState(size, levels, bundle)
        if state.root() != head.root_hash:
            raise _MissingTile("the stored tiles do not produce the published root hash")
        return state

    def _entries(self, start: int, end: int) -> list[bytes]:
        """Entries start..end-1 of the published tree, all of them or a StorageError."""
        with self.db.read() as s:
            rows = [
                bytes(d)
                for (d,) in s.execute(
                    select(LogEntry.data).where(LogEntry.idx >= start, LogEntry.idx < end).order_by(LogEntry.idx)
                )
            ]
        if len(rows) != end - start:
            raise StorageError(
                f"the database lacks entries {start}..{end - 1} of the published tree",
                hint="restore the database from a backup",
            )
        return rows

    def _read_tile(self, tile: TileID, head: Head) -> bytes:
        data = read_published_tile(self.storage, tile, head)
        if data is None:
            raise _MissingTile(f"{tile.path} is missing from {self.storage!r}")
        return data

    def _rebuild(self, head: Head) -> _TreeState:
        state = _TreeState()
        start = 0
        chunk = self.rebuild_chunk
        while start < head.size:
            end = min(start + chunk, head.size)
            files, _ = state.append(self._entries(start, end))
            # Only full tiles here: the published size's partials are written below, from the final state
            # (a chunk only emits the partials it changed).
            self.storage.write_many({p: d for p, d in files.items() if ".p/" not in p})
            start = end
        if state.root() != head.root_hash:
            raise VerificationError(
                "the log's entries in the database do not produce its published root hash",
                hint="the database was altered or restored from another log: do not publish; investigate",
            )
        partials = {tile.path: b"".join(state.levels[tile.level]) for tile in tiles_for_size(head.size)}
        if state.bundle:
            partials[TileID(-1, head.size >> 8, len(state.bundle)).path] = encode_bundle(state.bundle)
        self.storage.write_many(partials)
        return state

    # -- reading -----------------------------------------------------------------------------------------

    def head(self) -> Head:
        with self.db.read() as s:
            return read_head(s)

    def note(self, head: Head | None = None) -> str:
        """The published checkpoint as served: the log's signature and the witnesses' verified cosignatures."""
        head = head or self.head()
        return self.cosigning.note(head) if self.cosigning is not None else head.checkpoint

    def read_tile(self, tile: TileID, head: Head | None = None) -> bytes | None:
        """A published tile or bundle (only ranges inside the published tree), or None."""
        return read_published_tile(self.storage, tile, head or self.head())

    def proof(self, index: int) -> str | None:
        note = self.cosigning.note if self.cosigning is not None else None
        return proof(self.db, self.storage, index, self.vkey, self._tiles, note)


def proofs_at(db: Database, head: Head, entries: Mapping[int, bytes]) -> dict[int, str | None | StorageError]:
    """The tlog-proofs of several entries against ``head``, which the caller read (e.g. joined into its own
    query): no database statement, but for the witnesses' cosignatures when some are configured (one).

    Each value is the proof, None when the entry is not integrated yet, or the StorageError that kept the
    log from proving it (missing or damaged tiles): one entry's trouble does not hide the others' proofs."""
    if not head.checkpoint or not entries:
        return dict.fromkeys(entries)
    tlog = _any_open_log(db)
    if tlog is not None:
        storage: LogStorage = tlog.storage
        cache: TileCache | None = tlog._tiles
        checkpoint = tlog.cosigning.note(head) if tlog.cosigning is not None else head.checkpoint
    elif head.tiles_dir:
        storage, cache, checkpoint = PosixStorage(Path(head.tiles_dir)), None, head.checkpoint
    else:
        return dict.fromkeys(entries)
    out: dict[int, str | None | StorageError] = {}
    for index, entry in entries.items():
        if index < 0 or index >= head.size:
            out[index] = None
            continue
        try:
            out[index] = proof_at(storage, head, index, entry, cache, checkpoint)
        except StorageError as exc:
            out[index] = exc
        except OSError as exc:
            out[index] = StorageError(f"the log's tiles could not be read: {exc.strerror}", hint="")
    return out


# -- one log per (database, data folder) in this process ----------------------------------------------------

_LOGS: weakref.WeakKeyDictionary[Database, dict[str, TransparencyLog]] = weakref.WeakKeyDictionary()
_LOGS_LOCK = threading.Lock()


def open_storage(config: Config) -> tuple[LogStorage, str]:
    """The log's storage and its location as recorded in the database: ``<data_dir>/log`` (a folder of this
    machine), or the object storage ``ASSAY_LOG_STORAGE`` names (shared by every machine of the register)."""
    if config.log_storage:
        from assay.transparency.s3 import S3Storage

        s3 = S3Storage.from_url(config.log_storage, endpoint_url=config.s3_endpoint_url)
        return s3, s3.location
    root = (config.data_dir / "log").resolve()
    return PosixStorage(root), str(root)


def open_log(db: Database, config: Config) -> TransparencyLog:
    """The log of this database, with its tiles in :func:`open_storage` and its key in ``<data_dir>/keys``."""
    where = config.log_storage or str((config.data_dir / "log").resolve())
    with _LOGS_LOCK:
        logs = _LOGS.setdefault(db, {})
        existing = logs.get(where)
        if existing is not None and (existing.origin == config.resolved_log_origin or not origin_is_configured(config)):
            return existing
        signer = load_or_create_signer(config)
        storage, location = open_storage(config)
        if existing is None and isinstance(storage, PosixStorage):  # once per process: what a killed writer left
            storage.remove_stale_temporaries()
        tlog = TransparencyLog(db, storage, signer, tiles_dir=location)
        if config.log_witness_list:
            tlog.cosigning = Cosigning(db, storage, list(config.log_witness_list))
        logs[where] = tlog
        return tlog


def _any_open_log(db: Database) -> TransparencyLog | None:
    with _LOGS_LOCK:
        logs = _LOGS.get(db) or {}
        return next(iter(logs.values()), None)


def integrate(db: Database, config: Config) -> Head:
    """Integrate every sequenced entry now (CLI commands call this after their writes)."""
    return open_log(db, config).integrate()


def proof_for(db: Database, index: int) -> str | None:
    """The tlog-proof of entry ``index`` once it is integrated, else None."""
    tlog = _any_open_log(db)
    if tlog is not None:
        return tlog.proof(index)
    with db.read() as s:
        head = read_head(s)
    if not head.tiles_dir:
        return None
    if head.tiles_dir.startswith("s3://"):
        from assay.transparency.s3 import S3Storage

        storage: LogStorage = S3Storage.from_url(head.tiles_dir, endpoint_url=Config.from_env().s3_endpoint_url)
    else:
        storage = PosixStorage(Path(head.tiles_dir))
    return proof(db, storage, index, head.vkey)


def verifier_key(db: Database) -> str | None:
    """The vkey that verifies the log's checkpoints (``None`` before the first checkpoint)."""
    with db.read() as s:
        return read_head(s).vkey or None


def latest_checkpoint(db: Database) -> str | None:
    with db.read() as s:
        return read_head(s).checkpoint or None
