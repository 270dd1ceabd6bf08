"""The fold's geometry: where each working pixel lands on the canonical tile."""

from __future__ import annotations

import numpy as np
import pytest

from assay.watermark import _detect


@pytest.mark.parametrize(
    ("h", "w", "basis", "n"),
    [
        (695, 1042, (137.79, -2.21), 128),
        (401, 333, (129.3, 40.1), 128),
        (300, 500, (60.0, 31.0), 64),
        (3, 60000, (150.0, 70.0), 128),
    ],
)
def test_the_fold_puts_each_pixel_at_its_nearest_tile_position(h: int, w: int, basis: tuple, n: int) -> None:
    # Fixed-point tile positions against the exact ones in float64: they differ only where a pixel sits within
    # 1e-4 of a position boundary (a handful in a million), and a 60,000 px side takes the 64-bit path.
    a, b = basis
    inv = np.linalg.inv(np.array([[a, -b], [b, a]]) / 128) * (n / 128)
    got = _detect._tile_bins(h, w, inv, n).reshape(h, w)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    col, row = inv[0, 0] * xs + inv[0, 1] * ys, inv[1, 0] * xs + inv[1, 1] * ys
    want = (np.floor(row + 0.5).astype(np.int64) % n) * n + np.floor(col + 0.5).astype(np.int64) % n
    near_edge = (np.abs((row + 0.5) % 1 - 0.5) > 0.4999) | (np.abs((col + 0.5) % 1 - 0.5) > 0.4999)
    assert np.array_equal(got[~near_edge], want[~near_edge])
    assert np.mean(got != want) < 1e-4


@pytest.mark.parametrize(("h", "w"), [(695, 1042), (3, 60000), (129, 77)])
def test_the_fold_bins_a_band_at_a_time_as_it_would_the_whole_image(h: int, w: int) -> None:
    # The fold bins bands of rows (so their temporaries stay in the cache); every pixel must count once, at the
    # position the whole image's bins give it: bands of one row (a 60,000 px side), of many, and a last partial one.
    rng = np.random.default_rng(3)
    white = rng.standard_normal((h, w)).astype(np.float32)
    inv = np.linalg.inv(np.array([[131.2, -17.5], [17.5, 131.2]]) / 128)
    bins = _detect._tile_bins(h, w, inv, 128)
    sums, counts = _detect._binned(white, inv, 128)
    assert np.array_equal(counts, np.bincount(bins, minlength=128 * 128))
    assert np.allclose(sums, np.bincount(bins, weights=white.ravel(), minlength=128 * 128), rtol=0, atol=1e-9)


def test_runs_split_where_positions_repeat_skip_or_wrap() -> None:
    # (first element, position modulo m, length): a new run where a position repeats (3, 3), skips (5 -> 7) or
    # wraps past m (7 -> 8 with m = 8); nothing for nothing.
    u = np.array([1, 2, 3, 3, 4, 5, 7, 8, 9])
    assert _detect.runs(u, 8) == [(0, 1, 3), (3, 3, 3), (6, 7, 1), (7, 0, 2)]
    assert _detect.runs(np.array([], dtype=np.int64), 8) == []
