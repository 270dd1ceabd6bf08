"""Mark identifiers and their tags; untrusted media decoding under limits (fuzzed with hypothesis)."""

from __future__ import annotations

import hashlib
import hmac
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from assay.errors import AssayError, InvalidInput, TooLarge, UnsupportedMedia
from assay.provenance.keys import MAX_NAMESPACE, MAX_SEQUENCE, MarkId, PayloadCipher, RegisterKeys, namespace_key
from assay.provenance.media import decode_image, hamming, perceptual_hash

from .conftest import encode, synthetic_pixels

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 4_000_000}


@given(ns=st.integers(1, MAX_NAMESPACE), seq=st.integers(1, MAX_SEQUENCE), key=st.binary(min_size=32, max_size=32))
def test_mark_ids_round_trip_and_only_verify_under_their_key(ns: int, seq: int, key: bytes) -> None:
    mark = MarkId.mint(namespace=ns, sequence=seq, key=key)
    assert (mark.namespace, mark.sequence) == (ns, seq)
    assert MarkId.parse(mark.hex) == mark == MarkId.from_binding(mark.binding_value)
    assert mark.tag_valid(key)
    assert (
        not mark.tag_valid(bytes(b ^ 1 for b in key))
        or mark.tag == MarkId.mint(namespace=ns, sequence=seq, key=bytes(b ^ 1 for b in key)).tag
    )  # a 16-bit tag may collide (2^-16)


@settings(max_examples=50)
@given(value=st.integers(0, (1 << 64) - 1), key=st.binary(min_size=32, max_size=32))
def test_the_mark_id_cipher_is_the_one_existing_marks_carry(value: int, key: bytes) -> None:
    """The cipher keeps HMAC's keyed states for speed; every mark ever made must still resolve: its output is
    pinned to the Feistel network written out from its definition (10 rounds, HMAC-SHA256 from the standard
    library), and decryption inverts it."""
    round_key = hmac.new(key, b"assay/payload-cipher/v1", hashlib.sha256).digest()
    left, right = value >> 32, value & 0xFFFFFFFF
    for r in range(10):
        f = hmac.new(round_key, bytes([r]) + right.to_bytes(4, "big"), hashlib.sha256).digest()[:4]
        left, right = right, left ^ int.from_bytes(f, "big")
    cipher = PayloadCipher(key)
    assert cipher.encrypt(value) == (left << 32) | right
    assert cipher.decrypt(cipher.encrypt(value)) == value


def test_forged_tags_are_rejected_at_the_expected_rate() -> None:
    key = namespace_key(b"m" * 32, 7)
    genuine = MarkId.mint(namespace=7, sequence=1000, key=key)
    forged = [MarkId(genuine.payload ^ t) for t in range(1, 4097)]  # every other tag value in a range
    assert sum(f.tag_valid(key) for f in forged) == 0


@pytest.mark.parametrize("text", ["", "xyz", "0123", "g" * 16, "0" * 17])
def test_bad_mark_ids_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        MarkId.parse(text)


@pytest.mark.parametrize("value", ["not base64!", "AAEC", "AAECAwQFBgcI"])
def test_bad_binding_values_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        MarkId.from_binding(value)


def test_register_keys_are_created_once_and_differ_per_namespace(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = RegisterKeys.open(tmp_path), RegisterKeys.open(tmp_path)
    assert a == b and a.watermark != a.master and "secret" in repr(a) and a.master.hex() not in repr(a)
    assert a.namespace_key(1) != a.namespace_key(2)


# ---------------------------------------------------------------------------------------------- media


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK", "LA"])
def test_every_colour_mode_becomes_rgb(mode: str) -> None:
    img = Image.fromarray(synthetic_pixels(2, 200, 150)).convert("RGBA" if mode == "LA" else mode)
    if mode == "LA":
        img = img.convert("LA")
    fmt = "TIFF" if mode in ("I;16", "CMYK") else "PNG"
    out = decode_image(_save(img, fmt), **LIMITS)
    assert out.pixels.dtype == np.uint8 and out.pixels.shape == (150, 200, 3)


def _save(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(TooLarge, match="pixels"):
        decode_image(_png_header_only(60_000, 60_000), **LIMITS)


@pytest.mark.parametrize(
    "data,error",
    [
        (b"", InvalidInput),
        (b"hello, this is text", UnsupportedMedia),
        (b"%PDF-1.7\n...", UnsupportedMedia),
        (b"\x89PNG\r\n\x1a\n\x00\x00", InvalidInput),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, InvalidInput),
    ],
)
def test_non_images_and_broken_headers_get_a_clear_error(data: bytes, error: type) -> None:
    with pytest.raises(error) as err:
        decode_image(data, name="upload.jpg", **LIMITS)
    assert "upload.jpg" in err.value.message and err.value.hint


def test_truncated_images_are_errors_not_grey_pictures() -> None:
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = encode(synthetic_pixels(3, 300, 200), fmt)
        with pytest.raises(InvalidInput, match="truncated or damaged"):
            decode_image(data[: len(data) * 2 // 3], **LIMITS)


def test_size_and_small_image_limits() -> None:
    data = encode(synthetic_pixels(4, 300, 200), "PNG")
    with pytest.raises(TooLarge):
        decode_image(data, max_bytes=100, max_pixels=10**7)
    with pytest.raises(TooLarge):
        decode_image(data, max_bytes=10**7, max_pixels=300 * 200 - 1)
    with pytest.raises(InvalidInput, match="too small"):
        decode_image(encode(np.full((40, 40, 3), 90, np.uint8), "PNG"), **LIMITS)


_SEEDS = {fmt: encode(synthetic_pixels(5, 96, 80), fmt) for fmt in ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(_SEEDS)),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=8),
)
def test_fuzzed_images_never_crash_the_decoder(fmt: str, cut: float, flips: list[tuple[float, int]]) -> None:
    data = bytearray(_SEEDS[fmt][: max(1, int(len(_SEEDS[fmt]) * (0.3 + 0.7 * cut)))])
    for where, xor in flips:
        data[int(where * (len(data) - 1))] ^= xor
    try:
        out = decode_image(bytes(data), **LIMITS)
    except AssayError as exc:
        assert exc.message and exc.hint
    else:
        assert out.pixels.ndim == 3 and out.pixels.shape[2] == 3 and out.pixels.dtype == np.uint8


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        decode_image(data, **LIMITS)
    except AssayError:
        pass


def test_perceptual_hash_tells_re_encodes_from_other_pictures() -> None:
    a = synthetic_pixels(6, 640, 480)
    jpeg = np.asarray(Image.open(io.BytesIO(encode(a, "JPEG", quality=60))).convert("RGB"))
    small = np.asarray(Image.fromarray(a).resize((320, 240)))
    other = synthetic_pixels(7, 640, 480)
    h = perceptual_hash(a)
    assert hamming(h, perceptual_hash(jpeg)) <= 6
    assert hamming(h, perceptual_hash(small)) <= 6
    assert hamming(h, perceptual_hash(other)) > 12
