"""Auditing a log from the outside: read it over HTTP or from a data folder, recompute it, watch it.

- :func:`verify_log` downloads (or reads) every entry bundle, recomputes the Merkle tree, checks the tiles and
  the signed checkpoint, and checks that every checkpoint seen before is a prefix of the latest one. It stops
  at the first inconsistency and reports it precisely (:class:`Inconsistency`).
- :func:`monitor_log` remembers the last verified checkpoint in a state file and alarms on a rollback or a
  fork, proving consistency from the log's tiles.

Only :mod:`assay.tlog` is trusted for the cryptography; nothing here trusts the server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from assay.errors import AssayError, InvalidInput, StorageError, VerificationError
from assay.files import replace_durably
from assay.tlog import (
    TILE_WIDTH,
    Checkpoint,
    TileID,
    TileReader,
    TlogProof,
    bundle_prefix,
    consistency_proof,
    decode_bundle,
    inclusion_proof,
    split_hashes,
    tiles_for_size,
    verify_checkpoint,
    verify_consistency,
)
from assay.tlog._merkle import HASH_SIZE
from assay.tlog._note import MAX_NOTE_BYTES
from assay.transparency.entry import decode_entry
from assay.transparency.service import _TreeState

__all__ = [
    "FolderSource",
    "HttpSource",
    "Inconsistency",
    "LogSource",
    "MonitorResult",
    "VerifyReport",
    "monitor_log",
    "proof_from_tiles",
    "verify_log",
]


class Inconsistency(AssayError):
    """The log contradicts itself or a checkpoint seen before: a fork, a rollback, or altered data."""

    code = "log_inconsistent"
    http_status = 409
    exit_code = 1


class LogSource:
    """Where a log is read from. ``tile`` returns None for an absent resource."""

    description = ""

    def checkpoint(self) -> bytes:
        raise NotImplementedError

    def tile(self, tile: TileID) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def fetch(self, tile: TileID) -> bytes:
        """A tile, falling back to the full tile for a partial one a log removed (tlog-tiles allows it)."""
        data = self.tile(tile)
        if data is None and tile.is_partial:
            data = self.tile(tile.full)
            if data is not None and tile.is_entries:
                data = bundle_prefix(data, tile.width)
        if data is None:
            raise Inconsistency(
                f"{tile.path} is missing from {self.description}, though the checkpoint needs it",
                hint="the log does not serve data its checkpoint commits to",
            )
        return data


# A full entry bundle: 256 entries of at most 65,535 bytes, each after a 2-byte length.
_MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + 0xFFFF)


class HttpSource(LogSource):
    """A log served under a URL prefix in the tlog-tiles layout (e.g. https://register.example/log)."""

    def __init__(self, url: str, *, client: httpx.Client | None = None, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"{url!r} is not an http(s) URL", hint="give the log's prefix, e.g. https://host/log")
        self.url = url.rstrip("/")
        self.description = self.url
        self._client = client or httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept-Encoding": "gzip, identity", "User-Agent": "assay-log-auditor"},
        )
        self._own = client is None

    def _get(self, path: str, limit: int) -> bytes | None:
        # Read at most ``limit`` bytes (after decompression): the server is not trusted, so neither is the
        # size of what it sends.
        url = f"{self.url}/{path}"
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code == 404:
                    return None
                if response.is_redirect:
                    # Not followed: the log's URL is part of what the user trusts, so they should name the target.
                    raise StorageError(
                        f"{url} redirects to {response.headers.get('location', '(nowhere)')}",
                        hint="give the log's final URL prefix as --url",
                    )
                if response.status_code != 200:
                    raise StorageError(
                        f"{url} answered HTTP {response.status_code}", hint="the log may be down; try again later"
                    )
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise StorageError(
                            f"{url} is larger than the {limit:,} bytes such a resource can have",
                            hint="the server does not serve a tlog-tiles log at this prefix, or serves it altered",
                        )
                return bytes(data)
        except httpx.HTTPError as exc:
            raise StorageError(f"cannot fetch {url}: {exc}", hint="check the URL and your network") from None

    def checkpoint(self) -> bytes:
        data = self._get("checkpoint", MAX_NOTE_BYTES)
        if data is None:
            raise StorageError(f"{self.url}/checkpoint does not exist", hint="is this the log's URL prefix?")
        return data

    def tile(self, tile: TileID) -> bytes | None:
        return self._get(tile.path, _MAX_BUNDLE_BYTES if tile.is_entries else TILE_WIDTH * HASH_SIZE)

    def close(self) -> None:
        if self._own:
            self._client.close()


