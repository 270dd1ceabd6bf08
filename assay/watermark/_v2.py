"""Version 2 of the mark (``org.assay.watermark.2``): a public sync, a keyed encrypted message, a binding field.

The mark is the sum of two layers, both multiplied by the image's masking map:

1. **The tile** (80% of the energy), repeating over the image exactly as in version 1 (same period, same
   chips, same Dirichlet interpolation), so the lattice search and the fold of version 1 find it. Its 1024
   chips are 250 *sync* chips whose positions and signs are public (the same in every image: they find the
   tile's shift and orientation once for all keys, and carry no secret), and 774 *message* chips carrying
   the 258 coded bits of E_key(payload) + CRC-16 at keyed positions with keyed signs (``_keys``). The
   ciphertext differs from image to image and looks random without the key, so no chip of the message is
   the same across images: averaging many marked images, with or without their payloads, gives the public
   sync and nothing else.
2. **The binding field** (20% of the energy): a ±1 chip field over the image that does *not* repeat with the
   tile (it repeats every 8 tiles, more than a 1-8 MP image holds), drawn from (key, ciphertext). Folding
   the image over the tile lattice averages it away, so a mark lifted from one image by folding (the copy
   attack) carries the message but not the binding, and the detector reports it as *unbound*: a valid
   message that was not made on this picture. The binding also tells where the marked image's origin is,
   which the fold alone cannot (the tile repeats).

Detection: find the lattice and fold (``_detect``, version 1's steps 1-3), align with the public sync (one FFT
correlation for all keys), read the 774 message chips once, screen every key of the ring with one sparse product and
a sum of squares (the coded bits' energy: chips of one bit agree only under the right key's layout), decode
the best few, and check the binding of the one that decodes. The bound: ``evaluate`` and docs/watermark.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import _anchor, _detect, _ecc, _embed, _keys, _pattern, _quality

ALGORITHM = "org.assay.watermark.2"
TILE = _pattern.TILE
CELL = _pattern.CELL
PERIODIC_SHARE = 0.80
BINDING_SHARE = 1.0 - PERIODIC_SHARE
SCREENED = 3  # keys decoded per alignment at most, best screening scores first
SCREEN_Z = 4.0  # ... and only those screening at least this (a mark at the detection threshold: about 6)
# Alignments at which keys are evaluated: one per lattice candidate (the sync's best), plus the unrotated,
# unshifted one on the unaltered candidate (a copy that kept its size needs no sync).
ALIGNMENTS = _detect.MAX_CANDIDATES + _detect.UNALTERED_CANDIDATES + 1
# ... and, looking for version 3 (whose tile starts at an anchor of the picture), the anchors' alignments on the
# unaltered candidate, for a copy whose sync was subtracted: up to 4 chip corners per anchor (``_v3.CORNERS``).
START_ALIGNMENTS = _anchor.COUNT * 4
BIND_OFFSETS = (_keys.BIND_TORUS // _pattern.CELLS) ** 2  # 64 tile offsets of the binding field
P_THRESHOLD = 1e-6
BIND_THRESHOLD = 1e-4  # the binding's own p-value, given the key and message decoded from the tile


def _sync_tile() -> np.ndarray:
    chips = np.zeros(_keys.CELLS)
    chips[_keys.SYNC_CELLS] = _keys.SYNC_SIGNS
    return _pattern.render(chips.reshape(_pattern.CELLS, _pattern.CELLS))


_SYNC_FFT_CONJ = np.conj(np.fft.rfft2(_sync_tile()))


# --- embedding -------------------------------------------------------------------------------------------


def message_tile(key: bytes, ciphertext: int) -> np.ndarray:
    """The periodic tile (sync + coded ciphertext), unit RMS."""
    lay = _keys.layout(key)
    coded = _ecc.encode(ciphertext)
    chips = np.zeros(_keys.CELLS)
    chips[_keys.SYNC_CELLS] = _keys.SYNC_SIGNS
    chips[lay.cells] = (1.0 - 2.0 * coded[:, None]) * lay.signs
    tile = _pattern.render(chips.reshape(_pattern.CELLS, _pattern.CELLS))
    return tile / np.sqrt(np.mean(tile**2))


def binding_image(
    field: np.ndarray, h: int, w: int, period: float, origin: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """The binding field drawn over an h x w image, bilinear between chip centres, unit RMS, its chip (0, 0)
    starting at ``origin`` (x, y) in image pixels.

    Image pixel i sits at canonical position (i - o) * TILE / period (as in _embed.pattern_image), so at chip
    coordinate c(i) = (i - o) * s - 3/8 with s = TILE / (period * CELL) chips per pixel (chip j is centred on
    canonical 4j + 1.5). Pillow's bilinear upscaling maps output pixel i to source position
    box0 + (i + 0.5) * s - 0.5 between source pixel centres; a box starting at c(0) - 0.5 * s + 0.5 makes the
    two agree, and its C loop is 5x faster than numpy gathers."""
    s = TILE / (period * CELL)
    c0 = -(CELL - 1) / 2.0 / CELL
    start_c, start_r = c0 - origin[0] * s, c0 - origin[1] * s  # c(0) on each axis
    lo_r, lo_c = int(np.floor(start_r)) - 2, int(np.floor(start_c)) - 2
    n_r, n_c = int(np.ceil(h * s)) + 5, int(np.ceil(w * s)) + 5
    rows = np.arange(lo_r, lo_r + n_r) % _keys.BIND_TORUS
    cols = np.arange(lo_c, lo_c + n_c) % _keys.BIND_TORUS
    grid = np.ascontiguousarray(field[rows][:, cols], dtype=np.float32)
    box = (start_c - 0.5 * s + 0.5 - lo_c, start_r - 0.5 * s + 0.5 - lo_r)
    img = Image.fromarray(grid, "F").resize(
        (w, h), Image.Resampling.BILINEAR, box=(box[0], box[1], box[0] + w * s, box[1] + h * s)
    )
    out = np.asarray(img, dtype=np.float32).copy()
    out /= np.float32(np.sqrt(max(float(np.mean(out * out)), 1e-12)))
    return out


def embed_luma_delta(rgb: np.ndarray, key: bytes, payload: int) -> np.ndarray:
    ciphertext = _keys.encrypt(key, payload)
    return luma_delta(rgb, message_tile(key, ciphertext), _keys.binding_field(key, ciphertext), PERIODIC_SHARE)


def luma_delta(
    rgb: np.ndarray,
    tile: np.ndarray,
    field: np.ndarray,
    tile_share: float,
    origin: tuple[float, float] = (0.0, 0.0),
    luma: Image.Image | None = None,
) -> np.ndarray:
    """The tile repeated over the image plus the non-repeating field (version 2's binding field, version 3's
    message field), at ``tile_share`` and 1 - ``tile_share`` of the energy, masked, at the target PSNR; both
    start at ``origin`` (x, y): the top-left pixel for version 2, the picture's anchor for version 3."""
    h, w = rgb.shape[:2]
    period = _embed.tile_period(h, w)
    delta = _embed.pattern_image(tile, h, w, origin)
    delta *= np.float32(math.sqrt(tile_share))
    delta += binding_image(field, h, w, period, origin) * np.float32(math.sqrt(1.0 - tile_share))
    if luma is None:
        luma = Image.fromarray(rgb).convert("L")
    delta *= _embed.masking(luma, period)
    target_mse = 255.0**2 / 10 ** (_embed.TARGET_PSNR_DB / 10)
    delta *= np.float32(np.sqrt(target_mse / max(float(np.mean(delta * delta)), 1e-12)))
    delta *= np.float32(_quality.gain(rgb, delta))
    return delta


