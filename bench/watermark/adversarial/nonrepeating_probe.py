"""A probe, not a format: would a message carried in a non-repeating keyed field survive the own-fold removal?
``python -m bench.watermark.adversarial.nonrepeating_probe`` (about 2 minutes, one core; prints a table).

Version 2's binding field survives the removal (REMOVAL.md) but cannot be read without the ciphertext the tile
carries. This probe builds the variant weighed in docs/watermark.md: the binding field replaced by a field that
carries the coded ciphertext itself, keyed per chip (each torus chip has a keyed sign and a keyed coded bit, no
structure shared between chips), at the same 20% of the energy and the same place (from the image's origin).
It embeds it (everything else as version 2), removes the mark with the image's own fold at the attacker's best
strength, and reads the message from that field with the key given at the unaltered geometry: the best case
for the detector (no 1,000-key screening, no offset search; see docs/watermark.md for what those would cost).
Nothing here is used by ``assay.watermark``.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time

import numpy as np
from PIL import Image

from assay.watermark import _detect, _ecc, _embed, _keys, _v2
from bench.watermark import photos as bench_photos

from . import attacks as adv
from .run import KEY_V2, _payload

N = _keys.BIND_TORUS
STRENGTHS = [round(0.5 + 0.1 * i, 1) for i in range(26)]


def _layout(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Per torus chip: a keyed sign and a keyed coded-bit index (each bit on N*N / 258 ~ 254 chips)."""
    seed = hashlib.blake2b(key, digest_size=32, person=b"probe-nonrep-msg").digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    bit = rng.permutation(N * N) % _ecc.CODED_BITS
    sign = rng.integers(0, 2, size=N * N) * 2 - 1
    return bit, sign.astype(np.float32)


def message_field(key: bytes, ciphertext: int) -> np.ndarray:
    bit, sign = _layout(key)
    coded = 1.0 - 2.0 * _ecc.encode(ciphertext)
    return (sign * coded[bit]).astype(np.float32).reshape(N, N)


def embed_probe(rgb: np.ndarray, key: bytes, payload: int) -> np.ndarray:
    """Version 2's embedding with the binding field replaced by the message field."""
    h, w = rgb.shape[:2]
    ciphertext = _keys.encrypt(key, payload)
    period = _embed.tile_period(h, w)
    delta = _embed.pattern_image(_v2.message_tile(key, ciphertext), h, w) * np.float32(math.sqrt(_v2.PERIODIC_SHARE))
    field = _v2.binding_image(message_field(key, ciphertext), h, w, period)
    delta += field * np.float32(math.sqrt(_v2.BINDING_SHARE))
    delta *= _embed.masking(Image.fromarray(rgb).convert("L"), period)
    target_mse = 255.0**2 / 10 ** (_embed.TARGET_PSNR_DB / 10)
    delta *= np.float32(np.sqrt(target_mse / max(float(np.mean(delta * delta)), 1e-12)))
    return _embed.apply_delta(rgb, delta)


def _torus(px: np.ndarray) -> tuple[_detect.FoldedTile, np.ndarray]:
    folded = next(iter(_detect.folded_tiles(px)))
    assert folded.unaltered
    half, r, c = _v2._half_coords(folded)
    u = np.floor((r + 0.5) * (1.0 / _v2.CELL)).astype(np.int64) & (N - 1)
    v = np.floor((c + 0.5) * (1.0 / _v2.CELL)).astype(np.int64) & (N - 1)
    return folded, np.bincount((u * N + v).ravel(), weights=half.ravel(), minlength=N * N)


def reads(px: np.ndarray, key: bytes, payload: int) -> tuple[bool, bool, float]:
    """(the tile's message decodes, the field's message decodes, the field's message z), key given."""
    ciphertext = _keys.encrypt(key, payload)
    folded, torus = _torus(px)
    cells = _v2._cells(folded, 0, 0, 0)
    lay = _keys.layout(key)
    vals = (cells[lay.cells] * lay.signs).reshape(_ecc.CODED_BITS, _keys.REPEAT)
    got, ok, _ = _ecc.decode(vals.sum(axis=1))
    tile_ok = ok and got == ciphertext
    bit, sign = _layout(key)
    soft = np.bincount(bit, weights=sign * torus, minlength=_ecc.CODED_BITS)
    got, ok, coded = _ecc.decode(soft)
    truth = 1.0 - 2.0 * _ecc.encode(ciphertext)
    z = float((sign * torus * truth[bit]).sum()) / (float(np.linalg.norm(torus)) + 1e-12)
    return tile_ok, bool(ok and got == ciphertext), z


def main() -> int:
    every = list(bench_photos.benchmark_photos())
    pics = [p.pixels for p in (every[0::2] + every[1::2])[:20]]
    rows = []
    for i, px in enumerate(pics):
        payload = _payload(20_000 + i)
        marked = embed_probe(px, KEY_V2, payload)
        before = reads(marked, KEY_V2, payload)
        tile = adv.folded_tile(marked)
        gone = None
        tile_gone = None
        for s in STRENGTHS:
            out = adv.subtract(marked, tile, s)
            tile_ok, field_ok, z = reads(out, KEY_V2, payload)
            if tile_gone is None and not tile_ok:
                tile_gone = (s, adv.psnr(marked, out), z, field_ok)
            if not tile_ok and not field_ok:
                gone = (s, adv.psnr(marked, out))
                break
        rows.append((i, adv.psnr(px, marked), before, tile_gone, gone))
        print(f"[{time.strftime('%H:%M:%S')}] photo {i}: {rows[-1]}", file=sys.stderr, flush=True)
    psnr_mark = np.array([r[1] for r in rows])
    print(f"Probe, 20 photos: mark PSNR {psnr_mark.mean():.2f} dB (lowest {psnr_mark.min():.2f}).")
    print(f"Unattacked: tile decodes {sum(r[2][0] for r in rows)}/20, field decodes {sum(r[2][1] for r in rows)}/20.")
    tg = [r[3] for r in rows if r[3] is not None]
    print(
        f"Where the own-fold removal kills the tile's message ({len(tg)}/20, mean PSNR "
        f"{np.mean([t[1] for t in tg]):.1f} dB): the field still decodes on {sum(t[3] for t in tg)}/{len(tg)} "
        f"(field z there: median {np.median([t[2] for t in tg]):.1f}, lowest {np.min([t[2] for t in tg]):.1f})."
    )
    g = [r[4] for r in rows if r[4] is not None]
    if g:
        q = np.array([x[1] for x in g])
        print(
            f"Both gone (strength up to 3x): on {len(g)}/20, at mean PSNR {q.mean():.1f} dB (lowest {q.min():.1f},"
            f" highest {q.max():.1f}); at PSNR >= 35 dB on {int((q >= 35).sum())}/20."
        )
    else:
        print("Both gone: on none of the 20 up to 3x.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
