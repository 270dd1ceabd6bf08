"""Version 3 (``org.assay.watermark.3``): the message field that survives the removal of the tile (issue 9).

The removal test runs the attack on version 2 first and asserts that it works there (so it can fail), then that
version 3 is still found, through its field. Full figures: ``python -m bench.watermark.adversarial.removal_cost``.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from assay.watermark import (
    FIELD_ALGORITHM,
    KeyRing,
    WatermarkError,
    _v3,
    detect,
    embed,
    field_message,
    mark_origin,
    tile_period,
)
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
        field_only = None
        for s in strengths[strengths.index(best) :]:
            removed3 = adv.subtract(px3, fold3, s)
            if adv.psnr(px3, removed3) < 35.0:
                break
            found = detect(removed3, keys=ring, field_secret=SECRET, accept=_register(payload3))
            assert (found.payload, found.key_id) == (payload3, "acme"), (name, s)
            assert found.p_value < 1e-6
            if found.layer == "field":
                field_only = removed3
        assert field_only is not None, name  # the tile's message was gone at some strength: the field carried it
        # The field alone names no key: without the register's check, or with a check that takes two keys'
        # decryptions for marks (acme's true one and another system's), nothing is reported; without the secret
        # the field is unreadable.
        assert detect(field_only, keys=ring, field_secret=SECRET).payload is None
        two = detect(
            field_only,
            keys=ring,
            field_secret=SECRET,
            accept=lambda key_id, payload, p3=payload3: (key_id, payload) == ("acme", p3) or key_id == "system-0",
        )
        assert two.payload is None
        assert detect(field_only, keys=ring).payload is None
        _the_index_names_the_key_at_once(field_only, ring, payload3)


def _the_index_names_the_key_at_once(field_only: np.ndarray, ring: KeyRing, payload: int) -> None:
    """With the register's index of its marks' field messages (``lookup``), the key it names is asked first
    and alone; a key it names wrongly, or does not hold, costs the loop over every key, never the mark."""
    message = field_message(payload, key=KEY)

    def check(named: list[str], *, only_for_the_message: bool = True) -> tuple[object, list[str]]:
        asked: list[str] = []

        def accept(key_id: str, got: int) -> bool:
            asked.append(key_id)
            return (key_id, got) == ("acme", payload)

        def lookup(m: int) -> list[str]:
            return named if m == message or not only_for_the_message else []

        return detect(field_only, keys=ring, field_secret=SECRET, accept=accept, lookup=lookup), asked

    for named, asked_at_most in ((["acme"], 1), (["system-0", "acme"], 2), (["unknown", "acme"], 1)):
        found, asked = check(named)
        assert (found.payload, found.key_id, found.layer) == (payload, "acme", "field"), named
        assert len(asked) <= asked_at_most, (named, len(asked))
    for named in ([], ["system-0"], ["unknown"]):  # a stale index: every key is asked, the mark still found
        found, asked = check(named, only_for_the_message=False)
        assert (found.payload, found.key_id) == (payload, "acme"), named
        assert len(asked) >= len(ring), named
    # A second key whose decryption passes makes the loop's answer ambiguous (nothing named); the recorded
    # message names its key.
    either = lambda key_id, got: (key_id, got) == ("acme", payload) or key_id == "system-0"  # noqa: E731
    assert detect(field_only, keys=ring, field_secret=SECRET, accept=either).payload is None
    recorded = detect(
        field_only, keys=ring, field_secret=SECRET, accept=either, lookup=lambda m: ["acme"] if m == message else []
    )
    assert (recorded.payload, recorded.key_id) == (payload, "acme")


def _removed(marked: np.ndarray, accept, ring: KeyRing, view=lambda x: x) -> np.ndarray:  # noqa: ANN001
    """The own-fold removal at the first strength where the tile alone no longer gives the mark on ``view`` of
    the picture (fails if there is none below 35 dB)."""
    fold = adv.folded_tile(marked)
    for strength in np.arange(0.8, 2.5, 0.1):
        removed = adv.subtract(marked, fold, float(strength))
        assert adv.psnr(marked, removed) >= 35.0, "the removal never removed the tile above 35 dB"
        if detect(np.ascontiguousarray(view(removed)), keys=ring).payload is None:
            return removed
    pytest.fail("the removal did not remove the tile")


def test_after_the_removal_a_crop_or_a_resize_is_found_at_the_pictures_anchor(photos: dict, ring: KeyRing) -> None:
    """Version 3 starts its mark at the picture's anchor, a point of its content: after the tile's removal and
    the public sync's (open code), a crop from either corner or a slight resize still leaves the field where the
    detector finds the anchor again (at one of its scales). Started at the top-left pixel instead, these crops
    hid the field on about half the photos (REMOVAL.md)."""
    from assay.watermark import _detect, _keys, _v2

    for name in ("coffee", "camera"):
        px = photos[name]
        payload = 0xABCDEF
        marked = embed(px, payload, key=KEY, field_secret=SECRET)
        ax, ay = mark_origin(px, payload, key=KEY, field_secret=SECRET)
        h, w = px.shape[:2]
        assert min(ax, w - ax) >= 0.15 * w and min(ay, h - ay) >= 0.15 * h  # an anchor, not the top-left pixel
        accept = _register(payload)
        # What is left of the public sync, subtracted where the tile started (the anchor: open code).
        removed = adv.subtract(_removed(marked, accept, ring), adv.public_sync_tile(), 1.0, (ax, ay))
        removed = _removed(removed, accept, ring, lambda x: x[4:, 4:])  # and until a crop does not revive it
        changes = {
            "top-left 4 px": (removed[4:, 4:], (4, 4)),
            "top-left 24 px": (removed[24:, 24:], (24, 24)),
            "bottom-right 48 px": (removed[:-48, :-48], (0, 0)),
            "top-left 3%": (removed[h * 3 // 100 :, w * 3 // 100 :], (w * 3 // 100, h * 3 // 100)),
        }
        for change, (x, (cx, cy)) in changes.items():
            x = np.ascontiguousarray(x)
            assert detect(x, keys=ring).payload is None, (name, change)  # the tile alone does not give it
            found = detect(x, keys=ring, field_secret=SECRET, accept=accept)
            # (What is left of the tile's message may still decode; bound by the field, it is found as well.)
            assert (found.payload, found.key_id) == (payload, "acme"), (name, change)
            if found.layer == "field":  # the mark's period, not the cropped picture's
                assert found.period_px == pytest.approx(tile_period(w, h), rel=0.006), (name, change)
            # Found at the anchor itself (a public sync that survived may give a read as well; the best is kept).
            unaltered = next(_detect.folded_tiles(x))
            anchored = _v3.read_anchored(unaltered, (SECRET,))[0]
            assert anchored is not None and anchored[0].ok and anchored[0].p_value < 1e-6, (name, change)
            assert anchored[0].ciphertext == _keys.encrypt(KEY, payload)
            start = _v2._to_input(unaltered, *anchored[1])
            assert start == pytest.approx((ax - cx, ay - cy), abs=4.0), (name, change)
        resized = attacks.resize(0.98)(removed, np.random.default_rng(0))
        found = detect(resized, keys=ring, field_secret=SECRET, accept=accept)
        assert found.payload == payload, (name, "resize 0.98")
        anchored = _v3.read_anchored(next(_detect.folded_tiles(resized)), (SECRET,))[0]
        assert anchored is not None and anchored[0].ok, (name, "resize 0.98")
        assert anchored[0].ciphertext == _keys.encrypt(KEY, payload)


def test_a_subtracted_public_sync_does_not_hide_the_mark(marked3: dict, ring: KeyRing) -> None:
    """The public sync is open: subtracted where it is (about 50 dB), the tile's phase is gone. Version 3's tile
    starts at an anchor of the picture, so the detector also tries the anchors' alignments: the tile is still
    found and bound, by a caller with the field secret and no mark check (which reads no field). With the
    register's check the field at the same anchors finds it."""
    found = 0
    for name, (px, payload) in marked3.items():
        stripped = adv.subtract_public_sync(px)
        assert adv.psnr(px, stripped) > 45.0, name
        from assay.watermark import _detect, _v2

        sync = _v2._align(next(_detect.folded_tiles(stripped)))
        assert sync[3] < _v3.SYNC_GATE, name  # the sync is gone
        got = detect(stripped, key=KEY, field_secret=SECRET)
        assert got.payload in (None, payload), name
        found += (got.payload, got.layer, got.algorithm) == (payload, "tile", FIELD_ALGORITHM)
        checked = detect(stripped, keys=ring, field_secret=SECRET, accept=_register(payload))
        assert (checked.payload, checked.key_id) == (payload, "acme"), name
    assert found == len(marked3), f"{found} of {len(marked3)}"


