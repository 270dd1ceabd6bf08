"""The image binding only the register can see: a keyed fingerprint of each marked picture.

A watermark says "this pattern was embedded by key K"; it cannot say "into *this* picture": a residual lifted
from one marked image and added to a real photograph carries the same mark (issue 9). The public 64-bit
perceptual hash does not help, since an attacker can compute it and nudge a photo toward it. So the register
keeps, for every mark, a fingerprint whose meaning is secret:

- the marked picture's luma is averaged over a grid of about 384 cells (independent of resolution);
- a key (per provider, derived from the register's master key and never published) chooses two neighbours
  for every cell; the fingerprint is one bit per pair: is the first cell brighter than the second?

Order comparisons of cell means survive what pictures meet on their way (re-encoding, resizing, noise, blur,
brightness, contrast and gamma, which keep the order) and need no stored picture. At check time
:func:`compare` maps the recorded grid onto the checked image under a few geometries (the whole image
rescaled; a crop at any position, also rotated by the angle the watermark detector measured) and counts the
pairs that agree, skipping pairs the checked image cannot decide (nearly equal cells). A picture the mark
was recorded with agrees on nearly every pair; another picture agrees on about half, as coin flips would.
Without the key an attacker does not know which comparisons count; matching all of them means making the
photograph look like the marked picture at the grid's scale, which is no longer a copy attack.

What is stored: the grid size, the bits (about 100 bytes) and where the watermark starts on the picture (its
top-left pixel, or version 3's anchor: a point of the picture's content, which places it inside a screenshot).
No picture, no thumbnail; the bits are pair orders under a secret pairing, from which no image can be drawn
without the key.

Written by hand: image-hash libraries (ImageHash) compute public, unkeyed hashes of the whole frame, which is
exactly what an attacker can steer and what a crop breaks.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["MATCH_AGREEMENT", "BindingScore", "Probe", "compare", "fingerprint", "make_probe"]

PROBE_SIDE = 320  # the checked image's luma is kept at this size (longest side) while it is resolved
_CELLS = 768
_PAIRS_PER_CELL = 2
_REACH = 3  # a cell is compared with one within 3 cells
_MIN_DIFF = 1.0  # cells closer than this (grey levels) decide nothing
_MIN_PAIRS = 48
_VERSION = 2  # 1: no mark origin (every mark started at the top-left pixel)
_MAX_ORIGIN = 8192.0  # pixels: a mark starts inside its picture, whose sides are at most 8192 (the watermark's)
#: A checked picture is the recorded one when at least this share of the decidable pairs agree. Calibrated in
#: bench/check/attacks.py: legit copies after every required attack stay above 0.88, never-marked photos
#: below 0.76 against any record, under every geometry tried (see the bench for the current figures).
MATCH_AGREEMENT = 0.82


@dataclass(frozen=True)
class Probe:
    """What the register needs of a checked picture to compare it with a record: its luma at a small size and
    the geometry the watermark detector measured. Kept in memory only while the check runs."""

    luma: np.ndarray  # uint8, longest side <= PROBE_SIDE
    width: int  # of the checked image
    height: int
    period_px: float = 0.0  # the watermark's tile period as detected (0: not detected)
    rotation_deg: float = 0.0
    flipped: bool = False
    offset_px: tuple[float, float] = (0.0, 0.0)  # where a watermark tile starts, modulo the period


@dataclass(frozen=True)
class BindingScore:
    matched: bool
    agreement: float  # share of decidable pairs that agree (0.5: unrelated)
    pairs: int  # how many pairs were decidable
    geometry: str  # which hypothesis matched best

    def as_dict(self) -> dict[str, Any]:
        return {"agreement": round(self.agreement, 3), "pairs": self.pairs, "geometry": self.geometry}


def make_probe(pixels: np.ndarray, detection: Any = None) -> Probe:
    h, w = pixels.shape[:2]
    img = Image.fromarray(pixels, "RGB").convert("L")
    f = max(w, h) / PROBE_SIDE
    if f > 1:
        # Box-reduce by an integer factor first (cheap on 2 MP), then resample to the exact size.
        if int(f) >= 2:
            img = img.reduce(int(f))
        img = img.resize((max(1, round(w / f)), max(1, round(h / f))), Image.Resampling.BOX)
    det = detection
    return Probe(
        luma=np.asarray(img, dtype=np.uint8).copy(),
        width=w,
        height=h,
        period_px=float(getattr(det, "period_px", 0.0) or 0.0) if getattr(det, "found", False) else 0.0,
        rotation_deg=float(getattr(det, "rotation_deg", 0.0) or 0.0) if getattr(det, "found", False) else 0.0,
        flipped=bool(getattr(det, "flipped", False)) if getattr(det, "found", False) else False,
        offset_px=tuple(getattr(det, "offset_px", (0.0, 0.0)) or (0.0, 0.0))
        if getattr(det, "found", False)
        else (0.0, 0.0),  # type: ignore[arg-type]
    )


def _grid(w: int, h: int) -> tuple[int, int]:
    c = math.sqrt(w * h / _CELLS)
    return max(4, min(64, round(w / c))), max(4, min(64, round(h / c)))


@functools.lru_cache(maxsize=256)
def _pairs(key: bytes, gx: int, gy: int) -> tuple[np.ndarray, np.ndarray]:
    """The secret pairing of cells: (first, second) flat cell indexes. Cached (read-only arrays): drawing it
    costs ~13 ms, and a batch check compares thousands of pictures of a few providers' keys and grid sizes."""
    seed = hmac.new(key, b"assay/binding-pairs/v1" + bytes([gx, gy]), hashlib.sha256).digest()
    rng = np.random.default_rng(int.from_bytes(seed[:16], "big"))
    first, second = [], []
    for j in range(gy):
        for i in range(gx):
            for _ in range(_PAIRS_PER_CELL):
                while True:
                    dx, dy = (int(v) for v in rng.integers(-_REACH, _REACH + 1, size=2))
                    if (dx or dy) and 0 <= i + dx < gx and 0 <= j + dy < gy:
                        break
                first.append(j * gx + i)
                second.append((j + dy) * gx + (i + dx))
    out = np.asarray(first), np.asarray(second)
    for a in out:
        a.flags.writeable = False
    return out


