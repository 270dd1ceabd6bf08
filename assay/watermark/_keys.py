"""Everything version 2 derives from a key: the message layout, the payload cipher, the binding field.

Per key (fixed for all of its images, never published):
- the layout of the 258 coded bits over the 774 message chips of the tile (which 3 chips carry each bit) and a
  sign per chip. The chips' *positions* as a set are public (the complement of the public sync chips);
  which chip carries which bit, and with which sign, is not;
- a 64-bit block cipher (a 4-round Feistel network over BLAKE2b: a pseudo-random permutation by Luby and
  Rackoff): the tile carries E_key(payload), not the payload, so the coded bits of every image are
  pseudo-random and different, even for an attacker who knows the payloads;
- per image, from (key, ciphertext): the binding field, a ±1 chip field that does *not* repeat with the tile
  (see ``_v2``).

Why by hand: the standard library has BLAKE2b but no 64-bit block cipher, and a Feistel network over a keyed
hash is the textbook construction for one of an arbitrary width; it is a dozen lines.

A :class:`KeyRing` holds many keys with their layouts stacked into arrays, so the detector screens all of them
with one sparse matrix product (``_v2.screen``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

from . import _ecc
from ._input import WatermarkError, check_key  # the public functions' checks: one message everywhere

CELLS = 32 * 32
N_SYNC_CELLS = CELLS - _ecc.CODED_BITS * 3  # 250
REPEAT = 3
BIND_TORUS = 256  # the binding field repeats every 256 chips = 8 tiles: never inside a 1-8 MP image
_FEISTEL_ROUNDS = 4


def _sync_layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Public, the same for every key and image: published with the code, so it carries no secret, and the
    # detector finds shift and orientation once for all keys.
    seed = hashlib.blake2b(b"org.assay.watermark.2 sync", digest_size=16).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    perm = rng.permutation(CELLS)
    sync_cells = np.sort(perm[:N_SYNC_CELLS])
    message_cells = np.sort(perm[N_SYNC_CELLS:])
    sync_signs = rng.integers(0, 2, size=N_SYNC_CELLS) * 2.0 - 1.0
    return sync_cells, sync_signs, message_cells


SYNC_CELLS, SYNC_SIGNS, MESSAGE_CELLS = _sync_layout()


@dataclass(frozen=True)
class KeyLayout:
    cells: np.ndarray  # (CODED_BITS, REPEAT) indices into the 1024 tile cells (intp: numpy indexes without a copy)
    signs: np.ndarray  # (CODED_BITS, REPEAT) +-1


@lru_cache(maxsize=256)
def layout(key: bytes) -> KeyLayout:
    seed = hashlib.blake2b(key, digest_size=32, person=b"assay-wm-msg-2").digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    cells = MESSAGE_CELLS[rng.permutation(MESSAGE_CELLS.size)].reshape(_ecc.CODED_BITS, REPEAT)
    signs = rng.integers(0, 2, size=(_ecc.CODED_BITS, REPEAT)).astype(np.float32) * 2 - 1
    return KeyLayout(cells=cells.astype(np.intp), signs=signs)


@lru_cache(maxsize=4096)
def _round_states(key: bytes) -> tuple[hashlib.blake2b, ...]:
    # Each round's keyed BLAKE2b with the key block already absorbed: a round copies its state and hashes 4
    # bytes (half the time of keying a new hash; a version-3 field is decrypted under every key of the ring).
    # Never updated, only copied, so safe to share between threads.
    return tuple(
        hashlib.blake2b(key=key, digest_size=4, person=b"assay-wm-fst-2", salt=bytes([i]))
        for i in range(_FEISTEL_ROUNDS)
    )


def encrypt(key: bytes, payload: int) -> int:
    states = _round_states(key)
    left, right = payload >> 32, payload & 0xFFFFFFFF
    for i in range(_FEISTEL_ROUNDS):
        h = states[i].copy()
        h.update(right.to_bytes(4, "big"))
        left, right = right, left ^ int.from_bytes(h.digest(), "big")
    return (left << 32) | right


def decrypt(key: bytes, ciphertext: int) -> int:
    states = _round_states(key)
    left, right = ciphertext >> 32, ciphertext & 0xFFFFFFFF
    for i in reversed(range(_FEISTEL_ROUNDS)):
        h = states[i].copy()
        h.update(left.to_bytes(4, "big"))
        left, right = right ^ int.from_bytes(h.digest(), "big"), left
    return (left << 32) | right


def binding_field(key: bytes, ciphertext: int) -> np.ndarray:
    """(BIND_TORUS, BIND_TORUS) float32 of +-1, a pseudo-random function of the key and this image's message."""
    seed = hashlib.blake2b(ciphertext.to_bytes(8, "big"), key=key, digest_size=32, person=b"assay-wm-bind-2")
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed.digest(), "big")))
    bits = rng.integers(0, 2, size=(BIND_TORUS, BIND_TORUS), dtype=np.int8)
    return (bits * 2 - 1).astype(np.float32)