def test_a_subtracted_public_sync_does_not_hide_the_tile_of_a_very_large_picture(photos: dict) -> None:
    """Above about 6.5 MP the detector examines the picture's centre, whose frame does not start at the top-left
    pixel: the tile's unshifted alignment and the anchors' are taken from where the picture starts."""
    from PIL import Image

    px = np.asarray(Image.fromarray(photos["coffee"]).resize((3300, 2200), Image.Resampling.LANCZOS))
    payload = 0x5EED
    marked = embed(px, payload, key=KEY, field_secret=SECRET)
    stripped = adv.subtract_public_sync(marked)
    got = detect(stripped, key=KEY, field_secret=SECRET)
    assert (got.payload, got.algorithm) == (payload, FIELD_ALGORITHM)


def test_after_the_removal_a_turned_crop_is_found_where_the_public_sync_survived(photos: dict, ring: KeyRing) -> None:
    """The anchors are searched upright; a picture also turned a quarter is read where its surviving public sync
    puts the tile's phase and orientation, at the tile offset the field's header picks."""
    px = photos["camera"]
    payload = 0xABCDEF
    marked = embed(px, payload, key=KEY, field_secret=SECRET)
    accept = _register(payload)
    removed = _removed(marked, accept, ring, lambda x: np.rot90(x)[4:, 4:])
    turned = np.ascontiguousarray(np.rot90(removed)[4:, 4:])
    found = detect(turned, keys=ring, field_secret=SECRET, accept=accept)
    assert found.payload == payload
    assert found.quarter_turns != 0 or found.flipped
    # The field alone, where the sync puts it (what is left of the tile's message may decode and be bound too).
    from assay.watermark import _detect, _keys, _v2

    reads = [
        _v3.read_aligned(f, al, SECRET, 64)
        for f in _detect.folded_tiles(turned)
        if (al := _v3.synced(_v2._align(f))) is not None
    ]
    assert any(r.ok and r.ciphertext == _keys.encrypt(KEY, payload) for r in reads)


