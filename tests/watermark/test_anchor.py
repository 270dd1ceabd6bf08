"""Version 3's anchors: the point of the picture where its mark starts, found again after a crop (issue 9)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assay.provenance.binding import _parse, fingerprint
from assay.watermark import _anchor, _detect, mark_origin, tile_period


def _candidates(px: np.ndarray) -> list[tuple[float, float]]:
    """The detector's anchors on ``px``, (x, y) in its pixels (as ``mark_origin`` reports the embedder's)."""
    region = _detect.working(np.ascontiguousarray(px))
    return [(c / region.real_scale, r / region.real_scale) for r, c in _anchor.candidates(region.luma)]


def test_the_embedders_anchor_is_among_the_detectors_after_a_crop(photos: dict) -> None:
    for name, px in photos.items():
        ax, ay = mark_origin(px)
        h, w = px.shape[:2]
        assert 0.2 * w <= ax <= 0.8 * w and 0.2 * h <= ay <= 0.8 * h, name  # central: a crop leaves it inside
        for (top, left), keep in (((0, 0), (h, w)), ((8, 30), (h, w)), ((0, 0), (h - 60, w - 60)), ((40, 5), (h, w))):
            crop = px[top : keep[0], left : keep[1]]
            found = _candidates(crop)
            assert len(found) <= _anchor.COUNT
            nearest = min(math.dist(c, (ax - left, ay - top)) for c in found)
            # The detector reads the best anchor at its half chip and two half chips either way: 5/4 of a chip.
            chip = tile_period(w, h) / 32
            assert nearest <= 1.25 * chip, (name, top, left, keep, nearest, chip)


def test_a_picture_without_a_strong_blob_is_marked_from_its_top_left_pixel() -> None:
    rng = np.random.default_rng(7)
    flat = np.clip(128 + rng.normal(0, 3, (600, 800, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)
    assert mark_origin(flat) == (0.0, 0.0)
    assert _candidates(flat) == []
    # A blob where the embedder looks (away from the borders) is an anchor, to a fraction of a pixel.
    y, x = np.mgrid[0:600, 0:800]
    blob = np.clip(
        flat.astype(np.float64) + 60 * np.exp(-((x - 430) ** 2 + (y - 310) ** 2) / (2 * 20.0**2))[..., None], 0, 255
    )
    assert mark_origin(blob.astype(np.uint8)) == pytest.approx((430, 310), abs=1.0)


def test_the_fingerprint_keeps_where_the_mark_starts() -> None:
    rng = np.random.default_rng(3)
    px = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    key = bytes(32)
    blob = fingerprint(px, key, (123.5, 77.25))
    gx, gy, origin, packed = _parse(blob)  # type: ignore[misc]
    assert origin == (123.5, 77.25) and len(packed) > 0
    # A fingerprint stored before marks had anchors (format 1) still reads, its mark from the top-left pixel.
    old = bytes([1, gx, gy]) + packed
    assert _parse(old) == (gx, gy, (0.0, 0.0), packed)
    assert _parse(b"\x09junk") is None