class KeyRing:
    """Many watermark keys, each with an id, ready to be screened at once.

    Build it once (about 50 microseconds per key) and reuse it: ``KeyRing([("acme-imagegen", key), ...])``.
    :meth:`extended` returns a larger ring without recomputing the keys already in it. A ring pickles (to ship
    it to batch workers); it holds the secret keys, so treat the pickle like the keys themselves. Its repr
    shows the ids only.
    """

    __slots__ = ("_cells", "_ids", "_index", "_keys", "_matrix", "_signs")

    def __init__(self, pairs: Iterable[tuple[str, bytes]] = ()) -> None:
        ids: list[str] = []
        keys: list[bytes] = []
        for key_id, key in pairs:
            ids.append(key_id)
            keys.append(key)
        self._set(tuple(ids), tuple(keys), None, None)

    def _set(
        self, ids: tuple[str, ...], keys: tuple[bytes, ...], cells: np.ndarray | None, signs: np.ndarray | None
    ) -> None:
        index: dict[str, int] = {}
        for i, key_id in enumerate(ids):
            if not isinstance(key_id, str) or not key_id:
                raise _key_error(f"Key id #{i} must be a non-empty string, not {key_id!r}.")
            if key_id in index:
                raise _key_error(f"The key id {key_id!r} appears twice in the key ring.")
            index[key_id] = i
        checked = tuple(check_key(k) for k in keys)
        start = 0 if cells is None else cells.shape[0]
        new = [layout(k) for k in checked[start:]]
        new_cells = np.stack([n.cells.reshape(-1) for n in new]) if new else np.zeros((0, 774), np.intp)
        new_signs = np.stack([n.signs.reshape(-1) for n in new]) if new else np.zeros((0, 774), np.float32)
        self._cells = new_cells if cells is None else np.concatenate([cells, new_cells])
        self._signs = new_signs if signs is None else np.concatenate([signs, new_signs])
        self._ids = ids
        self._keys = checked
        self._index = index
        self._matrix = _screening_matrix(self._cells, self._signs)

    def extended(self, pairs: Iterable[tuple[str, bytes]]) -> KeyRing:
        """A new ring with these keys added (the keys already in this one are not derived again)."""
        more = list(pairs)
        ring = KeyRing.__new__(KeyRing)
        ring._set(
            self._ids + tuple(i for i, _ in more), self._keys + tuple(k for _, k in more), self._cells, self._signs
        )
        return ring

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> tuple[str, ...]:
        return self._ids

    def key(self, key_id: str) -> bytes:
        return self._keys[self._index[key_id]]

    def __repr__(self) -> str:
        shown = ", ".join(self._ids[:3]) + (", ..." if len(self._ids) > 3 else "")
        return f"KeyRing({len(self._ids)} keys: {shown})"

    def __getstate__(self) -> tuple:
        return (self._ids, self._keys, self._cells, self._signs)

    def __setstate__(self, state: tuple) -> None:
        self._ids, self._keys, self._cells, self._signs = state
        self._index = {k: i for i, k in enumerate(self._ids)}
        self._matrix = _screening_matrix(self._cells, self._signs)


def _screening_matrix(cells: np.ndarray, signs: np.ndarray) -> sparse.csr_matrix:
    """(K * CODED_BITS, 1024) sparse matrix: row (k, j) sums the signed chips of coded bit j under key k's
    layout, so one sparse product gives every key's soft bits (10x faster than a gather of K x 774 values)."""
    k = cells.shape[0]
    rows = np.repeat(np.arange(k * _ecc.CODED_BITS), REPEAT)
    return sparse.csr_matrix(
        (signs.reshape(-1).astype(np.float32), (rows, cells.reshape(-1))), shape=(k * _ecc.CODED_BITS, CELLS)
    )


def _key_error(message: str) -> Exception:
    return WatermarkError(message, hint="pass (key_id, 32-byte key) pairs with distinct non-empty ids")


@lru_cache(maxsize=64)
def single_ring(key: bytes) -> KeyRing:
    return KeyRing([("key", key)])
