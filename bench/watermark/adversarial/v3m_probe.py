"""Probe for version 3 without a seed (issue 9): a message field whose structure varies per mark, read ONCE.
``python -m bench.watermark.adversarial.v3m_probe [--design h|m] [--photos N] [--only PART]`` (one core; prints
JSON lines; ``--summarize FILE`` prints what REMOVAL.md reports). A probe, not a format: nothing here is used
by ``assay.watermark``.

``v3r_probe`` showed that a non-repeating field with a register-wide layout survives the own-fold removal and is
read once for all keys, but that its per-image seed (taken from the picture's coarse content, so that aligned
marked images share no chip signs and averaging learns nothing) can be pushed by noise and collides between
pictures. These designs drop the seed: what varies per image comes from the mark itself. Both keep the field of
``nonrepeating_probe`` (version 2's coded E_K(payload), 258 coded bits, over the 256 x 256 chip torus, 20% of
the energy, version 2's tile for the other 80%) and a register-wide secret R (the marking service's only, never
in a kit) that orders the torus's 65,536 chips into 256 regions of 256 and gives each region a secret
orthogonal basis (Walsh-Hadamard functions under R's chip order and signs).

- **h** (default): a *header* of 8 bits, a keyed hash (R) of the ciphertext, carried as one orthogonal symbol
  (the basis vector its value selects) in each of the first 38 regions (14.8% of the chips); the *body*, the
  other 55,808 chips, carries the coded ciphertext in binary (each chip one coded bit, R's fixed assignment)
  under chip signs drawn from (R, header). Read: the header's 256 scores (one 38 x 256 x 256 product), the 4
  best headers' bodies decoded (a weighted bincount and a Viterbi decode each), kept: the decode whose CRC
  passes and whose header is the hash of its own ciphertext.
- **m**: the coded bits grouped into 33 symbols of 8 bits (bit k of symbol j is coded bit (j + 33 k) mod 258),
  each region carrying one symbol (about 7.8 regions a symbol) as the basis vector its value selects; read with
  one 256 x 256 x 256 product, max-log bit values and one Viterbi decode.

Why averaging should learn little. The attacker's tool is the principal subspace of N aligned marked images.
A binary field on a fixed layout puts each coded bit on one fixed direction, 258 directions in all, which the
subspace finds (the control). In h the body's signs follow the header, uniform over 256 values, so over
images each body chip's sign is independent of every other's: the body's covariance is the identity, with no
direction to find, and images sharing a header (1 in 256) cannot be told apart without R; the header is a
256-dimensional structure holding 14.8% of the field. In m each region's field is a uniformly chosen vector of a
complete basis, but regions carrying the same symbol move together: 33 x 256 = 8,448 directions of the 65,536
hold the field, each far weaker than the control's 258.

Then the check as in ``v3r_probe``: the z of the decoded field gated at p < 1e-6 over 2^64 messages (the field
is a function of the ciphertext alone), the ciphertext decrypted with each key of the ring and looked up among
the register's recorded mark ids (``v3r_probe.Register``): exactly one (key, mark id) names the system. Read, as
in the other probes, at the unaltered geometry.

Parts (``--only``, repeatable): ``removal`` (the own-fold removal at every strength leaving PSNR >= 35 dB; JPEG
75 / 50 of the marked photos), ``noise`` (v3r_probe's smooth fields, per-block offsets and tone changes on top
of the removal), ``copy`` (a residual resized to the target's chip grid and the exact field, copied onto other
photos), ``average`` (the principal subspace of N aligned marked images, and the distribution of the header
or symbols), ``cost`` (CPU time and memory beside detect()), ``fp`` (never-marked images).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import tracemalloc
from collections.abc import Iterator

import numpy as np
import scipy.linalg
from PIL import Image

from assay.watermark import _ecc, _embed, _keys, _v2
from bench.watermark import attacks as image_attacks

from . import attacks as adv
from . import nonrepeating_probe as nr
from . import v3r_probe as v3r
from .run import KEY_V2, _payload
from .v3_costs import _cpu

R = hashlib.sha256(b"v3m probe: the register-wide basis secret (a test value)").digest()
N = nr.N
CHIPS = N * N
SUB = 256  # chips a region; = the alphabet: a region's basis is complete
REGIONS = CHIPS // SUB
SYM_BITS = 8
SYMBOLS = 33  # 33 x 8 = 264 bit slots for 258 coded bits (six are carried twice)
STRENGTHS = v3r.STRENGTHS
Z_GATE = math.sqrt(2 * (v3r.LOG_MSG - math.log(1e-6)))  # Hoeffding, union over 2^64 messages; no seed variants

# bit k of symbol j: coded bit (j + 33 k) mod 258 (33 apart: 11 trellis steps, no two of one step's register)
SYM_BIT = np.array([[(j + SYMBOLS * k) % _ecc.CODED_BITS for k in range(SYM_BITS)] for j in range(SYMBOLS)])
HAD = scipy.linalg.hadamard(SUB).astype(np.float32)  # symmetric; row v is the v-th Walsh function
_VALUE_BITS = ((np.arange(SUB)[:, None] >> (SYM_BITS - 1 - np.arange(SYM_BITS))[None, :]) & 1).astype(bool)


def _basis(secret: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R's chip order (region r's chips are torus chips PERM[r*SUB:(r+1)*SUB]), signs and region -> symbol."""
    seed = hashlib.blake2b(secret, digest_size=16, person=b"v3m-basis").digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    perm = rng.permutation(CHIPS)
    signs = (rng.integers(0, 2, size=CHIPS) * 2 - 1).astype(np.float32).reshape(REGIONS, SUB)
    sym_of = rng.permutation(np.arange(REGIONS) % SYMBOLS)
    return perm, signs, sym_of


