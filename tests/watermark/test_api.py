"""The public API: round trips, geometry in the result, and a precise error for every bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from assay.errors import InvalidInput
from assay.watermark import ALGORITHM, Detection, WatermarkError, detect, embed, from_rgb, to_rgb


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture with some detail: photo-like enough for quick API tests."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    base += rng.normal(0, 6, size=base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def test_round_trip_on_a_photo(marked: dict, photos: dict, key: bytes) -> None:
    pixels, payload = marked["coffee"]
    assert pixels.shape == photos["coffee"].shape and pixels.dtype == np.uint8
    found = detect(pixels, key=key)
    assert isinstance(found, Detection)
    assert found.payload == payload
    assert found.p_value < 1e-6 and found.crc_ok and found.found
    assert found.bit_agreement > 0.9
    assert abs(found.rotation_deg) < 0.5 and not found.flipped
    assert found.as_dict()["payload"] == f"{payload:016x}"
    assert found.algorithm == ALGORITHM == "org.assay.watermark.2"


def test_embed_does_not_modify_its_input(photos: dict, key: bytes) -> None:
    pixels = photos["astronaut"]
    before = pixels.copy()
    embed(pixels, 1, key=key)
    assert np.array_equal(pixels, before)


def test_geometry_is_reported(marked: dict, key: bytes) -> None:
    from bench.watermark import attacks

    pixels, payload = marked["astronaut"]
    rotated = attacks.rotate(5)(pixels, np.random.default_rng(0))
    found = detect(rotated, key=key)
    assert found.payload == payload
    # Pillow rotates counter-clockwise; in image coordinates (y down) the lattice turns by -5 degrees.
    assert found.rotation_deg == pytest.approx(-5.0, abs=0.3)
    half = attacks.resize(0.5)(pixels, np.random.default_rng(0))
    assert detect(half, key=key).period_px == pytest.approx(found.period_px / 2, rel=0.02)


@pytest.mark.parametrize(
    ("h", "w"),
    [(256, 256), (257, 391), (300, 2400), (2400, 300), (1031, 769), (256, 4096), (1500, 8192)],
)
def test_odd_sizes_and_aspect_ratios(h: int, w: int, key: bytes) -> None:
    pixels = _texture(h, w, seed=h + w)
    payload = (h * 1_000_003 + w) % (1 << 64)
    out = embed(pixels, payload, key=key)
    assert out.shape == (h, w, 3)
    assert detect(out, key=key).payload == payload


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_any_payload_round_trips(payload: int) -> None:
    key = bytes(range(32))
    pixels = _PROPERTY_IMAGE
    assert detect(embed(pixels, payload, key=key), key=key).payload == payload


_PROPERTY_IMAGE = _texture(320, 400, seed=7)


def test_wrong_key_finds_nothing(marked: dict) -> None:
    pixels, _ = marked["coffee"]
    other = detect(pixels, key=b"\x01" * 32)
    assert other.payload is None and other.p_value > 1e-3


def test_unmarked_photos_find_nothing(photos: dict, key: bytes) -> None:
    for pixels in photos.values():
        found = detect(pixels, key=key)
        assert found.payload is None
        assert found.p_value > 1e-3


def test_too_small_to_look_at_returns_nothing(key: bytes) -> None:
    assert detect(np.zeros((40, 300, 3), np.uint8), key=key) == Detection(payload=None, p_value=1.0)


def test_flat_image_finds_nothing_and_marks_quietly(key: bytes) -> None:
    flat = np.full((300, 300, 3), 128, np.uint8)
    marked = embed(flat, 5, key=key)
    assert detect(flat, key=key).payload is None
    # The pattern on a flat area is faint: a couple of grey levels at most, and rare at that.
    assert np.abs(marked.astype(int) - flat).max() <= 8


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"key": b"short"}, "key", "exactly 32 bytes"),
        ({"key": "a" * 32}, "key", "must be bytes"),
        ({"payload": -1}, "payload", "64 unsigned bits"),
        ({"payload": 1 << 64}, "payload", "64 unsigned bits"),
        ({"payload": 1.5}, "payload", "must be an integer"),
        ({"payload": True}, "payload", "must be an integer"),
        ({"pixels": np.zeros((255, 400, 3), np.uint8)}, "pixels", "at least 256x256"),
        ({"pixels": np.zeros((300, 8193, 3), np.uint8)}, "pixels", "at most 8192"),
        ({"pixels": np.zeros((300, 300, 3), np.float32)}, "pixels", "RGB uint8"),
        ({"pixels": np.zeros((300, 300), np.uint8)}, "pixels", "RGB uint8"),
        ({"pixels": np.zeros((300, 300, 4), np.uint8)}, "pixels", "RGB uint8"),
        ({"pixels": [[0, 0, 0]]}, "pixels", "numpy array"),
    ],
)
def test_bad_input_is_a_precise_error(kwargs: dict, field: str, words: str) -> None:
    args = {"pixels": np.zeros((300, 300, 3), np.uint8), "payload": 7, "key": bytes(32)} | kwargs
    with pytest.raises(WatermarkError) as info:
        embed(args["pixels"], args["payload"], key=args["key"])
    err = info.value
    assert isinstance(err, InvalidInput)
    assert words in err.message
    assert err.hint
    assert err.problems[0].path == field
    assert err.as_dict()["code"] == "watermark_invalid_input"


def test_detect_validates_too(key: bytes) -> None:
    with pytest.raises(WatermarkError):
        detect(np.zeros((300, 300, 3), np.uint8), key=b"x" * 31)
    with pytest.raises(WatermarkError):
        detect(np.zeros((300, 300, 3), np.int16), key=key)
    with pytest.raises(WatermarkError):
        detect(np.zeros((100, 9000, 3), np.uint8), key=key)


def test_grey_rgba_palette_and_16_bit_images(photos: dict, key: bytes) -> None:
    rgb = photos["coffee"][:600, :700]
    # RGBA: the alpha survives untouched.
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    pixels, a = to_rgb(rgba)
    assert a is not None and np.array_equal(a, alpha)
    out = from_rgb(embed(pixels, 11, key=key), a)
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], alpha)
    assert detect(to_rgb(out)[0], key=key).payload == 11
    # Grey: marked as luma, handed back grey.
    grey = Image.fromarray(rgb).convert("L")
    pixels, a = to_rgb(grey)
    assert a is None and pixels.shape == (*rgb.shape[:2], 3)
    out = from_rgb(embed(pixels, 12, key=key), mode=grey.mode)
    assert out.mode == "L"
    assert detect(to_rgb(out)[0], key=key).payload == 12
    # Paletted with transparency: becomes RGB + alpha.
    pal = Image.fromarray(rgb).quantize(64)
    pal.info["transparency"] = 0
    pixels, a = to_rgb(pal)
    assert a is not None and pixels.dtype == np.uint8
    # 16-bit grey: scaled to 8 bits.
    deep = Image.frombytes("I;16", grey.size, (np.asarray(grey, dtype="<u2") * 257).tobytes())
    pixels, a = to_rgb(deep)
    assert np.array_equal(pixels[..., 0], np.asarray(grey))
    # Not an image at all.
    with pytest.raises(WatermarkError):
        to_rgb(np.zeros((3, 3)))  # type: ignore[arg-type]
    with pytest.raises(WatermarkError):
        from_rgb(pixels, np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize("period", [128.0, 131.7, 117.0, 213.4])
def test_the_axis_aligned_fold_is_the_general_fold(period: float) -> None:
    from assay.watermark import _detect

    work = np.random.default_rng(3).normal(size=(401, 587)).astype(np.float32)
    # b = 0 takes the separable shortcut; a vanishing b takes the general path: the same tile.
    assert np.array_equal(_detect.fold(work, (period, 0.0)), _detect.fold(work, (period, 1e-12)))
