"""Probe for version 3 with a register-wide layout (issue 9): the message field read ONCE, the system found by
trial decryption. ``python -m bench.watermark.adversarial.v3r_probe [--photos N] [--w W] [--only PART]``
(one core; prints JSON lines and a summary, which REMOVAL.md reports). A probe, not a format: nothing here is
used by ``assay.watermark``.

The design (not built): the non-repeating field of ``nonrepeating_probe`` (the coded ciphertext over a 256 x 256
chip torus, 20% of the energy, drawn from the image's origin) keeps carrying E_K(payload) under the system key
K, coded as version 2 codes it, but its layout no longer depends on K:

- a *register-wide* secret R (held by the register's marking service only, never in a kit) fixes which coded
  bit each torus chip carries and a base sign (``nonrepeating_probe._layout(R)``);
- a per-image *seed* s of ``SEED_BITS`` bits, computed from the image's coarse content before marking, draws a
  fresh sign per chip from (R, s). Bit i of s is the sign of the difference between the mean luma of two
  blocks of a public ``GRID`` x ``GRID`` grid, the pair chosen with R (the attacker knows the grid, not the
  pairs); |difference| is the bit's margin.

Detection: one read of the field's chip sums (a torus, as ``nonrepeating_probe._torus``); the seed recomputed
from the image, and both values of its ``w`` weakest bits tried (2^w sign masks, each 65,536 multiply-adds on
the read chip sums); the variant with the largest soft-bit energy decoded (one Viterbi decode); its z gated
(p < 1e-6 over 2^w variants x 2^64 messages); the ciphertext decrypted with every key of the ring and the
plaintexts looked up in the register's recorded mark ids (one batched lookup): exactly one (key, mark id)
match names the system. Per-image sign masks mean aligned marked images of one system share no chip signs,
and a field lifted from one image reads on another only if the seeds agree.

Parts (``--only``, repeatable; all but ``draws`` by default): ``removal`` (seed stability, the removal at every
strength with PSNR >= 35 dB, JPEG 75/50), ``seed`` (smooth noise, per-block offsets and global tone changes on
top of the removal), ``copy`` (tile, residual, rescaled residual and the exact field copied onto other photos,
including every pair whose seeds collide), ``average`` (principal subspace of N aligned marked images, scored on
held-out ones), ``cost`` (CPU time and memory beside detect(), for several w), ``fp`` (never-marked images, and
the seeds' collision rates), ``draws`` (the field's z on each photo under several draws of its signs).
``--threshold T`` probes a seed variant whose bits are [difference > T grey levels]. The committed runs:
``V3R_PROBE.jsonl`` (w = 4), ``V3R_PROBE_W10.jsonl`` (w = 10), ``V3R_PROBE_T10.jsonl`` (threshold 10, w = 4);
``--summarize FILE`` prints what REMOVAL.md reports.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import time
import tracemalloc
from collections.abc import Iterator

import numpy as np
from PIL import Image

from assay.watermark import _detect, _ecc, _embed, _keys, _v2
from bench.watermark import attacks as image_attacks
from bench.watermark import photos as bench_photos

from . import attacks as adv
from . import nonrepeating_probe as nr
from .run import KEY_V2, _payload
from .v3_costs import _cpu  # best-of-5 CPU time in ms, as v3_costs measures it

R = hashlib.sha256(b"v3r probe: the register-wide layout secret (a test value)").digest()
N = nr.N
GRID = 8  # public: the coarse blocks are an 8 x 8 grid of the image
SEED_BITS = 16
W_DEFAULT = 4
STRENGTHS = [round(0.5 + 0.1 * i, 1) for i in range(26)]
LOG_MSG = _ecc.PAYLOAD_BITS * math.log(2.0)


def z_gate(w: int) -> float:
    """The field's z for p < 1e-6 (Hoeffding, union over 2^w variants and 2^64 messages; the key ring does
    not enter: the ciphertext is read without a key)."""
    return math.sqrt(2 * (w * math.log(2.0) + LOG_MSG - math.log(1e-6)))


def _pairs(secret: bytes) -> np.ndarray:
    seed = hashlib.blake2b(secret, digest_size=16, person=b"v3r-seed-pairs").digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    out = []
    while len(out) < SEED_BITS:
        a, b = (int(x) for x in rng.integers(0, GRID * GRID, size=2))
        if a != b and (a, b) not in out and (b, a) not in out:
            out.append((a, b))
    return np.array(out)


PAIRS = _pairs(R)
BIT_R, SIGN_R = nr._layout(R)  # which coded bit each torus chip carries, and a base sign: fixed by R


def block_means(rgb: np.ndarray) -> np.ndarray:
    y = adv.luma(rgb).astype(np.float64)
    h, w = y.shape
    rs = np.linspace(0, h, GRID + 1).astype(int)
    cs = np.linspace(0, w, GRID + 1).astype(int)
    rows = np.add.reduceat(y, rs[:-1], axis=0) / np.diff(rs)[:, None]
    return (np.add.reduceat(rows, cs[:-1], axis=1) / np.diff(cs)[None, :]).ravel()


THRESHOLD = [0.0]  # grey levels; --threshold sets it (one run, one value)


def seed_of(rgb: np.ndarray) -> tuple[int, np.ndarray]:
    """(seed, per-bit margin in grey levels): bit i = [mean(block a_i) - mean(block b_i) > THRESHOLD]. With a
    threshold above 0 (a variant probed with --threshold) a flat image's bits are all 0 and stay 0, and a bit
    is weak only where the difference is near the threshold rather than near 0."""
    m = block_means(rgb)
    d = m[PAIRS[:, 0]] - m[PAIRS[:, 1]] - THRESHOLD[0]
    bits = (d > 0).astype(int)
    return int(sum(int(b) << i for i, b in enumerate(bits))), np.abs(d)


def sign_mask(seed: int) -> np.ndarray:
    """The per-image chip signs, a pseudo-random function of (R, s); float32 +-1 times R's base sign."""
    h = hashlib.blake2b(seed.to_bytes(4, "big"), key=R, digest_size=16, person=b"v3r-sign-mask")
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(h.digest(), "big")))
    return (rng.integers(0, 2, size=N * N, dtype=np.int8) * 2 - 1).astype(np.float32) * SIGN_R