PERM, SIGNS, SYM_OF = _basis(R)
_ASSIGN = np.zeros((SYMBOLS, REGIONS), np.float32)
_ASSIGN[SYM_OF, np.arange(REGIONS)] = 1.0


def symbols_of(ciphertext: int) -> np.ndarray:
    coded = _ecc.encode(ciphertext).astype(np.int64)
    return (coded[SYM_BIT] << (SYM_BITS - 1 - np.arange(SYM_BITS))[None, :]).sum(axis=1)


def field_m(ciphertext: int) -> np.ndarray:
    vals = symbols_of(ciphertext)
    out = np.empty(CHIPS, np.float32)
    out[PERM] = (HAD[vals[SYM_OF]] * SIGNS).ravel()
    return out.reshape(N, N)


@contextlib.contextmanager
def _as_field() -> Iterator[None]:
    orig = nr.message_field
    nr.message_field = lambda key, ct: field(ct)  # type: ignore[assignment]
    try:
        yield
    finally:
        nr.message_field = orig


def embed(rgb: np.ndarray, key: bytes, payload: int) -> np.ndarray:
    """nonrepeating_probe's embedding (v2 tile 80%, field 20%, same PSNR) with this field."""
    with _as_field():
        return nr.embed_probe(rgb, key, payload)


def soft_bits(torus: np.ndarray) -> np.ndarray:
    """The coded bits' max-log values from one read: each region's coordinates in its basis, summed per symbol;
    for bit k of a symbol, the best score among values with the bit 0 minus the best with it 1."""
    x = torus.ravel()[PERM].reshape(REGIONS, SUB).astype(np.float32) * SIGNS
    scores = _ASSIGN @ (x @ HAD)  # (SYMBOLS, 256): HAD is symmetric
    soft = np.zeros(_ecc.CODED_BITS)
    for k in range(SYM_BITS):
        one = _VALUE_BITS[:, k]
        np.add.at(soft, SYM_BIT[:, k], scores[:, ~one].max(axis=1) - scores[:, one].max(axis=1))
    return soft


def read_m(torus: np.ndarray) -> tuple[int, bool]:
    ct, crc, _ = _ecc.decode(soft_bits(torus))
    return ct, bool(crc)


