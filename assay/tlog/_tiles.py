"""C2SP tlog-tiles: tile and entry-bundle paths, bundle encoding, and tree hashes read from tiles.

A tile at level L, index N holds up to 256 consecutive hashes of nodes at tree height 8·L; level 0 holds
leaf hashes. Paths: ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]`` with N written in 3-digit
groups, all but the last prefixed with ``x`` (1234067 → ``x001/x234/067``).
"""

from __future__ import annotations

import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from assay.errors import InvalidInput, VerificationError
from assay.tlog._merkle import HASH_SIZE, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
ENTRIES = -1  # the level of entry bundles in TileID
MAX_ENTRY_SIZE = 0xFFFF  # bundles prefix entries with a big-endian uint16 length

# A tile index below 2**64 has at most 20 digits: 7 groups, "x000/" * 6 + "000".
_MAX_INDEX_TEXT = 6 * 5 + 3
_PATH = re.compile(r"tile/(0|[1-9][0-9]?|entries)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


def encode_index(index: int) -> str:
    """``1234067`` → ``x001/x234/067``."""
    if index < 0:
        raise InvalidInput("tile indexes are non-negative", hint="")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


@dataclass(frozen=True, order=True)
class TileID:
    """A tile (level 0–63) or an entry bundle (level :data:`ENTRIES`), full (width 256) or partial."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (self.level == ENTRIES or 0 <= self.level <= MAX_LEVEL):
            raise InvalidInput(f"tile level {self.level} is outside 0–63", hint="")
        if self.index < 0 or not 1 <= self.width <= TILE_WIDTH:
            raise InvalidInput(f"tile index {self.index} or width {self.width} is out of range", hint="")

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def is_entries(self) -> bool:
        return self.level == ENTRIES

    @property
    def path(self) -> str:
        level = "entries" if self.is_entries else str(self.level)
        suffix = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{level}/{encode_index(self.index)}{suffix}"

    @property
    def full(self) -> TileID:
        return TileID(self.level, self.index)

    @classmethod
    def parse(cls, path: str) -> TileID:
        """Parse a tile path strictly: the canonical encoding only, so one tile has exactly one path."""
        m = _PATH.fullmatch(path)
        if m is None:
            raise InvalidInput(
                f"{path!r} is not a tile path",
                hint="tile paths look like tile/0/x001/234, tile/1/005.p/17 or tile/entries/000",
            )
        level_text, index_text, width_text = m.groups()
        if len(index_text) > _MAX_INDEX_TEXT:
            raise InvalidInput(f"{path[:80]!r}…: the tile index is out of range", hint="")
        level = ENTRIES if level_text == "entries" else int(level_text)
        index = int(index_text.replace("x", "").replace("/", ""))
        tile = cls(level, index, int(width_text) if width_text else TILE_WIDTH)
        if width_text and tile.width == TILE_WIDTH:
            raise InvalidInput(f"{path!r}: a partial tile is 1 to 255 wide", hint="")
        if tile.path != path:
            raise InvalidInput(f"{path!r} is not the canonical path of a tile", hint=f"use {tile.path}")
        return tile


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    return TileID(level, index, width).path


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    return TileID(ENTRIES, index, width).path


def tile_for(level: int, index: int, size: int) -> TileID:
    """The tile at ``level`` holding node ``index`` (of height 8·level) in a tree of ``size`` entries."""
    count = size >> (TILE_HEIGHT * level)  # complete nodes at height 8·level
    tile_index = index >> TILE_HEIGHT
    if index >= count:
        raise InvalidInput(f"node {index} at tile level {level} is not complete in a tree of size {size}", hint="")
    if (tile_index + 1) << TILE_HEIGHT <= count:
        return TileID(level, tile_index)
    return TileID(level, tile_index, count & (TILE_WIDTH - 1))


def bundle_for(index: int, size: int) -> TileID:
    """The entry bundle holding entry ``index`` in a tree of ``size`` entries."""
    if not 0 <= index < size:
        raise InvalidInput(f"entry {index} is outside a tree of size {size}", hint="")
    tile = tile_for(0, index, size)
    return TileID(ENTRIES, tile.index, tile.width)


def tiles_for_size(size: int) -> list[TileID]:
    """The rightmost tile of every level (full or partial) that a tree of ``size`` needs; top level last."""
    out = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        width = count & (TILE_WIDTH - 1)
        if width:
            out.append(TileID(level, count >> TILE_HEIGHT, width))
        level += 1
    return out


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    parts = []
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise InvalidInput(f"entry {i} is {len(entry)} bytes, over the bundle limit of {MAX_ENTRY_SIZE}", hint="")
        parts.append(struct.pack(">H", len(entry)))
        parts.append(entry)
    return b"".join(parts)


def bundle_prefix(data: bytes, count: int) -> bytes:
    """The first ``count`` entries of an entry bundle, still encoded (a partial bundle cut from a full one);
    the whole data when it holds fewer (decode_bundle then says what is wrong)."""
    pos = 0
    for _ in range(count):
        if pos + 2 > len(data):
            return data
        pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
    return data[:pos]


def decode_bundle(data: bytes, width: int) -> list[bytes]:
    """Split an entry bundle that must hold exactly ``width`` entries; trailing or missing bytes fail."""
    entries: list[bytes] = []
    pos = 0
    n = len(data)
    while pos < n:
        if pos + 2 > n:
            raise VerificationError("the entry bundle ends inside a length prefix", hint="the bundle is truncated")
        (length,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if pos + length > n:
            raise VerificationError(f"entry {len(entries)} of the bundle is cut short", hint="the bundle is truncated")
        entries.append(bytes(data[pos : pos + length]))
        pos += length
        if len(entries) > width:
            break
    if len(entries) != width or pos != n:
        raise VerificationError(
            f"the entry bundle holds {len(entries)}{'+' if pos != n else ''} entries, expected {width}",
            hint="the bundle does not match the checkpoint",
        )
    return entries


def split_hashes(data: bytes, width: int) -> list[bytes]:
    """The hashes of a tile that must be ``width`` hashes wide."""
    if len(data) != width * HASH_SIZE:
        raise VerificationError(
            f"the tile is {len(data)} bytes; {width} hashes need {width * HASH_SIZE}",
            hint="the tile does not match the checkpoint",
        )
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]


def _tile_levels(hashes: list[bytes]) -> list[list[bytes]]:
    # The complete subtrees inside one tile, bottom-up (only pairs that exist).
    levels = [hashes]
    while len(levels[-1]) > 1:
        prev = levels[-1]
        levels.append([node_hash(prev[i], prev[i + 1]) for i in range(0, len(prev) - 1, 2)])
    return levels


class TileCache:
    """A thread-safe LRU of tiles with their internal subtree hashes, shared by readers of one log.

    Safe to share across tree sizes: a tile's content is fixed by its (level, index, width).
    """

    def __init__(self, max_tiles: int = 256) -> None:
        self._max = max_tiles
        self._items: OrderedDict[TileID, list[list[bytes]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tile: TileID) -> list[list[bytes]] | None:
        with self._lock:
            levels = self._items.get(tile)
            if levels is not None:
                self._items.move_to_end(tile)
            return levels

    def put(self, tile: TileID, levels: list[list[bytes]]) -> None:
        with self._lock:
            self._items[tile] = levels
            self._items.move_to_end(tile)
            while len(self._items) > self._max:
                self._items.popitem(last=False)


class TileReader:
    """Node hashes of a tree of ``size`` entries, read from tiles by ``fetch(tile_id) -> bytes``.

    ``fetch`` may return a full tile for a partial request (a log may delete partial tiles once full);
    only the needed prefix is used. Tiles are cached (LRU) with their internal subtree hashes; pass a shared
    :class:`TileCache` to keep them across readers.
    """

    def __init__(self, size: int, fetch: Callable[[TileID], bytes], *, cache: TileCache | None = None) -> None:
        self.size = size
        self._fetch = fetch
        self._cache = cache if cache is not None else TileCache(64)

    def tile_hashes(self, tile: TileID) -> list[bytes]:
        return self._levels(tile)[0]

    def _levels(self, tile: TileID) -> list[list[bytes]]:
        levels = self._cache.get(tile)
        if levels is not None:
            return levels
        data = self._fetch(tile)
        if tile.is_partial and len(data) == TILE_WIDTH * HASH_SIZE:
            data = data[: tile.width * HASH_SIZE]
        levels = _tile_levels(split_hashes(data, tile.width))
        self._cache.put(tile, levels)
        return levels

    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree of 2**level leaves starting at leaf ``index << level``."""
        tile_level, within = divmod(level, TILE_HEIGHT)
        first = index << within  # first node at height 8·tile_level below it
        tile = tile_for(tile_level, first + (1 << within) - 1, self.size)
        return self._levels(tile)[within][(first & (TILE_WIDTH - 1)) >> within]

    def leaf_hashes(self, start: int, end: int) -> Iterator[bytes]:
        for i in range(start, end):
            yield self.node(0, i)
