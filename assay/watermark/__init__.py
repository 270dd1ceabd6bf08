"""Assay's invisible image watermark: 64 bits, blind detection, a computed false-positive probability.

    >>> import numpy as np
    >>> from assay.watermark import embed, detect
    >>> key = bytes(range(32))
    >>> rng = np.random.default_rng(0)
    >>> pixels = rng.integers(0, 256, size=(512, 512, 3), dtype=np.uint8)
    >>> marked = embed(pixels, 0x0123456789ABCDEF, key=key)
    >>> found = detect(marked, key=key)
    >>> hex(found.payload), found.p_value < 1e-6
    ('0x123456789abcdef', True)

``embed`` adds a perceptually masked luma pattern: a key-derived tile that repeats over the image with a period
that grows with the image size, carrying the payload under a CRC and a rate-1/3 convolutional code, plus a
pilot. ``detect`` needs only the key: it measures the tile lattice from the image's autocorrelation (so
rescaling, rotation and cropping are undone), folds the image onto one tile, aligns it with the pilot and
decodes. It reports a payload only when the pilot's p-value is below 1e-6 (a bound, computed from Hoeffding's
inequality and a union over every hypothesis searched) and the CRC agrees. See docs/watermark.md.

Images are RGB ``uint8`` arrays of shape (H, W, 3), at least 256x256; :func:`to_rgb` and :func:`from_rgb`
convert grey, RGBA, paletted and 16-bit Pillow images to that and back without losing alpha.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..errors import FieldProblem, InvalidInput
from . import _detect, _embed, _pattern

__all__ = [
    "ALGORITHM",
    "KEY_BYTES",
    "MIN_SIDE",
    "MAX_SIDE",
    "PAYLOAD_BITS",
    "P_THRESHOLD",
    "Detection",
    "WatermarkError",
    "detect",
    "embed",
    "from_rgb",
    "to_rgb",
]

#: Stable identifier of this algorithm, for the C2PA soft-binding assertion (``alg``). A change that makes old
#: marks unreadable must change it.
ALGORITHM = "org.assay.watermark.1"
KEY_BYTES = 32
PAYLOAD_BITS = 64
MIN_SIDE = 256
MAX_SIDE = 8192
P_THRESHOLD = _detect.P_THRESHOLD


class WatermarkError(InvalidInput):
    """Bad input to the watermark: wrong key size, payload out of range, unsupported or too small image."""

    code = "watermark_invalid_input"


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` found.

    ``payload`` is the 64-bit integer, or None when no mark was found with confidence. ``p_value`` bounds the
    probability that an image without this key's mark would score at least as high (1.0 when nothing
    matched). The rest is evidence: the pilot's z-score, the share of coded bits that agree with the decoded
    payload, whether the CRC agreed, and the geometry recovered (tile period in pixels, rotation in degrees,
    whether the image was mirrored, the tile origin).
    """

    payload: int | None
    p_value: float
    z_score: float = 0.0
    bit_agreement: float = 0.0
    crc_ok: bool = False
    period_px: float = 0.0
    rotation_deg: float = 0.0
    flipped: bool = False
    offset_px: tuple[float, float] = (0.0, 0.0)
    algorithm: str = ALGORITHM

    @property
    def found(self) -> bool:
        return self.payload is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "found": self.found,
            "payload": None if self.payload is None else f"{self.payload:016x}",
            "p_value": self.p_value,
            "z_score": round(self.z_score, 3),
            "bit_agreement": round(self.bit_agreement, 4),
            "crc_ok": self.crc_ok,
            "period_px": round(self.period_px, 2),
            "rotation_deg": round(self.rotation_deg, 2),
            "flipped": self.flipped,
            "offset_px": [round(self.offset_px[0], 1), round(self.offset_px[1], 1)],
        }


def _check_key(key: Any) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview):
        raise WatermarkError(
            f"The watermark key must be bytes, not {type(key).__name__}.",
            hint=f"pass {KEY_BYTES} random bytes, e.g. os.urandom({KEY_BYTES})",
            problems=[FieldProblem("key", "not bytes", f"use {KEY_BYTES} bytes")],
        )
    key = bytes(key)
    if len(key) != KEY_BYTES:
        raise WatermarkError(
            f"The watermark key must be exactly {KEY_BYTES} bytes, not {len(key)}.",
            hint=f"generate one with os.urandom({KEY_BYTES}) and keep it secret",
            problems=[FieldProblem("key", f"{len(key)} bytes", f"use {KEY_BYTES} bytes")],
        )
    return key


def _check_payload(payload: Any) -> int:
    try:
        if isinstance(payload, bool):
            raise TypeError
        value = operator.index(payload)
    except TypeError:
        raise WatermarkError(
            f"The payload must be an integer, not {type(payload).__name__}.",
            hint="pass an int in [0, 2**64)",
            problems=[FieldProblem("payload", "not an integer", "use an int in [0, 2**64)")],
        ) from None
    if not 0 <= value < 1 << PAYLOAD_BITS:
        raise WatermarkError(
            f"The payload {value} does not fit in {PAYLOAD_BITS} unsigned bits.",
            hint="use an int in [0, 2**64)",
            problems=[FieldProblem("payload", "out of range", "use an int in [0, 2**64)")],
        )
    return value