def test_the_field_reads_nothing_on_unmarked_or_version_2_images(photos: dict, marked: dict, ring: KeyRing) -> None:
    gate = _v3.field_gate()
    from assay.watermark import _detect

    def acme(key_id: str, payload: int) -> bool:
        return key_id == "acme"  # any payload of acme's key: only the field's own evidence stands in the way

    for name, pixels in photos.items():
        for px in (pixels, marked[name][0]):
            folded = next(_detect.folded_tiles(px))
            read = _v3.read_unaltered(folded, SECRET)
            assert read.z < gate and read.p_value > 1e-6, name
            anchored = _v3.read_anchored(folded, (SECRET,))[0]  # every anchor, shift and scale
            assert anchored is not None and anchored[0].z < _v3.field_gate(
                2 * _v3.ANCHORED_SHARE * _v3.EXACT_POSITIONS
            ), name
            assert anchored[0].p_value > 1e-6, name
            assert detect(px, keys=ring, field_secret=SECRET, accept=acme).payload is None
            # Cropped version-2 marks keep their public sync: the field is then read at every tile offset too.
            for crop in (4, 16, 50):
                cropped = np.ascontiguousarray(px[crop:, crop:])
                assert detect(cropped, keys=ring, field_secret=SECRET, accept=acme).payload is None, (name, crop)


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
    # Every chip's sign over many marks is a fair coin: the mean field (what averaging estimates) is noise
    # (mean |mean| of n fair signs: sqrt(2 / pi / n) = 0.046 for n = 300).
    many = [int.from_bytes(hashlib.sha256(b"m%d" % i).digest()[:8], "big") for i in range(300)]
    mean = np.stack([_v3.field(SECRET, c).ravel() for c in many]).mean(axis=0)
    assert np.abs(mean).mean() < 1.2 * np.sqrt(2 / np.pi / 300)
    # Another register's secret lays the same message out differently.
    other = hashlib.sha256(b"test: another register").digest()
    assert abs(float(_v3.field(SECRET, 7).ravel() @ _v3.field(other, 7).ravel()) / 65536) < 0.03