class FolderSource(LogSource):
    """A log's folder on disk (``<data_dir>/log``), as the integrator writes it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.description = str(self.root)

    def checkpoint(self) -> bytes:
        try:
            return (self.root / "checkpoint").read_bytes()
        except OSError as exc:
            raise StorageError(
                f"cannot read {self.root / 'checkpoint'}: {exc.strerror}",
                hint="point --dir at a log folder, or run 'assay log integrate' first",
            ) from None

    def tile(self, tile: TileID) -> bytes | None:
        try:
            return (self.root / tile.path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None


class StorageSource(LogSource):
    """The log's own storage as the integrator writes it (the data folder, or object storage)."""

    def __init__(self, storage: Any, location: str) -> None:
        self.storage = storage
        self.description = location

    def checkpoint(self) -> bytes:
        data = self.storage.read("checkpoint")
        if data is None:
            raise StorageError(
                f"{self.description} has no checkpoint yet", hint="run 'assay log integrate' first, or start the server"
            )
        return data

    def tile(self, tile: TileID) -> bytes | None:
        return self.storage.read(tile.path)


@dataclass
class VerifyReport:
    origin: str
    tree_size: int
    root_hash: str
    entries_checked: int
    tiles_checked: int
    checkpoints_checked: list[int] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "entries_checked": self.entries_checked,
            "tiles_checked": self.tiles_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "kinds": self.kinds,
        }