def fingerprint(pixels: np.ndarray, key: bytes, mark_origin: tuple[float, float] = (0.0, 0.0)) -> bytes:
    """The keyed fingerprint of a marked picture (what the register stores with its mark), with where its
    watermark starts (``assay.watermark.mark_origin``: the top-left pixel for version 2, the picture's anchor
    for version 3), which places the picture inside a larger one at check time."""
    probe = make_probe(pixels)
    h, w = pixels.shape[:2]
    gx, gy = _grid(w, h)
    means, valid = _cell_means(probe, gx, gy, w, h, _identity(probe, w, h))
    a, b = _pairs(key, gx, gy)
    bits = (means[0, a] > means[0, b]).astype(np.uint8)
    head = bytes([_VERSION, gx, gy]) + struct.pack("<ff", *mark_origin)
    return head + np.packbits(bits).tobytes()


def _parse(recorded: bytes) -> tuple[int, int, tuple[float, float], bytes] | None:
    """(gx, gy, mark origin, packed bits) of a stored fingerprint; version 1 (before version 3's anchors) had no
    origin: its marks start at the top-left pixel."""
    if len(recorded) >= 3 and recorded[0] == 1:
        return recorded[1], recorded[2], (0.0, 0.0), recorded[3:]
    if len(recorded) >= 11 and recorded[0] == _VERSION:
        ox, oy = struct.unpack("<ff", recorded[3:11])
        if not all(math.isfinite(v) and abs(v) <= _MAX_ORIGIN for v in (ox, oy)):
            return None  # no picture embed() marks has such an origin: a damaged or forged record
        return recorded[1], recorded[2], (float(ox), float(oy)), recorded[11:]
    return None


def compare(
    probe: Probe, recorded: bytes, key: bytes, *, width: int, height: int, tile_period: Any = None
) -> BindingScore:
    """Compare a checked picture with the fingerprint recorded for a ``width`` x ``height`` picture.

    ``tile_period(width, height)``, if given, is the watermark's tile period for an unaltered image of that
    size: with the period the detector measured it gives the scale of a rescaled crop."""
    parsed = _parse(recorded)
    if parsed is None:
        return BindingScore(False, 0.0, 0, "unreadable fingerprint")
    gx, gy, origin, packed = parsed
    if not (0.0 <= origin[0] <= width and 0.0 <= origin[1] <= height):
        return BindingScore(False, 0.0, 0, "unreadable fingerprint")  # a mark starts inside its picture
    a, b = _pairs(key, gx, gy)
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8))[: len(a)].astype(bool)
    if len(bits) != len(a):
        return BindingScore(False, 0.0, 0, "unreadable fingerprint")
    best = BindingScore(False, 0.0, 0, "none")
    for name, transforms in _hypotheses(probe, width, height, gx, gy, tile_period, origin):
        means, valid = _cell_means(probe, gx, gy, width, height, transforms)
        diff = means[:, a] - means[:, b]
        usable = valid[:, a] & valid[:, b] & (np.abs(diff) >= _MIN_DIFF)
        agree = ((diff > 0) == bits[None, :]) & usable
        n = usable.sum(axis=1)
        share = np.where(n >= _MIN_PAIRS, agree.sum(axis=1) / np.maximum(n, 1), 0.0)
        k = int(np.argmax(share))
        if share[k] > best.agreement:
            best = BindingScore(bool(share[k] >= MATCH_AGREEMENT), float(share[k]), int(n[k]), name)
        if name == "whole" and best.matched:
            # The whole picture, rescaled, is what nearly every matching check is; the crop and screenshot
            # placements (most of the cost) are tried only when it does not match.
            break
    return best