# --- design "h": a short header in orthogonal symbols, the message in binary under the header's signs ---------

HEADER_REGIONS = 38  # the first 38 regions of R's chip order (9,728 chips, 14.8 %); the rest is the body
HEADER_CANDIDATES = 4  # header values whose body is decoded
BODY = PERM[HEADER_REGIONS * SUB :]


def _body_bits(secret: bytes) -> np.ndarray:
    seed = hashlib.blake2b(secret, digest_size=16, person=b"v3h-body").digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    return rng.permutation(BODY.size) % _ecc.CODED_BITS


BODY_BIT = _body_bits(R)


def header_of(ciphertext: int) -> int:
    """The header is a keyed hash of the ciphertext (R's): random per mark id, and a check on the decode."""
    return hashlib.blake2b(ciphertext.to_bytes(8, "big"), key=R, digest_size=1, person=b"v3h-header").digest()[0]


def body_mask(header: int) -> np.ndarray:
    h = hashlib.blake2b(bytes([header]), key=R, digest_size=16, person=b"v3h-body-mask")
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(h.digest(), "big")))
    return (rng.integers(0, 2, size=BODY.size, dtype=np.int8) * 2 - 1).astype(np.float32)


def field_h(ciphertext: int) -> np.ndarray:
    hv = header_of(ciphertext)
    out = np.empty(CHIPS, np.float32)
    out[PERM[: HEADER_REGIONS * SUB]] = (HAD[hv] * SIGNS[:HEADER_REGIONS]).ravel()
    out[BODY] = body_mask(hv) * (1.0 - 2.0 * _ecc.encode(ciphertext))[BODY_BIT]
    return out.reshape(N, N)


def header_scores(torus: np.ndarray) -> np.ndarray:
    x = torus.ravel()[PERM[: HEADER_REGIONS * SUB]].reshape(HEADER_REGIONS, SUB).astype(np.float32)
    return ((x * SIGNS[:HEADER_REGIONS]) @ HAD).sum(axis=0)


def read_h(torus: np.ndarray) -> tuple[int, bool]:
    """The header's best candidates; for each, the body under its signs decoded; kept: the decode whose CRC
    passes and whose header is its own (the header is a hash of the ciphertext), with the highest z."""
    flat = torus.ravel()
    xb = flat[BODY]
    best: tuple[float, int, bool] = (-np.inf, 0, False)
    for hv in np.argsort(header_scores(torus))[::-1][:HEADER_CANDIDATES]:
        soft = np.bincount(BODY_BIT, weights=body_mask(int(hv)) * xb, minlength=_ecc.CODED_BITS)
        ct, crc, _ = _ecc.decode(soft)
        ok = bool(crc) and header_of(ct) == int(hv)
        z = float(field_h(ct).ravel() @ flat)
        if (ok, z) > (best[2], best[0]):
            best = (z, ct, ok)
    return best[1], best[2]


DESIGN = ["h"]  # --design: "h" (header + binary body) or "m" (orthogonal symbols throughout)


def field(ciphertext: int) -> np.ndarray:
    return field_h(ciphertext) if DESIGN[0] == "h" else field_m(ciphertext)


def read(torus: np.ndarray, reg: v3r.Register | None) -> dict:
    flat = torus.ravel()
    ct, crc = read_h(torus) if DESIGN[0] == "h" else read_m(torus)
    z = float(field(ct).ravel() @ flat) / (float(np.linalg.norm(flat)) + 1e-12)
    hits = reg.identify(ct) if (reg is not None and crc and z >= Z_GATE) else []
    log_p = max(min(0.0, v3r.LOG_MSG - 0.5 * z * z), -745.0) if z > 0 else 0.0
    return {
        "crc": bool(crc),
        "z": round(z, 2),
        "p_log10": round(log_p / math.log(10), 1),
        "ciphertext": ct,
        "hits": hits,
        "payload": hits[0][1] if len(hits) == 1 else None,
        "key_index": hits[0][0] if len(hits) == 1 else None,
    }


