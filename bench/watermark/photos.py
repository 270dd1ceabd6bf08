"""The benchmark's photographs: real photos bundled by installed packages, never downloaded.

scikit-image ships a dozen photographs (astronaut, coffee, chelsea, rocket, motorcycle, Hubble deep field,
retina, immunohistochemistry, camera man, coins...) and scikit-learn two more (china, flower). They are small
(0.1-2 MP), so each becomes two benchmark images of 1-2 MP: the whole photo resampled with Lanczos, and a
random crop of 55-85% of it at another aspect ratio, resampled. The seed fixes the choice, so every run and
every method sees the same pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Photo:
    name: str
    pixels: np.ndarray  # RGB uint8


def _sources() -> list[tuple[str, np.ndarray]]:
    import skimage.data as data

    out: list[tuple[str, np.ndarray]] = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry"):
        out.append((name, getattr(data, name)()))
    out.append(("motorcycle", data.stereo_motorcycle()[0]))
    for name in ("camera", "coins"):
        grey = getattr(data, name)()
        out.append((name, np.repeat(grey[..., None], 3, axis=2)))
    try:
        from sklearn.datasets import load_sample_images

        for path, img in zip(load_sample_images().filenames, load_sample_images().images, strict=True):
            out.append((path.rsplit("/", 1)[-1].split(".")[0], np.asarray(img, dtype=np.uint8)))
    except ImportError:  # scikit-learn is optional: two photos fewer
        pass
    return out


def _resample(pixels: np.ndarray, megapixels: float) -> np.ndarray:
    h, w = pixels.shape[:2]
    f = np.sqrt(megapixels * 1e6 / (h * w))
    size = (max(256, round(w * f)), max(256, round(h * f)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


def benchmark_photos(seed: int = 2026, *, limit: int | None = None) -> Iterator[Photo]:
    """Two 1-2 MP images per bundled photograph, in a fixed order."""
    rng = np.random.default_rng(seed)
    count = 0
    for name, pixels in _sources():
        h, w = pixels.shape[:2]
        yield Photo(f"{name}", _resample(pixels, rng.uniform(1.0, 2.0)))
        count += 1
        if limit is not None and count >= limit:
            return
        area = rng.uniform(0.55, 0.85)
        aspect = rng.uniform(0.6, 1.7)
        ch = int(min(h, np.sqrt(area * h * w / aspect)))
        cw = int(min(w, area * h * w / ch))
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        yield Photo(f"{name}-crop", _resample(pixels[y0 : y0 + ch, x0 : x0 + cw], rng.uniform(1.0, 2.0)))
        count += 1
        if limit is not None and count >= limit:
            return


def small_photos() -> list[Photo]:
    """The photographs at their own size (0.1-2 MP), for quick tests."""
    return [Photo(name, pixels) for name, pixels in _sources()]