# ---------------------------------------------------------------------------------------------- geometry

# A transform maps recorded-picture pixels (x, y) to probe pixels: q = M @ (x, y) + t, one (M, t) per row.


def _identity(probe: Probe, w: int, h: int) -> np.ndarray:
    ph, pw = probe.luma.shape
    return np.array([[pw / w, 0.0, 0.0, 0.0, ph / h, 0.0]])


def _hypotheses(
    probe: Probe, w: int, h: int, gx: int, gy: int, tile_period: Any, origin: tuple[float, float] = (0.0, 0.0)
) -> list[tuple[str, np.ndarray]]:
    ph, pw = probe.luma.shape
    k = pw / probe.width  # checked-image pixels -> probe pixels
    cell = math.sqrt(w * h) / math.sqrt(gx * gy)
    out = []
    # 1. the whole picture, rescaled (re-encoded, resized, screenshot, social media), give or take a border.
    sx, sy = pw / w, ph / h
    shifts = [(dx, dy) for dx in (-0.25, 0.0, 0.25) for dy in (-0.25, 0.0, 0.25)]
    out.append(
        ("whole", np.array([[sx, 0.0, dx * cell * sx, 0.0, sy, dy * cell * sy] for dx, dy in shifts], dtype=float))
    )
    # 2. a crop at the picture's own scale, or at the scale the watermark's period says; upright or rotated by
    #    the angle the detector measured; anywhere in the picture.
    scales = {1.0}
    if probe.period_px > 0 and tile_period is not None:
        s = probe.period_px / float(tile_period(w, h))
        if 0.2 < s < 5 and abs(s - 1.0) > 0.03:
            scales.add(round(s, 4))
    angles = {0.0}
    if abs(probe.rotation_deg) > 0.5:
        angles |= {probe.rotation_deg, -probe.rotation_deg}
    for s in sorted(scales):
        for deg in sorted(angles):
            rows = _placements(probe, w, h, s * k, math.radians(deg), probe.flipped, cell * s * k)
            if len(rows):
                out.append((f"crop x{s:g} {deg:+.1f} deg", rows))
    # 3. the picture inside a larger one (a screenshot of a post, a page, a collage): the detector's geometry
    #    places it. The marked picture's tiles start at its mark origin (its top-left corner, or version 3's
    #    anchor), so that point lies on the lattice the detector found (offset + a whole number of periods) at
    #    the scale the period says.
    if probe.period_px > 0 and tile_period is not None and abs(probe.rotation_deg) <= 0.5 and not probe.flipped:
        rows = _inside(probe, w, h, probe.period_px / float(tile_period(w, h)), k, origin)
        if len(rows):
            out.append(("inside", rows))
    return out


