"""Issue 9's attacks at a small scale, against version 1 and version 2 side by side.

Each test runs the attack on version 1 first and asserts that it *works* there (so the attack is real and the
test can fail), then asserts that version 2 resists it. The full figures come from
``python -m bench.watermark.adversarial``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from bench.watermark import attacks
from bench.watermark.adversarial import attacks as adv

KEY_V1 = hashlib.sha256(b"test: register-wide v1 key").digest()
KEY_V2 = hashlib.sha256(b"test: acme v2 key").digest()


@pytest.fixture(scope="module")
def schemes() -> tuple[adv.Scheme, adv.Scheme]:
    return adv.v1_scheme(KEY_V1), adv.v2_scheme(KEY_V2, adv.system_ring(KEY_V2, others=99))


@pytest.fixture(scope="module")
def targets() -> list[np.ndarray]:
    """Three never-marked photos: a portrait, a grey street scene, a landscape."""
    return [px for _, px in adv.never_marked_photos(12, max_mp=0.8) if _ in ("chelsea", "camera", "china")][:3] or [
        px for _, px in adv.never_marked_photos(3, max_mp=0.8)
    ]


def test_a_folded_copy_is_attributed_by_v1_and_flagged_as_copied_by_v2(
    photos: dict, schemes: tuple, targets: list
) -> None:
    v1, v2 = schemes
    source = photos["coffee"]
    results = {}
    for scheme in (v1, v2):
        payload = 0x5EED_0000_0000_0001
        tile = adv.folded_tile(scheme.embed(source, payload))
        verdicts = [scheme.detect(attacks.jpeg(75)(adv.draw_tile(t, tile, 36.0), None)) for t in targets]
        results[scheme.name] = (payload, verdicts)
    payload, verdicts = results[v1.name]
    assert sum(v.payload == payload for v in verdicts) >= 2  # the attack works on v1
    payload, verdicts = results[v2.name]
    assert all(v.payload is None for v in verdicts)  # never a complete mark on a copy ...
    assert sum(v.unbound == payload for v in verdicts) >= 2  # ... but the copied message is recognised


@pytest.mark.slow
def test_averaging_with_known_payloads_forges_v1_and_teaches_nothing_about_v2(schemes: tuple, targets: list) -> None:
    v1, v2 = schemes
    images = list(adv.generated_images(80))
    payloads = [int.from_bytes(hashlib.sha256(bytes([i])).digest()[:8], "big") for i in range(len(images))]
    chosen = 0x0123_4567_89AB_CDEF
    for scheme in (v1, v2):
        values = np.stack(
            [adv.chips(adv.folded_tile(scheme.embed(im, p))) for im, p in zip(images, payloads, strict=True)]
        )
        learned = adv.learn_chip_map(values, payloads)
        forged = [scheme.detect(adv.draw_tile(t, adv.forged_tile(learned, chosen), 42.0)) for t in targets[:2]]
        if scheme is v1:
            assert adv.recovery(learned, scheme) > 0.6
            assert any(v.payload == chosen for v in forged)
        else:
            assert adv.recovery(learned, scheme) < 0.02  # chance is about 1/516 per chip
            assert all(v.payload is None and v.unbound is None for v in forged)


def test_subtracting_the_public_sync_does_not_remove_v2(marked: dict, key: bytes) -> None:
    """The sync is public, so anyone can subtract it: an unaltered copy is still found without it."""
    from assay.watermark import detect

    pixels, payload = marked["astronaut"]
    stripped = adv.subtract(pixels, adv.public_sync_tile(), 2.0)
    assert adv.psnr(pixels, stripped) > 40
    assert detect(stripped, key=key).payload == payload