def field(seed: int, ciphertext: int) -> np.ndarray:
    coded = 1.0 - 2.0 * _ecc.encode(ciphertext)
    return (sign_mask(seed) * coded[BIT_R]).astype(np.float32).reshape(N, N)


@contextlib.contextmanager
def _field_of(seed: int) -> Iterator[None]:
    orig = nr.message_field
    nr.message_field = lambda key, ct: field(seed, ct)  # type: ignore[assignment]
    try:
        yield
    finally:
        nr.message_field = orig


def embed(rgb: np.ndarray, key: bytes, payload: int) -> tuple[np.ndarray, int]:
    """nonrepeating_probe's embedding (v2 tile 80%, field 20%, same PSNR) with this field; the seed is taken
    from the unmarked image."""
    seed, _ = seed_of(rgb)
    with _field_of(seed):
        return nr.embed_probe(rgb, key, payload), seed


def variants(seed: int, margins: np.ndarray, w: int) -> list[int]:
    weak = np.argsort(margins, kind="stable")[:w]
    out = []
    for v in range(1 << w):
        s = seed
        for i, b in enumerate(weak):
            if (v >> i) & 1:
                s ^= 1 << int(b)
        out.append(s)
    return out


def needed_w(seed0: int, seed: int, margins: np.ndarray) -> int:
    """The smallest w whose weakest-bit variants include the embedded seed (0: no bit flipped)."""
    flipped = [i for i in range(SEED_BITS) if ((seed0 ^ seed) >> i) & 1]
    if not flipped:
        return 0
    rank = np.argsort(np.argsort(margins, kind="stable"), kind="stable")
    return int(max(rank[i] for i in flipped)) + 1


class Register:
    """The ring's keys and the recorded mark ids: payload -> index of the key that made it."""

    def __init__(self, ring: _keys.KeyRing, recorded: dict[int, int]) -> None:
        self.ring = ring
        self.recorded = recorded

    def identify(self, ciphertext: int) -> list[tuple[int, int]]:
        """Trial decryption with every key, then one batched lookup of the plaintexts."""
        plain = [_keys.decrypt(k, ciphertext) for k in self.ring._keys]
        hits = self.recorded.keys() & set(plain)
        return [(i, p) for i, p in enumerate(plain) if p in hits and self.recorded[p] == i]


def decode_with(flat: np.ndarray, seed: int) -> tuple[int, bool, float]:
    """(ciphertext, CRC ok, z) of the field read with one seed's signs."""
    mask = sign_mask(seed)
    soft = np.bincount(BIT_R, weights=mask * flat, minlength=_ecc.CODED_BITS)
    ct, crc, coded = _ecc.decode(soft)
    sym = 1.0 - 2.0 * coded
    return ct, bool(crc), float((mask * flat * sym[BIT_R]).sum()) / (float(np.linalg.norm(flat)) + 1e-12)


def part_draws(pics: list[np.ndarray], draws: int) -> None:
    """How much the field's z on a photo depends on the draw of its signs: each photo marked with ``draws``
    random seeds instead of its own, the field read with that seed (no seed attack), unattacked and after the
    own-fold removal at strength 1.5 (or the last strength 0.5, 0.6, ... that leaves PSNR >= 35 dB)."""
    rng = np.random.default_rng(77)
    for i, px in enumerate(pics):
        payload = _payload(20_000 + i)
        ct = _keys.encrypt(KEY_V2, payload)
        for d in range(draws):
            seed = int(rng.integers(0, 1 << SEED_BITS))
            with _field_of(seed):
                marked = nr.embed_probe(px, KEY_V2, payload)
            tile = adv.folded_tile(marked)
            out, q = marked, 99.0
            for st in STRENGTHS[: STRENGTHS.index(1.5) + 1]:
                attempt = adv.subtract(marked, tile, st)
                if adv.psnr(marked, attempt) < 35.0:
                    break
                out, q = attempt, adv.psnr(marked, attempt)
            row = {"part": "draws", "photo": i, "draw": d, "seed": seed, "removal_psnr": round(q, 2)}
            for name, img in (("marked", marked), ("removed", out)):
                got, crc, z = decode_with(nr._torus(img)[1].ravel(), seed)
                row[f"{name}_z"] = round(z, 2)
                row[f"{name}_ok"] = crc and got == ct
            _emit(row)
        _log(f"draws: photo {i} done")


def read_torus(torus: np.ndarray, rgb: np.ndarray, w: int, reg: Register | None, truth: int | None = None) -> dict:
    """The field read at the w weakest-bit variants of the image's seed; ``truth`` (the embedded seed) only
    for the record (the true variant's rank), never for the decision."""
    seed, margins = seed_of(rgb)
    flat = torus.ravel()
    cand = variants(seed, margins, w)
    energies = []
    for s in cand:
        soft = np.bincount(BIT_R, weights=sign_mask(s) * flat, minlength=_ecc.CODED_BITS)
        energies.append(float(soft @ soft))
    best = int(np.argmax(energies))
    ct, crc, z = decode_with(flat, cand[best])
    gate = z_gate(w)
    log_p = max(min(0.0, w * math.log(2.0) + LOG_MSG - 0.5 * z * z), -745.0) if z > 0 else 0.0
    hits = reg.identify(ct) if (reg is not None and crc and z >= gate) else []
    out = {
        "seed": seed,
        "weakest_margin": round(float(np.sort(margins)[0]), 2),
        "crc": bool(crc),
        "z": round(z, 2),
        "p_log10": round(log_p / math.log(10), 1),
        "ciphertext": ct,
        "hits": hits,
        "payload": hits[0][1] if len(hits) == 1 else None,
        "key_index": hits[0][0] if len(hits) == 1 else None,
    }
    if truth is not None:
        out["needed_w"] = needed_w(truth, seed, margins)
        out["flipped_bits"] = [i for i in range(SEED_BITS) if ((truth ^ seed) >> i) & 1]
        out["true_variant_best"] = truth in cand and cand[best] == truth
    return out