def _brief(r: dict, payload: int, true_index: int) -> dict:
    return {
        "field_z": r["z"],
        "field_crc": r["crc"],
        "field_ok": r["payload"] == payload and r["key_index"] == true_index,
        "field_wrong": r["payload"] is not None and r["payload"] != payload,
        "hits": len(r["hits"]),
    }


_emit = v3r._emit
_log = v3r._log


# --- removal, and noise on top of it ------------------------------------------------------------------------


def part_removal(pics: list[np.ndarray], reg: v3r.Register, true_index: int) -> None:
    for i, px in enumerate(pics):
        payload = _payload(20_000 + i)
        marked = embed(px, KEY_V2, payload)
        _, torus = nr._torus(marked)
        _emit(
            {
                "part": "marked",
                "photo": i,
                "mark_psnr": round(adv.psnr(px, marked), 2),
                **_brief(read(torus, reg), payload, true_index),
            }
        )
        for q in (75, 50):
            out = image_attacks.jpeg(q)(marked, None)
            folded, torus = nr._torus(out)
            ok, _ = v3r.tile_ok(folded, reg.ring, true_index, payload)
            _emit({"part": "jpeg", "photo": i, "q": q, "tile_ok": ok, **_brief(read(torus, reg), payload, true_index)})
        tile = adv.folded_tile(marked)
        for s in STRENGTHS:
            out = adv.subtract(marked, tile, s)
            q = adv.psnr(marked, out)
            folded, torus = nr._torus(out)
            ok, tz = v3r.tile_ok(folded, reg.ring, true_index, payload)
            row = {"part": "removal", "photo": i, "s": s, "psnr": round(q, 2), "tile_ok": ok, "tile_z": round(tz, 2)}
            _emit({**row, **_brief(read(torus, reg), payload, true_index)})
            if q < 35.0:
                break
        _log(f"removal: photo {i} done")


def part_noise(pics: list[np.ndarray], reg: v3r.Register, true_index: int, draws: int) -> None:
    """v3r_probe's seed attack, for comparison: on top of the removal at the attacker's best strength (the
    first that kills the tile's message), smooth noise / per-block offsets at each PSNR (of the noise alone),
    or a global tone change. With no seed, this is plain noise on the field."""
    for i, px in enumerate(pics):
        payload = _payload(20_000 + i)
        marked = embed(px, KEY_V2, payload)
        removed = v3r.removed_then_changed(marked, reg, true_index, payload, i, draws)
        if removed is None:
            continue
        s, base, trials = removed
        for kind, level, d, out in trials:
            _, torus = nr._torus(out)
            _emit(
                {
                    "part": "noise",
                    "photo": i,
                    "s": s,
                    "kind": kind,
                    "level": level,
                    "draw": d,
                    "psnr_removal": round(adv.psnr(marked, base), 2),
                    "psnr_total": round(adv.psnr(marked, out), 2),
                    **_brief(read(torus, reg), payload, true_index),
                }
            )
        _log(f"noise: photo {i} done")


# --- copies --------------------------------------------------------------------------------------------------

COPY_KINDS = (
    "residual at the target's scale, 42 dB",
    "residual at the target's scale, 35 dB",
    "the source's exact field (oracle)",
)


def _copy(kind: str, marked: np.ndarray, payload: int, target: np.ndarray) -> np.ndarray:
    if kind.startswith("residual at"):
        return v3r._copy(kind, target, marked, 0, payload, target)
    h, w = target.shape[:2]
    period = _embed.tile_period(h, w)
    ct = _keys.encrypt(KEY_V2, payload)
    d = _v2.binding_image(field(ct), h, w, period) * _embed.masking(Image.fromarray(target).convert("L"), period)
    rms = math.sqrt(_v2.BINDING_SHARE) * 255.0 / 10 ** (_embed.TARGET_PSNR_DB / 20)
    return adv._add(target, d * np.float32(rms / math.sqrt(float(np.mean(d * d)) + 1e-12)))


