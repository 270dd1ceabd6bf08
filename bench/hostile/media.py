"""Hostile media: seed images of every format Assay reads, and mutators that damage them the way an attacker
(or a broken upload) would — for the fuzz test in CI (tests/provenance/test_fuzz_media.py, a small budget)
and for ``python -m bench.hostile`` (a large one).

Every mutator is a function ``(data, rng) -> bytes``, deterministic for a given ``random.Random``:

- generic: truncation, byte flips, inserted junk, deleted, duplicated or swapped spans, 16/32-bit fields set to
  extremes;
- structure-aware: PNG chunks (length, type, data, declared size, CRC recomputed so the damage reaches the
  decoder), JPEG segments (lengths, markers, SOF sizes, tables, cut scans), GIF blocks, WebP RIFF chunks,
  TIFF IFDs (entry counts, strip offsets pointing anywhere);
- C2PA: the JUMBF boxes of the manifest store (box sizes, types, the CBOR inside them), e.g. the issue's
  ``allowed`` -> ``allowe\\xb0``.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

Mutator = Callable[[bytes, random.Random], bytes]


def picture(seed: int, w: int = 320, h: int = 240) -> np.ndarray:
    """A small picture with gradients and noise (texture for every codec to work on)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 200 + 30, y / h * 180 + 40, (x + y) / (w + h) * 150 + 60], -1)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def seed_images() -> dict[str, bytes]:
    """One small file per format and variant Assay reads (no binary fixtures: made here)."""
    px = picture(7)
    img = Image.fromarray(px)
    out: dict[str, bytes] = {}

    def save(name: str, im: Image.Image, fmt: str, **kw: object) -> None:
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        out[name] = buf.getvalue()

    save("baseline.jpg", img, "JPEG", quality=85)
    save("progressive.jpg", img, "JPEG", quality=85, progressive=True)
    save("rgb.png", img, "PNG")
    save("palette.png", img.convert("P"), "PNG")
    save("grey16.png", Image.fromarray(px[..., 0].astype(np.uint16) * 257), "PNG")
    save("rgba.png", img.convert("RGBA"), "PNG")
    save("lossy.webp", img, "WEBP", quality=70)
    save("lossless.webp", img, "WEBP", lossless=True)
    save("anim.gif", img.convert("P"), "GIF", save_all=True, append_images=[img.rotate(90).convert("P")])
    save("lzw.tif", img, "TIFF", compression="tiff_lzw")
    save("raw.tif", img, "TIFF")
    save("rgb.bmp", img, "BMP")
    try:
        save("image.avif", img, "AVIF", quality=50)
    except (KeyError, OSError, ValueError):  # Pillow without libavif: the format is simply not seeded
        pass
    return out


# -- generic ---------------------------------------------------------------------------------------------------


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, len(data))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randrange(1, 256)
    return bytes(out)


def insert_junk(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    junk = rng.choice([b"\x00" * rng.randint(1, 64), b"\xff" * rng.randint(1, 64), rng.randbytes(rng.randint(1, 64))])
    return data[:at] + junk + data[at:]


def edit_span(data: bytes, rng: random.Random) -> bytes:
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 4096))
    kind = rng.randrange(3)
    if kind == 0:
        return data[:a] + data[b:]  # delete
    if kind == 1:
        return data[:b] + data[a:b] * rng.randint(1, 4) + data[b:]  # duplicate
    c = rng.randrange(len(data))
    d = min(len(data), c + (b - a))
    if d <= a or c >= b:  # two disjoint spans: swap them
        lo, hi = sorted([(a, b), (c, d)])
        return data[: lo[0]] + data[hi[0] : hi[1]] + data[lo[1] : hi[0]] + data[lo[0] : lo[1]] + data[hi[1] :]
    return data


