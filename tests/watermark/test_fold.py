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


def _prefilter_by_definition(y: np.ndarray) -> np.ndarray:
    """The prefilter as its docstring defines it, in float64 with scipy.ndimage (borders reflected)."""
    from scipy import ndimage

    y = y.astype(np.float64)
    tri = _detect._TRIANGLE.astype(np.float64)
    r = y - ndimage.correlate1d(ndimage.correlate1d(y, tri, axis=0), tri, axis=1)
    local = ndimage.uniform_filter(r * r, 9)
    return np.clip(r / np.sqrt(local + 1e-2 * local.mean() + 1e-9), -4.0, 4.0)


@pytest.mark.parametrize(("h", "w"), [(300, 451), (9, 700), (64, 64), (12, 10)])
def test_the_prefilter_is_its_definition_to_float32_precision_borders_included(h: int, w: int) -> None:
    # OpenCV computes it (in float32); a border mode other than scipy's reflection ('d c b a | a b c d') moves
    # the first and last four rows and columns by far more than the tolerance (tried: BORDER_REFLECT_101 in
    # either filter).
    rng = np.random.default_rng(h * w)
    y = (rng.random((h, w)) * 255 + 40 * np.sin(np.arange(w) / 7.0)).astype(np.float32)
    got = _detect._prefilter(y)
    assert got.dtype == np.float32 and got.shape == y.shape
    np.testing.assert_allclose(got, _prefilter_by_definition(y), atol=5e-4)


def test_the_lattice_score_maps_maxima_are_scipys_maximum_filter() -> None:
    """The lattice search takes its peaks with OpenCV's dilation: the very values of scipy's maximum filter,
    the -inf of the columns outside the search included (a 3 x 3 neighbourhood fails it: tried)."""
    import cv2
    from scipy import ndimage

    rng = np.random.default_rng(5)
    score = rng.normal(size=(121, 140))
    score[:, :2] = -np.inf
    got = cv2.dilate(score, _detect._FIVE, borderType=cv2.BORDER_REFLECT)
    assert np.array_equal(got, ndimage.maximum_filter(score, size=5))


@pytest.mark.parametrize(("h", "w", "period"), [(1153, 1734, 140.0), (1414, 1414, 150.0), (700, 900, 200.0)])
def test_the_masking_map_is_upsampled_as_pillows_bilinear_resize(h: int, w: int, period: float) -> None:
    """The embedder upsamples its masking map with OpenCV (a twentieth of Pillow's time): Pillow's BILINEAR to
    within a float32 ulp or two, edges included, so marks are made as before (another interpolation moves
    values by far more: tried with bicubic)."""
    from PIL import Image

    from assay.watermark import _embed

    rng = np.random.default_rng(h + w)
    luma = Image.fromarray((rng.random((h, w)) * 200 + 20).astype(np.uint8))
    got = _embed.masking(luma, period)
    r = int(period // 64)
    small = _embed.masking(luma.reduce(r), period / r)  # the map before it is upsampled (r = 1 there)
    want = np.asarray(Image.fromarray(small, "F").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    assert got.shape == (h, w)
    np.testing.assert_allclose(got, want, rtol=3e-7, atol=0)