def part_copy(pics: list[np.ndarray], reg: v3r.Register, true_index: int, sources: int) -> None:
    """With no seed, nothing in the field depends on the picture: a copy that carries enough of it reads on any
    picture (as version 2's binding field does on some), and only the register's image fingerprint can say
    "copied". Measured so the exposure is known, not hidden."""
    for src in range(sources):
        payload = _payload(src)
        marked = embed(pics[src], KEY_V2, payload)
        for t in range(len(pics)):
            if t == src:
                continue
            for kind in COPY_KINDS:
                out = _copy(kind, marked, payload, pics[t])
                folded, torus = nr._torus(out)
                ok, _ = v3r.tile_ok(folded, reg.ring, true_index, payload)
                r = read(torus, reg)
                _emit(
                    {
                        "part": "copy",
                        "source": src,
                        "target": t,
                        "kind": kind,
                        "psnr": round(adv.psnr(pics[t], out), 2),
                        "tile_message": ok,
                        "field_z": r["z"],
                        "field_crc": r["crc"],
                        "attributed_source_payload": r["payload"] == payload,
                    }
                )
        _log(f"copy: source {src} done")


# --- averaging -----------------------------------------------------------------------------------------------


def part_average(ns: tuple[int, ...], held_out: int = 20) -> None:
    """N aligned marked 512 x 512 images of one system (each its own mark id, so its own symbols), their chip
    sums with each image's own fold removed; the attacker's estimate is the mean and the top 258 principal
    directions. Scored on ``held_out`` other marked images: the share of each one's field energy inside the
    learned subspace (chance: 258 / chips), and the mean's correlation with its field. Control: the same
    images marked with a binary field on R's fixed layout (each coded bit on fixed chips with fixed signs,
    nonrepeating_probe's layout), which the attack must find if it has power."""
    imgs = list(adv.generated_images(max(ns) + held_out, seed=43))
    control_bit, control_sign = nr._layout(R)

    def control_field(ct: int) -> np.ndarray:
        coded = 1.0 - 2.0 * _ecc.encode(ct)
        return (control_sign * coded[control_bit]).astype(np.float32).reshape(N, N)

    mine = "header + binary body under the header's signs" if DESIGN[0] == "h" else "orthogonal symbols throughout"
    for mode, make in ((mine, field), ("binary, fixed layout (control)", control_field)):
        rows, fields = [], []
        inside = None
        side = 0
        for i, px in enumerate(imgs):
            payload = _payload(70_000 + i)
            ct = _keys.encrypt(KEY_V2, payload)
            orig = nr.message_field
            nr.message_field = lambda key, c, make=make: make(c)  # type: ignore[assignment, misc]
            try:
                marked = nr.embed_probe(px, KEY_V2, payload)
            finally:
                nr.message_field = orig
            _, torus = nr._torus(marked)
            if inside is None:
                inside = np.flatnonzero(torus.ravel() != 0)
                side = int(round(np.sqrt(inside.size)))
            rows.append(v3r._own_fold_removed(torus, inside, side).astype(np.float32))
            fields.append(v3r._own_fold_removed(make(ct).ravel(), inside, side))
        assert inside is not None
        for n in ns:
            x = np.stack(rows[:n])
            mean = x.mean(axis=0)
            v = np.linalg.svd(x - mean, full_matrices=False)[2][: _ecc.CODED_BITS]
            share, corr = [], []
            for t in range(max(ns), max(ns) + held_out):
                g = fields[t] / (np.linalg.norm(fields[t]) + 1e-12)
                share.append(float(np.sum((v @ g) ** 2)))
                corr.append(float(mean @ g) / (float(np.linalg.norm(mean)) + 1e-12))
            _emit(
                {
                    "part": "average",
                    "mode": mode,
                    "n": n,
                    "held_out": held_out,
                    "chips": int(inside.size),
                    "field_energy_in_learned": round(float(np.mean(share)), 4),
                    "field_energy_in_learned_max": round(float(np.max(share)), 4),
                    "chance": round(v.shape[0] / inside.size, 4),
                    "mean_vs_field_corr_max": round(float(np.max(np.abs(corr))), 4),
                }
            )
        _log(f"average: {mode} done")
    # The argument rests on each symbol being uniform over its 256 values: measured over random ciphertexts.
    rng = np.random.default_rng(5)
    count = 25_600
    cts = [int(c) for c in rng.integers(0, 2**63, size=count)]
    vals = np.stack([[header_of(c)] for c in cts]) if DESIGN[0] == "h" else np.stack([symbols_of(c) for c in cts])
    chi2 = [
        float((((np.bincount(vals[:, j], minlength=SUB) - count / SUB) ** 2) / (count / SUB)).sum())
        for j in range(vals.shape[1])
    ]
    _emit(
        {
            "part": "symbols",
            "ciphertexts": count,
            "values_seen_min": int(min(len(np.unique(vals[:, j])) for j in range(vals.shape[1]))),
            "chi2_255dof_max": round(max(chi2), 1),
            "chi2_255dof_median": round(float(np.median(chi2)), 1),
        }
    )