def extreme_field(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(max(1, len(data) - 4))
    width = rng.choice([2, 4])
    value = rng.choice([0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x8000])
    value &= (1 << (8 * width)) - 1
    return data[:at] + value.to_bytes(width, rng.choice(["big", "little"])) + data[at + width :]


# -- structure-aware ---------------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, length, type) of each chunk a reader would find."""
    pos, out = 8, []
    while pos + 8 <= len(data) and len(out) < 10_000:
        length = struct.unpack_from(">I", data, pos)[0]
        out.append((pos, length, data[pos + 4 : pos + 8]))
        pos += 12 + length
    return out


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_chunk(data: bytes, rng: random.Random) -> bytes:
    chunks = _png_chunks(data)
    if not data.startswith(b"\x89PNG") or not chunks:
        return flip_bytes(data, rng)
    pos, length, kind = rng.choice(chunks)
    body = data[pos + 8 : pos + 8 + length]
    end = pos + 12 + length
    choice = rng.randrange(7)
    if choice == 0:  # declare another length
        bad = rng.choice([0, 1, length + 1, length * 2, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)])
        return data[:pos] + struct.pack(">I", bad & 0xFFFFFFFF) + data[pos + 4 :]
    if choice == 1 and kind == b"IHDR" and len(body) >= 13:  # another size, depth or colour type, CRC fixed
        w, h = rng.choice([(0, 0), (1, 1), (65535, 65535), (8900, 8900), (1 << 31, 1), (4, 1 << 24)])
        depth = rng.choice([1, 2, 4, 8, 16, 3, 0])
        colour = rng.choice([0, 2, 3, 4, 6, 1, 7])
        new = struct.pack(">IIBB", w, h, depth, colour) + body[10:]
        return data[:pos] + _png_chunk(b"IHDR", new) + data[end:]
    if choice == 2:  # damage the body, recompute the CRC so the decoder sees it
        new = flip_bytes(body, rng) if body else rng.randbytes(4)
        return data[:pos] + _png_chunk(kind, new) + data[end:]
    if choice == 3:  # drop the chunk
        return data[:pos] + data[end:]
    if choice == 4:  # repeat it many times
        return data[:end] + data[pos:end] * rng.randint(2, 200) + data[end:]
    if choice == 5:  # an unknown or duplicated critical chunk before it
        extra = _png_chunk(rng.choice([b"IHDR", b"PLTE", b"tRNS", b"zzZz", b"acTL", b"iCCP"]), rng.randbytes(13))
        return data[:pos] + extra + data[pos:]
    return data[:pos] + struct.pack(">I", length) + rng.randbytes(4) + data[pos + 8 :]  # a random type


