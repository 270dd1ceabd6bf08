"""Version 3 of the mark (``org.assay.watermark.3``): version 2's tile, and a message field read without the tile.

Why. Version 2's message lives in the tile, which repeats, so the image's own fold estimates it and subtracting
that estimate removes the mark at about 40 dB (bench/watermark/adversarial/REMOVAL.md: 19 of 20 photos). Its
binding field does not repeat and survives that removal, but the detector can only generate it from the
ciphertext the tile carries. Version 3 makes the non-repeating field carry the ciphertext itself, in a form
the detector reads *once*, whatever the number of keys:

1. **The tile** (75% of the energy): version 2's, unchanged (public sync, keyed message chips), so geometry,
   screening and decoding are version 2's.
2. **The field** (25%): ±1 chips over a 256 x 256 chip torus drawn from where the mark starts (version 2's
   binding field geometry; both layers start at an anchor of the picture, ``_anchor``), laid out by the
   register's *field secret* ``R`` (one per register; derived from its master key, so it never leaves the
   register: offline kits cannot make version 3):

   - a **header** of 8 bits, a keyed hash (``R``) of the ciphertext, carried as one Walsh-Hadamard basis vector
     (the one its value selects) under ``R``'s chip order and signs, in each of the first 38 regions of 256
     chips (14.8% of the torus);
   - the **body**, the other 55,808 chips: the 258 coded bits of the ciphertext (version 2's code), each chip
     one coded bit at ``R``'s fixed assignment, under chip signs drawn from (``R``, header).

   Nothing in the field is the same across images: the body's signs follow the header, which is uniform over
   256 values, so averaging many aligned marked images learns nothing (measured at chance, REMOVAL.md), and no
   key or seed from the picture is involved (a seed from the picture was pushed by noise and collided).

Detection with ``R``: version 2's steps find, screen and decode the tile; a decoded message is *bound* when its
field (either version's) is in the image. When no bound mark is found, the field is read at the picture's
anchors (``read_anchored``) and where each significant public sync puts the tile (``read_aligned``): the
header's 256 scores (one product), the 4 best headers' bodies decoded, kept only a decode whose CRC passes and
whose header is the hash of its own ciphertext, gated at p < 1e-6 over the 2^64 messages and every position
read (z >= 10.79 for one position; the reads share the 1e-6 in fixed parts). Its ciphertext names no key:
every key of the ring decrypts it and the caller's ``accept`` (the register's mark-id tag check) says which
decryption is a mark; exactly one must pass.

What it does not do (docs/watermark.md): a field copied onto another picture reads there too (nothing in it
depends on the picture: the register's fingerprint calls those copies); after a removal, a crop or a resize
beyond 1.5 % is read only where an anchor or the public sync survived (blurring the anchor's blob away, then
cropping, defeats it: REMOVAL.md); whoever holds ``R`` can read and subtract any system's field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.linalg
from PIL import Image

from ..errors import FieldProblem
from . import _anchor, _detect, _ecc, _embed, _keys, _pattern, _v2
from ._input import WatermarkError

ALGORITHM = "org.assay.watermark.3"
# 75 / 25: at 70 / 30 the field survived the own-fold removal at every point measured, but one small photo's
# 50% crop lost its tile's message for 2 of 6 field secrets; at 75 / 25 the crop kept 6 of 6 and the removal
# kept 52 of that photo's 54 points (bench/watermark/adversarial/REMOVAL.md has the full run).
TILE_SHARE = 0.75  # the field has the rest
N = _keys.BIND_TORUS
CHIPS = N * N
SUB = 256  # chips a header region, = the header's alphabet: each region's basis is complete
HEADER_REGIONS = 38
HEADER_CHIPS = HEADER_REGIONS * SUB
HEADER_CANDIDATES = 4  # header values whose body is decoded, best header scores first
LOG_MESSAGES = _ecc.PAYLOAD_BITS * math.log(2.0)
P_THRESHOLD = _v2.P_THRESHOLD
SECRET_BYTES = 32

_HADAMARD = scipy.linalg.hadamard(SUB).astype(np.float32)  # symmetric; row v is the v-th Walsh function


@dataclass(frozen=True)
class FieldLayout:
    """Everything ``R`` fixes: the torus chips of the header regions (in region order), their signs, the body's
    chips and the coded bit each carries. About 0.8 MB; built once per secret."""

    secret: bytes
    header_chips: np.ndarray  # (HEADER_CHIPS,) torus chip indices
    header_signs: np.ndarray  # (HEADER_REGIONS, SUB) +-1
    body_chips: np.ndarray  # (CHIPS - HEADER_CHIPS,) torus chip indices
    body_bit: np.ndarray  # (CHIPS - HEADER_CHIPS,) coded bit of each body chip
    # The body in coded-bit order (a stable sort of body_bit: each bit's chips consecutive) and where each bit's
    # chips start, so a read sums them per bit with np.add.reduceat (a tenth of a weighted bincount's time).
    by_bit: np.ndarray  # (CHIPS - HEADER_CHIPS,) positions in the body
    bit_starts: np.ndarray  # (CODED_BITS,)
    body_chips_by_bit: np.ndarray  # body_chips[by_bit]


def check_secret(secret: object) -> bytes:
    """``secret`` as bytes, if it is a field secret (exactly SECRET_BYTES bytes); else a WatermarkError."""
    hint = "pass the register's field secret: assay.provenance.keys.field_secret(master) (RegisterKeys.field_secret)"
    if not isinstance(secret, bytes | bytearray | memoryview):
        raise WatermarkError(
            f"The field secret must be {SECRET_BYTES} bytes, not {type(secret).__name__}.",
            hint=hint,
            problems=[FieldProblem("field_secret", "not bytes", f"use {SECRET_BYTES} bytes")],
        )
    value = bytes(secret)
    if len(value) != SECRET_BYTES:
        raise WatermarkError(
            f"The field secret must be {SECRET_BYTES} bytes, not {len(value)}.",
            hint=hint,
            problems=[FieldProblem("field_secret", f"{len(value)} bytes", f"use {SECRET_BYTES} bytes")],
        )
    return value


MAX_SECRETS = 4  # field secrets read at once (each is one more layout in every bound, and one more read)


def check_secrets(value: object) -> tuple[bytes, ...]:
    """``value`` as a tuple of field secrets: one secret, or a list or tuple of 1..MAX_SECRETS distinct ones
    (the register's and its offline kits'); else a WatermarkError."""
    if isinstance(value, bytes | bytearray | memoryview):
        return (check_secret(value),)
    hint = "pass one field secret, or a list of them: [register field secret, kit field secret]"
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= MAX_SECRETS:
        raise WatermarkError(
            f"The field secret must be {SECRET_BYTES} bytes (or a list of 1 to {MAX_SECRETS} such secrets), not "
            + (f"a list of {len(value)}." if isinstance(value, list | tuple) else f"{type(value).__name__}."),
            hint=hint,
            problems=[FieldProblem("field_secret", "not bytes or a short list of bytes", hint)],
        )
    out = tuple(check_secret(v) for v in value)
    if len(set(out)) != len(out):
        raise WatermarkError(
            "The field secrets list the same secret twice.",
            hint="list each field secret once",
            problems=[FieldProblem("field_secret", "repeated secret", "list each once")],
        )
    return out


def _rng(secret: bytes, person: bytes, data: bytes = b"") -> np.random.Generator:
    seed = hashlib.blake2b(data, key=secret, digest_size=16, person=person).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))


@lru_cache(maxsize=8)
def layout(secret: bytes) -> FieldLayout:
    rng = _rng(secret, b"assay-wm3-layout")
    perm = rng.permutation(CHIPS)
    signs = (rng.integers(0, 2, size=(HEADER_REGIONS, SUB)) * 2 - 1).astype(np.float32)
    body = perm[HEADER_CHIPS:].astype(np.intp)
    body_bit = (rng.permutation(body.size) % _ecc.CODED_BITS).astype(np.intp)
    by_bit = np.argsort(body_bit, kind="stable")
    # reduceat needs every segment non-empty (an empty one would yield the next chip, not 0): body_bit is a
    # permutation taken mod CODED_BITS, so each coded bit has 216 or 217 of the 55,808 body chips.
    bit_starts = np.searchsorted(body_bit[by_bit], np.arange(_ecc.CODED_BITS))
    arrays = (perm[:HEADER_CHIPS].astype(np.intp), signs, body, body_bit, by_bit, bit_starts, body[by_bit])
    for a in arrays:
        a.setflags(write=False)  # cached and shared between threads: never written
    return FieldLayout(secret, *arrays)


def header_of(secret: bytes, ciphertext: int) -> int:
    """The 8-bit header: a keyed hash of the ciphertext, so it is random per mark and checks the decode."""
    return hashlib.blake2b(ciphertext.to_bytes(8, "big"), key=secret, digest_size=1, person=b"assay-wm3-head").digest()[
        0
    ]


@lru_cache(maxsize=64)  # for field() (embedding, binding checks); reads use _BodyBits's packed table
def _body_signs(secret: bytes, header: int) -> np.ndarray:
    rng = _rng(secret, b"assay-wm3-signs", bytes([header]))
    out = (rng.integers(0, 2, size=CHIPS - HEADER_CHIPS, dtype=np.int8) * 2 - 1).astype(np.float32)
    out.setflags(write=False)
    return out


class _BodyBits:
    """``_body_signs`` of every header of one secret, in the body's coded-bit order, packed (1 is +1): what a read
    needs. Drawn on first use of each header, into one table per secret (1.8 MB, allocated once: a picture without
    a field reads 4 new headers per read, drawing a header's signs costs a third of a millisecond, and caching
    them one small array at a time fragmented the heap until numpy's large temporaries were faulted in afresh on
    every check, measured at 8,000 page faults a check)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.table = np.zeros((SUB, (CHIPS - HEADER_CHIPS + 7) // 8), np.uint8)
        self.drawn = np.zeros(SUB, bool)
        self.lock = threading.Lock()

    def rows(self, headers: Sequence[int]) -> np.ndarray:
        missing = [h for h in headers if not self.drawn[h]]
        if missing:
            by_bit = layout(self.secret).by_bit
            with self.lock:
                for h in missing:
                    self.table[h] = np.packbits(_body_signs.__wrapped__(self.secret, h)[by_bit] > 0)
                    self.drawn[h] = True
        return self.table[list(headers)]


@lru_cache(maxsize=8)
def _body_bits(secret: bytes) -> _BodyBits:
    return _BodyBits(secret)


def field(secret: bytes, ciphertext: int) -> np.ndarray:
    """(N, N) float32 of +-1: the field of one mark."""
    lay = layout(secret)
    header = header_of(secret, ciphertext)
    out = np.empty(CHIPS, np.float32)
    out[lay.header_chips] = (_HADAMARD[header] * lay.header_signs).ravel()
    symbols = (1.0 - 2.0 * _ecc.encode(ciphertext)).astype(np.float32)
    out[lay.body_chips] = _body_signs(secret, header) * symbols[lay.body_bit]
    return out.reshape(N, N)


# --- embedding -------------------------------------------------------------------------------------------


def anchor_choice(secret: bytes, ciphertext: int) -> int:
    """Which of the picture's strongest central blobs the mark starts at: a keyed hash of the mark, so an
    attacker with the open code cannot tell which."""
    digest = hashlib.blake2b(ciphertext.to_bytes(8, "big"), key=secret, digest_size=1, person=b"assay-wm3-anchor")
    return digest.digest()[0] % _anchor.CHOICES


def mark_origin(
    rgb: np.ndarray, secret: bytes, ciphertext: int, luma: Image.Image | None = None
) -> tuple[float, float]:
    """Where version 3 starts its tile and field, (x, y) in image pixels: one of the picture's anchors
    (``_anchor``; which one: ``anchor_choice``), or the top-left pixel when it has none. ``luma``: the picture's
    Pillow luma, when the caller has it."""
    region = _detect.working(rgb, luma)
    anchor = _anchor.mark_anchor(region.luma, anchor_choice(secret, ciphertext))
    if anchor is None:
        return (0.0, 0.0)
    # Working position p is input position p / real_scale from the region's origin, in the frame where the
    # detector's canonical coordinates start at 0 (``_v2._half_coords``; Pillow's half-pixel offset of the
    # resize, under 0.3 px, is left to the detector's shifts).
    row, col = (a / region.real_scale for a in anchor)
    # On the chip grid of a mark starting at the top-left pixel (the nearest chip corner): the detector reads
    # the tile's chips on that grid, and a mark starting between chip corners read 3-20% weaker (z of the tile
    # on the 12 benchmark photos), which cost the weakest photo the brightness, resize and crop attacks. The
    # detector tries the anchor's own half chip and the ones beside it, so this start is among them.
    chip = _embed.tile_period(*rgb.shape[:2]) / _pattern.CELLS
    x, y = region.origin[0] + col, region.origin[1] + row
    return (round(x / chip) * chip, round(y / chip) * chip)


def embed_luma_delta(rgb: np.ndarray, key: bytes, payload: int, secret: bytes) -> np.ndarray:
    ciphertext = _keys.encrypt(key, payload)
    tile = _v2.message_tile(key, ciphertext)
    luma = Image.fromarray(rgb).convert("L")  # once, for the anchors and the masking
    origin = mark_origin(rgb, secret, ciphertext, luma)
    return _v2.luma_delta(rgb, tile, field(secret, ciphertext), TILE_SHARE, origin, luma)


# --- detection: the field alone ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRead:
    ciphertext: int
    ok: bool  # the CRC passes and the header is the hash of the ciphertext
    z: float
    p_value: float
    header: int
    bit_agreement: float = 0.0  # share of the body's soft bits that agree with the decoded codeword


def field_gate(positions: int = 1) -> float:
    """The z a field read needs for p < P_THRESHOLD, union over the 2^64 messages and the positions read."""
    return math.sqrt(2.0 * (LOG_MESSAGES + math.log(positions) - math.log(P_THRESHOLD)))


def read(torus: np.ndarray, secret: bytes, positions: int = 1) -> FieldRead:
    """Read the field from one torus of chip sums (``_v2.torus`` at the image's origin).

    The z of a decoded message is its field's correlation with the torus over the torus's norm: for each of the
    2^64 messages a fixed ±1 pattern, so Hoeffding's bound applies, with a union over every message and every
    position read (a message's header and body are functions of its ciphertext: choosing the best header
    candidates adds no hypothesis)."""
    return read_many([(torus, secret, positions)])[0]


def read_many(reads: Sequence[tuple[np.ndarray, bytes, int]]) -> list[FieldRead]:
    """``read`` of each (torus, secret, positions): every read's header candidates decoded in one pass over the
    trellis (most reads are of pictures without a field, where all are decoded; a pass costs little more for 16
    rows than for 4)."""
    prepared = [_candidates(torus, secret) for torus, secret, _ in reads]
    decoded = _ecc.decode_many(np.concatenate([softs for _, _, _, softs in prepared]))
    out = []
    for (_, secret, positions), (scores, norm, headers, softs) in zip(reads, prepared, strict=True):
        mine, decoded = decoded[: len(headers)], decoded[len(headers) :]
        best: FieldRead | None = None
        for hv, soft, (ciphertext, crc_ok, coded) in zip(headers, softs, mine, strict=True):  # best header first
            ok = bool(crc_ok) and header_of(secret, ciphertext) == hv
            z = (float(scores[hv]) + float(soft @ (1.0 - 2.0 * coded))) / norm
            if best is None or (ok, z) > (best.ok, best.z):
                agreement = float(np.mean((soft > 0) == (coded == 0)))
                best = FieldRead(ciphertext, ok, z, 1.0, hv, agreement)
            if ok:
                break  # the bound counts every message whichever is reported; a second valid one is 1 in 2^24
        assert best is not None
        out.append(dataclasses.replace(best, p_value=_p(best.z, positions)))
    return out


def _candidates(torus: np.ndarray, secret: bytes) -> tuple[np.ndarray, float, list[int], np.ndarray]:
    """A read's header scores, the torus's norm, the HEADER_CANDIDATES best header values and the soft coded bits
    of the body under each one's signs."""
    lay = layout(secret)
    flat = np.ascontiguousarray(torus, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(flat)) + 1e-12
    # The regions' chips under their signs, summed over the regions, then the 256 Walsh scores at once
    # (_HADAMARD is symmetric: column v is the v-th basis vector).
    scores = np.einsum("rk,rk->k", flat[lay.header_chips].reshape(HEADER_REGIONS, SUB), lay.header_signs) @ _HADAMARD
    headers = [int(h) for h in np.argsort(-scores)[:HEADER_CANDIDATES]]
    return scores, norm, headers, _soft_bits(secret, headers, flat[lay.body_chips_by_bit])


def _soft_bits(secret: bytes, headers: Sequence[int], body: np.ndarray) -> np.ndarray:
    """(len(headers), CODED_BITS): the body's chip sums (in coded-bit order) under each header's signs, summed per
    coded bit. The signs are the packed bits (1 is +1) as 2 bit - 1 (arithmetic: a seventh of a lookup's time)."""
    signed = np.unpackbits(_body_bits(secret).rows(headers), axis=1, count=body.size).astype(np.float32)
    signed *= 2.0
    signed -= 1.0
    signed *= body
    return np.add.reduceat(signed, layout(secret).bit_starts, axis=1)


TILE_OFFSETS = _v2.BIND_OFFSETS  # the torus holds 8 x 8 tiles: where a field can start, given the tile's phase
SYNC_GATE = 6.0  # the public sync's z above which a lattice candidate's field is read at every tile offset


def best_offset(sums: np.ndarray, secret: bytes) -> tuple[int, int]:
    """The tile offset (in chips) where the header scores best: the field's start, given the tile's phase.

    One gather of the header's chips at the 64 offsets, summed over the regions under their signs, and one
    product with the Walsh basis; ~1 ms, paid only on a lattice candidate whose public sync is significant but
    whose tile gave no complete mark (a crop or a resize after the tile's message was weakened or removed)."""
    lay = layout(secret)
    x = sums.ravel().astype(np.float32)[_offset_chips(secret)].reshape(len(_OFFSETS), HEADER_REGIONS, SUB)
    scores = np.einsum("ork,rk->ok", x, lay.header_signs) @ _HADAMARD  # (offsets, header values)
    return _OFFSETS[int(np.argmax(scores.max(axis=1)))]


_OFFSETS = [(i * (N // 8), j * (N // 8)) for i in range(8) for j in range(8)]


@lru_cache(maxsize=8)
def _offset_chips(secret: bytes) -> np.ndarray:
    """(64 x HEADER_CHIPS,) flat torus indices of the header's chips seen from each tile offset (2.5 MB, once
    per secret): np.roll(sums, (a, b))[r, c] == sums[r - a, c - b]."""
    rows, cols = np.divmod(layout(secret).header_chips, N)
    out = np.concatenate([((rows - a) % N) * N + (cols - b) % N for a, b in _OFFSETS]).astype(np.intp)
    out.setflags(write=False)
    return out


Accept = Callable[[str, int], bool]
Lookup = Callable[[int], Iterable[str]]


def attribute(
    ciphertext: int, ring: _keys.KeyRing, accept: Accept | None, lookup: Lookup | None = None
) -> list[tuple[int, int]]:
    """(key index, payload) of every key whose decryption of ``ciphertext`` ``accept`` takes for a mark.

    The field names no key: each key's decryption is a candidate, and only the caller knows which payloads are
    marks (the register checks the mark id's keyed tag: a wrong key's decryption passes with probability
    2^-16). Without ``accept`` nothing is attributed.

    ``lookup(ciphertext)`` names the keys the caller recorded a mark with this very message for (the register's
    index of its marks' field messages): each is tried first, and the first that ``accept`` takes is the
    answer, without decrypting under every other key (15 microseconds a key). A recorded message is no random
    decryption that passes the tag by chance, so no other key is asked whether it passes too. A key the
    lookup names that ``accept`` refuses (a stale or tampered index) counts for nothing: every key is tried."""
    if accept is None:
        return []
    if lookup is not None:
        for key_id in lookup(ciphertext):
            i = ring._index.get(key_id)
            if i is None:
                continue
            payload = _keys.decrypt(ring._keys[i], ciphertext)
            if accept(key_id, payload):
                return [(i, payload)]
    out = []
    for i, key_id in enumerate(ring.ids):
        payload = _keys.decrypt(ring._keys[i], ciphertext)
        if accept(key_id, payload):
            out.append((i, payload))
    return out


def read_unaltered(folded: _detect.FoldedTile, secret: bytes, positions: int = 1) -> FieldRead:
    """The field read where an image that kept its size and origin carries it (no alignment needed)."""
    return read(_v2.torus(folded, 0, 0, 0, image_origin=True), secret, positions)


# --- detection: the field at the picture's anchors ----------------------------------------------------------

SHIFTS = (-2, -1, 0, 1, 2)  # half-chips around the best start, on each axis (an anchor is found to about a chip)
# The marked picture's period over this one's: a crop of a few % from each side shrinks this picture's period
# (by the fourth root of the area kept), a slight resize changes the mark's. A scale off by 0.5 % moves chips
# 900 px from the anchor by 4.5 px, so the steps are 0.5 %; step 1 scores every other one and the two beside
# the best.
RHOS = tuple(round(0.965 + 0.005 * i, 3) for i in range(11))
AMBIGUOUS = 0.2  # chips: an anchor this close to the middle between two chip corners may be marked at either
CORNERS = 4  # chip corners an anchor may stand for, at most (two on each axis when it is that close)
assert _v2.START_ALIGNMENTS == _anchor.COUNT * CORNERS  # the tile's bound counts every corner of every anchor
ANCHOR_POSITIONS = len(RHOS) * (_anchor.COUNT + 1) * len(SHIFTS) ** 2  # scales x (anchors + top-left) x shifts
EXACT_POSITIONS = _anchor.COUNT * CORNERS + 1  # the starts at scale 1, each at its chip corner (or two, or four)
BEST_STARTS = 3  # (start, scale) pairs whose shifts are searched
# The anchored read has 1/ANCHORED_SHARE of the false-positive budget P, the aligned reads the rest (each of
# their gates counts its positions ANCHORED_SHARE / (ANCHORED_SHARE - 1) times over, as here: 2).
ANCHORED_SHARE = 2
NEAR = tuple((dr, dc) for dr in (0, 1) for dc in (0, 1))  # the four half chips around a start


def _half_chip_sums(half: np.ndarray, rows: np.ndarray, cols: np.ndarray, rho: float) -> np.ndarray:
    """(2N, 2N): the sums of ``half`` (the working luma in 2x2 blocks) per half chip of the torus, half chip 0
    at the canonical frame's 0, the frame scaled by ``rho`` (this candidate's period over the mark's period in
    the picture). ``rows`` and ``cols`` are the blocks' canonical coordinates on an axis-aligned candidate.

    Separable: the blocks' rows are summed onto the torus's rows, then their columns onto its columns. Each axis
    maps increasing coordinates to increasing half chips, one step per block except a few percent (``rho`` is
    within 3.5% of 1): runs of consecutive half chips, each added as one slice (a third of a bincount's time,
    which scatters every block on its own)."""
    m = 2 * N
    k = np.float32(0.5 * rho)
    by_row = np.zeros((m, half.shape[1]), np.float32)
    for source, target, n in _detect.runs(np.floor(rows * k + np.float32(0.25)).astype(np.int64), m):
        by_row[target : target + n] += half[source : source + n]
    out = np.zeros((m, m), np.float32)
    for source, target, n in _detect.runs(np.floor(cols * k + np.float32(0.25)).astype(np.int64), m):
        out[:, target : target + n] += by_row[:, source : source + n]
    return out


def _parities(sums: np.ndarray) -> np.ndarray:
    """(4, N, N): the chip tori of the two half-chip parities on each axis. Chip u of a field starting t half
    chips from the frame's 0 holds half chips 2u + t and 2u + t + 1: parity t % 2, rolled by t // 2."""
    out = np.empty((4, N, N), np.float32)
    even, odd = sums[0::2], sums[1::2]
    rows = np.empty((2, N, 2 * N), np.float32)  # the two row parities' pairs of rows (into place: no np.roll)
    np.add(even, odd, out=rows[0])
    np.add(odd[:-1], even[1:], out=rows[1, :-1])
    np.add(odd[-1], even[0], out=rows[1, -1])
    for i in range(2):
        even_c, odd_c = rows[i, :, 0::2], rows[i, :, 1::2]
        np.add(even_c, odd_c, out=out[2 * i])
        np.add(odd_c[:, :-1], even_c[:, 1:], out=out[2 * i + 1, :, :-1])
        np.add(odd_c[:, -1], even_c[:, 0], out=out[2 * i + 1, :, -1])
    return out


@dataclass(frozen=True)
class _Tori:
    """A scale's parity tori (``_parities``) and their norms: what every header score at that scale needs."""

    tori: np.ndarray
    norms: np.ndarray

    @classmethod
    def of(cls, tori: np.ndarray) -> _Tori:
        return cls(tori, np.sqrt(np.einsum("vij,vij->v", tori, tori)))

    def rolled(self, tr: int, tc: int, out: np.ndarray | None = None) -> np.ndarray:
        """The chip torus of a field starting (tr, tc) half chips from the frame's 0: its parity's torus rolled (what
        np.roll copies, in four block copies, into ``out`` when given)."""
        torus = self.tori[2 * (tr % 2) + tc % 2]
        r, c = (tr // 2) % N, (tc // 2) % N
        if out is None:
            out = np.empty((N, N), np.float32)
        out[: N - r, : N - c] = torus[r:, c:]
        out[: N - r, N - c :] = torus[r:, :c]
        out[N - r :, : N - c] = torus[:r, c:]
        out[N - r :, N - c :] = torus[:r, :c]
        return out


def _header_scores(t: _Tori, secret: bytes, shifts: Sequence[tuple[int, int]]) -> np.ndarray:
    """(len(shifts),): the best of the header's 256 scores over the torus norm, for a field starting at each
    shift (in half chips) of the parities."""
    return _header_scores_of(t, (secret,), shifts)[0]


def _header_scores_of(t: _Tori, secrets: tuple[bytes, ...], shifts: Sequence[tuple[int, int]]) -> np.ndarray:
    """(len(secrets), len(shifts)): ``_header_scores`` for each secret; each position gathers every secret's
    header chips at once."""
    s = np.asarray(shifts, dtype=np.int64)
    variant = 2 * (s[:, 0] % 2) + s[:, 1] % 2
    # Per position, its torus rolled into one buffer (256 kB, so the gather that follows reads from the cache),
    # then the header's chips gathered; positions in the order of (parity, row, column), so a torus shared by
    # several is rolled once. Measured: a quarter less time than gathering at an offset from each parity's torus
    # wrapped onto a (2N, 2N) one (4 MB a scale to write, and read from beyond the cache).
    key = variant * CHIPS + ((s[:, 0] // 2) % N) * N + (s[:, 1] // 2) % N
    bases = _header_bases(secrets)
    gathered = np.empty((len(s), bases.size), np.float32)
    buffer = np.empty((N, N), np.float32)
    flat, last = buffer.reshape(-1), -1
    for p in np.argsort(key, kind="stable").tolist():
        if key[p] != last:
            t.rolled(int(s[p, 0]), int(s[p, 1]), out=buffer)
            last = key[p]
        np.take(flat, bases, out=gathered[p], mode="clip")  # every index is below CHIPS: no clipping happens
    x = gathered.reshape(len(s), len(secrets), HEADER_REGIONS, SUB)
    norms = t.norms[variant] + 1e-12
    out = np.empty((len(secrets), len(s)), np.float32)
    for i, secret in enumerate(secrets):
        scores = np.einsum("prk,rk->pk", x[:, i], layout(secret).header_signs) @ _HADAMARD
        out[i] = scores.max(axis=1) / norms
    return out


@lru_cache(maxsize=8)
def _header_bases(secrets: tuple[bytes, ...]) -> np.ndarray:
    out = np.concatenate([layout(secret).header_chips for secret in secrets]).astype(np.intp)
    out.setflags(write=False)
    return out


def read_anchored(
    folded: _detect.FoldedTile, secrets: Sequence[bytes]
) -> list[tuple[FieldRead, tuple[float, float], float]]:
    """The field of each secret read where it starts at one of the picture's anchors or at its top-left pixel,
    at one of the scales RHOS (a crop changed the picture's period; a resize changed the mark's):

    1. every start at every scale, scored by the header's 256 scores at the four half chips around it;
    2. the BEST_STARTS best (start, scale) pairs, at the 25 half-chip shifts around each (two either way on
       each axis); the best shift is read.

    This read has half the field's false-positive budget (the reads at the syncs' alignments have the other:
    ``ANCHORED_SHARE``), so it can be made before the other lattice candidates are folded. Its union bound
    counts every (scale, start, shift) that step 2 could read (``ANCHOR_POSITIONS``) with half of that half; the
    other goes to the starts at scale 1 (see the end); and every secret read (each is one more field layout).
    The secrets share the picture's chip sums (the costly part); each has its own header scores. Returns, for
    each secret in order, the read, where the field starts in the candidate's canonical frame (row, col), and
    its scale ``rho`` (the candidate's period over the mark's); nothing when the candidate is not the
    unaltered one (the picture's own period, unrotated)."""
    if folded.luma is None or folded.basis[1] != 0.0 or not secrets:
        return []
    secrets = tuple(secrets)
    half, ys, xs = _v2._half(folded)
    k = _v2.TILE / folded.basis[0]
    rows, cols = ys * np.float32(k), xs * np.float32(k)
    starts = _starts(folded)
    # Per secret: (header score, scale, start index) near each start, and the picture as marked (scale 1, the
    # best start on the chip grid).
    scored: list[list[tuple[float, float, int]]] = [[] for _ in secrets]
    exact: list[tuple[_Tori, tuple[int, int]] | None] = [None] * len(secrets)
    tori_at: dict[float, _Tori] = {}

    def score(rho: float) -> None:
        if rho in tori_at:
            return
        tori = tori_at[rho] = _Tori.of(_parities(_half_chip_sums(half, rows, cols, rho)))
        # Each start at the half chips around it (in half chips; its own position may be one off the field's).
        own = [(math.floor(rho * r / 2) + dr, math.floor(rho * c / 2) + dc) for r, c in starts for dr, dc in NEAR]
        grid = [(round(r / 2), round(c / 2)) for r, c in _grid_starts(starts)] if rho == 1.0 else []
        # as marked (scale 1): embed() put the start on the chip grid through the top-left pixel
        values = _header_scores_of(tori, secrets, own + grid)
        for i in range(len(secrets)):
            scored[i].extend((float(v), rho, n // len(NEAR)) for n, v in enumerate(values[i, : len(own)]))
            if grid:
                exact[i] = (tori, grid[int(np.argmax(values[i, len(own) :]))])

    for rho in RHOS[1::2]:  # every other scale, then the two beside the best (of any secret: the one marked)
        score(rho)
    i = RHOS.index(max(max(found) for found in scored)[1])
    for j in (i - 1, i + 1):
        if 0 <= j < len(RHOS):
            score(RHOS[j])
    # Step 2 for each secret, then every secret's reads decoded together. Two tiers share this read's budget, half
    # each (Bonferroni with weights): the search over every scale, start and shift (ANCHOR_POSITIONS), and the
    # picture as it was marked (scale 1, each start at its chip corner, or both corners where the anchor is near
    # the middle: EXACT_POSITIONS), whose lower gate keeps the removal without a crop as easy to read as before
    # the search existed. ``share`` counts both tiers and every secret read.
    share = 2 * ANCHORED_SHARE * len(secrets)
    picks = [_best_shift(secret, scored[i], tori_at, starts) for i, secret in enumerate(secrets)]
    marked = [at for at in exact if at is not None]  # scale 1 is among the scales scored first
    assert len(marked) == len(secrets)
    reads: list[tuple[np.ndarray, bytes, int]] = []
    for secret, (rho, tr, tc), (tori1, (er, ec)) in zip(secrets, picks, marked, strict=True):
        reads.append((tori_at[rho].rolled(tr, tc), secret, share * ANCHOR_POSITIONS))
        if (rho, tr, tc) != (1.0, er, ec):
            reads.append((tori1.rolled(er, ec), secret, share * EXACT_POSITIONS))
    done = iter(read_many(reads))
    out = []
    for (rho, tr, tc), (_, (er, ec)) in zip(picks, marked, strict=True):
        found = next(done)
        if (rho, tr, tc) == (1.0, er, ec):
            first = dataclasses.replace(found, p_value=_p(found.z, share * EXACT_POSITIONS))
        else:
            first = next(done)
        if first.ok and (not found.ok or first.p_value < found.p_value):
            out.append((first, (2.0 * er, 2.0 * ec), 1.0))
        else:
            out.append((found, (2.0 * tr / rho, 2.0 * tc / rho), rho))
    return out


def _best_shift(
    secret: bytes,
    scored: list[tuple[float, float, int]],
    tori_at: dict[float, _Tori],
    starts: list[tuple[float, float]],
) -> tuple[float, int, int]:
    """Step 2 of ``read_anchored`` for one secret: the (scale, row, column) read, in half chips."""
    # The shifts around the BEST_STARTS best (start, scale) pairs: a start found by its own half chip may be a
    # half chip or two from where the field starts (embed() puts it on the chip grid; a crop moves that grid),
    # where its header scores weakly; the shifts find it. Every position read is in ANCHOR_POSITIONS.
    best: tuple[float, float, int, int] | None = None
    for _, rho, n in sorted(scored, reverse=True)[:BEST_STARTS]:
        r0, c0 = round(rho * starts[n][0] / 2), round(rho * starts[n][1] / 2)
        shifts = [(r0 + dr, c0 + dc) for dr in SHIFTS for dc in SHIFTS]
        scores = _header_scores(tori_at[rho], secret, shifts)
        k = int(np.argmax(scores))
        if best is None or scores[k] > best[0]:
            best = (float(scores[k]), rho, *shifts[k])
    assert best is not None
    return best[1], best[2], best[3]


def _starts(folded: _detect.FoldedTile) -> list[tuple[float, float]]:
    """Where a version-3 mark may start, in the unaltered candidate's canonical frame (row, col): the top-left
    pixel (outside the examined centre of a very large image), then the anchors."""
    return [_v2.top_left(folded)] + [_v2.canonical(folded, r, c) for r, c in folded.anchors]


def tile_alignments(folded: _detect.FoldedTile) -> list[tuple[int, int, int]]:
    """The tile's alignments (orientation, shift) where version 3 starts it at an anchor on the unaltered
    candidate: each anchor moved to the chip grid through the top-left pixel, as embed() does; at most
    ``_v2.START_ALIGNMENTS`` (``CORNERS`` per anchor), none the top-left pixel's (``_v2.top_left_alignment``,
    tried anyway). Tried when the public sync gives no message (it may have been subtracted: the pattern is
    open)."""
    if folded.luma is None or folded.basis[1] != 0.0:
        return []
    out: list[tuple[int, int, int]] = []
    top_left = _v2.top_left_alignment(folded)
    for r, c in _grid_starts(_starts(folded))[1:]:
        al = (0, round(r) % _v2.TILE, round(c) % _v2.TILE)
        if al not in out and al != top_left:
            out.append(al)
    return out


def _grid_starts(starts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The starts as embed() put them: the top-left pixel, then each anchor moved to its nearest chip corner of
    the grid through it (``mark_origin``). The detector finds an anchor to about a tenth of a chip, so one found
    within ``AMBIGUOUS`` of the middle between two corners stands for both (at most ``CORNERS``)."""
    (r0, c0), *anchors = starts
    out = [(r0, c0)]
    for r, c in anchors:
        out += [(y, x) for y in _corners(r, r0) for x in _corners(c, c0)]
    return out


def _corners(x: float, x0: float) -> list[float]:
    """The chip corners of a grid through ``x0`` that canonical position ``x`` may have been moved to."""
    u = (x - x0) / _pattern.CELL
    nearest = round(u)
    out = [x0 + _pattern.CELL * nearest]
    if abs(abs(u - nearest) - 0.5) < AMBIGUOUS:
        out.append(x0 + _pattern.CELL * (nearest + (1 if u > nearest else -1)))
    return out


def _p(z: float, positions: int) -> float:
    """The p-value of a field read at z: union over the 2^64 messages and the positions read."""
    return math.exp(max(_v2._log_union(z, LOG_MESSAGES + math.log(positions)), -745.0))


def synced(sync: tuple[int, int, int, float]) -> tuple[int, int, int] | None:
    """The alignment (orientation, shift) of a lattice candidate whose public sync (``_v2._align``) is
    significant, else None."""
    index, sy, sx, sync_z = sync
    return (index, sy, sx) if sync_z >= SYNC_GATE else None


def read_aligned(
    folded: _detect.FoldedTile, alignment: tuple[int, int, int], secret: bytes, positions: int
) -> FieldRead:
    """The field read on a lattice candidate at the sync's alignment, from the tile offset the header picks."""
    sums = _v2.torus(folded, *alignment)
    return read(np.roll(sums, best_offset(sums, secret), axis=(0, 1)), secret, positions)


def body_field(secret: bytes, ciphertext: int) -> np.ndarray:
    """The field with its header chips zeroed: what binds a decoded message to this picture. Two messages whose
    headers collide (1 in 256) share the header's chips; their bodies share only signs, under which their coded
    bits agree at random, so the body alone does not bind one mark's message to another mark's field."""
    out = field(secret, ciphertext)
    out.ravel()[layout(secret).header_chips] = 0.0
    return out


def confirm(sums: np.ndarray, offset: tuple[int, int], secret: bytes, ciphertext: int) -> bool:
    """False when the field at the binding's offset reads, with confidence, as another message: the picture
    carries another version-3 mark, and a tile copied onto it must not borrow that mark's binding."""
    # _v2._binding's offset d aligns sums[x] with field[x + d]: rolled by d, the sums are the field's frame.
    read_there = read(np.roll(sums, offset, axis=(0, 1)), secret)
    return not (read_there.ok and read_there.p_value < P_THRESHOLD and read_there.ciphertext != ciphertext)


def bindings(secrets: Sequence[bytes]) -> Sequence[_v2.Layer]:
    """The binding layers a decoded tile message is checked against: (algorithm, field of (key, ciphertext),
    the tile's share of the energy, a confirmation or None). Version 2's binding field always; version 3's
    field body for each field secret known (the register's, its kits'), confirmed by reading the field where it
    binds. The binding's bound counts every layer."""
    v2: _v2.Layer = (_v2.ALGORITHM, _keys.binding_field, _v2.PERIODIC_SHARE, None)
    return (v2, *(_layer(secret) for secret in secrets))


def _layer(secret: bytes) -> _v2.Layer:
    return (
        ALGORITHM,
        lambda _key, ciphertext: body_field(secret, ciphertext),
        TILE_SHARE,
        lambda sums, offset, ciphertext: confirm(sums, offset, secret, ciphertext),
    )
