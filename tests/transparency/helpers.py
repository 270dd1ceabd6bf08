"""Independent checks of a log's durable state, using only assay.tlog and the database's entries."""

from __future__ import annotations

from sqlalchemy import select

from assay.db import Database
from assay.tlog import (
    TileID,
    TileReader,
    bundle_for,
    consistency_proof,
    decode_bundle,
    inclusion_proof,
    leaf_hash,
    tree_root,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from assay.transparency.models import LogCheckpoint, LogEntry
from assay.transparency.reading import read_head
from assay.transparency.storage import LogStorage


def fetcher(storage: LogStorage):  # type: ignore[no-untyped-def]
    def fetch(tile: TileID) -> bytes:
        data = storage.read(tile.path)
        if data is None and tile.is_partial:
            data = storage.read(tile.full.path)
        assert data is not None, f"{tile.path} is missing"
        return data

    return fetch


def assert_log_consistent(
    db: Database, storage: LogStorage, vkey: str, *, expected_size: int | None = None, checkpoint_file: bool = True
) -> None:
    """The published head verifies, its tiles rebuild its root, every bundle holds the database's entries,
    the checkpoint file matches, and every checkpoint ever published is consistent with the head."""
    with db.read() as s:
        head = read_head(s)
        entries = [bytes(d) for (d,) in s.execute(select(LogEntry.data).order_by(LogEntry.idx))]
        history = [
            (int(n), bytes(r), c)
            for n, r, c in s.execute(
                select(LogCheckpoint.tree_size, LogCheckpoint.root_hash, LogCheckpoint.checkpoint).order_by(
                    LogCheckpoint.tree_size
                )
            )
        ]
    checkpoint = verify_checkpoint(head.checkpoint, vkey)
    assert checkpoint.size == head.size and checkpoint.root_hash == head.root_hash
    if expected_size is not None:
        assert head.size == expected_size
    if checkpoint_file:
        assert storage.read("checkpoint") == head.checkpoint.encode()
    reader = TileReader(head.size, fetcher(storage))
    assert tree_root(reader.node, head.size) == head.root_hash
    for i in range(0, head.size, 256):
        tile = bundle_for(i, head.size)
        data = fetcher(storage)(tile)
        if tile.is_partial and storage.read(tile.path) is None:  # a full bundle stands in for a removed partial
            got = decode_bundle(data, 256)[: tile.width]
        else:
            got = decode_bundle(data, tile.width)
        assert got == entries[i : i + tile.width]
    for i in sorted({0, head.size // 2, head.size - 1} - {-1}):
        if 0 <= i < head.size:
            verify_inclusion(
                i, head.size, leaf_hash(entries[i]), inclusion_proof(i, head.size, reader.node), head.root_hash
            )
    sizes = [n for n, _, _ in history]
    assert sizes == sorted(set(sizes)) and sizes[-1] == head.size
    for size, root, note in history:
        assert verify_checkpoint(note, vkey).root_hash == root
        if 0 < size < head.size:
            verify_consistency(size, head.size, root, head.root_hash, consistency_proof(size, head.size, reader.node))