def test_a_copied_tile_never_borrows_another_marks_field(ring: KeyRing) -> None:
    """Two version-3 marks whose headers collide (1 in 256) share the header's chips: a tile copied onto a picture
    that carries the other mark must not be bound by them. The binding reads the field's body (whose chips the
    two share only at random), and checks that the field where it binds is not another message."""
    import math

    from assay.watermark import _detect, _keys, _v2

    from .conftest import _photo

    def header(payload: int) -> int:
        return _v3.header_of(SECRET, _keys.encrypt(KEY, payload))

    picture = _photo("astronaut", 3.0)
    target = embed(picture, 0x77, key=KEY, field_secret=SECRET)
    stripped = adv.subtract(target, adv.folded_tile(target), 1.4)  # the attacker removes the target's own tile
    # Where the target's field starts (the attacker tries each of the candidate blobs; here, the right one).
    anchor = mark_origin(picture, 0x77, key=KEY, field_secret=SECRET)
    coffee = _photo("coffee", 1.0)
    # Other marks of acme with the target's header, found by trying payloads (the public check tells an attacker
    # which collide); each one's folded tile is drawn on the stripped target.
    sources = [p for p in range(1000, 20_000) if header(p) == header(0x77)][:3]
    gate = math.sqrt(2 * math.log(_v2.BIND_OFFSETS * 2 / _v2.BIND_THRESHOLD))
    z_head, z_body = [], []
    for payload in sources:
        source = embed(coffee, payload, key=KEY, field_secret=SECRET)
        # The source's tile, folded from where its own mark starts, redrawn from where the target's field starts.
        start = mark_origin(coffee, payload, key=KEY, field_secret=SECRET)
        phase = [-round(v * 128 / tile_period(coffee.shape[1], coffee.shape[0])) for v in start[::-1]]
        tile = np.roll(adv.folded_tile(source), phase, axis=(0, 1))
        forged = adv.draw_tile(stripped, tile, 36.0, anchor)
        found = detect(forged, keys=ring, field_secret=SECRET, accept=_register(0x77, payload))
        assert found.payload != payload, payload  # never the copied message as a complete mark ...
        assert found.unbound_payload in (None, payload)  # ... only as what it is: a copy
        folded = next(iter(_detect.folded_tiles(forged)))
        sums = _v2.torus(folded, *_v2._align(folded)[:3])
        whole, body = (
            _v3.field(SECRET, _keys.encrypt(KEY, payload)),
            _v3.body_field(SECRET, _keys.encrypt(KEY, payload)),
        )
        z_head.append(_v2._binding(sums, whole - body)[0])
        z_body.append(_v2._binding(sums, body)[0])
    # The attack is real: the whole field (header included) correlates with the target's shared header, the
    # body does not. (Where the copy is aligned to a fraction of a chip, the header alone passed the binding
    # gate: 3 of 6 on this picture when version 3 started at the top-left pixel; at the anchor, the fold's
    # alignment costs the attacker about a third of it.)
    # The header alone: about 0.15 of the target field's z where the headers collide, about 1 at most (the
    # best of 64 offsets of a pattern with 15% of the chips) where they do not.
    assert min(z_head) >= 2.5 and max(z_body) < gate