def _check_pixels(pixels: Any) -> np.ndarray:
    if not isinstance(pixels, np.ndarray):
        raise WatermarkError(
            f"The image must be a numpy array, not {type(pixels).__name__}.",
            hint="convert a Pillow image with assay.watermark.to_rgb(image)",
            problems=[FieldProblem("pixels", "not a numpy array", "use to_rgb()")],
        )
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise WatermarkError(
            f"The image must be an RGB uint8 array of shape (H, W, 3), not {pixels.dtype} {pixels.shape}.",
            hint="convert grey, RGBA, paletted or 16-bit images with assay.watermark.to_rgb(image)",
            problems=[FieldProblem("pixels", "wrong dtype or shape", "use to_rgb()")],
        )
    h, w = pixels.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise WatermarkError(
            f"The image is {w}x{h} pixels; a mark needs at least {MIN_SIDE}x{MIN_SIDE}.",
            hint="mark images whose shorter side is at least 256 pixels",
            problems=[FieldProblem("pixels", "too small", f"at least {MIN_SIDE} px on each side")],
        )
    if max(h, w) > MAX_SIDE:
        raise WatermarkError(
            f"The image is {w}x{h} pixels; at most {MAX_SIDE} pixels per side are supported.",
            hint=f"downscale the image so its longer side is at most {MAX_SIDE} pixels",
            problems=[FieldProblem("pixels", "too large", f"at most {MAX_SIDE} px on each side")],
        )
    return np.ascontiguousarray(pixels)


def embed(pixels: np.ndarray, payload: int, *, key: bytes) -> np.ndarray:
    """Return a marked copy of ``pixels`` (RGB uint8, (H, W, 3), sides 256..8192) carrying ``payload``."""
    rgb = _check_pixels(pixels)
    value = _check_payload(payload)
    secret = _check_key(key)
    tile = _pattern.payload_tile(secret, value)
    return _embed.apply_delta(rgb, _embed.embed_luma_delta(rgb, tile))


def detect(pixels: np.ndarray, *, key: bytes) -> Detection:
    """Look for a mark made with ``key``. Blind: needs no original image and no stored state.

    Smaller images than 256x256 (a crop or a downscale of a marked image) are examined too, down to 64x64;
    below that nothing can be found and the result says so.
    """
    secret = _check_key(key)
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        _check_pixels(pixels)  # raises the precise error
    h, w = pixels.shape[:2]
    if max(h, w) > MAX_SIDE:
        _check_pixels(pixels)
    if min(h, w) < 64:
        return Detection(payload=None, p_value=1.0)
    found = _detect.detect_rgb(np.ascontiguousarray(pixels), secret)
    return Detection(
        payload=found.payload,
        p_value=found.p_value,
        z_score=found.z,
        bit_agreement=found.bit_agreement,
        crc_ok=found.crc_ok,
        period_px=found.period,
        rotation_deg=found.rotation_deg,
        flipped=found.flipped,
        offset_px=found.offset,
    )


def to_rgb(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Pillow image (any mode: grey, RGBA, LA, paletted, 16-bit, CMYK...) -> (RGB uint8 array, alpha or None).

    16-bit and float images are scaled to 8 bits; the alpha channel (also a palette's transparency) is returned
    separately so :func:`from_rgb` can put it back unchanged.
    """
    if not isinstance(image, Image.Image):
        raise WatermarkError(
            f"Expected a Pillow image, not {type(image).__name__}.",
            hint="open the file with PIL.Image.open(path)",
        )
    alpha: np.ndarray | None = None
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255) else 255.0
        if mode == "F":
            top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        grey = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2), None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A")).copy()
        image = image.convert("RGBA").convert("RGB") if mode != "RGBA" else image.convert("RGB")
    else:
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy(), alpha


def from_rgb(pixels: np.ndarray, alpha: np.ndarray | None = None, *, mode: str | None = None) -> Image.Image:
    """RGB uint8 array (+ the alpha from :func:`to_rgb`) -> Pillow image; ``mode="L"`` for a grey original.

    A grey original is returned grey (the mark is a luma pattern, so nothing is lost); alpha is re-attached.
    """
    rgb = _check_pixels(pixels) if min(pixels.shape[:2]) >= MIN_SIDE else np.ascontiguousarray(pixels)
    image = Image.fromarray(rgb, "RGB")
    if mode in ("L", "LA", "I;16", "I", "F"):
        image = image.convert("L")
    if alpha is not None:
        if alpha.shape != rgb.shape[:2]:
            raise WatermarkError(
                f"The alpha channel is {alpha.shape[1]}x{alpha.shape[0]}, the image {rgb.shape[1]}x{rgb.shape[0]}.",
                hint="pass the alpha returned by to_rgb() for this same image",
            )
        image = image.convert("LA" if image.mode == "L" else "RGBA")
        image.putalpha(Image.fromarray(np.asarray(alpha, dtype=np.uint8), "L"))
    return image