# --- detection -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    payload: int | None  # bound: the message decoded, and the binding field of that message is in this image
    unbound_payload: int | None  # the message decoded with confidence, but its binding field is not here
    key_id: str | None
    p_value: float
    z: float
    z_message: float
    z_binding: float
    binding_p_value: float
    crc_ok: bool
    bit_agreement: float
    period: float
    rotation_deg: float
    quarter_turns: int
    flipped: bool
    offset: tuple[float, float]  # the tile origin (pattern position 0, 0) in input pixels
    origin: tuple[float, float] | None  # the marked image's top-left pixel in input pixels, when bound
    candidates_tried: int
    sync_z: float
    decoded: int = 0  # the decoder's best guess even when not reported (bit-accuracy statistics)
    algorithm: str = "org.assay.watermark.2"  # the version whose binding layer fits best
    layer: str = "tile"  # where the message was read: "tile", or "field" (version 3's field alone)


NOTHING = Found(None, None, None, 1.0, 0.0, 0.0, 0.0, 1.0, False, 0.0, 0.0, 0.0, 0, False, (0.0, 0.0), None, 0, 0.0)


def _log_union(z: float, log_hypotheses: float) -> float:
    # log of hypotheses * exp(-z^2 / 2): Hoeffding's bound for a Rademacher sum, union over the hypotheses.
    if z <= 0:
        return 0.0
    return min(0.0, log_hypotheses - 0.5 * z * z)