def test_field_secret_errors(photos: dict, ring: KeyRing) -> None:
    px = photos["coffee"]
    for bad in (b"short", "a string", bytes(33)):
        with pytest.raises(WatermarkError, match="field secret must be 32 bytes"):
            embed(px, 1, key=KEY, field_secret=bad)  # type: ignore[arg-type]
        with pytest.raises(WatermarkError, match="field secret must be 32 bytes"):
            detect(px, keys=ring, field_secret=bad)  # type: ignore[arg-type]
        with pytest.raises(WatermarkError, match="field secret must be 32 bytes"):
            detect(px[:32, :32], keys=ring, field_secret=bad)  # type: ignore[arg-type]  # checked before the size
    for bad_list in ([], [SECRET] * 5, (SECRET, b"short")):
        with pytest.raises(WatermarkError, match="field secret must be 32 bytes"):
            detect(px, keys=ring, field_secret=bad_list)  # type: ignore[arg-type]
    with pytest.raises(WatermarkError, match="same secret twice"):
        detect(px, keys=ring, field_secret=[SECRET, SECRET])
    with pytest.raises(WatermarkError, match="needs field_secret"):
        detect(px, keys=ring, accept=lambda key_id, payload: True)
    with pytest.raises(WatermarkError, match="must be a function"):
        detect(px, keys=ring, field_secret=SECRET, accept="yes")  # type: ignore[arg-type]
    with pytest.raises(WatermarkError, match="needs accept"):
        detect(px, keys=ring, field_secret=SECRET, lookup=lambda message: ["acme"])
    with pytest.raises(WatermarkError, match="lookup= must be a function"):
        detect(px, keys=ring, field_secret=SECRET, accept=lambda key_id, payload: True, lookup=["acme"])  # type: ignore[arg-type]


@pytest.mark.parametrize("turn", ["mirror", "quarter turn"])
def test_a_mirrored_or_turned_copy_reads_its_field_as_strongly(turn: str) -> None:
    """The field is read on 2x2 blocks that must start on the chips' edges. A picture whose working width is odd
    (this 1720 px photo: 1039 working pixels) moves the chips one pixel against blocks from the top-left pixel
    once mirrored or turned; without the block phase the binding's z fell from 40.4 to 32.3 here, and on a weak
    picture (a grass crop) a genuine mirrored mark fell below its binding threshold and was called copied."""
    from PIL import Image

    import assay.watermark as wm
    from assay.watermark import _keys

    from .conftest import _photo

    pixels = np.asarray(Image.fromarray(_photo("chelsea", 2.0)).resize((1720, 1144)))
    key, secret = hashlib.sha256(b"mirror key").digest(), hashlib.sha256(b"mirror secret").digest()
    marked = embed(pixels, 99, key=key, field_secret=secret)
    changed = np.ascontiguousarray(marked[:, ::-1] if turn == "mirror" else np.rot90(marked))
    ring = _keys.single_ring(key)
    before = wm._search(marked, ring, None, (secret,), None)
    after = wm._search(changed, ring, None, (secret,), None)
    assert before.payload == after.payload == 99
    assert after.z_binding >= 0.95 * before.z_binding, (after.z_binding, before.z_binding)


