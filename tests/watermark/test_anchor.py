"""Version 3's anchors: the point of the picture where its mark starts, found again after a crop (issue 9)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from assay.provenance.binding import _parse, fingerprint
from assay.watermark import _anchor, _detect, _keys, _v3, mark_origin, tile_period

SECRET = bytes(range(32))
KEY = bytes(range(1, 33))


def _candidates(px: np.ndarray) -> list[tuple[float, float]]:
    """The detector's anchors on ``px``, (x, y) in its pixels (as ``mark_origin`` reports the embedder's)."""
    region = _detect.working(np.ascontiguousarray(px))
    return [(c / region.real_scale, r / region.real_scale) for r, c in _anchor.candidates(region.luma)]


def _apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    """How far apart on the worse axis: the detector's shifts around an anchor make a square."""
    return max(abs(a[0] - b[0]), abs(a[1] - b[1]))


def test_every_anchor_the_embedder_may_choose_is_among_the_detectors_after_a_crop(photos: dict) -> None:
    starts = {}
    for payload in range(40):  # the choice is a keyed hash of the mark: payloads cover the choices
        starts.setdefault(_v3.anchor_choice(SECRET, _keys.encrypt(KEY, payload)), payload)
    assert sorted(starts) == list(range(_anchor.CHOICES))
    stable_somewhere = False
    for name, px in photos.items():
        h, w = px.shape[:2]
        origins = {mark_origin(px, p, key=KEY, field_secret=SECRET) for p in starts.values()}
        assert 1 <= len(origins) <= _anchor.CHOICES, name  # up to three different blobs
        # Blobs the embedder found stable (what a crop does, done to the picture) are found again after every
        # crop here; a picture without one is marked at its strongest central blob, which a crop may lose.
        if not _anchor.stable(_detect.working(px).luma):
            assert len(origins) == 1
            chip = tile_period(w, h) / 32  # the start is on the chip grid: within half a chip of the blob
            assert min(_apart(c, next(iter(origins))) for c in _candidates(px)) <= 0.5 * chip + 1.0, name
            continue
        stable_somewhere = True
        for ax, ay in origins:
            assert 0.2 * w <= ax <= 0.8 * w and 0.2 * h <= ay <= 0.8 * h, name  # central: a crop leaves it inside
            for (top, left), keep in (
                ((0, 0), (h, w)),
                ((8, 30), (h, w)),
                ((0, 0), (h - 60, w - 60)),
                ((40, 5), (h, w)),
            ):
                found = _candidates(px[top : keep[0], left : keep[1]])
                assert len(found) <= _anchor.COUNT
                nearest = min(_apart(c, (ax - left, ay - top)) for c in found)
                # The detector reads the best anchors at their half chip and two half chips either way on each
                # axis (the start is the blob moved onto the chip grid, up to half a chip): 5/4 chip, rounded.
                chip = tile_period(w, h) / 32
                assert nearest <= 1.25 * chip, (name, (ax, ay), top, left, keep, nearest, chip)
    assert stable_somewhere


def test_a_picture_without_a_strong_blob_is_marked_from_its_top_left_pixel() -> None:
    rng = np.random.default_rng(7)
    flat = np.clip(128 + rng.normal(0, 3, (600, 800, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)
    assert mark_origin(flat, 1, key=KEY, field_secret=SECRET) == (0.0, 0.0)
    assert _candidates(flat) == []
    # A blob where the embedder looks (away from the borders) is an anchor, to a fraction of a pixel.
    y, x = np.mgrid[0:600, 0:800]
    blob = np.clip(
        flat.astype(np.float64) + 60 * np.exp(-((x - 430) ** 2 + (y - 310) ** 2) / (2 * 20.0**2))[..., None], 0, 255
    )
    chip = tile_period(800, 600) / 32
    for payload in range(4):  # whichever blob the mark would choose, there is one
        start = mark_origin(blob.astype(np.uint8), payload, key=KEY, field_secret=SECRET)
        # The blob's chip corner on the grid through the top-left pixel (where the tile's chips are read).
        assert start == pytest.approx((430, 310), abs=0.5 * chip + 0.5)
        assert [v / chip for v in start] == pytest.approx([round(v / chip) for v in start], abs=1e-9)


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
    # A record whose origin no picture can have (damaged, or written by hand) is unreadable, not a crash later.
    from assay.provenance.binding import compare, make_probe

    for bad in (float("nan"), float("inf"), -1e9):
        forged = blob[:3] + struct.pack("<ff", bad, 1.0) + blob[11:]
        assert _parse(forged) is None
        assert compare(make_probe(px), forged, key, width=400, height=300).geometry == "unreadable fingerprint"
    outside = blob[:3] + struct.pack("<ff", 401.0, 1.0) + blob[11:]  # readable, but not inside a 400 x 300 picture
    assert _parse(outside) is not None
    assert compare(make_probe(px), outside, key, width=400, height=300).geometry == "unreadable fingerprint"
    assert compare(make_probe(px), blob, key, width=400, height=300).geometry != "unreadable fingerprint"