def tile_ok(folded: _detect.FoldedTile, ring: _keys.KeyRing, true_index: int, payload: int) -> tuple[bool, float]:
    """The tile's message with the true key at the unaltered alignment and the 1,000-key gate: what
    v3_probe's "tile" column reads."""
    from .v3_probe import Z_GATE

    cells = _v2._cells(folded, 0, 0, 0)
    msg = _v2._decode(cells, ring, true_index, float(np.linalg.norm(cells[_keys.MESSAGE_CELLS])))
    ok = msg.crc_ok and msg.ciphertext == _keys.encrypt(KEY_V2, payload) and msg.z >= Z_GATE
    return bool(ok), msg.z


def _photos(n: int) -> list[np.ndarray]:
    every = list(bench_photos.benchmark_photos())
    return [p.pixels for p in (every[0::2] + every[1::2])[:n]]


def _register(ring: _keys.KeyRing, true_index: int, extra: int = 100_000) -> Register:
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 2**63, size=extra)
    systems = rng.integers(0, len(ring), size=extra)
    rec = {int(p): int(k) for p, k in zip(ids, systems, strict=True)}  # other systems' marks
    for i in [*range(-1, 40), *range(20_000, 20_100), *range(70_000, 70_400)]:
        rec[_payload(i)] = true_index  # the marks this probe makes
    return Register(ring, rec)


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


# --- items 1-2: seed stability and the removal -----------------------------------------------------------


def part_removal(pics: list[np.ndarray], reg: Register, true_index: int, w: int) -> None:
    for i, px in enumerate(pics):
        payload = _payload(20_000 + i)
        marked, seed0 = embed(px, KEY_V2, payload)
        _, margins0 = seed_of(px)
        s1, _ = seed_of(marked)
        _emit(
            {
                "part": "seed0",
                "photo": i,
                "mark_psnr": round(adv.psnr(px, marked), 2),
                "margins": [round(float(m), 2) for m in margins0],
                "flips_after_marking": bin(seed0 ^ s1).count("1"),
            }
        )
        for q in (75, 50):
            out = image_attacks.jpeg(q)(marked, None)
            folded, torus = nr._torus(out)
            ok, tz = tile_ok(folded, reg.ring, true_index, payload)
            r = read_torus(torus, out, w, reg, seed0)
            _emit({"part": "jpeg", "photo": i, "q": q, "tile_ok": ok, **_brief(r, payload, true_index, seed0)})
        tile = adv.folded_tile(marked)
        for s in STRENGTHS:
            out = adv.subtract(marked, tile, s)
            q = adv.psnr(marked, out)
            folded, torus = nr._torus(out)
            ok, tz = tile_ok(folded, reg.ring, true_index, payload)
            r = read_torus(torus, out, w, reg, seed0)
            _emit(
                {
                    "part": "removal",
                    "photo": i,
                    "s": s,
                    "psnr": round(q, 2),
                    "tile_ok": ok,
                    "tile_z": round(tz, 2),
                    **_brief(r, payload, true_index, seed0),
                }
            )
            if q < 35.0:
                break
        _log(f"removal: photo {i} done")


def _brief(r: dict, payload: int, true_index: int, seed0: int) -> dict:
    return {
        "flips": bin(seed0 ^ r["seed"]).count("1"),
        "needed_w": r["needed_w"],
        "flipped_bits": r["flipped_bits"],
        "true_variant_best": r["true_variant_best"],
        "field_z": r["z"],
        "field_crc": r["crc"],
        "field_ok": r["payload"] == payload and r["key_index"] == true_index,
        "field_wrong": r["payload"] is not None and r["payload"] != payload,
        "hits": len(r["hits"]),
    }


# --- item 3: the targeted seed attack --------------------------------------------------------------------