KIT_SECRET = hashlib.sha256(b"test: the kits' field secret").digest()


def test_a_kits_mark_survives_the_removal_and_is_read_beside_the_registers(
    photos: dict, marked3: dict, ring: KeyRing
) -> None:
    """Offline kits mark with their own field secret (never the register's): after the own-fold removal their
    field still names the system when the check reads both secrets, and the register's own marks are still read
    through theirs with the second secret in every bound."""
    both = [SECRET, KIT_SECRET]
    name = "coffee"
    payload = 0x0123456789ABCDEF
    kit_marked = embed(photos[name], payload, key=KEY, field_secret=KIT_SECRET)
    found = detect(kit_marked, keys=ring, field_secret=both, accept=_register(payload))
    assert (found.payload, found.algorithm, found.layer) == (payload, FIELD_ALGORITHM, "tile")
    # Without the kits' secret the tile still decodes, but nothing binds it.
    alone = detect(kit_marked, keys=ring, field_secret=SECRET, accept=_register(payload))
    assert (alone.payload, alone.unbound_payload) == (None, payload)
    fold = adv.folded_tile(kit_marked)
    by_field = 0
    for s in (1.0, 1.3, 1.6, 1.9):
        removed = adv.subtract(kit_marked, fold, s)
        if adv.psnr(kit_marked, removed) < 35.0:
            break
        found = detect(removed, keys=ring, field_secret=both, accept=_register(payload))
        assert (found.payload, found.key_id) == (payload, "acme"), s
        if found.layer == "field":
            by_field += 1
            # The register's secret alone does not read a kit's field.
            assert detect(removed, keys=ring, field_secret=SECRET, accept=_register(payload)).payload is None
    assert by_field, "the tile's message survived every strength: the test did not reach the field"
    px3, payload3 = marked3[name]
    removed3 = adv.subtract(px3, adv.folded_tile(px3), 1.6)
    found = detect(removed3, keys=ring, field_secret=both, accept=_register(payload3))
    assert (found.payload, found.layer) == (payload3, "field")
    # ... and a kit holder's secret does not read the register's field.
    assert detect(removed3, keys=ring, field_secret=KIT_SECRET, accept=_register(payload3)).payload is None


def test_a_read_sums_each_coded_bit_over_exactly_its_chips_under_each_headers_signs() -> None:
    # The read sums the body per coded bit in bit order (reduceat over a sorted layout, with every header's
    # signs packed once per secret): the same soft bits as summing the field's own chips, for the field's
    # header and for headers it does not carry.
    ciphertext = 0x0123456789ABCDEF
    torus = _v3.field(SECRET, ciphertext)
    lay = _v3.layout(SECRET)
    found = _v3.read(torus, SECRET)
    assert found.ok and found.ciphertext == ciphertext and found.header == _v3.header_of(SECRET, ciphertext)
    # A clean field: its z is its correlation with itself over its norm, sqrt(chips).
    assert found.z == pytest.approx(math.sqrt(_v3.CHIPS), rel=1e-5)
    flat = torus.ravel()
    for header in (found.header, (found.header + 1) % 256, 255):
        want = np.bincount(lay.body_bit, weights=_v3._body_signs(SECRET, header) * flat[lay.body_chips])
        got = _v3._soft_bits(SECRET, [header], flat[lay.body_chips_by_bit])[0]
        assert np.allclose(got, want, atol=1e-3)


