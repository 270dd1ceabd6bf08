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
    "HEIF": "image/heic",
}
# ISO BMFF brands (the 'ftyp' box) of HEIC/HEIF stills, as phones write them.
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
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
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def _decoder_ready(media_type: str, name: str) -> None:
    """AVIF needs Pillow built with libavif (Pillow 11.2+ wheels are); HEIC needs the pillow-heif plugin. Say
    which is missing rather than calling the file damaged."""
    if media_type == "image/avif":
        from PIL import features

        if not features.check("avif"):
            raise UnsupportedMedia(
                f"{name} is an AVIF image, and this installation's Pillow cannot decode AVIF",
                hint="upgrade Pillow (11.2 or later includes AVIF), or convert the image to JPEG or PNG",
            )
    elif media_type == "image/heic":
        try:
            import pillow_heif
        except ImportError:
            raise UnsupportedMedia(
                f"{name} is a HEIC/HEIF image, and the pillow-heif decoder is not installed",
                hint="pip install pillow-heif, or convert the image to JPEG or PNG",
            ) from None
        pillow_heif.register_heif_opener()


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    name: str = "the file",
    min_side: int = _MIN_SIDE,
    work_side: int | None = None,
) -> DecodedImage:
    """Decode untrusted bytes into RGB pixels, failing closed with an error that names the file and the fix.

    The cost is bounded before any pixel is decoded, so it is predictable from the limits alone: the Python
    parts of the parsers see a bounded structure (step 3), and the C decoders a bounded amount of pixel data
    (step 4). With ``work_side`` (checking), larger pictures are decoded smaller (``DecodedImage.width`` and
    ``height`` stay the file's own).

    1. size: empty or over ``max_bytes`` is refused before anything is parsed;
    2. type: the magic bytes must say JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF or HEIC (the name is ignored);
    3. structure: chunk, segment, block, scan and strip counts within limits no real image reaches (Pillow
       walks them in Python: 48 MB of empty PNG chunks took 8 s just to open);
    4. header: the declared width x height must be within ``max_pixels`` and at least ``min_side`` on each
       side; the decoded sample data (16-bit counts double) within ``max_pixels`` x 4 bytes; data that would
       expand more than 250-fold into over 64 MB is refused as a decompression bomb (no pixel allocated);
    5. pixels: a truncated or malformed body is an error, never a partially grey picture; a JPEG wider than
       ``work_side`` is decoded at 1/2, 1/4 or 1/8 scale by libjpeg (Pillow's draft), other formats are
       reduced right after decoding;
    6. colour: grey, paletted, 16-bit, CMYK and alpha images become RGB (alpha composited on white).
    """
    # 1.
    if not data:
        raise InvalidInput(
            f"{name} is empty", hint="choose an image file (JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF or HEIC)"
        )
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
            hint="Assay checks JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF and HEIC images",
        )
    # 3.
    _check_structure(data, media_type, name)
    _decoder_ready(media_type, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            # 4.
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
            _check_expansion(img, media_type, data, max_pixels, name)
            # 5.
            if work_side is not None and max(width, height) > work_side and media_type == "image/jpeg":
                scale = -(-max(width, height) // work_side)
                img.draft(img.mode if img.mode in ("L", "CMYK") else "RGB", (width // scale, height // scale))
            img.load()
            had_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            if work_side is not None and max(img.size) > work_side:
                img = img.reduce(-(-max(img.size) // work_side))
            # 6.
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
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Integer arithmetic in the image's own width: float64 copies of an 80 MP picture took 5 s and 640 MB.
        arr = np.asarray(img)
        if arr.dtype != np.uint16:
            arr = np.clip(arr, 0, 65535).astype(np.uint16)
        grey = (arr >> 8).astype(np.uint8) if int(arr.max(initial=0)) > 255 else arr.astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


# Step 3: structure no real image reaches. Each walk below stops as soon as its limit is passed, so it costs at
# most a few milliseconds of Python; the limits are far above what encoders write (libpng writes 8 KB IDAT
# chunks: 6,100 for a 50 MB file; a JPEG has a few dozen segments and at most a few dozen progressive scans).
MAX_PNG_CHUNKS = 32_768
MAX_JPEG_SEGMENTS = 1_024
MAX_JPEG_SCANS = 64
MAX_GIF_BLOCKS = 4_096
MAX_TIFF_ENTRIES = 1_024
MAX_TIFF_STRIPS = 65_536
# BMP's run-length compressions are decoded by Pillow in Python, pixel run by pixel run.
MAX_BMP_RLE_PIXELS = 4_000_000
# Step 4: a decompression bomb expands this many times into more than BOMB_MIN_BYTES of samples.
BOMB_RATIO = 250
BOMB_MIN_BYTES = 64_000_000


def _refuse_structure(name: str, what: str) -> InvalidInput:
    return InvalidInput(
        f"{name} has {what}, more than any real image (a file built to be slow to read)",
        hint="send an ordinary image; export it again if it is genuine",
    )


def _check_structure(data: bytes, media_type: str, name: str) -> None:
    """Step 3 of :func:`decode_image`. Written by hand because Pillow walks these structures in Python without
    a bound; anything these walks cannot follow is left to Pillow, which then reports the file as damaged."""
    if media_type == "image/png":
        pos, chunks = 8, 0
        while pos + 8 <= len(data):
            chunks += 1
            if chunks > MAX_PNG_CHUNKS:
                raise _refuse_structure(name, f"more than {MAX_PNG_CHUNKS:,} PNG chunks")
            (length,) = struct.unpack_from(">I", data, pos)
            if data[pos + 4 : pos + 8] == b"IEND":
                break
            pos += 12 + length
    elif media_type == "image/jpeg":
        pos, segments = 2, 0
        while pos + 4 <= len(data):
            if data[pos] != 0xFF:
                break  # not a marker: Pillow reports it
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            segments += 1
            if segments > MAX_JPEG_SEGMENTS:
                raise _refuse_structure(name, f"more than {MAX_JPEG_SEGMENTS:,} JPEG segments before its image")
            if marker == 0xDA:  # start of scan: the rest is entropy-coded data and further scans
                # 0xFF in entropy-coded data is stuffed as FF 00, so FF DA counts the scans themselves.
                if data.count(b"\xff\xda", pos) > MAX_JPEG_SCANS:
                    raise _refuse_structure(name, f"more than {MAX_JPEG_SCANS} progressive JPEG scans")
                break
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            (length,) = struct.unpack_from(">H", data, pos + 2)
            pos += 2 + length
    elif media_type == "image/gif":
        if len(data) < 13:
            return
        pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
        blocks = 0
        while pos < len(data) and data[pos] == 0x21 and pos + 2 < len(data):  # extensions before the image
            pos += 2
            while pos < len(data) and data[pos]:  # sub-blocks
                blocks += 1
                if blocks > MAX_GIF_BLOCKS:
                    raise _refuse_structure(name, f"more than {MAX_GIF_BLOCKS:,} GIF blocks before its image")
                pos += 1 + data[pos]
            pos += 1
            blocks += 1
    elif media_type == "image/tiff":
        order = "<" if data[:2] == b"II" else ">"
        if len(data) < 8:
            return
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        if ifd + 2 > len(data):
            return
        (entries,) = struct.unpack_from(order + "H", data, ifd)
        if entries > MAX_TIFF_ENTRIES:
            raise _refuse_structure(name, f"{entries:,} TIFF tags")
        for i in range(entries):
            at = ifd + 2 + 12 * i
            if at + 12 > len(data):
                break
            tag, _, count = struct.unpack_from(order + "HHI", data, at)
            if tag in (273, 279, 324, 325) and count > MAX_TIFF_STRIPS:  # strip/tile offsets and byte counts
                raise _refuse_structure(name, f"{count:,} TIFF strips or tiles")
    elif media_type == "image/bmp" and len(data) >= 34:
        (header,) = struct.unpack_from("<I", data, 14)
        if header >= 40:
            width, height, _, _, compression = struct.unpack_from("<iiHHI", data, 18)
            if compression in (1, 2) and abs(width) * abs(height) > MAX_BMP_RLE_PIXELS:
                raise TooLarge(
                    f"{name} is a run-length-compressed BMP of {abs(width)}x{abs(height)} pixels, over the limit "
                    f"of {MAX_BMP_RLE_PIXELS:,} for that format",
                    hint="convert it to PNG or JPEG",
                )


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _check_expansion(img: Image.Image, media_type: str, data: bytes, max_pixels: int, name: str) -> None:
    """Step 4's sample-data limits, from the header alone."""
    width, height = img.size
    size = len(data)
    if media_type == "image/png" and data[12:16] == b"IHDR":
        # The decompressed stream: one filter byte per row, then the samples at the file's own bit depth.
        depth, colour = data[24], data[25]
        samples = height * (1 + (width * _PNG_CHANNELS.get(colour, 4) * depth + 7) // 8)
    else:
        depth = 16 if img.mode.startswith("I;16") else (32 if img.mode in ("I", "F") else 8)
        samples = width * height * len(img.getbands()) * depth // 8
    if samples > max_pixels * 4:
        raise TooLarge(
            f"{name} holds {samples:,} bytes of pixel data ({width}x{height}, {depth}-bit), over the limit of "
            f"{max_pixels * 4:,}",
            hint="send an 8-bit image, or a smaller one; raise ASSAY_MAX_PIXELS if it is genuine",
        )
    if media_type != "image/jpeg" and samples > BOMB_MIN_BYTES and samples > BOMB_RATIO * size:
        raise TooLarge(
            f"{name} would expand {samples // max(size, 1):,} times, from {size:,} bytes to {samples:,} bytes of "
            "pixel data (a decompression bomb)",
            hint="send an ordinary image; real pictures of this size do not compress this much",
        )


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
