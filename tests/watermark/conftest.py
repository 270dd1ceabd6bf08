"""Real photographs for the watermark tests (scikit-image's bundled samples) and the benchmark's attack suite."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data  # a hard import: scikit-image is in the test extra (no skips)

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the attack suite lives in bench/watermark, shared with the benchmark
    sys.path.insert(0, str(ROOT))

KEY = bytes.fromhex("5ca1ab1e" * 8)


def _photo(name: str, megapixels: float) -> np.ndarray:
    pixels = getattr(skimage_data, name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    h, w = pixels.shape[:2]
    f = np.sqrt(megapixels * 1e6 / (h * w))
    return np.asarray(Image.fromarray(pixels).resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS))


@pytest.fixture(scope="session")
def key() -> bytes:
    return KEY


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Three real photographs at about 1 MP (the size the targets are stated for), one of them grey."""
    return {
        "coffee": _photo("coffee", 1.0),
        "astronaut": _photo("astronaut", 0.9),
        "camera": _photo("camera", 1.1),
    }


@pytest.fixture(scope="session")
def marked(photos: dict[str, np.ndarray], key: bytes) -> dict[str, tuple[np.ndarray, int]]:
    from assay.watermark import embed

    out = {}
    for i, (name, pixels) in enumerate(photos.items()):
        payload = (0x9E3779B97F4A7C15 * (i + 1)) % (1 << 64)
        out[name] = (embed(pixels, payload, key=key), payload)
    return out