def test_a_rolled_parity_torus_is_np_roll_of_it() -> None:
    rng = np.random.default_rng(5)
    tori = rng.standard_normal((4, _v3.N, _v3.N)).astype(np.float32)
    t = _v3._Tori.of(tori)
    for tr, tc in [(0, 0), (3, 5), (511, 2), (-3, 700), (256, 255), (1, 510)]:
        want = np.roll(tori[2 * (tr % 2) + tc % 2], (-(tr // 2), -(tc // 2)), axis=(0, 1))
        assert np.array_equal(t.rolled(tr, tc), want)


def test_header_scores_at_any_shift_are_those_of_the_rolled_torus() -> None:
    # The anchored search rolls each shift's parity torus into a buffer and gathers the header's chips there:
    # every shift, negative or many tori away, must score what reading np.roll of the parity torus scores.
    rng = np.random.default_rng(8)
    other = hashlib.sha256(b"test: a kit's secret").digest()
    t = _v3._Tori.of(rng.standard_normal((4, _v3.N, _v3.N)).astype(np.float32))
    shifts = [(0, 0), (-1, -1), (511, 511), (512, 0), (-5000, 3), (7, 10**6), (-(10**6) - 1, -3)]
    shifts += [(int(a), int(b)) for a, b in rng.integers(-2000, 2000, size=(20, 2))]
    got = _v3._header_scores_of(t, (SECRET, other), shifts)
    for i, secret in enumerate((SECRET, other)):
        lay = _v3.layout(secret)
        for j, (tr, tc) in enumerate(shifts):
            torus = np.roll(t.tori[2 * (tr % 2) + tc % 2], (-(tr // 2), -(tc // 2)), axis=(0, 1)).ravel()
            regions = torus[lay.header_chips].reshape(_v3.HEADER_REGIONS, _v3.SUB) * lay.header_signs
            want = float((regions.sum(axis=0) @ _v3._HADAMARD).max() / (np.linalg.norm(torus) + 1e-12))
            assert got[i, j] == pytest.approx(want, rel=1e-4)


def test_half_chip_sums_by_runs_are_the_scattered_sums() -> None:
    # The anchored search sums the blocks onto the torus by runs of consecutive half chips (rows, then columns);
    # every block must land where a scatter of each block on its own puts it, at every scale read, on pictures
    # narrower and wider than the torus (which then wraps), and for periods either side of the tile's.
    rng = np.random.default_rng(12)
    m = 2 * _v3.N
    for blocks_h, blocks_w in ((347, 521), (700, 1100), (90, 130)):
        half = (rng.standard_normal((blocks_h, blocks_w)) * 30).astype(np.float32)
        ys = np.arange(0.5, 2 * blocks_h, 2, dtype=np.float32)
        xs = np.arange(0.5, 2 * blocks_w, 2, dtype=np.float32)
        for period in (124.6, 127.93, 128.0, 131.0):
            rows, cols = ys * np.float32(128 / period), xs * np.float32(128 / period)
            for rho in _v3.RHOS:
                k = np.float32(0.5 * rho)
                u = np.floor(rows * k + np.float32(0.25)).astype(np.int64) % m
                v = np.floor(cols * k + np.float32(0.25)).astype(np.int64) % m
                want = np.bincount((u[:, None] * m + v[None, :]).ravel(), weights=half.ravel(), minlength=m * m)
                got = _v3._half_chip_sums(half, rows, cols, rho)
                assert np.allclose(got.ravel(), want, rtol=0, atol=1e-3), (blocks_h, blocks_w, period, rho)


def test_parity_tori_sum_each_chips_two_by_two_half_chips() -> None:
    # Chip (i, j) of parity (pr, pc) holds half chips 2i + pr, 2i + pr + 1 by 2j + pc, 2j + pc + 1, wrapping at
    # the torus's last row and column.
    rng = np.random.default_rng(13)
    m = 2 * _v3.N
    sums = rng.standard_normal((m, m)).astype(np.float32)
    got = _v3._parities(sums)
    i = np.arange(_v3.N)
    for pr in (0, 1):
        for pc in (0, 1):
            r, c = (2 * i + pr)[:, None], (2 * i + pc)[None, :]
            want = sum(sums[(r + a) % m, (c + b) % m] for a in (0, 1) for b in (0, 1))
            assert np.allclose(got[2 * pr + pc], want, rtol=0, atol=1e-5)