def _jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(offset, marker) of the segments before the first scan, and the scan itself."""
    pos, out = 2, []
    while pos + 4 <= len(data) and data[pos] == 0xFF and len(out) < 1000:
        marker = data[pos + 1]
        out.append((pos, marker))
        if marker == 0xDA:
            break
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return out


def jpeg_segment(data: bytes, rng: random.Random) -> bytes:
    segments = _jpeg_segments(data)
    if not data.startswith(b"\xff\xd8") or not segments:
        return flip_bytes(data, rng)
    pos, marker = rng.choice(segments)
    choice = rng.randrange(6)
    if choice == 0:  # another length
        return (
            data[: pos + 2]
            + struct.pack(">H", rng.choice([0, 1, 2, 3, 0xFFFF, rng.randrange(65536)]))
            + data[pos + 4 :]
        )
    if choice == 1:  # another marker
        return (
            data[: pos + 1]
            + bytes([rng.choice([0xC0, 0xC2, 0xC4, 0xDB, 0xDA, 0xDD, 0xD9, 0x01, 0xEB, 0xFF])])
            + data[pos + 2 :]
        )
    if choice == 2 and marker in (0xC0, 0xC1, 0xC2):  # another size or component count in the frame header
        w, h = rng.choice([(0, 0), (65535, 65535), (1, 65535), (8192, 8193)])
        return data[: pos + 5] + struct.pack(">HH", h, w) + bytes([rng.choice([0, 1, 3, 4, 255])]) + data[pos + 10 :]
    if choice == 3:  # damage its body
        length = struct.unpack_from(">H", data, pos + 2)[0] if marker != 0xDA else 12
        body = data[pos + 4 : pos + 2 + length]
        return data[: pos + 4] + (flip_bytes(body, rng) if body else b"") + data[pos + 2 + length :]
    if choice == 4:  # cut the entropy-coded data, or fill it with restart markers
        scan = next((p for p, m in segments if m == 0xDA), None)
        if scan is not None:
            cut = rng.randrange(scan, len(data))
            return data[:cut] + (b"\xff\xd0" * rng.randint(0, 500) if rng.random() < 0.5 else b"") + b"\xff\xd9"
    return data[:pos] + data[pos:] * 1 + b"\xff\xfe\x00\x02" * rng.randint(1, 2000)  # comment segments after


def gif_block(data: bytes, rng: random.Random) -> bytes:
    if not data.startswith(b"GIF"):
        return flip_bytes(data, rng)
    choice = rng.randrange(4)
    if choice == 0:  # logical screen size
        return data[:6] + struct.pack("<HH", rng.choice([0, 1, 65535]), rng.choice([0, 1, 65535])) + data[10:]
    at = data.find(b"\x2c", 13)  # an image descriptor
    if at < 0:
        return truncate(data, rng)
    if choice == 1:  # the frame's size and position
        return data[: at + 1] + rng.randbytes(8) + data[at + 9 :]
    if choice == 2 and at + 10 < len(data):  # the LZW minimum code size
        return data[: at + 10] + bytes([rng.choice([0, 1, 12, 13, 255])]) + data[at + 11 :]
    return data[:13] + b"\x21\xfe\x01x\x00" * rng.randint(1, 3000) + data[13:]  # many extension blocks


def webp_chunk(data: bytes, rng: random.Random) -> bytes:
    if data[:4] != b"RIFF":
        return flip_bytes(data, rng)
    choice = rng.randrange(3)
    if choice == 0:  # the RIFF size
        return data[:4] + struct.pack("<I", rng.choice([0, 4, len(data), 0xFFFFFFFF])) + data[8:]
    if choice == 1 and len(data) > 20:  # the first chunk's size
        return data[:16] + struct.pack("<I", rng.choice([0, 1, 0xFFFFFFFF, rng.randrange(1 << 32)])) + data[20:]
    return (
        data[:12]
        + b"VP8X"
        + struct.pack("<I", 10)
        + bytes([rng.randrange(256), 0, 0, 0])
        + rng.randbytes(6)
        + data[12:]
    )


def tiff_ifd(data: bytes, rng: random.Random) -> bytes:
    if data[:2] not in (b"II", b"MM") or len(data) < 16:
        return flip_bytes(data, rng)
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    if ifd + 2 > len(data):
        return extreme_field(data, rng)
    count = struct.unpack_from(order + "H", data, ifd)[0]
    choice = rng.randrange(3)
    if choice == 0:  # the number of entries
        return data[:ifd] + struct.pack(order + "H", rng.choice([0, 1, 0xFFFF, count + 1])) + data[ifd + 2 :]
    if count == 0:
        return data
    entry = ifd + 2 + 12 * rng.randrange(count)
    if entry + 12 > len(data):
        return data
    if choice == 1:  # an entry's type, count and value/offset
        return data[: entry + 2] + rng.randbytes(10) + data[entry + 12 :]
    return data[: entry + 4] + struct.pack(order + "I", rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF])) + data[entry + 8 :]


_JUMBF_TYPES = (b"jumb", b"jumd", b"c2pa", b"c2ma", b"c2as", b"c2cl", b"c2cs", b"cbor", b"json", b"bfdb", b"bidb")
_CBOR_TEXTS = (b"allowed", b"notAllowed", b"c2pa.actions", b"c2pa.soft-binding", b"alg", b"blocks", b"urn:c2pa")


def jumbf_box(data: bytes, rng: random.Random) -> bytes:
    """Damage the C2PA manifest store inside the file (a file without one gets a generic mutation)."""
    spots = [i for t in _JUMBF_TYPES for i in _find_all(data, t)]
    texts = [(i, t) for t in _CBOR_TEXTS for i in _find_all(data, t)]
    if not spots:
        return flip_bytes(data, rng)
    choice = rng.randrange(5)
    if choice == 0 and texts:  # a CBOR text changed by one byte (the allowed -> allowe\xb0)
        at, text = rng.choice(texts)
        return data[: at + len(text) - 1] + bytes([rng.randrange(128, 256)]) + data[at + len(text) :]
    at = rng.choice(spots)
    if choice == 1 and at >= 4:  # the box's size (LBox, just before its type)
        size = rng.choice([0, 1, 7, 8, 9, 0xFFFFFFFF, rng.randrange(1 << 32)])
        return data[: at - 4] + struct.pack(">I", size) + data[at:]
    if choice == 2:  # its type
        return data[:at] + rng.choice([rng.randbytes(4), b"jumb", b"free", b"\x00\x00\x00\x00"]) + data[at + 4 :]
    if choice == 3:  # the bytes after it (a description box's label, a CBOR map)
        end = min(len(data), at + 4 + rng.randint(1, 64))
        return data[: at + 4] + flip_bytes(data[at + 4 : end], rng) + data[end:] if end > at + 4 else data
    return data[:at] + data[at : at + rng.randint(8, 512)] * rng.randint(2, 50) + data[at:]  # nested repeats


def _find_all(data: bytes, needle: bytes, limit: int = 64) -> list[int]:
    out, i = [], data.find(needle)
    while i >= 0 and len(out) < limit:
        out.append(i)
        i = data.find(needle, i + 1)
    return out


GENERIC: tuple[Mutator, ...] = (truncate, flip_bytes, insert_junk, edit_span, extreme_field)
BY_FORMAT: dict[str, tuple[Mutator, ...]] = {
    "png": (png_chunk,),
    "jpg": (jpeg_segment,),
    "gif": (gif_block,),
    "webp": (webp_chunk,),
    "tif": (tiff_ifd,),
}


def mutate(name: str, data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One to three mutations of ``data`` (a seed named ``name``), and their names."""
    suffix = name.rsplit(".", 1)[-1]
    pool = (*GENERIC, *BY_FORMAT.get(suffix, ()), *BY_FORMAT.get(suffix, ()), jumbf_box)
    names = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        fn = rng.choice(pool)
        if fn is jumbf_box and b"jumb" not in data:
            fn = rng.choice(GENERIC)
        try:
            data = fn(data, rng) if data else data
        except (struct.error, ValueError, IndexError):  # a mutator's own edge case: damage it plainly instead
            data = flip_bytes(data, rng) if data else data
        names.append(fn.__name__)
    return data, "+".join(names)
