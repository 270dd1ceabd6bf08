"""Embedding: a perceptually masked, periodic luma pattern whose period scales with the image.

The tile (see ``_pattern``) repeats over the whole image with a period of ``tile_period(h, w)`` pixels: 128 px
for a 512x512 image, growing with the square root of the image side (213 px, ~44 tiles, for 2 MP; never fewer
than 2 tiles along the short side). Chips stay large enough to survive JPEG and downscaling, larger images get
more of them (more signal), crops keep whole tiles, and the detector measures the period instead of assuming it.

The same delta is added to R, G and B (a luma change; chroma, which JPEG subsamples, is left alone). Its local
amplitude follows a contrast-masking map (textured areas hide more than flat sky), and the global strength is
set so every image lands at the same PSNR: robustness is spent where it is least visible.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from . import _pattern

TARGET_PSNR_DB = 42.25
WORK_SIDE = 512  # the detector's working resolution is about WORK_SIDE x WORK_SIDE pixels of area


def work_scale(h: int, w: int) -> float:
    """The detector's resampling factor for an h x w image: the period of an unaltered mark becomes TILE.

    It grows like the square root of the image side, not like the side: larger images carry more, smaller
    chips (a 2 MP photo has ~44 tiles with 7 px chips) and so more signal, yet a 2x downscale only shrinks
    the chips' relative period by sqrt(2) in the detector's frame, which the lattice search absorbs.
    """
    return float(np.sqrt(WORK_SIDE / np.sqrt(float(h) * float(w))))


def tile_period(h: int, w: int) -> float:
    """Period of the tile in image pixels for an image of h x w (never more than half the short side)."""
    return min(_pattern.TILE / work_scale(h, w), min(h, w) / 2.0)


def _interp_matrix(n: int, period: float, start: float = 0.0) -> np.ndarray:
    # (n, TILE) periodic linear interpolation of tile rows at image positions 0..n-1, tile row 0 at ``start``.
    u = (np.arange(n, dtype=np.float64) - start) * (_pattern.TILE / period)
    i0 = np.floor(u).astype(np.int64)
    f = (u - i0).astype(np.float32)
    m = np.zeros((n, _pattern.TILE), dtype=np.float32)
    rows = np.arange(n)
    m[rows, i0 % _pattern.TILE] += 1.0 - f
    m[rows, (i0 + 1) % _pattern.TILE] += f
    return m


def pattern_image(tile: np.ndarray, h: int, w: int, origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The tile repeated over an h x w image at ``tile_period``, its position (0, 0) at ``origin`` (x, y)."""
    period = tile_period(h, w)
    t = tile.astype(np.float32)
    return _interp_matrix(h, period, origin[1]) @ t @ _interp_matrix(w, period, origin[0]).T


def masking(luma: Image.Image, period: float) -> np.ndarray:
    """Relative amplitude per pixel (mean 1): more where local contrast hides it, less on flat areas.

    Computed where the tile period is about 64 px (chips of 2 px) and upsampled: the map only has to be
    as sharp as the chips it scales, and this keeps embedding near 50 ms per megapixel.
    """
    w, h = luma.size
    r = max(1, int(period // 64))
    small = luma.reduce(r) if r > 1 else luma
    y = np.asarray(small, dtype=np.float32)
    mean = ndimage.uniform_filter(y, 3)
    var = ndimage.uniform_filter(y * y, 3) - mean * mean
    # Local contrast, smoothed at the scale of the chips so the product stays smooth as well.
    contrast = ndimage.uniform_filter(np.sqrt(np.maximum(var, 0.0)), 5)
    m = (contrast + 1.5) ** 0.5
    # Very dark and very bright areas show changes more (and clip them); mid-tones get the full amount.
    lum = ndimage.uniform_filter(y, 5)
    m *= 0.6 + 0.4 * np.clip(np.minimum(lum, 255.0 - lum) / 40.0, 0.0, 1.0)
    m /= max(float(np.mean(m)), 1e-6)
    if r > 1:
        # Bilinear, pixel centres aligned, edges held: Pillow's BILINEAR upsampling to within one float32 ulp
        # (tested), in a twentieth of its time (no float image to build and copy out through tobytes).
        import cv2  # on first use, as in the detector

        m = np.asarray(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    return m


def embed_luma_delta(rgb: np.ndarray, tile: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    luma = Image.fromarray(rgb).convert("L")
    delta = pattern_image(tile, h, w)
    delta *= masking(luma, tile_period(h, w))
    target_mse = 255.0**2 / 10 ** (TARGET_PSNR_DB / 10)
    delta *= np.float32(np.sqrt(target_mse / max(float(np.mean(delta * delta)), 1e-12)))
    return delta


def apply_delta(rgb: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """rgb + delta on every channel, rounded and clipped; in bands of rows to bound the float copy's memory."""
    out = np.empty_like(rgb)
    step = max(1, (1 << 20) // max(1, rgb.shape[1]))
    for y in range(0, rgb.shape[0], step):
        band = rgb[y : y + step].astype(np.float32)
        band += delta[y : y + step, :, None]
        np.rint(band, out=band)
        np.clip(band, 0, 255, out=band)
        out[y : y + step] = band
    return out