def _inside(probe: Probe, w: int, h: int, s: float, k: float, origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Placements of the recorded picture, scaled by ``s``, with its mark origin on the watermark lattice and
    mostly inside the checked image (checked-image pixels scaled by ``k`` to the probe)."""
    if not 0.2 < s < 5:
        return np.zeros((0, 6))
    period = probe.period_px
    # The corner lies the scaled origin before a lattice point.
    ox, oy = ((v - s * o) % period for v, o in zip(probe.offset_px, origin, strict=True))
    # Corners from a period before the edge (a picture cut at the edge) to where the picture still fits.
    xs = ox + period * np.arange(-1, max(0, math.floor((probe.width - s * w - ox) / period)) + 2)
    ys = oy + period * np.arange(-1, max(0, math.floor((probe.height - s * h - oy) / period)) + 2)
    tx, ty = (v.ravel() for v in np.meshgrid(xs, ys))
    rows = np.zeros((tx.size, 6))
    rows[:, 0] = rows[:, 4] = s * k
    rows[:, 2], rows[:, 5] = tx * k, ty * k
    return rows


def _placements(probe: Probe, w: int, h: int, s: float, theta: float, flipped: bool, step_cell: float) -> np.ndarray:
    """Every placement of the recorded picture (scaled by s, rotated by theta) such that the checked image
    lies inside it, on a grid of a third of a cell."""
    ph, pw = probe.luma.shape
    c, si = math.cos(theta), math.sin(theta)
    m0 = np.array([[s * c, -s * si], [s * si, s * c]])
    corners = m0 @ np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=float).T
    # t such that the probe [0,pw]x[0,ph] lies within the transformed picture's bounding box (approximately).
    lo_x, hi_x = pw - corners[0].max(), -corners[0].min()
    lo_y, hi_y = ph - corners[1].max(), -corners[1].min()
    step = max(1.0, step_cell / 3)
    if lo_x > hi_x + step or lo_y > hi_y + step:
        return np.zeros((0, 6))
    xs = np.arange(min(lo_x, hi_x), max(lo_x, hi_x) + step / 2, step)
    ys = np.arange(min(lo_y, hi_y), max(lo_y, hi_y) + step / 2, step)
    tx, ty = (v.ravel() for v in np.meshgrid(xs, ys))
    m, shift = m0, np.zeros(2)
    if flipped:  # mirrored: x -> w - x first, which covers the same region
        m = m0 @ np.diag([-1.0, 1.0])
        shift = m0[:, 0] * w
    rows = np.empty((tx.size, 6))
    rows[:, 0], rows[:, 1], rows[:, 3], rows[:, 4] = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
    rows[:, 2] = tx + shift[0]
    rows[:, 5] = ty + shift[1]
    return rows


def _cell_means(
    probe: Probe, gx: int, gy: int, w: int, h: int, transforms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean luma of every recorded cell under every transform: (T, cells) means and validity."""
    luma = probe.luma.astype(np.float64)
    ph, pw = luma.shape
    integral = np.zeros((ph + 1, pw + 1))
    integral[1:, 1:] = luma.cumsum(0).cumsum(1)
    cx = (np.arange(gx) + 0.5) * (w / gx)
    cy = (np.arange(gy) + 0.5) * (h / gy)
    px, py = np.meshgrid(cx, cy)
    px, py = px.ravel(), py.ravel()
    t = transforms
    qx = t[:, 0:1] * px + t[:, 1:2] * py + t[:, 2:3]
    qy = t[:, 3:4] * px + t[:, 4:5] * py + t[:, 5:6]
    scale = np.sqrt(np.abs(t[:, 0] * t[:, 4] - t[:, 1] * t[:, 3]))[:, None]
    half_x = np.maximum(0.5, 0.4 * scale * (w / gx))
    half_y = np.maximum(0.5, 0.4 * scale * (h / gy))
    x0, x1 = np.rint(qx - half_x), np.rint(qx + half_x)
    y0, y1 = np.rint(qy - half_y), np.rint(qy + half_y)
    valid = (x0 >= 0) & (y0 >= 0) & (x1 <= pw) & (y1 <= ph) & (x1 > x0) & (y1 > y0)
    x0c, x1c = np.clip(x0, 0, pw).astype(int), np.clip(x1, 0, pw).astype(int)
    y0c, y1c = np.clip(y0, 0, ph).astype(int), np.clip(y1, 0, ph).astype(int)
    total = integral[y1c, x1c] - integral[y0c, x1c] - integral[y1c, x0c] + integral[y0c, x0c]
    area = np.maximum(1, (x1c - x0c) * (y1c - y0c))
    return _high_pass(total / area, valid, gx, gy), valid


def _high_pass(means: np.ndarray, valid: np.ndarray, gx: int, gy: int) -> np.ndarray:
    """Each cell minus the mean of the valid cells around it (5x5): what is left is the picture's own detail,
    not the gradients most photographs share (sky above, shade below), which would make unrelated pictures
    agree on more than half of the pairs."""
    m = np.where(valid, means, 0.0).reshape(-1, gy, gx)
    v = valid.reshape(-1, gy, gx).astype(float)
    r = 2
    mp = np.pad(m, ((0, 0), (r, r), (r, r)))
    vp = np.pad(v, ((0, 0), (r, r), (r, r)))
    cm, cv = np.zeros_like(m), np.zeros_like(v)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            cm += mp[:, dy : dy + gy, dx : dx + gx]
            cv += vp[:, dy : dy + gy, dx : dx + gx]
    return (m - cm / np.maximum(cv, 1)).reshape(means.shape)