_LOG_PAYLOADS = _ecc.PAYLOAD_BITS * math.log(2.0)


def _align(folded: _detect.FoldedTile) -> tuple[int, int, int, float]:
    """The orientation (index into folded.variants) and cyclic shift where the public sync correlates best, and
    the sync's z there.

    The pixel correlation's peak is then refined on the chips: of it and its 8 neighbours, the shift where the
    sync's chips agree best (the z). A chip is CELL pixels wide, so a shift one pixel off mixes a quarter of each
    chip with its neighbour's; after a rotation the resampled pixel peak can sit there while the chips line up
    one pixel over (a 5-degree rotation on a 1140 px photo: the tile's message at z 10.8, CRC failing, against
    13.7 one pixel up). The refinement reads only the public sync, never a key: still one alignment per
    candidate, so the bound's count of alignments is unchanged."""
    corr = np.fft.irfft2(folded.spectra * _SYNC_FFT_CONJ, s=(TILE, TILE)).reshape(len(folded.variants), -1)
    flat = int(np.argmax(corr))
    index, i = divmod(flat, TILE * TILE)
    peak_y, peak_x = divmod(i, TILE)
    best = (-math.inf, 0, 0)
    for dy in (0, -1, 1):
        for dx in (0, -1, 1):
            sy, sx = (peak_y + dy) % TILE, (peak_x + dx) % TILE
            a = _cells(folded, index, sy, sx)[_keys.SYNC_CELLS]
            best = max(best, (float(a @ _keys.SYNC_SIGNS) / (float(np.linalg.norm(a)) + 1e-12), sy, sx))
    z, sy, sx = best
    return index, sy, sx, z


def canonical(folded: _detect.FoldedTile, row: float, col: float) -> tuple[float, float]:
    """A working-luma position -> the candidate's canonical frame (row, col; as ``_half_coords``)."""
    a, b = folded.basis
    inv = np.linalg.inv(np.array([[a, -b], [b, a]]) / TILE)
    return float(inv[1, 0] * col + inv[1, 1] * row), float(inv[0, 0] * col + inv[0, 1] * row)


def top_left(folded: _detect.FoldedTile) -> tuple[float, float]:
    """The input's top-left pixel in the candidate's canonical frame (row, col): where embed() starts version 2's
    tile. (0, 0), except in a very large image, whose examined centre starts elsewhere."""
    return canonical(folded, -folded.origin[1] * folded.scale, -folded.origin[0] * folded.scale)


