"""Version 3 (``org.assay.watermark.3``): the message field that survives the removal of the tile (issue 9).

The removal test runs the attack on version 2 first and asserts that it works there (so it can fail), then that
version 3 is still found, through its field. Full figures: ``python -m bench.watermark.adversarial.removal_cost``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from assay.watermark import FIELD_ALGORITHM, KeyRing, WatermarkError, _v3, detect, embed
from bench.watermark import attacks
from bench.watermark.adversarial import attacks as adv

SECRET = hashlib.sha256(b"test: the register's field secret").digest()
KEY = hashlib.sha256(b"test: acme v3 key").digest()


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    others = [(f"system-{i}", hashlib.sha256(f"test: other {i}".encode()).digest()) for i in range(40)]
    return KeyRing([*others, ("acme", KEY)])


@pytest.fixture(scope="module")
def marked3(photos: dict) -> dict[str, tuple[np.ndarray, int]]:
    out = {}
    for i, (name, pixels) in enumerate(photos.items()):
        payload = (0x2545F4914F6CDD1D * (i + 3)) % (1 << 64)
        out[name] = (embed(pixels, payload, key=KEY, field_secret=SECRET), payload)
    return out


def _register(*payloads: int):  # noqa: ANN202 - the register's check, as detect() calls it
    recorded = set(payloads)
    return lambda key_id, payload: key_id == "acme" and payload in recorded


def test_a_version_3_mark_is_found_through_its_tile_and_bound_by_its_field(marked3: dict, ring: KeyRing) -> None:
    for name, (px, payload) in marked3.items():
        found = detect(px, keys=ring, field_secret=SECRET, accept=_register(payload))
        assert (found.payload, found.key_id, found.algorithm, found.layer) == (payload, "acme", FIELD_ALGORITHM, "tile")
        assert found.p_value < 1e-6, name
        # JPEG and a rotation keep it, through the tile as version 2 does.
        for attack in ("jpeg50", "rotate5"):
            got = detect(attacks.ALL[attack](px, np.random.default_rng(1)), keys=ring, field_secret=SECRET)
            assert got.payload == payload, (name, attack)


def test_removing_the_tile_removes_version_2_but_the_field_still_names_the_system(
    photos: dict, marked: dict, marked3: dict, key: bytes, ring: KeyRing
) -> None:
    v2_ring = ring.extended([("v2-system", key)])
    strengths = [round(0.8 + 0.1 * i, 1) for i in range(13)]
    for name in ("coffee", "astronaut"):
        # The attack: subtract the image's own folded residual (the tile's estimate), at the attacker's best
        # strength: the first that removes the version-2 mark.
        px2, payload2 = marked[name]
        assert detect(px2, keys=v2_ring).payload == payload2
        fold2 = adv.folded_tile(px2)
        best = next(s for s in strengths if detect(adv.subtract(px2, fold2, s), keys=v2_ring).payload is None)
        assert adv.psnr(px2, adv.subtract(px2, fold2, best)) >= 35.0  # the attack works on version 2, cheaply
        px3, payload3 = marked3[name]
        fold3 = adv.folded_tile(px3)
        layers = set()
        for s in strengths[strengths.index(best) :]:
            removed3 = adv.subtract(px3, fold3, s)
            if adv.psnr(px3, removed3) < 35.0:
                break
            found = detect(removed3, keys=ring, field_secret=SECRET, accept=_register(payload3))
            assert (found.payload, found.key_id) == (payload3, "acme"), (name, s)
            assert found.p_value < 1e-6
            layers.add(found.layer)
        assert "field" in layers, name  # the tile's message was gone at some strength: the field carried it
        # The field alone names no key: without the register's check, or with a check that takes two keys'
        # decryptions for marks, nothing is reported; without the secret the field is unreadable.
        assert detect(removed3, keys=ring, field_secret=SECRET).payload is None
        everything = detect(removed3, keys=ring, field_secret=SECRET, accept=lambda key_id, payload: True)
        assert everything.payload is None
        assert detect(removed3, keys=ring).payload is None


def test_the_field_reads_nothing_on_unmarked_or_version_2_images(photos: dict, marked: dict, ring: KeyRing) -> None:
    gate = _v3.field_gate()
    from assay.watermark import _detect

    for name, pixels in photos.items():
        for px in (pixels, marked[name][0]):
            folded = next(_detect.folded_tiles(px))
            read = _v3.read_unaltered(folded, SECRET)
            assert read.z < gate and read.p_value > 1e-6, name
            assert detect(px, keys=ring, field_secret=SECRET, accept=lambda key_id, payload: True).payload is None


def test_fields_of_different_marks_share_no_structure() -> None:
    # Ciphertexts are E_key(payload): pseudo-random 64-bit values.
    ciphertexts = [int.from_bytes(hashlib.sha256(b"c%d" % i).digest()[:8], "big") for i in range(60)]
    fields = np.stack([_v3.field(SECRET, c).ravel() for c in ciphertexts])
    assert set(np.unique(fields)) == {-1.0, 1.0}
    headers = np.array([_v3.header_of(SECRET, c) for c in ciphertexts])
    corr = fields @ fields.T / fields.shape[1]
    off = ~np.eye(len(fields), dtype=bool)
    same = (headers[:, None] == headers[None, :]) & off
    # Two marks whose headers collide (1 in 256 pairs) share the header's symbol (14.8% of the chips) and the
    # body's signs, under which their coded bits agree at random (258 bits: +-0.06); others share nothing
    # (about 1 / sqrt(65,536) = 0.004 apart).
    assert same.any()
    assert np.abs(corr[off & ~same]).max() < 0.03
    assert np.all(np.abs(corr[same] - _v3.HEADER_CHIPS / _v3.CHIPS) < 0.12)
    # Every chip's sign over many marks is a fair coin: the mean field (what averaging estimates) is noise.
    mean = np.stack([_v3.field(SECRET, c + 1).ravel() for c in ciphertexts * 5]).mean(axis=0)
    assert np.abs(mean).mean() < 2.0 / np.sqrt(300)
    # Another register's secret lays the same message out differently.
    other = hashlib.sha256(b"test: another register").digest()
    assert abs(float(_v3.field(SECRET, 7).ravel() @ _v3.field(other, 7).ravel()) / 65536) < 0.03


def test_field_secret_errors(photos: dict, ring: KeyRing) -> None:
    px = photos["coffee"]
    for bad in (b"short", "a string", bytes(33)):
        with pytest.raises(WatermarkError, match="field secret must be 32 bytes"):
            embed(px, 1, key=KEY, field_secret=bad)  # type: ignore[arg-type]
        with pytest.raises(WatermarkError, match="field secret must be 32 bytes"):
            detect(px, keys=ring, field_secret=bad)  # type: ignore[arg-type]