def smooth_noise(h: int, w: int, rng: np.random.Generator, cells: int = 6) -> np.ndarray:
    """A smooth random field (bicubic from a cells x cells Gaussian grid), unit RMS."""
    small = rng.normal(size=(cells, cells)).astype(np.float32)
    f = np.array(Image.fromarray(small, "F").resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    f -= f.mean()
    return f / np.float32(np.sqrt(np.mean(f * f)) + 1e-12)


def block_noise(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random offset per block of the public GRID (the attacker knows the grid, not the pairs), unit RMS."""
    small = rng.normal(size=(GRID, GRID)).astype(np.float32)
    rs = np.linspace(0, h, GRID + 1).astype(int)
    cs = np.linspace(0, w, GRID + 1).astype(int)
    f = np.repeat(np.repeat(small, np.diff(rs), axis=0), np.diff(cs), axis=1)
    f -= f.mean()
    return f / np.float32(np.sqrt(np.mean(f * f)) + 1e-12)


def tone(rgb: np.ndarray, kind: str, amount: float) -> np.ndarray:
    x = rgb.astype(np.float32) / 255.0
    if kind == "gamma":
        x = x**amount
    elif kind == "contrast":
        x = (x - 0.5) * amount + 0.5
    elif kind == "brightness":
        x = x + amount / 255.0
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


NOISE_PSNRS = (46.0, 42.0, 40.0, 38.0, 36.0, 34.0, 32.0, 30.0)  # of the noise alone; below ~38 the total is < 35 dB
TONES = (
    ("brightness", 3.0),
    ("brightness", 8.0),
    ("contrast", 0.97),
    ("contrast", 0.9),
    ("gamma", 0.97),
    ("gamma", 1.03),
    ("gamma", 0.9),
    ("gamma", 1.1),
)


Trial = tuple[str, float, int, np.ndarray]  # (kind, level, draw, attacked image)


def removed_then_changed(
    marked: np.ndarray, reg: Register, true_index: int, payload: int, photo: int, draws: int
) -> tuple[float, np.ndarray, list[Trial]] | None:
    """The removal at the attacker's best strength (the first that kills the tile's message) and, on top of it,
    smooth noise / per-block offsets at each PSNR (of the noise alone, ``draws`` each, drawn from the photo's own
    generator) and each global tone change: (strength, the removal's output, the trials); None if no strength
    kills the tile. Shared with v3m_probe's noise part, so both designs meet the same images."""
    tile = adv.folded_tile(marked)
    for s in STRENGTHS:
        base = adv.subtract(marked, tile, s)
        if not tile_ok(nr._torus(base)[0], reg.ring, true_index, payload)[0]:
            break
    else:
        return None
    h, w_ = base.shape[:2]
    rng = np.random.default_rng(1000 + photo)
    trials: list[Trial] = []
    for kind in ("smooth", "blocks"):
        for target in NOISE_PSNRS:
            for d in range(draws):
                f = smooth_noise(h, w_, rng) if kind == "smooth" else block_noise(h, w_, rng)
                trials.append((kind, target, d, adv._add(base, (255.0 / 10 ** (target / 20)) * f)))
    for kind, amount in TONES:
        trials.append((kind, amount, 0, tone(base, kind, amount)))
    return s, base, trials


def part_seed(pics: list[np.ndarray], reg: Register, true_index: int, w: int, draws: int) -> None:
    """On top of the removal at the attacker's best strength (the first that kills the tile's message), add
    smooth noise / per-block offsets at each PSNR (of the noise alone), or a global tone change."""
    for i, px in enumerate(pics):
        payload = _payload(20_000 + i)
        marked, seed0 = embed(px, KEY_V2, payload)
        removed = removed_then_changed(marked, reg, true_index, payload, i, draws)
        if removed is None:
            continue
        s, base, trials = removed
        for kind, level, d, out in trials:
            _, torus = nr._torus(out)
            r = read_torus(torus, out, w, reg, seed0)
            _emit(
                {
                    "part": "seed",
                    "photo": i,
                    "s": s,
                    "kind": kind,
                    "level": level,
                    "draw": d,
                    "psnr_removal": round(adv.psnr(marked, base), 2),
                    "psnr_total": round(adv.psnr(marked, out), 2),
                    **_brief(r, payload, true_index, seed0),
                }
            )
        _log(f"seed attack: photo {i} done")


# --- item 4: copy and averaging ---------------------------------------------------------------------------


COPY_KINDS = (
    "folded tile",
    "unfolded residual",
    "residual at the target's scale, 42 dB",
    "residual at the target's scale, 35 dB",
    "the source's exact field (oracle)",
)


def _copy(
    kind: str, source: np.ndarray, marked: np.ndarray, seed0: int, payload: int, target: np.ndarray
) -> np.ndarray:
    """One copy of the source's mark onto the target. The residual "at the target's scale" is the source's
    whole high-pass residual resized so that its field's chips land on the target's chip grid (the period is
    a public function of the image size), from the origin; the oracle is the source's field itself, drawn
    on the target with the target's masking at the energy embed() gives it (an upper bound on any copy)."""
    h, w = target.shape[:2]
    if kind == "folded tile":
        return adv.draw_tile(target, adv.folded_tile(marked), 42.0)
    if kind == "unfolded residual":
        return adv.copy_unfolded(marked, target, 42.0)
    if kind.startswith("residual at"):
        r = adv.high_pass(adv.luma(marked))
        f = _embed.tile_period(h, w) / _embed.tile_period(*marked.shape[:2])
        size = (max(1, round(r.shape[1] * f)), max(1, round(r.shape[0] * f)))
        r = np.asarray(Image.fromarray(r, "F").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
        r = np.pad(r, ((0, max(0, h - r.shape[0])), (0, max(0, w - r.shape[1]))), mode="reflect")[:h, :w]
        q = 42.0 if kind.endswith("42 dB") else 35.0
        return adv._add(target, r * np.float32(255.0 / 10 ** (q / 20) / math.sqrt(float(np.mean(r * r)) + 1e-12)))
    ct = _keys.encrypt(KEY_V2, payload)
    period = _embed.tile_period(h, w)
    d = _v2.binding_image(field(seed0, ct), h, w, period) * _embed.masking(Image.fromarray(target).convert("L"), period)
    rms = math.sqrt(_v2.BINDING_SHARE) * 255.0 / 10 ** (_embed.TARGET_PSNR_DB / 20)
    return adv._add(target, d * np.float32(rms / math.sqrt(float(np.mean(d * d)) + 1e-12)))


def part_copy(pics: list[np.ndarray], reg: Register, true_index: int, w: int, sources: int) -> None:
    """The mark of a source photo copied onto other photos at about 42 dB: its folded tile (adv.draw_tile) and
    its whole unfolded residual (adv.copy_unfolded, which carries the field). The first ``sources`` photos
    are copied onto every other photo; every photo is also copied onto the photos whose seed variants (w
    weakest bits tried) include its seed ("colliding": there the field can read)."""
    seeds = [seed_of(px) for px in pics]
    for src in range(len(pics)):
        targets = [
            t
            for t in range(len(pics))
            if t != src and (src < sources or needed_w(seeds[src][0], seeds[t][0], seeds[t][1]) <= w)
        ]
        if not targets:
            continue
        payload = _payload(src)
        marked, seed0 = embed(pics[src], KEY_V2, payload)
        for t in targets:
            target = pics[t]
            colliding = needed_w(seed0, seeds[t][0], seeds[t][1]) <= w
            for kind in COPY_KINDS:
                out = _copy(kind, pics[src], marked, seed0, payload, target)
                folded, torus = nr._torus(out)
                ok, tz = tile_ok(folded, reg.ring, true_index, payload)
                r = read_torus(torus, out, w, reg)
                _emit(
                    {
                        "part": "copy",
                        "source": src,
                        "target": t,
                        "kind": kind,
                        "colliding": colliding,
                        "psnr": round(adv.psnr(target, out), 2),
                        "tile_message": ok,
                        "tile_z": round(tz, 2),
                        "seed_bits_equal": SEED_BITS - bin(seed0 ^ seeds[t][0]).count("1"),
                        "field_z": r["z"],
                        "field_crc": r["crc"],
                        "attributed": r["payload"] is not None,
                        "attributed_source_payload": r["payload"] == payload,
                    }
                )
        _log(f"copy: source {src} done ({len(targets)} targets)")


def _own_fold_removed(y: np.ndarray, inside: np.ndarray, side: int) -> np.ndarray:
    sub = y.ravel()[inside].reshape(side, side)
    t = sub.reshape(side // 32, 32, side // 32, 32)
    return (t - t.mean(axis=(0, 2), keepdims=True)).reshape(-1)


def part_average(ns: tuple[int, ...] = (50, 200), held_out: int = 20) -> None:
    """N aligned marked 512 x 512 images of one system, each with its own seed (v3r) or, as a control, all
    with one seed (a fixed secret layout, as v3_costs' secret layout). The attacker's estimate: the mean and
    the top 258 principal directions of their chip sums (each image's own fold removed first). Scored on
    ``held_out`` other marked images of the same system (what a removal would be applied to): the share of
    each one's field energy, and of each of its coded bits' directions, inside the learned subspace (chance:
    the subspace's dimension / chips), and the mean's correlation with its field."""
    imgs = list(adv.generated_images(max(ns) + held_out, seed=43))
    for mode in ("per-image seed", "one seed (control)"):
        rows, fields, masks = [], [], []
        inside = None
        side = 0
        for i, px in enumerate(imgs):
            payload = _payload(70_000 + i)
            ct = _keys.encrypt(KEY_V2, payload)
            if mode == "per-image seed":
                marked, seed = embed(px, KEY_V2, payload)
            else:
                seed = 12345
                with _field_of(seed):
                    marked = nr.embed_probe(px, KEY_V2, payload)
            _, torus = nr._torus(marked)
            if inside is None:
                inside = np.flatnonzero(torus.ravel() != 0)
                side = int(round(np.sqrt(inside.size)))
            rows.append(_own_fold_removed(torus, inside, side).astype(np.float32))
            fields.append(_own_fold_removed(field(seed, ct).ravel(), inside, side))
            masks.append(sign_mask(seed)[inside])
        assert inside is not None
        b = BIT_R[inside]
        test = range(max(ns), max(ns) + held_out)
        for n in ns:
            x = np.stack(rows[:n])
            mean = x.mean(axis=0)
            v = np.linalg.svd(x - mean, full_matrices=False)[2][: _ecc.CODED_BITS]
            share_field, share_bits, corr = [], [], []
            for t in test:
                g = fields[t] / (np.linalg.norm(fields[t]) + 1e-12)
                share_field.append(float(np.sum((v @ g) ** 2)))
                corr.append(float(mean @ g) / (float(np.linalg.norm(mean)) + 1e-12))
                for j in range(_ecc.CODED_BITS):
                    d = np.where(b == j, masks[t], 0.0)
                    d /= np.linalg.norm(d) + 1e-12
                    share_bits.append(float(np.sum((v @ d) ** 2)))
            _emit(
                {
                    "part": "average",
                    "mode": mode,
                    "n": n,
                    "held_out": held_out,
                    "chips": int(inside.size),
                    "field_energy_in_learned": round(float(np.mean(share_field)), 4),
                    "bit_direction_energy_in_learned": round(float(np.mean(share_bits)), 4),
                    "bit_direction_energy_max": round(float(np.max(share_bits)), 4),
                    "chance": round(v.shape[0] / inside.size, 4),
                    "mean_vs_field_corr_max": round(float(np.max(np.abs(corr))), 4),
                }
            )
        _log(f"average: {mode} done")


# --- item 5: cost ----------------------------------------------------------------------------------------


def _torus_from(folded: _detect.FoldedTile, px: np.ndarray) -> np.ndarray:
    """nonrepeating_probe's torus read from a fold already made (as detect() makes it for the tile)."""
    orig = _detect.folded_tiles
    _detect.folded_tiles = lambda _px: iter([folded])  # type: ignore[assignment]
    try:
        return nr._torus(px)[1]
    finally:
        _detect.folded_tiles = orig


def _full_trial(ciphers: list, ciphertext: int) -> list[int]:
    """What the register would run per key on a field's ciphertext: the watermark's cipher, the mark id's
    own cipher (assay.provenance.keys.PayloadCipher, 10 HMAC-SHA256 rounds) and the mark id's 16-bit tag
    (two HMAC-SHA256: the namespace key, then the tag), before one batched lookup of the survivors."""
    import hmac

    out = []
    for key, cipher in ciphers:
        mark_id = cipher.decrypt(_keys.decrypt(key, ciphertext))
        ns_key = hmac.new(key, b"assay/namespace-key/v1" + (mark_id >> 44).to_bytes(3, "big"), hashlib.sha256)
        tag = hmac.new(ns_key.digest(), mark_id.to_bytes(8, "big"), hashlib.sha256).digest()
        if int.from_bytes(tag[:2], "big") == mark_id & 0xFFFF:
            out.append(mark_id)
    return out


def part_cost(reg: Register, w: int) -> None:
    from assay.watermark import detect

    px = next(iter(adv.generated_images(1, seed=5, side=1414)))  # v3_costs' 2 MP image, unmarked
    ring = reg.ring
    folded, torus = nr._torus(px)
    ct = 0x0123456789ABCDEF
    from assay.provenance.keys import PayloadCipher

    ciphers = [(k, PayloadCipher(k)) for k in ring._keys]
    row = {
        "part": "cost",
        "w": w,
        "load": os.getloadavg(),
        "detect_1000_keys_ms": _cpu(lambda: detect(px, keys=ring)),
        "fold_first_candidate_ms": _cpu(lambda: next(iter(_detect.folded_tiles(px)))),
        "torus_from_fold_ms": _cpu(lambda: _torus_from(folded, px)),
        "seed_ms": _cpu(lambda: seed_of(px)),
        "variants_ms": _cpu(
            lambda: [
                np.bincount(BIT_R, weights=sign_mask(s) * torus.ravel(), minlength=_ecc.CODED_BITS)
                for s in range(1 << w)
            ]
        ),
        "ecc_decode_ms": _cpu(lambda: _ecc.decode(np.random.default_rng(0).normal(size=_ecc.CODED_BITS))),
        "trial_decryption_1000_keys_and_lookup_ms": _cpu(lambda: reg.identify(ct)),
        "trial_decryption_full_ms": _cpu(lambda: _full_trial(ciphers, ct)),
        "whole_field_read_after_fold_ms": _cpu(lambda: read_torus(torus, px, w, Register(ring, reg.recorded))),
        "detect_1000_keys_ms_again": _cpu(lambda: detect(px, keys=ring)),
    }
    for name, fn in (
        ("read_peak_mb", lambda: read_torus(torus, px, w, reg)),
        ("detect_peak_mb", lambda: detect(px, keys=ring)),
    ):
        tracemalloc.start()
        fn()
        row[name] = round(tracemalloc.get_traced_memory()[1] / 1e6, 2)
        tracemalloc.stop()
    row["static_layout_mb"] = round((BIT_R.astype(np.uint16).nbytes + N * N // 8) / 1e6, 3)
    row["load_after"] = os.getloadavg()
    _emit({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()})


# --- item 6: false positives -------------------------------------------------------------------------------


def part_fp(reg: Register, w: int, generated: int) -> None:
    imgs = [("bench", p.pixels) for p in bench_photos.benchmark_photos()]
    imgs += [("bundled", px) for _, px in adv.never_marked_photos(100)]
    imgs += [("generated", px) for px in adv.generated_images(generated, seed=97)]
    for i, (kind, px) in enumerate(imgs):
        _, torus = nr._torus(px)
        r = read_torus(torus, px, w, reg)
        _emit(
            {
                "part": "fp",
                "i": i,
                "kind": kind,
                "z": r["z"],
                "crc": r["crc"],
                "p_log10": r["p_log10"],
                "hits": len(r["hits"]),
                "payload": r["payload"] is not None,
                "seed": r["seed"],
                "margins": [round(float(m), 2) for m in seed_of(px)[1]],
            }
        )
    _log(f"fp: {len(imgs)} images done")


# --- the summary (REMOVAL.md) -------------------------------------------------------------------------------


def _covered(seed_a: int, seed_b: int, margins_b: list[float], w: int) -> bool:
    """Would a field made with seed_a be read on an image whose seed is seed_b (its w weakest bits tried)?"""
    return needed_w(seed_a, seed_b, np.array(margins_b)) <= w


def tradeoff(rows: list[dict]) -> None:
    """Per w (from the seeds and margins alone): what the seed attack and a copy of the field would get."""
    seed = [r for r in rows if r.get("part") == "seed" and r["psnr_total"] >= 35.0]
    fp = [r for r in rows if r.get("part") == "fp"]
    print(
        "| w (reads per check) | seed-attack points at >= 35 dB with a flipped bit outside the w weakest (photos)"
        " | removal points at >= 35 dB, the same | never-marked pairs whose seeds would read each other's field:"
        " bench / bundled / generated |"
    )
    print("|---|---|---|---|")
    rem = [r for r in rows if r.get("part") == "removal" and r["psnr"] >= 35.0]
    for w in (0, 2, 4, 6, 8, 10, 12):
        bad = [r for r in seed if r["needed_w"] > w]
        rates = []
        for kind in ("bench", "bundled", "generated"):
            rs = [r for r in fp if r["kind"] == kind]
            pairs = [(a, b) for a in rs for b in rs if a is not b]
            hit = sum(_covered(a["seed"], b["seed"], b["margins"], w) for a, b in pairs)
            rates.append(f"{hit / max(1, len(pairs)):.2%}")
        print(
            f"| {w} ({1 << w}) | {len(bad)} of {len(seed)} ({len({r['photo'] for r in bad})}) |"
            f" {sum(r['needed_w'] > w for r in rem)} of {len(rem)} | {' / '.join(rates)} |"
        )


def summarize(rows: list[dict], v3_rows: list[dict], w: int) -> None:  # noqa: C901 (one table after another)
    by = lambda part: [r for r in rows if r.get("part") == part]  # noqa: E731
    if by("seed") and by("fp"):
        tradeoff(rows)
        print()
    s0 = by("seed0")
    if s0:
        mins = sorted(min(r["margins"]) for r in s0)
        fifth = sorted(sorted(r["margins"])[w] for r in s0)
        print(
            f"- seed: {len(s0)} photos; weakest margin median {mins[len(mins) // 2]:.2f} grey levels (lowest"
            f" {mins[0]:.2f}); the {w + 1}th weakest: median {fifth[len(fifth) // 2]:.1f}, lowest {fifth[0]:.1f};"
            f" bits flipped by the marking itself: {sum(r['flips_after_marking'] for r in s0)} (on"
            f" {sum(r['flips_after_marking'] > 0 for r in s0)} photos); mark PSNR mean"
            f" {np.mean([r['mark_psnr'] for r in s0]):.2f} dB"
        )
    rem = [r for r in by("removal") if r["psnr"] >= 35.0]
    if rem:
        flipped = [r for r in rem if r["flips"]]
        print(
            f"- removal, {len(rem)} (photo, strength) points at PSNR >= 35 dB: seed bits flipped at"
            f" {len(flipped)} points (on {len({r['photo'] for r in flipped})} photos; at most"
            f" {max((r['flips'] for r in rem), default=0)} bits; every flipped bit among the"
            f" {max((r['needed_w'] for r in rem), default=0)} weakest); the true variant screened best at"
            f" {sum(r['true_variant_best'] for r in rem)}; the tile's message fails at"
            f" {sum(not r['tile_ok'] for r in rem)}; the field's z lowest {min(r['field_z'] for r in rem):.1f}"
            f" (gate {z_gate(w):.2f}); a wrong payload decoded at {sum(r['field_wrong'] for r in rem)}"
        )
        for q in (75, 50):
            j = [r for r in by("jpeg") if r["q"] == q]
            print(
                f"- JPEG {q} of the marked photo: seed bits flipped on {sum(r['flips'] > 0 for r in j)}/{len(j)}"
                f" (needed w at most {max(r['needed_w'] for r in j)}); the field decodes the payload on"
                f" {sum(r['field_ok'] for r in j)}/{len(j)}, the tile on {sum(r['tile_ok'] for r in j)}/{len(j)}"
            )
        v3 = {(r["photo"], r["s"]): r for r in v3_rows}
        print()
        print(
            "| strength | photos at >= 35 dB | tile message decodes | v3_probe: tile, else the field for the top 3"
            f" screened keys | v3_probe: tile, else every key's field | this probe: tile, else one field read (w = {w},"
            " 1,000-key trial decryption) |"
        )
        print("|---|---|---|---|---|---|")
        for st in sorted({r["s"] for r in rem}):
            rs = [r for r in rem if r["s"] == st]
            vs = [v3[(r["photo"], st)] for r in rs if (r["photo"], st) in v3]
            top3 = sum(x["tile_ok"] or (x["rank"] < 3 and x["field_ok"]) for x in vs)
            every = sum(x["tile_ok"] or (x["field_ok"] and x.get("field_rank", 0) in (0, None)) for x in vs)
            mine = sum(r["tile_ok"] or r["field_ok"] for r in rs)
            tiles = sum(r["tile_ok"] for r in rs)
            print(f"| {st:.1f} | {len(rs)} | {tiles} | {top3}/{len(vs)} | {every}/{len(vs)} | {mine} |")
        tiles = sum(r["tile_ok"] for r in rem)
        print(f"| all | {len(rem)} | {tiles} | | | {sum(r['tile_ok'] or r['field_ok'] for r in rem)} |")
    seed = by("seed")
    if seed:
        print()
        print(
            "| seed attack on top of the removal | level | points | total PSNR, median (lowest) | seed bits"
            " flipped, mean (max) | the read finds the payload | points at >= 35 dB total | the read fails there |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for kind in dict.fromkeys(r["kind"] for r in seed):
            for level in dict.fromkeys(r["level"] for r in seed if r["kind"] == kind):
                rs = [r for r in seed if r["kind"] == kind and r["level"] == level]
                q = sorted(r["psnr_total"] for r in rs)
                hi = [r for r in rs if r["psnr_total"] >= 35.0]
                unit = " dB (noise alone)" if kind in ("smooth", "blocks") else ""
                print(
                    f"| {kind} | {level:g}{unit} | {len(rs)} | {q[len(q) // 2]:.1f} ({q[0]:.1f}) |"
                    f" {np.mean([r['flips'] for r in rs]):.1f} ({max(r['flips'] for r in rs)}) |"
                    f" {sum(r['field_ok'] for r in rs)} | {len(hi)} | {sum(not r['field_ok'] for r in hi)} |"
                )
        photos = sorted({r["photo"] for r in seed})
        fail_at = {}
        for ph in photos:
            bad = [r["psnr_total"] for r in seed if r["photo"] == ph and not r["field_ok"]]
            if bad:
                fail_at[ph] = max(bad)
        q = sorted(fail_at.values())
        print(
            f"- over {len(photos)} photos: the read failed on {len(fail_at)} at some level; the highest total PSNR"
            f" of a failed read per photo: {', '.join(f'{x:.1f}' for x in q)};"
            f" at >= 35 dB on {sum(x >= 35.0 for x in q)} photos"
        )
        wrong = sum(r["field_wrong"] for r in seed)
        print(f"- a wrong payload decoded at {wrong} of {len(seed)} seed-attack points")
    cp = by("copy")
    if cp:
        print()
        for kind in COPY_KINDS:
            for coll in (False, True):
                rs = [r for r in cp if r["kind"] == kind and r.get("colliding", False) == coll]
                if not rs:
                    continue
                eq = sorted(r["seed_bits_equal"] for r in rs)
                source = sum(r.get("attributed_source_payload", False) for r in rs)
                print(
                    f"- copy, {kind}, {'seed-colliding' if coll else 'other'} (source, target) pairs: {len(rs)}"
                    f" (PSNR {np.mean([r['psnr'] for r in rs]):.1f} dB): a payload decoded from the field"
                    f" {sum(r['attributed'] for r in rs)} (the source's {source});"
                    f" the copied tile's message decodes (true key) on {sum(r['tile_message'] for r in rs)}"
                    f" (a copied, unbound mark); the field's z highest {max(r['field_z'] for r in rs):.1f} (gate"
                    f" {z_gate(w):.2f}), CRC passes {sum(r['field_crc'] for r in rs)}; seed bits equal to the"
                    f" source's: median {eq[len(eq) // 2]}, highest {eq[-1]} of {SEED_BITS}"
                )
    av = by("average")
    if av:
        print()
        print(
            "| averaging attack (held-out images) | N | field energy in the top-258 subspace | a coded bit's"
            " direction: mean (max) | chance | mean vs field, largest correlation |"
        )
        print("|---|---|---|---|---|---|")
        for r in av:
            print(
                f"| {r['mode']} | {r['n']} | {r['field_energy_in_learned']:.4f} |"
                f" {r['bit_direction_energy_in_learned']:.4f} ({r['bit_direction_energy_max']:.4f}) |"
                f" {r['chance']:.4f} |"
                f" {r['mean_vs_field_corr_max']:.3f} |"
            )
    dr = by("draws")
    if dr:
        print()
        per = {}
        for r in dr:
            per.setdefault(r["photo"], []).append(r)
        low = sorted((min(x["removed_z"] for x in rs), ph) for ph, rs in per.items())
        spread = [max(x["marked_z"] for x in rs) - min(x["marked_z"] for x in rs) for rs in per.values()]
        print(
            f"- sign draws: {len(dr)} marks ({len(per)} photos); the field decodes on {sum(r['marked_ok'] for r in dr)}"
            f" marked and {sum(r['removed_ok'] for r in dr)} after the removal (strength <= 1.5, PSNR >= 35 dB);"
            f" z below the gate {z_gate(w):.2f} after the removal: {sum(r['removed_z'] < z_gate(w) for r in dr)};"
            f" the lowest z after the removal per photo: {', '.join(f'{z:.1f} (photo {ph})' for z, ph in low[:4])};"
            f" spread of a photo's marked z over its draws: median {sorted(spread)[len(spread) // 2]:.1f},"
            f" largest {max(spread):.1f}"
        )
    for r in by("cost"):
        print(f"- cost (CPU ms, one thread, load {r['load']} -> {r['load_after']}): {r}")
    fp = by("fp")
    if fp:
        z = sorted(r["z"] for r in fp)
        kinds = ", ".join(f"{k} {sum(r['kind'] == k for r in fp)}" for k in dict.fromkeys(r["kind"] for r in fp))
        print()
        print(
            f"- never-marked: {len(fp)} images ({kinds}):"
            f" payloads decoded {sum(r['payload'] for r in fp)}, trial-decryption hits {sum(r['hits'] for r in fp)},"
            f" CRC passes {sum(r['crc'] for r in fp)}; field z median {z[len(z) // 2]:.1f}, highest {z[-1]:.1f}"
            f" (gate {z_gate(w):.2f}); smallest p bound 10^{min(r['p_log10'] for r in fp):.1f}"
        )
        for kind in dict.fromkeys(r["kind"] for r in fp):
            rs = [r for r in fp if r["kind"] == kind]
            pairs = [(a, b) for a in rs for b in rs if a is not b]
            hit = sum(_covered(a["seed"], b["seed"], b["margins"], w) for a, b in pairs)
            exact = sum(a["seed"] == b["seed"] for a, b in pairs)
            print(
                f"- seed collisions among {len(rs)} never-marked {kind} images: a field made on one would be"
                f" tried on another (w = {w}) for {hit} of {len(pairs)} ordered pairs ({hit / max(1, len(pairs)):.2%});"
                f" equal seeds {exact}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--w", type=int, default=W_DEFAULT, help="weak seed bits tried both ways (2^w reads)")
    ap.add_argument("--only", action="append", help="removal, seed, copy, average, cost, fp (repeatable)")
    ap.add_argument("--draws", type=int, default=2, help="noise draws per level in the seed attack")
    ap.add_argument("--sources", type=int, default=2, help="source photos of the copy attack")
    ap.add_argument("--average-n", type=int, nargs="+", default=[50, 200], help="N of the averaging attack")
    ap.add_argument("--generated", type=int, default=200, help="generated never-marked images for fp")
    ap.add_argument("--cost-w", type=int, nargs="*", default=[4, 6, 8, 10], help="w values timed by the cost part")
    ap.add_argument("--threshold", type=float, default=0.0, help="seed bit = [difference > this] (grey levels)")
    ap.add_argument("--sign-draws", type=int, default=6, help="sign draws per photo in the draws part")
    ap.add_argument("--summarize", help="only summarize the JSON lines of an earlier run's output file")
    args = ap.parse_args(argv)
    THRESHOLD[0] = args.threshold
    if args.summarize:
        from pathlib import Path

        v3_file = Path(__file__).with_name("V3_PROBE.jsonl")
        with open(args.summarize, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.startswith("{")]
        with open(v3_file, encoding="utf-8") as fh:
            v3 = [json.loads(line) for line in fh if line.startswith("{")]
        w = next((r["w"] for r in rows if r.get("part") == "config"), args.w)
        summarize(rows, v3, w)
        return 0
    parts = args.only or ["removal", "seed", "copy", "average", "cost", "fp"]
    ring = adv.system_ring(KEY_V2)
    true_index = ring.ids.index("acme-imagegen")
    reg = _register(ring, true_index)
    pics = _photos(args.photos) if {"removal", "seed", "copy", "draws"} & set(parts) else []
    _emit(
        {
            "part": "config",
            "threshold": args.threshold,
            "w": args.w,
            "z_gate": round(z_gate(args.w), 2),
            "grid": GRID,
            "seed_bits": SEED_BITS,
        }
    )
    if "draws" in parts:
        part_draws(pics, args.sign_draws)
    if "removal" in parts:
        part_removal(pics, reg, true_index, args.w)
    if "seed" in parts:
        part_seed(pics, reg, true_index, args.w, args.draws)
    if "copy" in parts:
        part_copy(pics, reg, true_index, args.w, args.sources)
    if "average" in parts:
        part_average(tuple(args.average_n))
    if "cost" in parts:
        for w in sorted({args.w, *args.cost_w}):
            part_cost(reg, w)
    if "fp" in parts:
        part_fp(reg, args.w, args.generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