def verify_log(
    source: LogSource,
    vkey: str,
    *,
    seen: Sequence[bytes | str] = (),
    database_entries: Callable[[int, int], list[bytes]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Audit the whole log. Raises :class:`Inconsistency` at the first problem, naming it precisely.

    1. Fetch the latest checkpoint and verify its signature with ``vkey``.
    2. Verify every checkpoint in ``seen`` (signature, origin); one larger than the latest is a rollback.
    3. Read every entry bundle in order; each must decode to exactly the expected number of entries, each a
       canonical Assay entry (and, if ``database_entries`` is given, equal to the database's).
    4. Recompute the tree: at each seen checkpoint's size the root must equal that checkpoint's root
       (a fork otherwise); every full tile, and every partial tile of the latest size, must equal the
       recomputed one; the final root must equal the latest checkpoint's root.
    """
    # 1.
    latest_note = source.checkpoint()
    latest = verify_checkpoint(latest_note, vkey)
    # 2.
    targets: dict[int, Checkpoint] = {}
    for note in seen:
        cp = verify_checkpoint(note, vkey, origin=latest.origin)
        if cp.size > latest.size:
            raise Inconsistency(
                f"rollback: the log's latest checkpoint has {latest.size} entries, but a checkpoint with "
                f"{cp.size} entries was seen before",
                hint="the log shrank or is showing you an old view; report it with both checkpoints",
            )
        if cp.size in targets and targets[cp.size].root_hash != cp.root_hash:
            raise Inconsistency(
                f"fork: two checkpoints of size {cp.size} with different root hashes",
                hint="the log showed two different histories; keep both checkpoints and report them",
            )
        targets[cp.size] = cp
    if latest.size in targets and targets[latest.size].root_hash != latest.root_hash:
        raise Inconsistency(
            f"fork: the latest checkpoint of size {latest.size} has root {latest.root_hash.hex()}, a checkpoint "
            f"seen before has {targets[latest.size].root_hash.hex()}",
            hint="the log showed two different trees of the same size; report it with both checkpoints",
        )
    targets.pop(0, None)
    # 3.–4.
    state = _TreeState()
    tiles_checked = 0
    kinds: dict[str, int] = {}
    checked_sizes: list[int] = []
    pending = sorted(targets)
    size = latest.size
    for bundle_index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        start = bundle_index * TILE_WIDTH
        width = min(TILE_WIDTH, size - start)
        tile = TileID(-1, bundle_index, width)
        try:
            entries = decode_bundle(source.fetch(tile), width)
        except VerificationError as exc:
            raise Inconsistency(
                f"entry bundle {tile.path} (entries {start}–{start + width - 1}) is malformed: {exc.message}",
                hint="the log serves data that does not match its checkpoint",
            ) from None
        if database_entries is not None:
            stored = database_entries(start, start + width)
            for i, (a, b) in enumerate(zip(entries, stored, strict=False)):
                if a != b:
                    raise Inconsistency(
                        f"entry {start + i} in {tile.path} differs from the database's entry",
                        hint="the database or the tiles were altered after publication",
                    )
            if len(stored) != width:
                raise Inconsistency(
                    f"the database lacks entries of {tile.path}",
                    hint="the database lost published entries; restore it from a backup and report it",
                )
        for i, data in enumerate(entries):
            try:
                kind = decode_entry(data)["kind"]
            except InvalidInput as exc:
                raise Inconsistency(
                    f"entry {start + i} is not a valid Assay log entry: {exc.message}",
                    hint="the log contains data no Assay register writes",
                ) from None
            kinds[kind] = kinds.get(kind, 0) + 1
        pos = 0
        while pos < len(entries):
            stop = len(entries)
            if pending and pending[0] < start + stop:
                stop = pending[0] - start
            files, _ = state.append(entries[pos:stop])
            tiles_checked += _compare_full_tiles(source, files)
            pos = stop
            if pending and state.size == pending[0]:
                cp = targets[pending.pop(0)]
                if state.root() != cp.root_hash:
                    raise Inconsistency(
                        f"fork: the checkpoint seen before with {cp.size} entries has root {cp.root_hash.hex()}, "
                        f"but the log's first {cp.size} entries give {state.root().hex()}",
                        hint="the log rewrote history after signing that checkpoint; report it with both checkpoints",
                    )
                checked_sizes.append(cp.size)
        if progress is not None:
            progress(state.size, size)
    # The partial tiles of the latest size.
    for tile in tiles_for_size(size):
        expected = b"".join(state.levels[tile.level])
        served = source.fetch(tile)[: tile.width * 32]
        tiles_checked += 1
        if served != expected:
            raise Inconsistency(
                f"tile {tile.path} does not match the entries",
                hint="the log serves tiles that do not match its entries",
            )
    root = state.root()
    if root != latest.root_hash:
        raise Inconsistency(
            f"the log's {size} entries give root {root.hex()}, but its checkpoint says {latest.root_hash.hex()}",
            hint="the checkpoint does not commit to the entries the log serves",
        )
    if size in targets:
        checked_sizes.append(size)
    return VerifyReport(latest.origin, size, root.hex(), size, tiles_checked, sorted(set(checked_sizes)), kinds)


def _compare_full_tiles(source: LogSource, files: dict[str, bytes]) -> int:
    n = 0
    for path, data in files.items():
        if ".p/" in path or path.startswith("tile/entries/"):
            continue
        tile = TileID.parse(path)
        served = source.tile(tile)
        if served is None:
            raise Inconsistency(f"full tile {path} is missing", hint="the log does not serve a tile it must have")
        if served != data:
            raise Inconsistency(
                f"tile {path} does not match the entries", hint="the log serves tiles that do not match its entries"
            )
        n += 1
    return n


# -- monitoring --------------------------------------------------------------------------------------------


@dataclass
class MonitorResult:
    status: str  # "first" (state created), "unchanged", "grew"
    origin: str
    old_size: int | None
    new_size: int
    root_hash: str
    new_entries: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "status": self.status,
            "origin": self.origin,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "root_hash": self.root_hash,
            "new_entries": self.new_entries,
        }


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(
            f"cannot read the monitor state {path}: {exc.strerror}",
            hint="check the file's permissions, or pass another file with --state",
        ) from None
    try:
        state = json.loads(text)
        if not isinstance(state, dict) or not isinstance(state.get("checkpoint"), str):
            raise ValueError("no checkpoint")
    except ValueError:
        raise InvalidInput(
            f"the monitor state {path} is not a state file written by 'assay log monitor'",
            hint="move it away to start monitoring afresh (you lose the memory of the last checkpoint)",
        ) from None
    return state


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_durably(path, (json.dumps(state, indent=2) + "\n").encode(), mode=0o644)


def monitor_log(
    source: LogSource, state_file: Path, vkey: str | None = None, *, check_entries: bool = True
) -> MonitorResult:
    """Check the log's latest checkpoint against the one remembered in ``state_file``, then remember it.

    1. Read the state (the key and last checkpoint); the key given must be the remembered one.
    2. Fetch and verify the latest checkpoint.
    3. Smaller than remembered: rollback. Same size, other root: fork. Larger: verify a consistency proof
       built from the log's tiles (a fork otherwise), and that the new entries hash into the tiles.
    4. Remember the new checkpoint (only after every check passed).
    """
    # 1.
    state = _read_state(state_file)
    if state is not None:
        if vkey is not None and vkey != state.get("vkey"):
            raise InvalidInput(
                "the key given is not the key remembered in the monitor state",
                hint="a log's key does not change; use a new state file to monitor another log",
            )
        vkey = state.get("vkey")
    if not vkey:
        raise InvalidInput(
            "the log's verifier key is needed on the first run",
            hint="pass --key with the vkey from a source you trust (e.g. the log's /log/vkey)",
        )
    # 2.
    note = source.checkpoint()
    new = verify_checkpoint(note, vkey)
    result_new_entries: dict[str, int] = {}
    if state is None:
        status, old_size = "first", None
    else:
        # 3.
        old = verify_checkpoint(state["checkpoint"], vkey)
        old_size = old.size
        if new.origin != old.origin:
            raise Inconsistency(
                f"the log's origin changed from {old.origin!r} to {new.origin!r}",
                hint="a log keeps its origin for life: this is another log, or the old one was replaced; report it",
            )
        if new.size < old.size:
            raise Inconsistency(
                f"rollback: the log now shows {new.size} entries; it showed {old.size} before",
                hint="the log shrank or is showing you an old view; report it with both checkpoints "
                f"(the old one is in {state_file})",
            )
        if new.size == old.size:
            if new.root_hash != old.root_hash:
                raise Inconsistency(
                    f"fork: two different trees of size {new.size} "
                    f"(before {old.root_hash.hex()}, now {new.root_hash.hex()})",
                    hint=f"report it with both checkpoints (the old one is in {state_file})",
                )
            status = "unchanged"
        else:
            reader = TileReader(new.size, source.fetch)
            if old.size > 0:
                proof = consistency_proof(old.size, new.size, reader.node)
                try:
                    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
                except VerificationError as exc:
                    raise Inconsistency(
                        f"fork: the checkpoint of {new.size} entries is not an extension of the one of "
                        f"{old.size} entries seen before ({exc.message})",
                        hint=f"report it with both checkpoints (the old one is in {state_file})",
                    ) from None
            if check_entries:
                result_new_entries = _check_new_entries(source, old, new)
            status = "grew"
    # 4.
    _write_state(
        state_file,
        {
            "origin": new.origin,
            "vkey": vkey,
            "size": new.size,
            "root_hash": base64.b64encode(new.root_hash).decode(),
            "checkpoint": note.decode(),
            "checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    return MonitorResult(status, new.origin, old_size, new.size, new.root_hash.hex(), result_new_entries)


def _check_new_entries(source: LogSource, old: Checkpoint, new: Checkpoint) -> dict[str, int]:
    """The entries after ``old`` must hash, with the old tree, to ``new``'s signed root.

    Leaf hashes read from the tiles are not enough: a consistency proof may use only higher-level tiles, so
    the level-0 tiles of the new entries would be checked against nothing. Instead the old tree's right edge
    (from the tiles) must give the old signed root, and appending the new entries to it the new signed root.
    """
    # 1. The right edge of the old tree: the partial tile of every level, authenticated by the old root.
    levels: list[list[bytes]] = []
    level = 0
    while old.size >> (8 * level):
        count = old.size >> (8 * level)
        width = count & (TILE_WIDTH - 1)
        if width:
            data = source.fetch(TileID(level, count >> 8, width))[: width * HASH_SIZE]
            try:
                levels.append(split_hashes(data, width))
            except VerificationError as exc:
                raise Inconsistency(
                    f"tile {TileID(level, count >> 8, width).path}: {exc.message}",
                    hint="the published tiles were altered or damaged; report it with the tile",
                ) from None
        else:
            levels.append([])
        level += 1
    # The bundle's contents only matter for writing bundles, which nobody does here; its length keeps count.
    state = _TreeState(old.size, levels, [b""] * (old.size % TILE_WIDTH))
    if state.root() != old.root_hash:
        raise Inconsistency(
            f"the log's tiles at {old.size} entries do not give the root hash of the checkpoint seen before",
            hint="the log serves tiles that its signed checkpoints do not commit to",
        )
    # 2. Append every new entry (each a valid Assay entry), then compare with the new signed root.
    kinds: dict[str, int] = {}
    first_bundle = old.size // TILE_WIDTH
    for b in range(first_bundle, (new.size + TILE_WIDTH - 1) // TILE_WIDTH):
        start = b * TILE_WIDTH
        width = min(TILE_WIDTH, new.size - start)
        tile = TileID(-1, b, width)
        try:
            entries = decode_bundle(source.fetch(tile), width)
        except VerificationError as exc:
            raise Inconsistency(f"entry bundle {tile.path} is malformed: {exc.message}", hint=exc.hint) from None
        fresh = entries[max(0, old.size - start) :]
        for i, data in enumerate(fresh, start + width - len(fresh)):
            try:
                kind = decode_entry(data)["kind"]
            except InvalidInput as exc:
                raise Inconsistency(
                    f"entry {i} is not a valid Assay log entry: {exc.message}",
                    hint="the log holds an entry Assay did not write; report it with the entry bundle",
                ) from None
            kinds[kind] = kinds.get(kind, 0) + 1
        state.append(fresh)
    if state.root() != new.root_hash:
        raise Inconsistency(
            f"the log's entries {old.size}–{new.size - 1} (in its entry bundles) do not produce the root hash "
            f"of its checkpoint of {new.size} entries",
            hint="the log serves entries that its signed checkpoint does not commit to; report it with the checkpoint",
        )
    return kinds


def proof_from_tiles(source: LogSource, vkey: str, index: int) -> tuple[str, bytes]:
    """Build an entry's tlog-proof from the log's public tiles (no help from the server), with the entry."""
    note = source.checkpoint()
    cp = verify_checkpoint(note, vkey)
    if not 0 <= index < cp.size:
        raise InvalidInput(
            f"entry {index} is not in the log's latest checkpoint of {cp.size} entries",
            hint="wait until it is integrated, or check the index",
        )
    reader = TileReader(cp.size, source.fetch)
    hashes = inclusion_proof(index, cp.size, reader.node)
    width = min(TILE_WIDTH, cp.size - (index // TILE_WIDTH) * TILE_WIDTH)
    entries = decode_bundle(source.fetch(TileID(-1, index // TILE_WIDTH, width)), width)
    return TlogProof(index, tuple(hashes), note.decode()).render(), entries[index % TILE_WIDTH]
