"""False positives: the p-value is a bound that holds, and nothing unmarked or keyed otherwise yields a payload.

The detector's z-statistic at any one alignment is a Rademacher sum under the null hypothesis (the image does
not depend on the key), so P(z >= t) <= exp(-t^2 / 2) by Hoeffding. These tests check that claim empirically on
real photographs with many random keys, and that the reported p-values are never below what the bound allows.
"""

from __future__ import annotations

import math

import numpy as np

from assay.watermark import _detect, _pattern, detect, embed
from bench.watermark import attacks


def _pilot_z_at_fixed_alignment(tile: np.ndarray, key: bytes) -> float:
    kp = _pattern.key_pattern(key)
    a = _pattern.cells_of(tile)[kp.pilot_cells]
    return float(a @ kp.pilot_signs) / float(np.linalg.norm(a))


def test_pilot_statistic_is_calibrated_under_the_null(photos: dict) -> None:
    """For a fixed folded tile of an unmarked photo, z over random keys is ~N(0, 1) and obeys the bound."""
    zs = []
    for pixels in photos.values():
        folded = next(_detect.folded_tiles(pixels))
        tile = folded.variants[0][0]
        for i in range(700):
            zs.append(_pilot_z_at_fixed_alignment(tile, i.to_bytes(32, "big")))
    z = np.array(zs)
    assert abs(z.mean()) < 0.1
    assert 0.9 < z.std() < 1.1
    for t in (1.0, 2.0, 2.5, 3.0):
        assert np.mean(z >= t) <= math.exp(-t * t / 2) * 1.05 + 0.003


def test_reported_p_values_are_conservative_on_unmarked_and_wrong_key_images(photos: dict, marked: dict) -> None:
    """Over 2 unmarked and 2 wrong-key images x crops x 25 keys, no payload and p-values super-uniform."""
    rng = np.random.default_rng(3)
    images = [photos["coffee"], photos["camera"], marked["coffee"][0], marked["astronaut"][0]]
    p_values = []
    for img in images:
        for view in (img, attacks.crop(0.5)(img, rng)):
            tiles = list(_detect.folded_tiles(view))
            for k in range(25):
                key = bytes([k + 100]) * 32
                for folded in tiles:
                    result = _detect.align_and_decode(folded, key)
                    assert result.payload is None
                    p_values.append(result.p_value)
    p = np.array(p_values)
    assert p.min() > 1e-3  # the union bound is far from any threshold on unmarked material
    for alpha in (0.01, 0.05, 0.2):
        assert np.mean(p <= alpha) <= alpha


def test_marks_with_one_key_never_read_under_another(photos: dict) -> None:
    pixels = photos["astronaut"]
    marked_a = embed(pixels, 0xAAAA, key=b"A" * 32)
    assert detect(marked_a, key=b"A" * 32).payload == 0xAAAA
    for k in (b"B" * 32, b"A" * 31 + b"B", bytes(32)):
        assert detect(marked_a, key=k).payload is None


def test_p_value_bound_arithmetic() -> None:
    # HYPOTHESES alignments, and the union over all 2^64 payloads for the whole-tile statistic.
    assert _detect.HYPOTHESES == (4 + 1) * 8 * 128 * 128
    assert _detect._log_p(0.0, 0.0) == 0.0
    z = math.sqrt(2 * (math.log(_detect.HYPOTHESES) - math.log(1e-6)))
    assert math.exp(_detect._log_p(z, 0.0)) == __import__("pytest").approx(1e-6)
