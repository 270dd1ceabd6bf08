"""Blind detection: find the tile lattice, fold the image onto one tile, align it with the pilot, decode.

Steps (each fails closed: a step that finds nothing yields "no mark", never a guess):
1. Luma at a working resolution set by the image size (``work_scale``: an unaltered mark has a period of 128
   working pixels), high-passed and contrast-normalised, so the photograph's own low frequencies, busy textures
   and the text of a caption weigh little.
2. The first candidate lattice is the one embed() used for an image of this size, unrotated: an image that
   kept its size (re-encoded, recoloured, captioned...) needs no measuring, and small or busy images hide
   their lattice from the search. Then the spectral lines of the periodic tile, found by the autocorrelation
   of the spectrum divided by its local average, give the lattice whatever the scale, rotation or crop: the
   best square lattices (two orthogonal vectors of equal length) are the candidates, at most MAX_CANDIDATES.
3. For each candidate, the image is resampled so the period is 128 px and every pixel is folded onto one
   canonical tile (the average per tile position).
4. The cyclic shift and the orientation (8 rotations/flips) come from an FFT correlation with the key's pilot.
5. The pilot's correlation, and the whole tile's correlation with the decoded payload, give z-scores whose
   p-value under the null (Hoeffding's bound on a Rademacher sum, times every hypothesis searched) must be
   below 1e-6, and the soft Viterbi decode must pass its CRC. Only then is a payload reported.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image
from scipy import fft as sfft
from scipy import ndimage

from . import _anchor, _ecc, _pattern
from ._embed import tile_period, work_scale

TILE = _pattern.TILE
MAX_CANDIDATES = 4  # rarely more than the first is needed, but a 45-degree sub-lattice can outrank the mark
ORIENTATIONS = 8
# Besides the measured lattices, one hypothesis needs no measuring: the image as it was marked (same size, not
# rotated), where the embedder's own period applies. Small or busy images hide their lattice from the search.
UNALTERED_CANDIDATES = 1
# Every (lattice candidate, orientation, cyclic shift) is one hypothesis of the union bound.
HYPOTHESES = (MAX_CANDIDATES + UNALTERED_CANDIDATES) * ORIENTATIONS * TILE * TILE
P_THRESHOLD = 1e-6
MAX_WORK_PIXELS = 1_300_000  # bounds the detector's time and memory on very large images
MIN_PERIOD = 56.0  # working pixels: a 4x downscale of an unaltered mark measures 64
MAX_PERIOD = 300.0
ACF_BAND = 0.2  # cycles per working pixel: measured best between 0.12 and 0.3 on resized photos
# Periods shorter than TILE / FOLD_RESAMPLE are folded on a half-resolution grid (see ``fold``).
FOLD_RESAMPLE = 1.12
DIAGONAL_WEIGHT = 0.5
SIGNIFICANT_LATTICE = 6.0  # see folded_tiles
GATED_WORK_PIXELS = 500_000  # working images at least this large (about 1.3 MP and up) gate their candidates


@dataclass(frozen=True)
class Alignment:
    z: float  # the pilot's z-score at the chosen alignment
    p_value: float
    payload: int | None
    crc_ok: bool
    bit_agreement: float
    period: float  # in input-image pixels
    rotation_deg: float
    flipped: bool
    offset: tuple[float, float]  # (x, y) of the tile origin in input-image pixels
    candidates_tried: int
    decoded: int = 0  # the decoder's best guess even when not reported (for bit-accuracy statistics)


def _working_luma(img: Image.Image, scale: float) -> np.ndarray:
    w, h = img.size
    if abs(scale - 1.0) > 1e-6:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        img = img.convert("F").resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(img, dtype=np.float32)


@lru_cache(maxsize=16)
def _taper(h: int, w: int) -> np.ndarray:
    # A Tukey window: without it the image borders put a bright cross on the spectrum's axes. Cached per size
    # (read-only): the same for every image of that size.
    def one(n: int) -> np.ndarray:
        edge = max(2, n // 12)
        win = np.ones(n, dtype=np.float32)
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(edge) + 0.5) / edge)
        win[:edge] = ramp
        win[-edge:] = ramp[::-1]
        return win

    out = one(h)[:, None] * one(w)[None, :]
    out.setflags(write=False)
    return out


_FIVE = np.ones((5, 5), np.uint8)  # the 5 x 5 neighbourhood of a maximum filter
_TRIANGLE = np.array([1, 2, 3, 4, 5, 4, 3, 2, 1], dtype=np.float32) / 25.0  # a 5-box convolved with itself


def _prefilter(y: np.ndarray) -> np.ndarray:
    """High-pass (the pattern's chips are ~4 px; the photograph's energy is lower) and local contrast
    normalisation, so busy textures and hard edges weigh no more than quiet areas. Measured on photographs,
    this beats global spectral whitening by about 2 dB of pilot correlation."""
    # Two 5-pixel box passes approximate a Gaussian of sigma 2 at a third of the cost; done as their
    # composition, one 9-tap triangle per axis. OpenCV's filters (vectorised, in float32) take a quarter of the
    # time of scipy.ndimage's (which filter each line in float64); the borders reflect as scipy's did.
    import cv2  # on first use: a tenth of a second that commands which never detect do not pay

    r = np.asarray(cv2.sepFilter2D(y, cv2.CV_32F, _TRIANGLE, _TRIANGLE, borderType=cv2.BORDER_REFLECT), np.float32)
    np.subtract(y, r, out=r)
    local = np.square(r)
    cv2.boxFilter(local, cv2.CV_32F, (9, 9), dst=local, normalize=True, borderType=cv2.BORDER_REFLECT)
    local += 1e-2 * float(local.mean()) + 1e-9
    r /= np.sqrt(local, out=local)
    np.clip(r, -4.0, 4.0, out=r)
    return r


def _acf(x: np.ndarray, max_lag: int, *, band: float) -> np.ndarray:
    """Autocorrelation of the spectral lines only, for lags |dy|, |dx| <= max_lag: a (2L+1)^2 array.

    The power spectrum is divided by its local average and 1 is subtracted, so the smooth part of the
    spectrum (the photograph) averages to zero and only narrow lines (a periodic pattern) make peaks.
    """
    h, w = x.shape
    # Zero-padded by at least max_lag (no wrap-around at the lags kept), to sizes the FFT factors well:
    # scipy.fft with next_fast_len is 3x quicker here than numpy.fft at h + max_lag (often a large prime factor).
    sh, sw = sfft.next_fast_len(h + max_lag, real=True), sfft.next_fast_len(w + max_lag, real=True)
    f = sfft.rfft2(x * _taper(h, w), s=(sh, sw))  # float32 in, complex64 out: precise enough for peaks
    power = np.square(f.real)
    power += np.square(f.imag)
    lines = ndimage.uniform_filter(power, 15, mode="wrap")  # the local average, then (in place) the lines
    lines += 1e-12
    np.divide(power, lines, out=lines)
    lines -= 1.0
    lines *= _band(sh, sw, band)
    full = sfft.irfft2(lines, s=(sh, sw))
    lags = np.arange(-max_lag, max_lag + 1)
    a = full[np.ix_(lags % sh, lags % sw)]  # lag 0 at the centre
    return a / (float(np.abs(lines).sum()) + 1e-12)


@lru_cache(maxsize=16)
def _band(sh: int, sw: int, band: float) -> np.ndarray:
    """The rfft2 bins of an sh x sw transform between 1/200 and ``band`` cycles per pixel (cached, read-only)."""
    fy = np.fft.fftfreq(sh)[:, None]
    fx = np.fft.rfftfreq(sw)[None, :]
    r2 = fy * fy + fx * fx
    out = (r2 <= band**2) & (r2 >= (1.0 / 200.0) ** 2)
    out.setflags(write=False)
    return out


def _parabolic(a: np.ndarray, iy: int, ix: int) -> tuple[float, float]:
    def off(m: float, c: float, p: float) -> float:
        d = m - 2 * c + p
        return 0.0 if d >= 0 else float(np.clip(0.5 * (m - p) / d, -0.5, 0.5))

    if 0 < iy < a.shape[0] - 1 and 0 < ix < a.shape[1] - 1:
        return iy + off(a[iy - 1, ix], a[iy, ix], a[iy + 1, ix]), ix + off(a[iy, ix - 1], a[iy, ix], a[iy, ix + 1])
    return float(iy), float(ix)


def lattice_candidates(work: np.ndarray, k: int = MAX_CANDIDATES) -> list[tuple[float, float]]:
    return [v for v, _ in scored_lattice_candidates(work, k)]


def blocks(work: np.ndarray) -> np.ndarray:
    """The sums of ``work`` over 2x2 blocks from its top-left pixel (an odd last row or column left out)."""
    h, w = (work.shape[0] // 2) * 2, (work.shape[1] // 2) * 2
    return work[0:h:2, 0:w:2] + work[1:h:2, 0:w:2] + work[0:h:2, 1:w:2] + work[1:h:2, 1:w:2]


def scored_lattice_candidates(
    work: np.ndarray, k: int = MAX_CANDIDATES, sums: np.ndarray | None = None
) -> list[tuple[tuple[float, float], float]]:
    """Up to k basis vectors (dx, dy) in working pixels of square lattices, best first, with their significance.

    The search runs on a 2x2-averaged copy (the lines it looks for are below 0.2 cycles per working pixel, so
    nothing is lost, and the FFTs are 4x smaller); the peaks at 2v and v +- R90 v then pin the period to
    about 0.1%, which the fold needs: a tile that drifts by a pixel over the image blurs the chips. ``sums`` is
    ``blocks(work)`` when the caller has it.
    """
    half = 0.25 * (blocks(work) if sums is None else sums)
    hh, hw = half.shape
    max_lag = int(min(MAX_PERIOD * 0.5 * 2.05, 0.9 * min(hh, hw)))
    min_p, max_p = MIN_PERIOD / 2, MAX_PERIOD / 2
    if max_lag < min_p or min(hh, hw) < min_p:
        return []
    a = _acf(half, max_lag, band=2 * ACF_BAND)
    c = max_lag
    lim = int(min(max_p, max_lag))
    dy, dx, valid, where, first, sides, diagonals = _score_geometry(lim, max_lag)
    # score(v) = A(v) + A(R90 v), with R90 (dx, dy) -> (-dy, dx); the ACF is symmetric, so A(-v) = A(v).
    acf = a.ravel()
    spread = (acf[sides[0]] + acf[sides[1]]).astype(np.float64)  # at the valid v, in the map's order
    # The diagonals v + R90 v and v - R90 v are lattice points too: more evidence where they are in range.
    for inside, at in diagonals:
        spread[inside] += DIAGONAL_WEIGHT * acf[at]
    score = np.full(dx.shape, -np.inf, dtype=np.float64)
    score.flat[where] = spread
    # The map's maxima over 5 x 5, on its columns from ``first`` (two before the first valid one: the columns
    # before are -inf, as the filter's reflection of those two is; the same maxima in half the time).
    peaks = np.zeros(score.shape, bool)
    import cv2  # its dilation is scipy's maximum filter (the same values, borders reflected), 10x quicker

    right = np.ascontiguousarray(score[:, first:])
    peaks[:, first:] = right == cv2.dilate(right, _FIVE, borderType=cv2.BORDER_REFLECT)
    peaks &= valid
    # Significance of a peak: its height over the spread of the score map (median and MAD, robust to the
    # peaks themselves). A photograph without a mark has no lattice: its best "peaks" are the noise's maxima.
    med = float(np.median(spread))
    mad = float(np.median(np.abs(spread - med))) * 1.4826 + 1e-12
    idx = np.flatnonzero(peaks)
    if idx.size == 0:
        return []
    order = idx[np.argsort(score.flat[idx])[::-1]]
    out: list[tuple[float, float]] = []
    significance: list[float] = []
    for flat in order[: 4 * k]:
        ly, lx = int(dy.flat[flat]), int(dx.flat[flat])
        py, px = _parabolic(a, ly + c, lx + c)
        v1 = np.array([px - c, py - c])
        # The rotated partner, refined on its own peak, rotated back by -90 degrees: (x, y) -> (y, -x).
        qy, qx = _parabolic(a, lx + c, -ly + c)
        v2 = np.array([qy - c, -(qx - c)])
        v = _refine_with_multiples(a, (v1 + v2) / 2.0, c)
        # A peak may be the diagonal of a weaker lattice (its 45-degree sub-lattice, sqrt(2) longer: the
        # diagonals of a square lattice add up its rows and columns): that lattice is tried right after it,
        # refined on its own multiples. Measured: a 50% crop whose mark's lattice ranked 9th, its diagonal 1st.
        parent = _canonical_basis(np.array([v[0] + v[1], v[1] - v[0]]) / 2.0)
        tries = [v]
        if np.hypot(*parent) >= min_p:
            tries.append(_refine_with_multiples(a, parent, c))
        for u in tries:
            u = u * 2.0
            if any(np.hypot(u[0] - o[0], u[1] - o[1]) < 4.0 for o in out):
                continue
            out.append((float(u[0]), float(u[1])))
            significance.append((float(score.flat[flat]) - med) / mad)
            if len(out) == k:
                return list(zip(out, significance, strict=True))
    return list(zip(out, significance, strict=True))


@lru_cache(maxsize=16)
def _score_geometry(
    lim: int, max_lag: int
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    int,
    tuple[np.ndarray, np.ndarray],
    tuple[tuple[np.ndarray, np.ndarray], ...],
]:
    """What the lattice score map needs that depends only on its size (cached per size, read-only): the lags
    (dy, dx) of the map, the valid ones (the search's sector and period range) as a mask and as flat indices,
    the column two before the first with a valid lag (where the search for maxima starts), the flat ACF indices
    of each valid v and of R90 v, and for each diagonal (v + R90 v, v - R90 v) which valid v have it within the
    ACF (their positions among the valid) and its indices."""
    c, side = max_lag, 2 * max_lag + 1
    dy, dx = np.mgrid[-lim : lim + 1, -lim : lim + 1]
    r = np.hypot(dx, dy)
    valid = (dx >= 1) & (np.abs(dy) < dx + 0.5) & (r >= MIN_PERIOD / 2) & (r <= MAX_PERIOD / 2)
    where = np.flatnonzero(valid)
    first = max(0, int(np.flatnonzero(valid.any(axis=0))[0]) - 2) if where.size else 0
    vy, vx = dy[valid], dx[valid]
    sides = ((vy + c) * side + vx + c, (vx + c) * side - vy + c)
    ends = ((vy + vx, vx - vy), (vy - vx, vx + vy))
    within = [(np.abs(sy) <= max_lag) & (np.abs(sx) <= max_lag) for sy, sx in ends]
    diagonals = tuple(
        (np.flatnonzero(inside), (sy[inside] + c) * side + sx[inside] + c)
        for inside, (sy, sx) in zip(within, ends, strict=True)
    )
    for x in (dy, dx, valid, where, *sides, *(y for d in diagonals for y in d)):
        x.setflags(write=False)
    return dy, dx, valid, where, first, sides, diagonals


def _canonical_basis(v: np.ndarray) -> np.ndarray:
    """The basis vector of v's square lattice in the search's sector (x > 0, |y| <= x): v turned by 90 degrees
    as needed."""
    for _ in range(4):
        if v[0] > 0 and abs(v[1]) <= v[0]:
            return v
        v = np.array([-v[1], v[0]])
    return v


def _refine_with_multiples(a: np.ndarray, v: np.ndarray, c: int) -> np.ndarray:
    # Peaks at 2v, v + R90 v, ... pin the period more precisely than the first peak alone. Each is looked
    # for next to where it should be, and dropped if it disagrees with v: a noise peak beside a weak lattice
    # line once tilted the lattice by half a degree, enough to smear the fold.
    estimates = [v]
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    for m, n in ((2, 0), (1, 1), (1, -1), (0, 2)):
        target = m * v + n * (rot @ v)
        iy, ix = int(round(target[1])) + c, int(round(target[0])) + c
        if not (1 <= iy < a.shape[0] - 1 and 1 <= ix < a.shape[1] - 1):
            continue
        win = a[iy - 1 : iy + 2, ix - 1 : ix + 2]
        jy, jx = np.unravel_index(int(np.argmax(win)), win.shape)
        py, px = _parabolic(a, iy - 1 + int(jy), ix - 1 + int(jx))
        # Solve found = m v + n R v for v: (m I + n R)^-1 found.
        estimate = np.linalg.solve(m * np.eye(2) + n * rot, np.array([px - c, py - c]))
        if np.hypot(*(estimate - v)) < 0.6:
            estimates.append(estimate)
    return np.mean(np.array(estimates), axis=0)


def fold(white: np.ndarray, v1: tuple[float, float]) -> np.ndarray:
    """Average every pixel onto one canonical TILE x TILE tile, for lattice basis v1 and v2 = R90 v1.

    Periods of at least TILE pixels put one or more pixels in every tile position: each pixel goes to its
    nearest position. Shorter periods (downscaled images) would leave positions empty: see below.
    """
    h, w = white.shape
    a, b = v1
    if b == 0.0 and a >= TILE / FOLD_RESAMPLE:
        # An axis-aligned lattice (the unaltered candidate): the tile position is separable, a row index per
        # image row and a column index per image column, so the rows are summed onto the tile's rows, then the
        # columns onto its columns, each by runs of consecutive positions (``runs``: a third of one bincount's
        # time, itself a third of the general case's), and the counts are an outer product.
        ru = np.floor(np.arange(h) * (TILE / a) + 0.5).astype(np.int64)
        cu = np.floor(np.arange(w) * (TILE / a) + 0.5).astype(np.int64)
        by_row = np.zeros((TILE, w))
        for source, target, n in runs(ru, TILE):
            by_row[target : target + n] += white[source : source + n]
        sums = np.zeros((TILE, TILE))
        for source, target, n in runs(cu, TILE):
            sums[:, target : target + n] += by_row[:, source : source + n]
        counts = np.outer(np.bincount(ru & (TILE - 1), minlength=TILE), np.bincount(cu & (TILE - 1), minlength=TILE))
        tile = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        return tile - tile.mean()
    # Columns of m: image displacement per canonical column step and per canonical row step.
    m = np.array([[a, -b], [b, a]]) / TILE
    inv = np.linalg.inv(m)
    if math.hypot(a, b) >= TILE / FOLD_RESAMPLE:
        sums, counts = _binned(white, inv, TILE)
    else:
        # Short period: nearest position on a grid of half the resolution (fully covered down to a period of
        # 64 px), then interpolated back to TILE x TILE in the Fourier domain. Exact for the tile's content,
        # which has at most 15 cycles per tile; much cheaper than bilinear weights or resampling the image.
        half = TILE // 2
        sums, counts = _binned(white, 0.5 * inv, half)
        coarse = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0).reshape(half, half)
        spectrum = np.fft.fftshift(np.fft.fft2(coarse))
        padded = np.zeros((TILE, TILE), dtype=complex)
        padded[half // 2 : half // 2 + half, half // 2 : half // 2 + half] = spectrum
        tile = np.fft.ifft2(np.fft.ifftshift(padded)).real * 4.0
        return tile - tile.mean()
    tile = np.where(counts > 0, sums / np.maximum(counts, 1e-9), 0.0).reshape(TILE, TILE)
    return tile - tile.mean()


def runs(u: np.ndarray, m: int) -> list[tuple[int, int, int]]:
    """``u`` (non-decreasing integers: where each row, column or block goes on an axis of ``m`` positions that
    wraps) as runs (first element, its position modulo ``m``, length) whose positions step by exactly 1 and do
    not wrap: within a run the targets are distinct, so a run is one slice added; elements that share a target
    are in different runs."""
    if len(u) == 0:
        return []
    cuts = np.flatnonzero((np.diff(u) != 1) | (np.diff(u // m) != 0)) + 1
    starts = [0, *cuts.tolist()]
    ends = [*starts[1:], len(u)]
    return [(s, int(u[s]) % m, e - s) for s, e in zip(starts, ends, strict=True)]


_FRACTION_BITS = 16


def _tile_bins(h: int, w: int, inv: np.ndarray, n: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """((stop - start) * w,) int32: the nearest position of each pixel of rows ``start`` to ``stop`` (all by default)
    of an h x w image on an n x n tile, row-major, where ``inv`` maps image (x, y) to tile (col, row). In fixed
    point (16 fractional bits): each pixel's position is one integer sum of a per-column and a per-row term,
    shifted and masked, half the time of the float32 arithmetic it replaces and closer to the exact positions
    (float32 rounds positions near 1,000 px to 6e-5 px, fixed point to 1.5e-5). int32 unless a very long side
    needs more."""
    one = float(1 << _FRACTION_BITS)
    xs, ys = np.arange(w, dtype=np.float64), np.arange(start, h if stop is None else stop, dtype=np.float64)
    reach = (float(np.abs(inv[:, 0]).max()) * w + float(np.abs(inv[:, 1]).max()) * h + 1.0) * one
    dtype = np.int32 if reach < 2**31 else np.int64

    def axis(i: int) -> np.ndarray:  # floor(inv[i] @ (x, y) + 0.5) mod n, as (rows, w) integers
        by_x = np.round(inv[i, 0] * xs * one).astype(dtype)
        by_y = np.round((inv[i, 1] * ys + 0.5) * one).astype(dtype)
        out = by_y[:, None] + by_x[None, :]
        out >>= _FRACTION_BITS  # an arithmetic shift: the floor, negative positions too
        out &= n - 1
        return out

    bins = axis(1)
    bins *= n
    bins += axis(0)
    return bins.ravel()


_BAND_PIXELS = 1 << 15  # pixels a band of the fold bins at once: its temporaries (under 1 MB) stay in the cache


def _binned(white: np.ndarray, inv: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The sums and the counts of the pixels of ``white`` at each position of an n x n tile (``_tile_bins``),
    binned a band of rows at a time: the positions, and the float64 copy of the values a weighted bincount
    makes, then stay in the cache (measured inside a 2 MP check: 4.5-5 ms instead of about 6)."""
    h, w = white.shape
    sums, counts = np.zeros(n * n), np.zeros(n * n)
    band = max(1, _BAND_PIXELS // w)
    for start in range(0, h, band):
        stop = min(h, start + band)
        bins = _tile_bins(h, w, inv, n, start, stop)
        sums += np.bincount(bins, weights=white[start:stop].ravel(), minlength=n * n)
        counts += np.bincount(bins, minlength=n * n)
    return sums, counts


@dataclass(frozen=True)
class FoldedTile:
    """One lattice hypothesis, folded: everything key-independent, so many keys can be tried cheaply."""

    spectra: np.ndarray  # (8, TILE, TILE // 2 + 1): rfft2 of the 8 rotations/flips of the folded tile
    variants: tuple[tuple[np.ndarray, int, bool], ...]  # (tile, quarter turns, transposed)
    basis: tuple[float, float]  # lattice vector in working pixels of the detection scale
    fold_basis: tuple[float, float]  # the same at the fold's resolution
    scale: float  # detection resolution / input resolution
    fold_scale: float  # fold resolution / input resolution
    origin: tuple[int, int] = (0, 0)  # top-left of the examined region in the input (very large images)
    work: np.ndarray | None = None  # the prefiltered working luma the tile was folded from (shared, not copied)
    unaltered: bool = False  # the candidate embed() would have used for an image of this size
    luma: np.ndarray | None = None  # the working luma before the prefilter (shared): where anchors are found
    lattice: Lattice | None = None  # the working image's lattice search (shared by its candidates)
    # Values computed on first use. Not functools.cached_property: on Python 3.11 its lock is one per class, so
    # concurrent checks (the web's thread pool) would run these one at a time; a race here only computes twice.
    _memo: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def anchors(self) -> list[tuple[float, float]]:
        """The picture's anchors (``_anchor.candidates``) in working pixels (row, col), found on first use: the
        tile and the field of version 3 start at one of them."""
        if "anchors" not in self._memo:
            self._memo["anchors"] = _anchor.candidates(self.luma) if self.luma is not None else []
        return self._memo["anchors"]


class Lattice:
    """The lattice search of one working image (``scored_lattice_candidates``), run on first use: a third of
    the detector's time, not needed when the unaltered candidate holds the mark."""

    def __init__(self, work: np.ndarray, unaltered: tuple[float, float]) -> None:
        self.work, self.unaltered = work, unaltered
        self._scored: list[tuple[tuple[float, float], float]] | None = None
        self._blocks: np.ndarray | None = None

    @property
    def scored(self) -> list[tuple[tuple[float, float], float]]:
        if self._scored is None:  # (not cached_property: see FoldedTile._memo)
            self._scored = scored_lattice_candidates(self.work, sums=self.blocks)
        return self._scored

    @property
    def blocks(self) -> np.ndarray:
        """``blocks(work)``, shared by the search and ``_v2._half`` (the field's and the binding's chip sums at
        block phase (0, 0)); read-only."""
        if self._blocks is None:
            sums = blocks(self.work)
            sums.setflags(write=False)
            self._blocks = sums
        return self._blocks

    @property
    def measured(self) -> list[tuple[tuple[float, float], float]]:
        """The measured lattices other than the unaltered one, best first, with their significance."""
        return [c for c in self.scored if math.dist(c[0], self.unaltered) > 0.5]

    @property
    def repeats_unaltered(self) -> bool:
        """Whether the strongest measured lattice is the unaltered one, standing out of the noise: the picture
        repeats with the period and orientation embed() uses (a mark, or what its removal left), so the other
        lattices are its multiples and diagonals."""
        return (
            bool(self.scored)
            and math.dist(self.scored[0][0], self.unaltered) <= 0.5
            and (self.scored[0][1] >= SIGNIFICANT_LATTICE)
        )


def _orientations(t: np.ndarray) -> list[tuple[np.ndarray, int, bool]]:
    out = []
    for flip in (False, True):
        base = t.T if flip else t
        for k in range(4):
            out.append((np.ascontiguousarray(np.rot90(base, k)), k, flip))
    return out


@dataclass(frozen=True)
class Working:
    """The luma the detector examines (step 1, before the prefilter): the image at ``work_scale``, or its
    centre for a very large image (``origin``: its top-left in input pixels). ``real_scale`` is the working
    copy's own scale (its sides are rounded): working pixel i covers input position (i + 0.5) / real_scale - 0.5
    from ``origin``."""

    luma: np.ndarray
    origin: tuple[int, int]  # (x, y)
    scale: float
    real_scale: float


def working(rgb: np.ndarray, luma: Image.Image | None = None) -> Working:
    """``luma``: ``Image.fromarray(rgb).convert("L")`` when the caller has it (the embedder needs it twice)."""
    h, w = rgb.shape[:2]
    if luma is None:
        luma = Image.fromarray(rgb).convert("L")
    scale = work_scale(h, w)
    origin = (0, 0)
    keep = math.sqrt(MAX_WORK_PIXELS / (h * w * scale * scale))
    if keep < 1.0:
        # A very large image: its centre, at the scale where the mark's period is one tile, holds plenty of
        # tiles. (Shrinking the whole image instead would make the period short and the lattice ambiguous.)
        cw, ch = int(w * keep), int(h * keep)
        origin = ((w - cw) // 2, (h - ch) // 2)
        luma = luma.crop((origin[0], origin[1], origin[0] + cw, origin[1] + ch))
    y = _working_luma(luma, scale)
    real_scale = 0.5 * (y.shape[0] / luma.size[1] + y.shape[1] / luma.size[0])
    return Working(y, origin, scale, real_scale)


def folded_tiles(rgb: np.ndarray) -> Iterator[FoldedTile]:
    """Steps 1-3, lazily: one folded tile per lattice candidate, best candidate first."""
    h, w = rgb.shape[:2]
    region = working(rgb)
    scale, origin, real_scale = region.scale, region.origin, region.real_scale
    work = _prefilter(region.luma)
    # The unaltered geometry first: the period embed() used for an image of this size, in working pixels (the
    # working copy's sides are rounded, hence its own scale). Nothing to measure, and the most common case.
    unaltered = (tile_period(h, w) * real_scale, 0.0)
    lattice = Lattice(work, unaltered)

    def candidates() -> Iterator[tuple[float, float]]:
        yield unaltered
        # Measured lattices only when needed (the search is a third of the detector's time). The best one is
        # always tried; the others only when their peak stands out from the score map's noise: on photographs
        # without a mark the best "peaks" score 4-7 (median + MAD units), on marked copies mostly 10-100, and
        # folding every noise peak is what made an unmarked image cost 4x a marked one. Small images (a crop,
        # a downscale) hold few tiles, so their true lattice can rank below a noise peak: they are cheap to
        # fold, and every candidate is tried.
        measured = lattice.measured
        gate = SIGNIFICANT_LATTICE if work.size >= GATED_WORK_PIXELS else -math.inf
        for i, (c, significance) in enumerate(measured):
            if i == 0 or significance >= gate:
                yield c

    for v in itertools.islice(candidates(), MAX_CANDIDATES + UNALTERED_CANDIDATES):
        variants = _orientations(fold(work, v))
        yield FoldedTile(
            spectra=sfft.rfft2(np.stack([t for t, _, _ in variants])),  # scipy's: numpy's values, in 40% of the time
            variants=tuple(variants),
            basis=v,
            fold_basis=v,
            scale=scale,
            fold_scale=scale,
            origin=origin,
            work=work,
            unaltered=v is unaltered,
            luma=region.luma,
            lattice=lattice,
        )


def _log_p(z: float, extra_log: float) -> float:
    # log of the union bound HYPOTHESES * e^(extra_log) * exp(-z^2 / 2), Hoeffding for a Rademacher sum.
    if z <= 0:
        return 0.0
    return min(0.0, math.log(HYPOTHESES) + extra_log - 0.5 * z * z)


_LOG_PAYLOADS = _ecc.PAYLOAD_BITS * math.log(2.0)


def align_and_decode(folded: FoldedTile, key: bytes) -> Alignment:
    """Steps 4 and 5 for one folded tile: orientation and shift from the pilot, then z, p-value and payload."""
    kp = _pattern.key_pattern(key)
    corr = np.fft.irfft2(folded.spectra * kp.pilot_tile_fft_conj, s=(TILE, TILE)).reshape(len(folded.variants), -1)
    flat = int(np.argmax(corr))
    best_index, i = divmod(flat, TILE * TILE)
    best_shift = divmod(i, TILE)
    tile, _, flip = folded.variants[best_index]
    sy, sx = best_shift
    cells = _pattern.cells_of(np.roll(tile, (-sy, -sx), axis=(0, 1)))
    a_pilot = cells[kp.pilot_cells]
    pilot_sum = float(a_pilot @ kp.pilot_signs)
    z_pilot = pilot_sum / (float(np.linalg.norm(a_pilot)) + 1e-12)
    a_payload = cells[kp.payload_cells] * kp.payload_signs
    soft = a_payload.sum(axis=1)
    payload, crc_ok, coded = _ecc.decode(soft)
    symbols = 1.0 - 2.0 * coded
    # The whole tile's correlation with the chips of the decoded payload: for each of the 2^64 payloads a
    # Rademacher sum as well, hence the extra log(2^64) in its bound. The smaller bound wins (times 2).
    total = pilot_sum + float((a_payload * symbols[:, None]).sum())
    z_all = total / (float(np.linalg.norm(cells)) + 1e-12)
    log_p = math.log(2.0) + min(_log_p(z_pilot, 0.0), _log_p(z_all, _LOG_PAYLOADS))
    p_value = math.exp(max(min(log_p, 0.0), -745.0))
    found = p_value < P_THRESHOLD and crc_ok
    a, b = folded.fold_basis
    return Alignment(
        z=z_pilot,
        p_value=p_value,
        payload=payload if found else None,
        crc_ok=crc_ok,
        bit_agreement=float(np.mean((soft > 0) == (coded == 0))),
        period=math.hypot(*folded.basis) / folded.scale,
        rotation_deg=math.degrees(math.atan2(folded.basis[1], folded.basis[0])),
        flipped=bool(flip),
        offset=(
            folded.origin[0] + (sx * a - sy * b) / TILE / folded.fold_scale,
            folded.origin[1] + (sx * b + sy * a) / TILE / folded.fold_scale,
        ),
        candidates_tried=1,
        decoded=payload,
    )


def detect_rgb(rgb: np.ndarray, key: bytes) -> Alignment:
    best: Alignment | None = None
    for n, folded in enumerate(folded_tiles(rgb), start=1):
        result = align_and_decode(folded, key)
        if result.payload is not None:
            return dataclasses.replace(result, candidates_tried=n)
        if best is None or result.p_value < best.p_value:
            best = dataclasses.replace(result, candidates_tried=n)
    if best is None:
        return Alignment(0.0, 1.0, None, False, 0.0, 0.0, 0.0, False, (0.0, 0.0), 0)
    return best
