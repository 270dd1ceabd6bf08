"""Untrusted media in, pixels out: sniffing, safe decoding under limits, encoding, hashes.

Every file a user checks or marks passes through :func:`decode_image`, which never trusts the name or the
declared type, refuses anything over the byte and pixel limits *before* decoding it (decompression bombs),
and turns every decoder failure (truncated, malformed, not an image) into one precise
:class:`~assay.errors.AssayError`. Media is handled in memory only; nothing here writes or logs it.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from assay.errors import InvalidInput, TooLarge, UnsupportedMedia

__all__ = [
    "MARKABLE_TYPES",
    "DecodedImage",
    "decode_image",
    "encode_image",
    "hamming",
    "perceptual_hash",
    "sha256_hex",
    "sniff_media_type",
]

# Pillow must never fill a truncated image with grey and carry on: that would hide a damaged upload.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_FORMAT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
    "AVIF": "image/avif",
}
# Types Assay can mark (c2pa embeds manifests in these and they keep 8-bit RGB faithfully).
MARKABLE_TYPES = ("image/jpeg", "image/png", "image/webp")
_MIN_SIDE = 64


@dataclass(frozen=True)
class DecodedImage:
    """Decoded pixels (RGB uint8, shape (H, W, 3)) and what the bytes turned out to be."""

    pixels: np.ndarray
    media_type: str
    width: int
    height: int
    had_alpha: bool = False


def sniff_media_type(data: bytes) -> str | None:
    """The media type from the file's first bytes (magic numbers), or None if it is no image Assay reads."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:2] == b"BM":
        return "image/bmp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "image/avif"
    return None


def decode_image(
    data: bytes, *, max_bytes: int, max_pixels: int, name: str = "the file", min_side: int = _MIN_SIDE
) -> DecodedImage:
    """Decode untrusted bytes into RGB pixels, failing closed with an error that names the file and the fix.

    1. size: empty or over ``max_bytes`` is refused before anything is parsed;
    2. type: the magic bytes must say JPEG, PNG, WebP, GIF, TIFF, BMP or AVIF (the name is ignored);
    3. header: the declared width x height must be within ``max_pixels`` (a decompression bomb is refused
       without allocating its pixels) and at least ``min_side`` on each side;
    4. pixels: a truncated or malformed body is an error, never a partially grey picture;
    5. colour: grey, paletted, 16-bit, CMYK and alpha images become RGB (alpha composited on white).
    """
    # 1.
    if not data:
        raise InvalidInput(f"{name} is empty", hint="choose an image file (JPEG, PNG, WebP, GIF, TIFF, BMP or AVIF)")
    if len(data) > max_bytes:
        raise TooLarge(
            f"{name} is {len(data):,} bytes, over the limit of {max_bytes:,}",
            hint="send a smaller file, or raise ASSAY_MAX_UPLOAD_BYTES",
        )
    # 2.
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UnsupportedMedia(
            f"{name} is not an image Assay can read",
            hint="Assay checks JPEG, PNG, WebP, GIF, TIFF, BMP and AVIF images",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            # 3.
            width, height = img.size
            if width <= 0 or height <= 0:
                raise InvalidInput(
                    f"{name} declares an empty picture ({width}x{height})", hint="the file is damaged; export it again"
                )
            if width * height > max_pixels:
                raise TooLarge(
                    f"{name} is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}",
                    hint="scale the image down, or raise ASSAY_MAX_PIXELS",
                )
            if min(width, height) < min_side:
                raise InvalidInput(
                    f"{name} is {width}x{height}, too small to carry a mark",
                    hint=f"images need at least {min_side} pixels on each side",
                )
            # 4.
            img.load()
            had_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            # 5.
            rgb = _to_rgb(img)
            pixels = np.asarray(rgb, dtype=np.uint8)
    except (InvalidInput, TooLarge):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooLarge(
            f"{name} expands to too many pixels (a decompression bomb)",
            hint="send an ordinary image; raise ASSAY_MAX_PIXELS if it is genuine",
        ) from None
    except UnidentifiedImageError:
        raise InvalidInput(
            f"{name} looks like {media_type} but its header is damaged and cannot be read",
            hint="the file is damaged or not really an image; export it again",
        ) from None
    except MemoryError:
        raise TooLarge(f"{name} needs more memory to decode than is available", hint="send a smaller image") from None
    # Pillow's format parsers raise many kinds of errors on hostile input; each means "damaged file".
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        IndexError,
        KeyError,
        TypeError,
        ZeroDivisionError,
        RuntimeError,
        OverflowError,
        zlib.error,
    ) as exc:
        raise InvalidInput(
            f"{name} is truncated or damaged and cannot be decoded ({_short(exc)})",
            hint="download or export the file again; only complete images can be checked",
        ) from None
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise InvalidInput(
            f"{name} decoded to an unexpected pixel layout {pixels.shape}",
            hint="convert it to an 8-bit RGB JPEG or PNG",
        )
    return DecodedImage(
        pixels=np.ascontiguousarray(pixels), media_type=media_type, width=width, height=height, had_alpha=had_alpha
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = max(float(arr.max()), 1.0)
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        return Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:120]


def encode_image(pixels: np.ndarray, media_type: str, *, xmp: bytes = b"", quality: int = 92) -> bytes:
    """Encode RGB pixels as JPEG, PNG or WebP, with an optional XMP packet (covered later by the C2PA hash)."""
    img = Image.fromarray(pixels, "RGB")
    buf = io.BytesIO()
    if media_type == "image/jpeg":
        img.save(buf, "JPEG", quality=quality, xmp=xmp or None, optimize=False)
    elif media_type == "image/webp":
        img.save(buf, "WEBP", quality=quality, method=4, xmp=xmp or None)
    elif media_type == "image/png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        if xmp:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
        img.save(buf, "PNG", pnginfo=info, compress_level=6)
    else:
        raise UnsupportedMedia(
            f"Assay cannot write {media_type}", hint="marked images are written as JPEG, PNG or WebP"
        )
    return buf.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def perceptual_hash(pixels: np.ndarray) -> str:
    """A 64-bit DCT perceptual hash (ImageHash's pHash) of the pixels, as 16 hex digits.

    Robust to re-encoding, resizing and mild edits; not to crops. Used to tell whether a checked image is the
    one its mark was recorded for, or a mark copied onto another picture.
    """
    import imagehash

    img = Image.fromarray(pixels, "RGB")
    # Reduce first with a box filter: pHash only looks at a 32x32 version, and resampling 2 MP with Lanczos
    # would cost more than the whole hash.
    factor = max(1, min(img.size) // 128)
    if factor > 1:
        img = img.reduce(factor)
    return str(imagehash.phash(img))


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes of the same length."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")