def top_left_alignment(folded: _detect.FoldedTile) -> tuple[int, int, int]:
    """The unrotated alignment of a tile that starts at the input's top-left pixel (``top_left``)."""
    r, c = top_left(folded)
    return (0, round(r) % TILE, round(c) % TILE)


def _cells(folded: _detect.FoldedTile, index: int, sy: int, sx: int) -> np.ndarray:
    tile = folded.variants[index][0]
    return _pattern.cells_of(np.roll(tile, (-sy, -sx), axis=(0, 1)))


def screen(cells: np.ndarray, ring: _keys.KeyRing, count: int) -> list[tuple[int, float]]:
    """The ``count`` keys whose layout makes the message chips agree most, best first, with a z-score each.

    Under a key's layout the three chips of each coded bit carry the same value, so the sum of the squared
    per-bit sums is large; under any other layout the chips add incoherently. One sparse matrix product for
    the whole ring (K x 774 nonzeros). The z-score compares that sum with its mean and standard deviation
    when the chips' signs are independent of the key (the null hypothesis): sum_j s_j^2 has mean
    sum a^2 and variance 4 sum_j sum_{r<r'} a_r^2 a_r'^2. It only decides which keys are decoded; the
    p-value of a decoded message counts every key of the ring (see ``evaluate``)."""
    k = len(ring)
    soft = (ring._matrix @ cells.astype(np.float32)).reshape(k, _ecc.CODED_BITS)
    energy = np.einsum("ij,ij->i", soft, soft)
    top = np.argsort(-energy) if k <= count else np.argpartition(-energy, count)[:count]
    top = top[np.argsort(-energy[top])]
    sq = cells[ring._cells[top]].reshape(len(top), _ecc.CODED_BITS, _keys.REPEAT) ** 2
    mean = sq.sum(axis=(1, 2))
    pairs = sq[..., 0] * sq[..., 1] + sq[..., 0] * sq[..., 2] + sq[..., 1] * sq[..., 2]
    std = 2.0 * np.sqrt(pairs.sum(axis=1)) + 1e-12
    return [(int(i), float((energy[i] - m) / d)) for i, m, d in zip(top, mean, std, strict=True)]


@dataclass(frozen=True)
class _Message:
    key_index: int
    ciphertext: int
    crc_ok: bool
    z: float
    bit_agreement: float


def _decode(cells: np.ndarray, ring: _keys.KeyRing, k: int, norm: float) -> _Message:
    vals = (cells[ring._cells[k]] * ring._signs[k]).reshape(_ecc.CODED_BITS, _keys.REPEAT)
    soft = vals.sum(axis=1)
    ciphertext, crc_ok, coded = _ecc.decode(soft)
    symbols = 1.0 - 2.0 * coded
    z = float((vals * symbols[:, None]).sum()) / (norm + 1e-12)
    return _Message(k, ciphertext, crc_ok, z, float(np.mean((soft > 0) == (coded == 0))))


def _orient(r: np.ndarray, c: np.ndarray, quarter: int, flip: bool) -> tuple[np.ndarray, np.ndarray]:
    # Where the fold's position (r, c) lands in the variant np.rot90(F.T if flip else F, quarter).
    if flip:
        r, c = c, r
    for _ in range(quarter):
        r, c = TILE - 1 - c, r
    return r, c


def _unorient(r: float, c: float, quarter: int, flip: bool) -> tuple[float, float]:
    for _ in range(quarter):
        r, c = c, TILE - 1 - r
    if flip:
        r, c = c, r
    return r, c


