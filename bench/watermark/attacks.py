"""The attack suite of issue 3: what images meet on their way (re-encoding, resizing, cropping, screenshots).

Each attack is a function (RGB uint8 array, numpy Generator) -> RGB uint8 array, implemented with Pillow the
way common tools do it: JPEG with 4:2:0 chroma subsampling, resizing with antialiasing, rotations cropped back
to the largest upright rectangle. ``REQUIRED`` are the issue's targets, ``STRETCH`` its stretch goals.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Attack = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _img(x: np.ndarray) -> Image.Image:
    return Image.fromarray(x, "RGB")


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def encode(x: np.ndarray, fmt: str, **options: object) -> np.ndarray:
    buf = io.BytesIO()
    _img(x).save(buf, fmt, **options)
    buf.seek(0)
    return _arr(Image.open(buf))


def jpeg(quality: int) -> Attack:
    return lambda x, rng: encode(x, "JPEG", quality=quality, subsampling="4:2:0")


def webp(quality: int) -> Attack:
    return lambda x, rng: encode(x, "WEBP", quality=quality)


def resize(factor: float) -> Attack:
    def run(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = x.shape[:2]
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        return _arr(_img(x).resize(size, Image.Resampling.BICUBIC))

    return run


def crop(area: float) -> Attack:
    """Keep ``area`` of the image (same aspect ratio) at a random position."""

    def run(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = x.shape[:2]
        s = math.sqrt(area)
        ch, cw = max(1, int(h * s)), max(1, int(w * s))
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        return np.ascontiguousarray(x[y0 : y0 + ch, x0 : x0 + cw])

    return run


def rotate(degrees: float) -> Attack:
    """Rotate (bicubic) and crop back to the largest upright rectangle with the original aspect ratio."""

    def run(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = x.shape[:2]
        a = math.radians(abs(degrees))
        c, s = math.cos(a), math.sin(a)
        # Largest rectangle of aspect w:h inside the rotated w x h frame, centred.
        k = min(w / (w * c + h * s), h / (w * s + h * c))
        cw, ch = int(w * k) - 2, int(h * k) - 2
        rotated = _img(x).rotate(degrees, Image.Resampling.BICUBIC, expand=False)
        x0, y0 = (w - cw) // 2, (h - ch) // 2
        return _arr(rotated.crop((x0, y0, x0 + cw, y0 + ch)))

    return run


def blur(radius: float) -> Attack:
    return lambda x, rng: _arr(_img(x).filter(ImageFilter.GaussianBlur(radius)))


def noise(sigma: float) -> Attack:
    """Additive Gaussian noise, sigma on the 0..1 scale."""

    def run(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noisy = x.astype(np.float32) + rng.normal(0.0, sigma * 255.0, x.shape).astype(np.float32)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)

    return run


def brightness(factor: float) -> Attack:
    return lambda x, rng: _arr(ImageEnhance.Brightness(_img(x)).enhance(factor))


def contrast(factor: float) -> Attack:
    return lambda x, rng: _arr(ImageEnhance.Contrast(_img(x)).enhance(factor))


def gamma(g: float) -> Attack:
    lut = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** g), 0, 255).astype(np.uint8)
    return lambda x, rng: lut[x]


def caption(fraction: float) -> Attack:
    """A caption strip over the bottom ``fraction`` of the image: a dark band with white text."""

    def run(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        im = _img(x).copy()
        w, h = im.size
        band = max(1, int(round(h * fraction)))
        draw = ImageDraw.Draw(im)
        draw.rectangle((0, h - band, w, h), fill=(20, 20, 24))
        size = max(10, int(band * 0.5))
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # older Pillow
            font = ImageFont.load_default()
        draw.text(
            (int(w * 0.03), h - band + (band - size) // 2),
            "Breaking: photo of the day #2026",
            fill=(240, 240, 240),
            font=font,
        )
        return _arr(im)

    return run


def screenshot(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Resize to 0.8 and save as PNG (what a screenshot of a browser at 80% zoom amounts to)."""
    return encode(resize(0.8)(x, rng), "PNG")


def social(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Longest side 1080 (if larger), JPEG 70, then JPEG 85: an upload, then a re-share."""
    h, w = x.shape[:2]
    if max(h, w) > 1080:
        x = resize(1080 / max(h, w))(x, rng)
    return jpeg(85)(jpeg(70)(x, rng), rng)


def hflip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _arr(ImageOps.mirror(_img(x)))


def identity(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x


REQUIRED: dict[str, Attack] = {
    "none": identity,
    "jpeg90": jpeg(90),
    "jpeg75": jpeg(75),
    "jpeg50": jpeg(50),
    "jpeg30": jpeg(30),
    "webp75": webp(75),
    "resize0.5": resize(0.5),
    "resize0.75": resize(0.75),
    "resize1.5": resize(1.5),
    "crop50%": crop(0.5),
    "rotate2": rotate(2),
    "rotate5": rotate(5),
    "blur1": blur(1),
    "noise0.03": noise(0.03),
    "bright0.7": brightness(0.7),
    "bright1.3": brightness(1.3),
    "contrast1.5": contrast(1.5),
    "gamma0.8": gamma(0.8),
    "caption10%": caption(0.10),
    "screenshot": screenshot,
    "social": social,
}

STRETCH: dict[str, Attack] = {
    "rotate10": rotate(10),
    "resize0.25": resize(0.25),
    "resize2": resize(2.0),
    "crop25%": crop(0.25),
    "jpeg20": jpeg(20),
    "hflip": hflip,
}

ALL: dict[str, Attack] = {**REQUIRED, **STRETCH}
