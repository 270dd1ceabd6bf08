"""Each attack of issue 3 on real photographs: the payload must come back exactly, with p < 1e-6.

The full figures (24 photos of 1-2 MP, the peers side by side) come from ``python -m bench.watermark``; here
three ~1 MP photos keep the run short while every listed attack is still exercised.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import data as skimage_data  # hard imports: scikit-image is in the test extra (no skips)
from skimage import metrics

from assay.watermark import detect
from bench.watermark import attacks

# Stretch goals that the watermark meets on these photos; crop 25% and resize 0.25 are reported by the
# benchmark instead (they pass on most photos, not all).
STRETCH_HELD = ["rotate10", "resize2", "jpeg20", "hflip"]


@pytest.mark.parametrize("attack", list(attacks.REQUIRED) + STRETCH_HELD)
def test_payload_survives(attack: str, marked: dict, key: bytes) -> None:
    rng = np.random.default_rng(sum(map(ord, attack)))
    for name, (pixels, payload) in marked.items():
        attacked = attacks.ALL[attack](pixels, rng)
        found = detect(attacked, key=key)
        assert found.payload == payload, f"{attack} on {name}: z={found.z_score:.1f} p={found.p_value:.2g}"
        assert found.p_value < 1e-6


def test_quality(photos: dict, marked: dict) -> None:
    for name, pixels in photos.items():
        out, _ = marked[name]
        mse = float(np.mean((out.astype(np.float64) - pixels) ** 2))
        psnr = 10 * math.log10(255**2 / mse)
        assert 42.0 <= psnr < 44.0, name
        # The mark is a luma change: grey stays grey.
        if np.array_equal(pixels[..., 0], pixels[..., 1]):
            assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_structural_similarity(photos: dict, marked: dict) -> None:
    scores = [metrics.structural_similarity(photos[n], marked[n][0], channel_axis=2, data_range=255) for n in photos]
    assert min(scores) >= 0.98  # every photo, not the mean (issue 9); the flat ones: test_visibility


def test_flat_areas_carry_less(photos: dict, marked: dict) -> None:
    """Perceptual masking: the change in the smoothest tenth of the image is well below the busiest tenth's."""
    from scipy import ndimage

    pixels = photos["astronaut"].astype(np.float32)
    out = marked["astronaut"][0].astype(np.float32)
    luma = pixels.mean(axis=2)
    activity = ndimage.uniform_filter(np.abs(luma - ndimage.uniform_filter(luma, 5)), 15)
    delta = np.abs(out - pixels).mean(axis=2)
    flat = activity <= np.quantile(activity, 0.1)
    busy = activity >= np.quantile(activity, 0.9)
    assert delta[flat].mean() < 0.6 * delta[busy].mean()


@pytest.mark.parametrize("name", ["coins", "camera"])
def test_the_smallest_images_are_found_where_they_were_marked(name: str, key: bytes) -> None:
    """At 256x256 the image holds only a few tiles, too few for the lattice search on a busy photo; the
    detector also tries the geometry embed() used for an image of this size."""
    from PIL import Image

    from assay.watermark import embed

    pixels = getattr(skimage_data, name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    small = np.asarray(Image.fromarray(pixels).resize((256, 256), Image.Resampling.LANCZOS))
    found = detect(attacks.jpeg(90)(embed(small, 0xC0FFEE, key=key), np.random.default_rng(0)), key=key)
    assert found.payload == 0xC0FFEE and found.p_value < 1e-6