def _half_coords(folded: _detect.FoldedTile, rows: int = 0, cols: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The working luma averaged over 2x2 blocks (starting at row ``rows`` and column ``cols``, 0 or 1), and the
    (row, col) of each block's centre in the fold's canonical frame, unwrapped (not modulo TILE). Chips are 4
    canonical pixels, so 2x2 blocks whose edges fall on the chips' edges (``_block_phase``) still fall within one
    chip, at a quarter of the cost."""
    half, ys, xs = _half(folded, rows, cols)
    a, b = folded.basis
    inv = np.linalg.inv(np.array([[a, -b], [b, a]]) / TILE).astype(np.float32)
    return half, inv[1, 0] * xs[None, :] + inv[1, 1] * ys[:, None], inv[0, 0] * xs[None, :] + inv[0, 1] * ys[:, None]


def _half(folded: _detect.FoldedTile, rows: int = 0, cols: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The working luma summed over 2x2 blocks from row ``rows`` and column ``cols``, and the working
    coordinates of the blocks' rows and columns."""
    work = folded.work
    assert work is not None
    h, w = ((work.shape[0] - rows) // 2) * 2, ((work.shape[1] - cols) // 2) * 2
    if rows == cols == 0 and folded.lattice is not None and folded.lattice.work is work:
        half = folded.lattice.blocks  # the lattice search's (read-only), the same sums
    else:
        half = _detect.blocks(work[rows:, cols:])
    return (
        half,
        np.arange(rows + 0.5, rows + h, 2, dtype=np.float32),
        np.arange(cols + 0.5, cols + w, 2, dtype=np.float32),
    )


def _block_phase(folded: _detect.FoldedTile, index: int, sy: int, sx: int) -> tuple[int, int]:
    """Where the 2x2 blocks of the unaltered candidate start (row, column: 0 or 1) so that their edges fall on the
    chips' edges at alignment (index, sy, sx). Decided from the geometry alone (no key, no field).

    Chips are 4 pixels there, and blocks from the top-left pixel fall on their edges in an unaltered copy; but a
    mirror or a quarter turn of a picture whose working width (or height) is odd moves the chips by one pixel
    against that block grid, and every block then straddles a chip edge: the field read about 20% weaker (a
    mirrored 1720 px photo: binding z 32.3 against 40.4 unmirrored; a grass crop's genuine mark fell below its binding
    threshold and was called copied). Other candidates (rotated, rescaled) cross the pixel grid anyway."""
    a, b = folded.basis
    if not folded.unaltered or b != 0.0:
        return (0, 0)
    _, quarter, flip = folded.variants[index]

    def oriented(row: float, col: float) -> tuple[float, float]:
        r, c = canonical(folded, row, col)
        ro, co = _orient(np.array(r), np.array(c), quarter, flip)
        return float(ro), float(co)

    r00, c00 = oriented(0.5, 0.5)
    r10, c10 = oriented(2.5, 0.5)  # one block down the working rows
    rows_to_rows = abs(r10 - r00) > abs(c10 - c00)

    def misplaced(x: float, shift: int) -> bool:  # a block centre should sit 1 px from the chip edges around it
        return abs(((x - shift + 0.5) % 2.0) - 1.0) > 0.5

    if rows_to_rows:
        return int(misplaced(r00, sy)), int(misplaced(c00, sx))
    return int(misplaced(c00, sx)), int(misplaced(r00, sy))


def _to_input(folded: _detect.FoldedTile, r: float, c: float) -> tuple[float, float]:
    """A position in the fold's canonical frame -> (x, y) in input-image pixels."""
    a, b = folded.basis
    x = (a * c - b * r) / TILE
    y = (b * c + a * r) / TILE
    return (
        folded.origin[0] + (x + 0.5) / folded.scale - 0.5,
        folded.origin[1] + (y + 0.5) / folded.scale - 0.5,
    )


def torus(folded: _detect.FoldedTile, index: int, sy: int, sx: int, *, image_origin: bool = False) -> np.ndarray:
    """The working luma's sums per chip of the non-repeating field's torus, with the torus's chip (0, 0) at the
    tile origin of alignment (index, sy, sx), or with ``image_origin`` at the input image's top-left pixel
    (where embed() put it: for an image that kept its size and origin, with alignment (0, 0, 0))."""
    _, quarter, flip = folded.variants[index]
    half, r0, c0 = _half_coords(folded, *_block_phase(folded, index, sy, sx))
    if image_origin and folded.origin != (0, 0):
        # A very large image is examined in its centre: its canonical frame starts there, not at the origin.
        tr, tc = top_left(folded)
        r0 = r0 - np.float32(tr)
        c0 = c0 - np.float32(tc)
    r, c = _orient(r0, c0, quarter, flip)
    n = _keys.BIND_TORUS
    u = np.floor((r - sy + 0.5) * (1.0 / CELL)).astype(np.int32) & (n - 1)
    v = np.floor((c - sx + 0.5) * (1.0 / CELL)).astype(np.int32) & (n - 1)
    u *= n
    u += v
    return np.bincount(u.ravel(), weights=half.ravel(), minlength=n * n).reshape(n, n)


def _binding(sums: np.ndarray, field: np.ndarray) -> tuple[float, tuple[int, int]]:
    """z of a binding field at its best tile offset in the torus ``sums``, and that offset (in chips, modulo
    the torus)."""
    n = _keys.BIND_TORUS
    corr = np.fft.irfft2(np.conj(np.fft.rfft2(sums)) * np.fft.rfft2(field), s=(n, n))
    step = _pattern.CELLS
    grid = corr[::step, ::step]
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return float(grid[i, j]) / (float(np.linalg.norm(sums)) + 1e-12), (int(i) * step, int(j) * step)


# (algorithm, field of (key, ciphertext), the tile's share of the energy, a check of the binding at its offset)
Layer = tuple[
    str,
    Callable[[bytes, int], np.ndarray],
    float,
    Callable[[np.ndarray, tuple[int, int], int], bool] | None,
]


def evaluate(
    folded: _detect.FoldedTile,
    ring: _keys.KeyRing,
    tried: int,
    layers: Sequence[Layer] | None = None,
    sync: tuple[int, int, int, float] | None = None,
    starts: Callable[[], Sequence[tuple[int, int, int]]] | None = None,
) -> Found:
    """Steps 4-7 for one lattice candidate: align with the sync, screen the ring, decode, check the binding.

    ``layers`` are the binding fields a decoded message may have (version 2's by default; ``_v3.bindings``
    adds version 3's message field): the one that correlates best decides the algorithm, and the binding's
    union bound counts every layer tried. ``sync`` is ``_align(folded)`` when the caller already has it.
    ``starts`` (``_v3.tile_alignments``, looking for version 3) gives more alignments of the unaltered candidate,
    tried when neither the sync's nor the top-left pixel's gives a complete mark; the bound counts them whether
    tried or not."""
    if layers is None:
        layers = ((ALGORITHM, _keys.binding_field, PERIODIC_SHARE, None),)
    index, sy, sx, sync_z = _align(folded) if sync is None else sync
    alignments = [(index, sy, sx)]
    if folded.unaltered and (index, sy, sx) != (unshifted := top_left_alignment(folded)):
        alignments.append(unshifted)  # the sync may have been removed; an unaltered copy needs none
    log_keys = math.log(max(1, len(ring)))
    log_msg = math.log(ALIGNMENTS + (START_ALIGNMENTS if starts is not None else 0)) + log_keys + _LOG_PAYLOADS

    def best_of(candidates: Sequence[tuple[int, int, int]]) -> tuple[float, _Message, tuple[int, int, int]] | None:
        best: tuple[float, _Message, tuple[int, int, int]] | None = None
        for al in candidates:
            cells = _cells(folded, *al)
            norm = float(np.linalg.norm(cells[_keys.MESSAGE_CELLS]))
            for k, z_screen in screen(cells, ring, SCREENED):
                if len(ring) > SCREENED and z_screen < SCREEN_Z:
                    break  # not worth a decode: a mark at the detection threshold screens at z of about 6
                msg = _decode(cells, ring, k, norm)
                score = msg.z if msg.crc_ok else msg.z - 100.0
                if best is None or score > best[0]:
                    best = (score, msg, al)
        return best

    def judge(best: tuple[float, _Message, tuple[int, int, int]] | None) -> Found:
        if best is None:  # no key of the ring screened as a candidate: nothing to decode
            best = (0.0, _Message(0, 0, False, 0.0, 0.0), alignments[0])
        _, msg, (index, sy, sx) = best
        p_msg = math.exp(max(_log_union(msg.z, log_msg), -745.0))
        key = ring._keys[msg.key_index]
        _, quarter, flip = folded.variants[index]
        z_bind, p_bind, z_all, p_all = 0.0, 1.0, msg.z, p_msg
        origin = None
        payload = unbound = None
        algorithm = ALGORITHM  # the tile's format; a version-3 binding, when found, says version 3
        if msg.crc_ok:
            sums = torus(folded, index, sy, sx)
            scored = [
                (_binding(sums, make(key, msg.ciphertext)), alg, share, check) for alg, make, share, check in layers
            ]
            (z_bind, (du, dv)), layer_alg, tile_share, check = max(scored, key=lambda t: t[0][0])
            if check is not None and not check(sums, (du, dv), msg.ciphertext):
                z_bind = 0.0  # the field there is another mark's: this message is not bound to this picture
            log_offsets = math.log(BIND_OFFSETS * len(layers))
            p_bind = math.exp(max(_log_union(z_bind, log_offsets), -745.0))
            # Both layers together: a fixed-weight sum of two Rademacher sums is one, so Hoeffding applies to
            # the weighted z; the union now also runs over the binding's 64 offsets (of every layer tried).
            w_msg = math.sqrt(tile_share * _keys.MESSAGE_CELLS.size / _keys.CELLS)
            w_bind = math.sqrt(1.0 - tile_share)
            z_all = (w_msg * msg.z + w_bind * z_bind) / math.hypot(w_msg, w_bind)
            p_comb = math.exp(max(_log_union(z_all, log_msg + log_offsets), -745.0))
            bound = p_bind < BIND_THRESHOLD and p_comb < P_THRESHOLD
            if bound:
                algorithm = layer_alg
                payload = _keys.decrypt(key, msg.ciphertext)
                p_all = min(p_comb, p_msg)
                r, c = _unorient(-CELL * du + sy, -CELL * dv + sx, quarter, flip)
                origin = _to_input(folded, r, c)
            elif p_msg < P_THRESHOLD:
                unbound = _keys.decrypt(key, msg.ciphertext)
        r, c = _unorient(float(sy), float(sx), quarter, flip)
        a, b = folded.basis
        return Found(
            payload=payload,
            unbound_payload=unbound,
            key_id=ring.ids[msg.key_index] if (payload is not None or unbound is not None) else None,
            p_value=p_all,
            z=z_all if payload is not None else msg.z,  # the z of the statistic whose p-value is reported
            z_message=msg.z,
            z_binding=z_bind,
            binding_p_value=p_bind,
            crc_ok=msg.crc_ok,
            bit_agreement=msg.bit_agreement,
            period=math.hypot(a, b) / folded.scale,
            rotation_deg=math.degrees(math.atan2(b, a)),
            quarter_turns=quarter,
            flipped=bool(flip),
            offset=_to_input(folded, r, c),
            origin=origin,
            candidates_tried=tried,
            sync_z=sync_z,
            decoded=msg.ciphertext,
            algorithm=algorithm,
        )

    found = judge(best_of(alignments))
    if starts is not None and folded.unaltered and found.payload is None:
        # No complete mark where the sync or the top-left pixel puts the tile: version 3's starts at an anchor
        # (the sync may have been subtracted, or moved a pixel or two by what was left of it).
        more = best_of([al for al in starts() if al not in alignments][:START_ALIGNMENTS])
        if more is not None:
            other = judge(more)
            found = max(found, other, key=lambda f: (f.payload is not None, f.unbound_payload is not None, -f.p_value))
    return found
