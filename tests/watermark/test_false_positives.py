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


# --- version 2 ---------------------------------------------------------------------------------------------


def test_v2_message_and_binding_statistics_are_calibrated_under_the_null(photos: dict) -> None:
    """At a fixed alignment of unmarked photos, over random keys (and a fixed codeword), the message z and the
    binding z are ~N(0, 1) with tails under Hoeffding's exp(-t^2 / 2): the sums the p-values are built on."""
    from assay.watermark import _ecc, _keys, _v2

    symbols = 1.0 - 2.0 * _ecc.encode(0)
    z_msg, z_bind = [], []
    for pixels in photos.values():
        folded = next(_detect.folded_tiles(pixels))
        index, sy, sx, _ = _v2._align(folded)
        cells = _v2._cells(folded, index, sy, sx)
        norm = float(np.linalg.norm(cells[_keys.MESSAGE_CELLS]))
        for i in range(400):
            lay = _keys.layout(i.to_bytes(32, "big"))
            z_msg.append(float((cells[lay.cells] * lay.signs * symbols[:, None]).sum()) / norm)
        sums = _v2.torus(folded, index, sy, sx)
        for i in range(60):
            z, _ = _v2._binding(sums, _keys.binding_field(i.to_bytes(32, "big"), i))
            z_bind.append(z)  # the best of 64 offsets
    z = np.array(z_msg)
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1
    for t in (1.0, 2.0, 3.0):
        assert np.mean(z >= t) <= math.exp(-t * t / 2) * 1.05 + 0.003
    # The maximum over 64 offsets: its tail is bounded by 64 exp(-t^2 / 2).
    zb = np.array(z_bind)
    for t in (3.0, 3.5, 4.0):
        assert np.mean(zb >= t) <= min(1.0, 64 * math.exp(-t * t / 2)) + 0.02


def test_v2_ring_finds_nothing_on_unmarked_or_foreign_images(photos: dict) -> None:
    from assay.watermark import KeyRing

    ring = KeyRing([(f"s{i}", bytes([i % 256, i // 256]) * 16) for i in range(500)])
    foreign = embed(photos["coffee"], 77, key=b"F" * 32)  # a key the ring does not hold
    rng = np.random.default_rng(4)
    for img in (photos["camera"], photos["astronaut"], foreign, attacks.crop(0.5)(foreign, rng)):
        found = detect(img, keys=ring)
        assert found.payload is None and found.unbound_payload is None and found.key_id is None
        assert found.p_value > 1e-3
