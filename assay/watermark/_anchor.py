"""Anchors: points of the picture itself where version 3 starts its mark, so a crop cannot move it unseen.

Version 3's field does not repeat, so it is read only where it starts. Anchored at the image's top-left pixel,
a removal of the tile followed by a crop of a few pixels hid it (bench/watermark/adversarial/REMOVAL.md: after
a 4 px crop, 11 of 20 photos). Anchored at a point of the picture's content, it moves with the content: the
detector finds the same point in the cropped picture and reads the field there. No energy is spent on it.

An anchor is a blob of the picture at a coarse scale: an extremum of a difference of Gaussians (sigma 3 and
4.8 cells of 3 working pixels, about 15 and 25 px on a 2 MP photo) of the working luma (``_detect.working``),
ranked by its strength, located to a fraction of a cell by a parabola through its neighbours. Measured on the
removal set's 20 photos (bench/watermark/adversarial/anchor_probe.py): the embedder's anchor is among the
detector's first few after the mark, the own-fold removal, crops of 4-64 px from either corner, JPEG 75 and a
0.98x resize, within 1-2 px on most.

The embedder takes one of the ``CHOICES`` strongest blobs away from the borders (``CENTRAL`` of each side,
where a crop of up to that much leaves it in the picture), chosen by a keyed hash of the mark (the register's
field secret): the detector tries its ``COUNT`` strongest blobs away from its own borders (a smaller margin,
since the picture may have lost some) and the top-left pixel, where a picture without a strong enough blob is
marked (and where version 3 started before anchors). Whoever has the open code can find the blobs too, not
which one the mark starts at: to hide the field's start, an attacker blurs all of them away
(bench/watermark/adversarial/REMOVAL.md: the cost).

Written by hand: a difference of Gaussians with scipy's filters; no library here finds keypoints this small
(OpenCV's detectors are not a dependency, and their descriptors are not needed: only the point is).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage

CELL = 6  # working pixels averaged into one cell before the filters (1.5 chips)
WIDTHS = (3, 5)  # cells: the two blurs of the difference (three box passes: sigma 1.41 and 2.45)
SUPPRESS = 5  # cells: a blob must be the strongest of its 5 x 5 neighbourhood
SEPARATION = 2 * WIDTHS[1]  # cells: and farther than this from every stronger blob
# And round: its curvatures within this ratio (a ridge's extremum slides along it). The embedder asks more of
# its anchors than the detector of what it finds, so a small change of the picture does not fail the anchor.
EDGE_RATIO = 6.0
STRICT_RATIO = 3.0
STABLE = 2.0  # working pixels (half a chip): how far a blob may move when the picture is cropped, to be chosen
DOMINANT = 0.8  # and its rivals nearby must respond less than this share of it
EDGE = 9  # cells from a border where the filters see it (three passes of 5 reach 6): never an anchor
CENTRAL = 0.2  # the embedder's anchor is at least this share of each side from the borders
MARGIN = 0.14  # the detector's anchors: at least this share of each side from its borders
CHOICES = 3  # the embedder starts at one of the 3 strongest central blobs, chosen by a secret per mark
COUNT = 6  # anchors the detector tries, strongest first (besides the top-left pixel)
FLOOR = 1.0  # grey levels of the filter's response below which a blob is too faint to be found again


def find(
    luma: np.ndarray, count: int, margin: float, dominant: float | None = None
) -> list[tuple[float, float, float]]:
    """The ``count`` strongest blobs of ``luma`` (a working luma) at least ``margin`` of each side (and EDGE
    cells) from its borders: (row, col) in working pixels and the response, strongest first. With ``dominant``,
    only blobs whose every rival within SEPARATION cells responds less than ``dominant`` times as much: the
    others may swap places with their rival when the picture changes a little."""
    h, w = (luma.shape[0] // CELL) * CELL, (luma.shape[1] // CELL) * CELL
    if h < 2 * CELL * (EDGE + 2) or w < 2 * CELL * (EDGE + 2):
        return []
    y = luma[:h, :w].astype(np.float32, copy=False)
    rows = y[0::CELL].copy()
    for i in range(1, CELL):
        rows += y[i::CELL]
    cells = rows[:, 0::CELL].copy()
    for i in range(1, CELL):
        cells += rows[:, i::CELL]
    cells *= np.float32(1.0 / (CELL * CELL))
    signed = _blur(cells, WIDTHS[0]) - _blur(cells, WIDTHS[1])
    response = np.abs(signed)
    peaks = (response == ndimage.maximum_filter(response, size=SUPPRESS)) & (response >= FLOOR)
    ch, cw = cells.shape
    peaks[:EDGE] = False
    peaks[ch - EDGE :] = False
    peaks[:, :EDGE] = False
    peaks[:, cw - EDGE :] = False
    ys, xs = np.nonzero(peaks)
    my, mx = max(EDGE, int(np.ceil(margin * ch))), max(EDGE, int(np.ceil(margin * cw)))
    kept: list[tuple[int, int]] = []
    rejected: list[tuple[int, int]] = []  # kept (they suppress their neighbours) but not returned
    for i in np.argsort(-response[ys, xs], kind="stable").tolist():
        cy, cx = int(ys[i]), int(xs[i])
        # A blob's difference of blurs has a ring of the other sign around it, whose points are local extrema
        # too, and unstable: nothing within SEPARATION cells of a stronger blob counts.
        if any((cy - ky) ** 2 + (cx - kx) ** 2 < SEPARATION**2 for ky, kx in kept):
            continue
        if not _round(signed, cy, cx, EDGE_RATIO if dominant is None else STRICT_RATIO):
            continue
        kept.append((cy, cx))
        if dominant is not None:
            near = (ys - cy) ** 2 + (xs - cx) ** 2 < SEPARATION**2
            near[i] = False
            if near.any() and float(response[ys[near], xs[near]].max()) >= dominant * float(response[cy, cx]):
                rejected.append((cy, cx))
        if (
            my <= cy < ch - my
            and mx <= cx < cw - mx
            and sum(my <= a < ch - my and mx <= b < cw - mx for a, b in kept if (a, b) not in rejected) >= count
        ):
            break
    inside = [(cy, cx) for cy, cx in kept if my <= cy < ch - my and mx <= cx < cw - mx and (cy, cx) not in rejected][
        :count
    ]
    # cell i averages working pixels CELL*i ... CELL*i + CELL - 1: its centre is CELL*i + (CELL - 1) / 2
    half = CELL // 2
    return [(*_refine(y, CELL * cy + half, CELL * cx + half), float(response[cy, cx])) for cy, cx in inside]


def _refine(luma: np.ndarray, row: int, col: int) -> tuple[float, float]:
    """The blob found on the cells, located on the working pixels: the same difference of blurs at full
    resolution in a patch around it, its extremum within a cell of the coarse one, and a parabola through
    its neighbours (the cells' own grid moves with a crop; this does not)."""
    widths = [w * CELL - 1 for w in WIDTHS]  # odd: centred boxes
    reach = 3 * (widths[1] - 1) // 2 + CELL + 2
    r0, c0 = max(0, row - reach), max(0, col - reach)
    patch = luma[r0 : row + reach + 1, c0 : col + reach + 1]
    response = np.abs(_blur(patch, widths[0]) - _blur(patch, widths[1]))
    pr, pc = row - r0, col - c0
    window = response[pr - CELL : pr + CELL + 1, pc - CELL : pc + CELL + 1]
    wy, wx = np.unravel_index(int(np.argmax(window)), window.shape)
    y, x = pr - CELL + int(wy), pc - CELL + int(wx)
    dy = _vertex(response[y - 1, x], response[y, x], response[y + 1, x])
    dx = _vertex(response[y, x - 1], response[y, x], response[y, x + 1])
    return r0 + y + dy, c0 + x + dx


def _round(d: np.ndarray, y: int, x: int, ratio: float) -> bool:
    """Whether the extremum of ``d`` at (y, x) is a blob rather than a ridge or an edge, whose extremum slides
    along it with the least change of scale: the Hessian's eigenvalues share a sign and are within ``ratio``
    (the test of Lowe's SIFT)."""
    dyy = d[y + 1, x] - 2 * d[y, x] + d[y - 1, x]
    dxx = d[y, x + 1] - 2 * d[y, x] + d[y, x - 1]
    dxy = 0.25 * (d[y + 1, x + 1] - d[y + 1, x - 1] - d[y - 1, x + 1] + d[y - 1, x - 1])
    det = dxx * dyy - dxy * dxy
    return bool(det > 0 and (dxx + dyy) ** 2 * ratio < (ratio + 1) ** 2 * det)


def _blur(y: np.ndarray, width: int) -> np.ndarray:
    # Three box passes: a Gaussian of variance 3 (width^2 - 1) / 12, at a third of the cost of scipy's.
    for _ in range(3):
        y = ndimage.uniform_filter(y, width)
    return y


def _vertex(m: float, c: float, p: float) -> float:
    d = m - 2.0 * c + p
    return 0.0 if d >= 0 else float(np.clip(0.5 * (m - p) / d, -0.5, 0.5))


def mark_anchor(luma: np.ndarray, choice: int) -> tuple[float, float] | None:
    """Where the embedder starts the mark, in working pixels (row, col): of the CHOICES strongest stable blobs
    at least CENTRAL of each side from the borders, the one ``choice`` (a secret of the register's, per mark)
    picks; None when the picture has none (the mark then starts at the top-left pixel)."""
    best = stable(luma)[:CHOICES] or [(r, c) for r, c, _ in find(luma, 1, CENTRAL)]  # else the strongest
    return best[choice % len(best)] if best else None


def stable(luma: np.ndarray) -> list[tuple[float, float]]:
    """The central blobs that the detector finds again where what a crop does to the working luma is done to
    it: its cells' grid moved by half a cell, its scale changed by 1.5 % (a crop changes the working scale).
    A blob on the edge of the ranking, or whose extremum slides, is left out: it may not be found again."""
    blobs = [(r, c) for r, c, _ in find(luma, 2 * CHOICES + 2, CENTRAL, DOMINANT)]
    if not blobs:
        return []
    k = CELL // 2
    moved = [(r + k, c + k) for r, c, _ in find(luma[k:, k:], COUNT + 4, MARGIN)]
    f = 0.985
    h, w = luma.shape
    small = np.asarray(
        Image.fromarray(np.ascontiguousarray(luma, dtype=np.float32), "F").resize(
            (round(w * f), round(h * f)), Image.Resampling.BILINEAR
        )
    )
    scale = (small.shape[0] / h + small.shape[1] / w) / 2
    scaled = [(r / scale, c / scale) for r, c, _ in find(small, COUNT + 4, MARGIN)]
    # and among the first the detector tries on the picture itself, with room to fall a rank or two
    first = [(r, c) for r, c, _ in find(luma, COUNT - 2, MARGIN)]
    return [
        b for b in blobs if all(any(math.dist(b, o) <= STABLE for o in others) for others in (moved, scaled, first))
    ]


def candidates(luma: np.ndarray) -> list[tuple[float, float]]:
    """Where the detector looks for the start of a field, in working pixels (row, col): its COUNT strongest
    blobs."""
    return [(y, x) for y, x, _ in find(luma, COUNT, MARGIN)]
