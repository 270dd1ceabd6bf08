"""The attacker's tools, built only from what Assay publishes (the open code, marked images, mark ids).

Shared by the benchmark (``run.py``) and the regression tests (tests/watermark/test_adversarial.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from assay.watermark import KeyRing, _detect, _ecc, _embed, _embed_legacy, _keys, _pattern, detect, embed

# --- the two schemes, as the defender runs them --------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    payload: int | None  # a complete mark (v2: bound to this picture)
    unbound: int | None  # v2 only: a decoded message whose binding is missing ("copied")
    p_value: float


@dataclass(frozen=True)
class Scheme:
    name: str
    embed: Callable[[np.ndarray, int], np.ndarray]
    detect: Callable[[np.ndarray], Verdict]
    # The truth, for scoring a recovered chip map: per chip, -1 for the fixed (pilot/sync) part, else the coded
    # bit it carries; its sign; and the chips the attacker does not know beforehand.
    role: np.ndarray
    sign: np.ndarray
    secret: np.ndarray
    codeword: Callable[[int], np.ndarray]  # the coded bits actually embedded for a payload


def _truth_v1(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    kp = _pattern.key_pattern(key)
    role = np.full(_keys.CELLS, -1)
    sign = np.zeros(_keys.CELLS)
    sign[kp.pilot_cells] = kp.pilot_signs
    for j in range(_ecc.CODED_BITS):
        role[kp.payload_cells[j]] = j
        sign[kp.payload_cells[j]] = kp.payload_signs[j]
    return role, sign


def _truth_v2(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    lay = _keys.layout(key)
    role = np.full(_keys.CELLS, -1)
    sign = np.zeros(_keys.CELLS)
    sign[_keys.SYNC_CELLS] = _keys.SYNC_SIGNS
    for j in range(_ecc.CODED_BITS):
        role[lay.cells[j]] = j
        sign[lay.cells[j]] = lay.signs[j]
    return role, sign


def v1_scheme(key: bytes) -> Scheme:
    role, sign = _truth_v1(key)

    def det(px: np.ndarray) -> Verdict:
        found = _detect.detect_rgb(np.ascontiguousarray(px), key)
        return Verdict(found.payload, None, found.p_value)

    return Scheme(
        "v1 (org.assay.watermark.1)",
        lambda px, payload: _embed_legacy(px, payload, key=key),
        det,
        role,
        sign,
        np.ones(_keys.CELLS, bool),  # v1's pilot is secret too
        _ecc.encode,
    )


def v2_scheme(key: bytes, ring: KeyRing) -> Scheme:
    role, sign = _truth_v2(key)
    secret = np.zeros(_keys.CELLS, bool)
    secret[_keys.MESSAGE_CELLS] = True  # the sync is public

    def det(px: np.ndarray) -> Verdict:
        found = detect(px, keys=ring)
        return Verdict(found.payload, found.unbound_payload, found.p_value)

    return Scheme(
        "v2 (org.assay.watermark.2)",
        lambda px, payload: embed(px, payload, key=key),
        det,
        role,
        sign,
        secret,
        lambda payload: _ecc.encode(_keys.encrypt(key, payload)),
    )


FIELD_SECRET = hashlib.sha256(b"adversarial: the register's version-3 field secret").digest()


def v3_scheme(key: bytes, ring: KeyRing, secret: bytes = FIELD_SECRET, read: tuple[bytes, ...] = ()) -> Scheme:
    """Version 3 as the register runs it: marked with the field secret, checked with it (or with every secret of
    ``read``: the register reads its own and its kits') and with the register's mark check. Here the check
    accepts a payload when the scheme embedded it for the marking system (the register's "recorded" marks); the
    register itself checks the mark id's keyed tag and namespace, and then resolves only a recorded mark on the
    picture it was recorded with (bench/check)."""
    role, sign = _truth_v2(key)
    secret_chips = np.zeros(_keys.CELLS, bool)
    secret_chips[_keys.MESSAGE_CELLS] = True  # the tile is version 2's: its sync is public
    recorded: set[int] = set()

    def mark(px: np.ndarray, payload: int) -> np.ndarray:
        recorded.add(payload)
        return embed(px, payload, key=key, field_secret=secret)

    def det(px: np.ndarray) -> Verdict:
        found = detect(
            px,
            keys=ring,
            field_secret=list(read or (secret,)),
            accept=lambda key_id, payload: key_id == "acme-imagegen" and payload in recorded,
        )
        return Verdict(found.payload, found.unbound_payload, found.p_value)

    return Scheme(
        "v3 (org.assay.watermark.3)",
        mark,
        det,
        role,
        sign,
        secret_chips,
        lambda payload: _ecc.encode(_keys.encrypt(key, payload)),
    )


def system_ring(key: bytes, others: int = 999) -> KeyRing:
    """The register's ring: the attacked system's key among ``others`` other systems' keys."""
    pairs = [(f"system-{i:04d}", hashlib.sha256(f"another system {i}".encode()).digest()) for i in range(others)]
    return KeyRing([*pairs, ("acme-imagegen", key)])


# --- the attacker's tools ------------------------------------------------------------------------------


def luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)


def high_pass(y: np.ndarray) -> np.ndarray:
    """The residual an attacker estimates the mark from: the detector's own high-pass (open code)."""
    return y - ndimage.uniform_filter(ndimage.uniform_filter(y, 5), 5)


def folded_tile(rgb: np.ndarray) -> np.ndarray:
    """The residual of an unaltered marked image folded over the tile lattice that embed() used (its period
    is a function of the image size, in the open code)."""
    h, w = rgb.shape[:2]
    return _detect.fold(high_pass(luma(rgb)), (_embed.tile_period(h, w), 0.0))


def chips(tile: np.ndarray) -> np.ndarray:
    return _pattern.cells_of(tile)


def tile_from_chips(values: np.ndarray) -> np.ndarray:
    return _pattern.render(np.asarray(values, dtype=np.float64).reshape(_pattern.CELLS, _pattern.CELLS))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _add(rgb: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return _embed.apply_delta(rgb, delta.astype(np.float32))


def draw_tile(
    target: np.ndarray, tile: np.ndarray, target_psnr: float, origin: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Redraw a tile on ``target`` the way embed() would: at the target's period, with its masking map, its
    position (0, 0) at ``origin`` (x, y; version 3 starts there, at the picture's anchor: open code)."""
    h, w = target.shape[:2]
    period = _embed.tile_period(h, w)
    delta = _embed.pattern_image(tile / (np.sqrt(np.mean(tile**2)) + 1e-12), h, w, origin)
    delta *= _embed.masking(Image.fromarray(target).convert("L"), period)
    delta *= np.float32(255.0 / 10 ** (target_psnr / 20) / math.sqrt(max(float(np.mean(delta * delta)), 1e-12)))
    return _add(target, delta)


def copy_unfolded(source_marked: np.ndarray, target: np.ndarray, target_psnr: float) -> np.ndarray:
    """The whole high-pass residual of the source (cropped to the target's size), added at a PSNR: keeps what
    folding would average away (anything that does not repeat with the tile), and the source's texture."""
    h, w = target.shape[:2]
    r = high_pass(luma(source_marked))
    # A target larger than the source gets the residual mirrored at the far edges.
    r = np.pad(r, ((0, max(0, h - r.shape[0])), (0, max(0, w - r.shape[1]))), mode="reflect")[:h, :w]
    delta = r * np.float32(255.0 / 10 ** (target_psnr / 20) / math.sqrt(max(float(np.mean(r * r)), 1e-12)))
    return _add(target, delta)


@dataclass(frozen=True)
class ChipMap:
    """What averaging taught the attacker: per chip, fixed (-1) or the coded bit it carries, and a sign."""

    role: np.ndarray
    sign: np.ndarray
    mean: np.ndarray  # the mean folded chip values (the part every image shares)


def learn_chip_map(values: np.ndarray, payloads: list[int] | None) -> ChipMap:
    """From (N, 1024) folded chip values of N aligned marked images, and optionally their payloads.

    The shared part is the mean. With payloads, every chip is regressed on every coded bit of the public ECC
    of each payload; a chip is taken as carrying bit j (with the correlation's sign) when that correlation is
    more significant than its mean."""
    n = values.shape[0]
    mean = values.mean(axis=0)
    spread = values.std(axis=0) / math.sqrt(n) + 1e-12
    z_mean = np.abs(mean) / spread
    role = np.full(values.shape[1], -1)
    sign = np.sign(mean)
    if payloads:
        x = np.stack([1.0 - 2.0 * _ecc.encode(p) for p in payloads])  # (N, 258)
        centred = values - mean
        corr = centred.T @ x / n  # (1024, 258)
        z = np.abs(corr) / spread[:, None]
        best = np.argmax(z, axis=1)
        z_best = z[np.arange(values.shape[1]), best]
        is_bit = z_best > z_mean
        role[is_bit] = best[is_bit]
        sign[is_bit] = np.sign(corr[np.arange(values.shape[1]), best])[is_bit]
    return ChipMap(role, sign, mean)


def recovery(learned: ChipMap, scheme: Scheme) -> float:
    """Share of the scheme's secret chips whose role (fixed, or which coded bit) and sign were learned."""
    ok = (learned.role == scheme.role) & (learned.sign == scheme.sign)
    return float(np.mean(ok[scheme.secret]))


def forged_tile(learned: ChipMap, payload: int | None) -> np.ndarray:
    """A tile for a chosen payload from the learned map (None: the shared part only, as averaged)."""
    if payload is None:
        return tile_from_chips(learned.mean)
    coded = 1.0 - 2.0 * _ecc.encode(payload)
    values = np.where(learned.role < 0, learned.sign, learned.sign * coded[np.maximum(learned.role, 0)])
    return tile_from_chips(values)


def subtract(
    marked: np.ndarray, tile: np.ndarray, strength: float, origin: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Removal: render the estimate at the image's period with its masking map (its position (0, 0) at
    ``origin``), fit its gain to the image's residual by least squares, and subtract ``strength`` times that."""
    h, w = marked.shape[:2]
    period = _embed.tile_period(h, w)
    est = _embed.pattern_image(tile / (np.sqrt(np.mean(tile**2)) + 1e-12), h, w, origin)
    est *= _embed.masking(Image.fromarray(marked).convert("L"), period)
    r = high_pass(luma(marked))
    e = high_pass(est)
    gain = float((r * e).sum()) / max(float((e * e).sum()), 1e-12)
    return _add(marked, -strength * gain * est)


def public_sync_tile() -> np.ndarray:
    values = np.zeros(_keys.CELLS)
    values[_keys.SYNC_CELLS] = _keys.SYNC_SIGNS
    return tile_from_chips(values)


# --- images --------------------------------------------------------------------------------------------


def anchor_candidates(rgb: np.ndarray, count: int, margin: float) -> list[tuple[float, float]]:
    """The picture's strongest blobs, (x, y) in its pixels, as version 3's embedder (margin ``_anchor.CENTRAL``)
    or detector (``_anchor.MARGIN``) finds them: open code."""
    from assay.watermark import _anchor

    region = _detect.working(np.ascontiguousarray(rgb))
    found = _anchor.find(region.luma, count, margin)
    return [(region.origin[0] + c / region.real_scale, region.origin[1] + r / region.real_scale) for r, c, _ in found]


def embedder_choices(rgb: np.ndarray) -> list[tuple[float, float]]:
    """Where version 3's embedder may start a mark on this picture, (x, y) in its pixels, as the open code
    computes it (``_anchor.mark_anchor``): its first ``_anchor.CHOICES`` stable central blobs (which one is the
    register's secret), else its strongest central blob; none when it is marked from the top-left pixel. On the
    marked picture (the mark moves the blobs by well under a pixel) as on the original."""
    from assay.watermark import _anchor

    region = _detect.working(np.ascontiguousarray(rgb))
    best = _anchor.stable(region.luma)[: _anchor.CHOICES]
    best = best or [(r, c) for r, c, _ in _anchor.find(region.luma, 1, _anchor.CENTRAL)]
    return [(region.origin[0] + c / region.real_scale, region.origin[1] + r / region.real_scale) for r, c in best]


def blur_anchor(marked: np.ndarray, chip_reach: float = 2.5) -> tuple[np.ndarray, float]:
    """The attack on version 3's anchor, with the open code: the mark starts at one of the blobs
    ``embedder_choices`` lists (1 to ``_anchor.CHOICES``; which one is the register's secret), so blur the
    picture around all of them, more and more (Gaussian, sigma 4 to 64 px, blended in over a disc of about 4
    sigma), until the detector's anchors include none of them (none within ``chip_reach`` chips). Returns the
    picture and the blur's sigma (0: never moved)."""
    from assay.watermark import _anchor, tile_period

    targets = embedder_choices(marked)
    if not targets:
        return marked, 0.0
    h, w = marked.shape[:2]
    chip = tile_period(w, h) / 32
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    near = np.zeros((h, w), np.float32)
    out = marked
    for sigma in (4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0):
        near[:] = 0.0
        for ax, ay in targets:
            np.maximum(near, np.exp(-((x - ax) ** 2 + (y - ay) ** 2) / (2 * (2 * sigma) ** 2)), out=near)
        blurred = ndimage.gaussian_filter(marked.astype(np.float32), (sigma, sigma, 0))
        weight = near[..., None]
        out = np.clip(np.rint(marked * (1 - weight) + blurred * weight), 0, 255).astype(np.uint8)
        found = anchor_candidates(out, _anchor.COUNT, _anchor.MARGIN)
        if all(math.dist(f, t) > chip_reach * chip for f in found for t in targets):
            return out, sigma
    return out, 0.0


def sync_origin(rgb: np.ndarray) -> tuple[float, float]:
    """Where the tile of an unaltered marked picture starts, (x, y) in its pixels, found as the detector finds
    it: one FFT correlation of its fold with the public sync (open code). Version 3 starts there, at an anchor
    of the picture; version 2 at the top-left pixel."""
    from assay.watermark import _v2

    folded = next(iter(_detect.folded_tiles(np.ascontiguousarray(rgb))))
    _, sy, sx, _ = _v2._align(folded)
    return _v2._to_input(folded, float(sy), float(sx))


def aligned_folded_tile(rgb: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """``folded_tile`` rolled so that its tile starts at (0, 0), and where the tile starts in the picture
    (``sync_origin``): folds of many marked pictures then line up, wherever each picture's mark starts."""
    h, w = rgb.shape[:2]
    x, y = sync_origin(rgb)
    k = _pattern.TILE / _embed.tile_period(h, w)
    shift = (-round(y * k) % _pattern.TILE, -round(x * k) % _pattern.TILE)
    return np.roll(folded_tile(rgb), shift, axis=(0, 1)), (x, y)


def subtract_public_sync(rgb: np.ndarray) -> np.ndarray:
    """What is left of the public sync, subtracted where it is: its phase found as the detector finds it (one
    FFT correlation with the open pattern), then removed by ``subtract`` drawn from there."""
    return subtract(rgb, public_sync_tile(), 1.0, sync_origin(rgb))


def generated_images(count: int, seed: int = 9, side: int = 512) -> Iterator[np.ndarray]:
    """``count`` varied side x side images: 4 of 5 are random crops (10-100% of the area) of the pictures
    scikit-image and scikit-learn bundle, randomly mirrored, rotated by quarter turns and recoloured (channel
    gains 0.7-1.3, gamma 0.7-1.4); every 5th is a procedural texture (a smooth random field plus random
    oriented sinusoids plus grain). All share one size, so embed() gives them one period and one origin:
    they align perfectly, the attacker's best case."""
    from bench.watermark.more import sources

    srcs = [px for _, px in sources()]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    for i in range(count):
        if i % 5 == 4:
            small = rng.normal(size=(side // 32, side // 32, 3)).astype(np.float32)
            base = np.stack(
                [
                    np.asarray(Image.fromarray(small[..., c], "F").resize((side, side), Image.Resampling.BICUBIC))
                    for c in range(3)
                ],
                axis=2,
            )
            img = 128 + 40 * base
            for _ in range(3):
                f, a = rng.uniform(0.01, 0.2), rng.uniform(0, np.pi)
                img += rng.uniform(5, 25) * np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy))[..., None]
            img += rng.normal(0, rng.uniform(1, 8), size=img.shape)
            yield np.clip(img, 0, 255).astype(np.uint8)
            continue
        px = srcs[int(rng.integers(len(srcs)))]
        h, w = px.shape[:2]
        s = math.sqrt(rng.uniform(0.1, 1.0))
        ch, cw = max(64, int(min(h, w) * s)), max(64, int(min(h, w) * s))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = px[y0 : y0 + ch, x0 : x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.rot90(crop, int(rng.integers(4)))
        out = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((side, side), Image.Resampling.LANCZOS))
        gains = rng.uniform(0.7, 1.3, size=3)
        g = rng.uniform(0.7, 1.4)
        out = 255.0 * np.clip(out.astype(np.float32) * gains / 255.0, 0, 1) ** g
        yield np.clip(np.rint(out), 0, 255).astype(np.uint8)


def never_marked_photos(count: int, seed: int = 2027, max_mp: float = 1.2) -> list[tuple[str, np.ndarray]]:
    """One random crop (40-100% of the area) of each bundled picture, resampled to 0.6-``max_mp`` MP."""
    from bench.watermark.more import sources

    rng = np.random.default_rng(seed)
    out = []
    for name, px in sources()[:count]:
        h, w = px.shape[:2]
        area, aspect = rng.uniform(0.4, 1.0), rng.uniform(0.6, 1.7)
        ch = int(min(h, math.sqrt(area * h * w / aspect)))
        cw = int(min(w, area * h * w / ch))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        mp = rng.uniform(0.6, max_mp)
        f = math.sqrt(mp * 1e6 / (ch * cw))
        size = (max(256, round(cw * f)), max(256, round(ch * f)))
        crop = Image.fromarray(np.ascontiguousarray(px[y0 : y0 + ch, x0 : x0 + cw]))
        out.append((name, np.asarray(crop.resize(size, Image.Resampling.LANCZOS))))
    return out