# --- cost and false positives ----------------------------------------------------------------------------------


def part_cost(reg: v3r.Register) -> None:
    from assay.watermark import detect

    px = next(iter(adv.generated_images(1, seed=5, side=1414)))  # v3_costs' 2 MP image, unmarked
    ring = reg.ring
    folded, torus = nr._torus(px)
    row = {
        "part": "cost",
        "load": os.getloadavg(),
        "detect_1000_keys_ms": _cpu(lambda: detect(px, keys=ring)),
        "torus_from_fold_ms": _cpu(lambda: v3r._torus_from(folded, px)),
        "soft_bits_ms": _cpu(lambda: soft_bits(torus)),
        "ecc_decode_ms": _cpu(lambda: _ecc.decode(soft_bits(torus))),
        "whole_field_read_after_fold_ms": _cpu(lambda: read(torus, reg)),
        "trial_decryption_1000_keys_and_lookup_ms": _cpu(lambda: reg.identify(0x0123456789ABCDEF)),
        "detect_1000_keys_ms_again": _cpu(lambda: detect(px, keys=ring)),
    }
    for name, fn in (("read_peak_mb", lambda: read(torus, reg)), ("detect_peak_mb", lambda: detect(px, keys=ring))):
        tracemalloc.start()
        fn()
        row[name] = round(tracemalloc.get_traced_memory()[1] / 1e6, 2)
        tracemalloc.stop()
    row["static_basis_mb"] = round((PERM.astype(np.uint16).nbytes + CHIPS // 8 + HAD.nbytes) / 1e6, 3)
    row["load_after"] = os.getloadavg()
    _emit({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()})


def part_fp(reg: v3r.Register, generated: int) -> None:
    from bench.watermark import photos as bench_photos

    imgs = [("bench", p.pixels) for p in bench_photos.benchmark_photos()]
    imgs += [("bundled", px) for _, px in adv.never_marked_photos(100)]
    imgs += [("generated", px) for px in adv.generated_images(generated, seed=97)]
    for i, (kind, px) in enumerate(imgs):
        _, torus = nr._torus(px)
        r = read(torus, reg)
        _emit(
            {
                "part": "fp",
                "i": i,
                "kind": kind,
                "z": r["z"],
                "crc": r["crc"],
                "hits": len(r["hits"]),
                "payload": r["payload"] is not None,
            }
        )
    _log(f"fp: {len(imgs)} images done")


# --- summary ---------------------------------------------------------------------------------------------------


def _table(head: list[str]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))


def _row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def summarize(rows: list[dict], v3r_rows: list[dict]) -> None:  # noqa: C901 (one table after another)
    def of(part: str) -> list[dict]:
        return [r for r in rows if r.get("part") == part]

    def ok(rs: list[dict], key: str = "field_ok") -> int:
        return sum(bool(r[key]) for r in rs)

    marked = of("marked")
    if marked:
        q = [r["mark_psnr"] for r in marked]
        z = [r["field_z"] for r in marked]
        print(f"- marked: {len(marked)} photos, mark PSNR mean {np.mean(q):.2f} dB (lowest {min(q):.2f});")
        print(f"  the field decodes unattacked on {ok(marked)}, z lowest {min(z):.1f}, median {np.median(z):.1f}")
        print(f"  (gate {Z_GATE:.2f})")
    for qq in (75, 50):
        rs = [r for r in of("jpeg") if r["q"] == qq]
        if rs:
            print(
                f"- JPEG {qq}: the field decodes on {ok(rs)} of {len(rs)} (the tile's message on {ok(rs, 'tile_ok')})"
            )
    rem = [r for r in of("removal") if r["psnr"] >= 35.0]
    if rem:
        old = {(r["photo"], r["s"]): r for r in v3r_rows if r.get("part") == "removal"}
        zs = sorted(r["field_z"] for r in rem)
        either = sum(r["tile_ok"] or r["field_ok"] for r in rem)
        print(f"- removal, (photo, strength) points at PSNR >= 35 dB: {len(rem)}; the tile's message fails on")
        print(f"  {len(rem) - ok(rem, 'tile_ok')}; tile, else the field: {either}; the field alone: {ok(rem)};")
        print(f"  wrong payloads {ok(rem, 'field_wrong')}; field z lowest {zs[0]:.1f}, median {zs[len(zs) // 2]:.1f}")
        print()
        _table(
            [
                "strength",
                "photos at >= 35 dB",
                "tile's message decodes",
                "v3r_probe (seed, w = 4): tile, else the field",
                "this probe: tile, else the field",
                "this probe: the field alone",
            ]
        )
        for st in sorted({r["s"] for r in rem}):
            rs = [r for r in rem if r["s"] == st]
            o = [old[(r["photo"], st)] for r in rs if (r["photo"], st) in old]
            ov = sum(x["tile_ok"] or x["field_ok"] for x in o) if o else "-"
            _row(f"{st:.1f}", len(rs), ok(rs, "tile_ok"), ov, sum(r["tile_ok"] or r["field_ok"] for r in rs), ok(rs))
        print()
    noise = of("noise")
    if noise:
        _table(
            [
                "on top of the removal",
                "level (the change alone)",
                "points",
                "total PSNR, median (lowest)",
                "points at >= 35 dB total",
                "the field fails there",
                "v3r_probe (w = 4) failed there",
            ]
        )
        old_n = [r for r in v3r_rows if r.get("part") == "seed"]
        for kind in ("smooth", "blocks", *sorted({k for k, _ in v3r.TONES})):
            for level in sorted({r["level"] for r in noise if r["kind"] == kind}, reverse=True):
                rs = [r for r in noise if r["kind"] == kind and r["level"] == level]
                at35 = [r for r in rs if r["psnr_total"] >= 35.0]
                o35 = [r for r in old_n if r["kind"] == kind and r["level"] == level and r["psnr_total"] >= 35.0]
                tot = [r["psnr_total"] for r in rs]
                old_fail = len(o35) - ok(o35) if o35 else "-"
                _row(
                    kind,
                    level,
                    len(rs),
                    f"{np.median(tot):.1f} ({min(tot):.1f})",
                    len(at35),
                    len(at35) - ok(at35),
                    old_fail,
                )
        fail = sorted({r["photo"] for r in noise if r["psnr_total"] >= 35.0 and not r["field_ok"]})
        photos = {r["photo"] for r in noise}
        print(f"\n- removal + noise: the field fails at total PSNR >= 35 dB on {len(fail)} of {len(photos)} photos")
        print(f"  ({fail}); wrong payloads {ok(noise, 'field_wrong')} of {len(noise)} points")
    cp = of("copy")
    if cp:
        print()
        _table(["copy onto another photo", "pairs", "the field reads the source's payload", "the copied tile decodes"])
        for kind in COPY_KINDS:
            rs = [r for r in cp if r["kind"] == kind]
            _row(kind, len(rs), ok(rs, "attributed_source_payload"), ok(rs, "tile_message"))
    av = of("average")
    if av:
        print()
        _table(
            [
                "aligned marked images",
                "N",
                "a held-out field's energy in the learned subspace: mean (max)",
                "chance",
                "the mean vs a held-out field: largest correlation",
            ]
        )
        for r in av:
            share = f"{100 * r['field_energy_in_learned']:.2f}% ({100 * r['field_energy_in_learned_max']:.2f}%)"
            _row(r["mode"], r["n"], share, f"{100 * r['chance']:.2f}%", f"{r['mean_vs_field_corr_max']:.3f}")
    for r in of("symbols"):
        print(f"\n- over {r['ciphertexts']:,} random ciphertexts every symbol takes at least {r['values_seen_min']} of")
        print(f"  256 values; chi-square (255 dof, 5% critical 293): median {r['chi2_255dof_median']},")
        print(f"  highest {r['chi2_255dof_max']}")
    for r in of("cost"):
        print(f"\n- cost: {json.dumps({k: v for k, v in r.items() if k != 'part'})}")
    fp = of("fp")
    if fp:
        zs = sorted(r["z"] for r in fp)
        print(f"\n- never-marked: {len(fp)} images; CRC passes {ok(fp, 'crc')}, payloads {ok(fp, 'payload')};")
        print(f"  field z median {zs[len(zs) // 2]:.1f}, highest {zs[-1]:.1f} (gate {Z_GATE:.2f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--only", action="append", help="removal, noise, copy, average, cost, fp (repeatable)")
    ap.add_argument("--draws", type=int, default=2, help="noise draws per level")
    ap.add_argument("--sources", type=int, default=2, help="source photos of the copy attack")
    ap.add_argument("--average-n", type=int, nargs="+", default=[50, 200], help="N of the averaging attack")
    ap.add_argument("--generated", type=int, default=200, help="generated never-marked images for fp")
    ap.add_argument("--design", choices=("h", "m"), default="h", help="h: header + binary body; m: orthogonal symbols")
    ap.add_argument("--field-share", type=float, default=0.0, help="the field's share of the energy (0: version 2's)")
    ap.add_argument("--summarize", help="only summarize the JSON lines of an earlier run's output file")
    args = ap.parse_args(argv)
    DESIGN[0] = args.design
    if args.field_share:  # the tile gets the rest (embedding only; the detector does not use the shares)
        _v2.PERIODIC_SHARE, _v2.BINDING_SHARE = 1.0 - args.field_share, args.field_share
    if args.summarize:
        from pathlib import Path

        with open(args.summarize, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.startswith("{")]
        with open(Path(__file__).with_name("V3R_PROBE.jsonl"), encoding="utf-8") as fh:
            old = [json.loads(line) for line in fh if line.startswith("{")]
        summarize(rows, old)
        return 0
    parts = args.only or ["removal", "noise", "copy", "average", "cost", "fp"]
    ring = adv.system_ring(KEY_V2)
    true_index = ring.ids.index("acme-imagegen")
    reg = v3r._register(ring, true_index)
    pics = v3r._photos(args.photos) if {"removal", "noise", "copy"} & set(parts) else []
    _emit(
        {
            "part": "config",
            "design": args.design,
            "field_share": _v2.BINDING_SHARE,
            "z_gate": round(Z_GATE, 2),
            "header_regions": HEADER_REGIONS,
        }
    )
    if "removal" in parts:
        part_removal(pics, reg, true_index)
    if "noise" in parts:
        part_noise(pics, reg, true_index, args.draws)
    if "copy" in parts:
        part_copy(pics, reg, true_index, args.sources)
    if "average" in parts:
        part_average(tuple(args.average_n))
    if "cost" in parts:
        part_cost(reg)
    if "fp" in parts:
        part_fp(reg, args.generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
