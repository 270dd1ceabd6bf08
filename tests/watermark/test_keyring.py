"""Many keys: the ring names the key that matched, other keys find nothing, v1 marks are still read (flagged)."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.watermark import (
    ALGORITHM,
    LEGACY_ALGORITHM,
    KeyRing,
    WatermarkError,
    _embed_legacy,
    _keys,
    detect,
    embed,
    tile_period,
)
from bench.watermark import attacks


def _ring(n: int, *extra: tuple[str, bytes]) -> KeyRing:
    return KeyRing([(f"sys-{i}", hashlib.sha256(f"ring key {i}".encode()).digest()) for i in range(n)] + list(extra))


@pytest.fixture(scope="module")
def ring(key: bytes) -> KeyRing:
    return _ring(300, ("acme-imagegen", key))


def test_the_ring_names_the_key(marked: dict, ring: KeyRing) -> None:
    pixels, payload = marked["coffee"]
    found = detect(pixels, keys=ring)
    assert found.payload == payload and found.key_id == "acme-imagegen" and found.algorithm == ALGORITHM
    assert found.p_value < 1e-6 and found.binding_p_value < 1e-4 and found.unbound_payload is None
    # After an attack that needs the lattice search and the sync.
    rotated = attacks.rotate(5)(pixels, np.random.default_rng(1))
    again = detect(rotated, keys=ring)
    assert again.payload == payload and again.key_id == "acme-imagegen"


def test_a_ring_without_the_key_finds_nothing(marked: dict) -> None:
    for name in ("coffee", "camera"):
        found = detect(marked[name][0], keys=_ring(300))
        assert found.payload is None and found.unbound_payload is None and found.key_id is None
        assert found.p_value > 1e-3


def test_the_ring_pickles_and_extends(marked: dict, key: bytes) -> None:
    pixels, payload = marked["astronaut"]
    base = _ring(50)
    assert detect(pixels, keys=base).payload is None
    grown = base.extended([("acme-imagegen", key)])
    assert len(grown) == 51 and len(base) == 50 and grown.ids[-1] == "acme-imagegen"
    shipped = pickle.loads(pickle.dumps(grown))
    assert detect(pixels, keys=shipped).key_id == "acme-imagegen"
    assert detect(pixels, keys=shipped).payload == payload
    assert "acme-imagegen" in repr(shipped) or "51 keys" in repr(shipped)
    assert key.hex() not in repr(shipped)


def test_ring_and_argument_errors(key: bytes) -> None:
    with pytest.raises(WatermarkError, match="twice"):
        KeyRing([("a", key), ("a", bytes(32))])
    with pytest.raises(WatermarkError, match="32 bytes"):
        KeyRing([("a", b"short")])
    with pytest.raises(WatermarkError, match="non-empty"):
        KeyRing([("", key)])
    px = np.zeros((300, 300, 3), np.uint8)
    with pytest.raises(WatermarkError, match="exactly one"):
        detect(px)
    with pytest.raises(WatermarkError, match="exactly one"):
        detect(px, key=key, keys=KeyRing([("a", key)]))
    with pytest.raises(WatermarkError, match="KeyRing"):
        detect(px, keys=[("a", key)])  # type: ignore[arg-type]


def test_version_1_marks_are_still_found_and_flagged(photos: dict, key: bytes, ring: KeyRing) -> None:
    pixels = photos["astronaut"]
    old = _embed_legacy(pixels, 0xABCDEF, key=key)
    found = detect(attacks.jpeg(75)(old, None), key=key)  # key= looks for both versions
    assert found.payload == 0xABCDEF and found.algorithm == LEGACY_ALGORITHM
    assert detect(old, keys=ring).payload is None  # a ring looks for v2 only ...
    assert detect(old, keys=ring, legacy_key=key).algorithm == LEGACY_ALGORITHM  # ... unless told
    # And a v2 mark is never read as a v1 one.
    assert detect(embed(pixels, 5, key=key), key=key).algorithm == ALGORITHM


def test_the_marked_frame_is_recovered(marked: dict, key: bytes) -> None:
    """origin_px: where the marked image's top-left pixel lies in a crop; period_px gives the scale."""
    pixels, payload = marked["astronaut"]
    h, w = pixels.shape[:2]
    for y0, x0 in ((37, 101), (200, 13)):
        crop = np.ascontiguousarray(pixels[y0 : y0 + 600, x0 : x0 + 560])
        found = detect(crop, key=key)
        assert found.payload == payload and found.origin_px is not None
        assert found.origin_px == pytest.approx((-x0, -y0), abs=2.5)
        assert found.period_px == pytest.approx(tile_period(w, h), rel=0.01)
    flipped = detect(np.ascontiguousarray(pixels[:, ::-1]), key=key)
    assert flipped.flipped and flipped.origin_px == pytest.approx((w - 1, 0), abs=2.5)


@settings(max_examples=50, deadline=None)
@given(payload=st.integers(min_value=0, max_value=(1 << 64) - 1), key=st.binary(min_size=32, max_size=32))
def test_the_payload_cipher_is_a_permutation(payload: int, key: bytes) -> None:
    ciphertext = _keys.encrypt(key, payload)
    assert 0 <= ciphertext < 1 << 64 and _keys.decrypt(key, ciphertext) == payload


@settings(max_examples=50, deadline=None)
@given(payload=st.integers(min_value=0, max_value=(1 << 64) - 1), key=st.binary(min_size=32, max_size=32))
def test_the_payload_cipher_is_the_one_existing_marks_carry(payload: int, key: bytes) -> None:
    """The cipher keeps precomputed round states for speed; every mark ever made must still decrypt: its
    output is pinned to the Feistel network written out from its definition (4 rounds, keyed BLAKE2b)."""

    def f(i: int, half: int) -> int:
        h = hashlib.blake2b(half.to_bytes(4, "big"), key=key, digest_size=4, person=b"assay-wm-fst-2", salt=bytes([i]))
        return int.from_bytes(h.digest(), "big")

    left, right = payload >> 32, payload & 0xFFFFFFFF
    for i in range(4):
        left, right = right, left ^ f(i, right)
    assert _keys.encrypt(key, payload) == (left << 32) | right


def test_embedded_bits_are_not_the_payload(key: bytes) -> None:
    """The coded bits of two consecutive payloads differ in about half their positions (a cipher, not a
    code), and a different key gives different bits for the same payload."""
    a, b = _keys.encrypt(key, 1000), _keys.encrypt(key, 1001)
    assert 16 <= bin(a ^ b).count("1") <= 48
    assert _keys.encrypt(bytes(32), 1000) != a
