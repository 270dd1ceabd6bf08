"""Probe for version 3 (issue 9, removal with the image's own fold): what a fallback detector could read.

``python -m bench.watermark.adversarial.v3_probe [--photos N]`` (a few minutes on one core; prints JSON lines
and a summary). Marks each photo like ``nonrepeating_probe`` (version 2's tile, its binding field replaced by
a field that carries the coded ciphertext keyed per chip), removes the mark with the image's own fold at every
strength 0.5 ... 3.0 that leaves PSNR >= 35 dB, and records at each strength:
- whether the tile's message still decodes (with the ring's p-value gate: what version 2 reads);
- the rank of the true key in the tile's 1,000-key screening (at the unaltered alignment) and its screening z;
- whether the non-repeating field decodes with the true key at the unaltered geometry, and its z.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from assay.watermark import _ecc, _keys, _v2
from bench.watermark import photos as bench_photos

from . import attacks as adv
from . import nonrepeating_probe as nr
from .run import KEY_V2, _payload

STRENGTHS = [round(0.5 + 0.1 * i, 1) for i in range(26)]
LOG_MSG = math.log(1000) + _ecc.PAYLOAD_BITS * math.log(2.0)
Z_GATE = math.sqrt(2 * (LOG_MSG - math.log(1e-6)))  # p_message < 1e-6 with 1,000 keys, one alignment


def ring_layouts(ring: _keys.KeyRing) -> tuple[np.ndarray, np.ndarray]:
    """Every key's field layout (coded bit per torus chip as uint16, sign as int8): 196 MB for 1,000 keys."""
    bits = np.empty((len(ring), nr.N * nr.N), np.uint16)
    signs = np.empty((len(ring), nr.N * nr.N), np.int8)
    for i, key in enumerate(ring._keys):
        bits[i], signs[i] = nr._layout(key)
    return bits, signs


def measure(
    px: np.ndarray,
    ring: _keys.KeyRing,
    true_index: int,
    payload: int,
    layouts: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    ciphertext = _keys.encrypt(KEY_V2, payload)
    folded, torus = nr._torus(px)
    cells = _v2._cells(folded, 0, 0, 0)
    k = len(ring)
    soft = (ring._matrix @ cells.astype(np.float32)).reshape(k, _ecc.CODED_BITS)
    energy = np.einsum("ij,ij->i", soft, soft)
    rank = int((energy > energy[true_index]).sum())
    top = _v2.screen(cells, ring, 3)
    z_screen = dict(top).get(true_index)
    norm = float(np.linalg.norm(cells[_keys.MESSAGE_CELLS]))
    msg = _v2._decode(cells, ring, true_index, norm)
    tile_ok = msg.crc_ok and msg.ciphertext == ciphertext and msg.z >= Z_GATE
    bit, sign = nr._layout(KEY_V2)
    fsoft = np.bincount(bit, weights=sign * torus, minlength=_ecc.CODED_BITS)
    got, ok, coded = _ecc.decode(fsoft)
    sym = 1.0 - 2.0 * coded
    z_field = float((sign * torus * sym[bit]).sum()) / (float(np.linalg.norm(torus)) + 1e-12)
    field_ok = bool(ok and got == ciphertext and z_field >= Z_GATE)
    field_rank = None
    if layouts is not None:
        # The field read for every key of the ring and screened by the energy of its soft bits (as the tile's
        # screening does): where does the true key rank?
        flat = torus.ravel()
        energy = np.empty(len(ring))
        for k in range(len(ring)):
            s = np.bincount(layouts[0][k], weights=layouts[1][k] * flat, minlength=_ecc.CODED_BITS)
            energy[k] = s @ s
        field_rank = int((energy > energy[true_index]).sum())
    return {
        "field_rank": field_rank,
        "tile_ok": bool(tile_ok),
        "tile_z": round(msg.z, 2),
        "rank": rank,
        "screen_z": None if z_screen is None else round(z_screen, 2),
        "field_ok": field_ok,
        "field_z": round(z_field, 2),
    }


def summarize(rows: list[dict]) -> None:
    """Per strength, over the photos where it leaves PSNR >= 35 dB: how many each detector design reads."""
    ok = [r for r in rows if r["psnr"] >= 35.0]
    fail = [r for r in ok if not r["tile_ok"]]
    ranks = sorted(r["rank"] for r in fail)
    print(f"- (photo, strength) points at PSNR >= 35 dB: {len(ok)}; the tile's message fails on {len(fail)}")
    if fail:
        print(
            f"- there, the true key's screening rank among 1,000: first on {sum(x == 0 for x in ranks)},"
            f" top 3 on {sum(x < 3 for x in ranks)}, top 10 on {sum(x < 10 for x in ranks)},"
            f" median {ranks[len(ranks) // 2]}"
        )
    lost: dict[int, float] = {}
    for r in ok:
        if not r["tile_ok"] and r["rank"] >= 3:
            lost.setdefault(r["photo"], r["psnr"])
    if lost:
        q = list(lost.values())
        print(
            f"- the screening loses the true key (out of the top 3, the tile's message gone) on {len(lost)} of"
            f" {len({r['photo'] for r in rows})} photos at PSNR >= 35 dB: first at mean {sum(q) / len(q):.1f} dB"
            f" (lowest {min(q):.1f}, highest {max(q):.1f})"
        )
    read = [r for r in fail if r.get("field_rank") is not None]
    if read:
        print(
            f"- the field read for every key, where the tile fails: the true key ranks first on"
            f" {sum(r['field_rank'] == 0 for r in read)} of {len(read)} points"
        )
    zs = sorted(r["field_z"] for r in ok)
    print(f"- the field's z (true key): lowest {zs[0]:.1f}, median {zs[len(zs) // 2]:.1f}; gate {Z_GATE:.1f}")
    print()
    print(
        "| strength | photos at >= 35 dB | tile message decodes (true key, gate) | tile, else the field for the"
        " top 3 screened keys | tile, else the field (every key read) |"
    )
    print("|---|---|---|---|---|")
    for s in sorted({r["s"] for r in ok}):
        rs = [r for r in ok if r["s"] == s]
        top3 = sum(r["tile_ok"] or (r["rank"] < 3 and r["field_ok"]) for r in rs)
        every = sum(r["tile_ok"] or (r["field_ok"] and r.get("field_rank", 0) in (0, None)) for r in rs)
        print(f"| {s:.1f} | {len(rs)} | {sum(r['tile_ok'] for r in rs)} | {top3} | {every} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--every-key", action="store_true", help="also read the field with every key (196 MB, slower)")
    ap.add_argument("--summarize", help="only summarize the JSON lines of an earlier run's output file")
    args = ap.parse_args(argv)
    if args.summarize:
        with open(args.summarize, encoding="utf-8") as fh:
            summarize([json.loads(line) for line in fh if line.startswith("{")])
        return 0
    ring = adv.system_ring(KEY_V2)
    true_index = ring.ids.index("acme-imagegen")
    layouts = ring_layouts(ring) if args.every_key else None
    every = list(bench_photos.benchmark_photos())
    pics = [p.pixels for p in (every[0::2] + every[1::2])[: args.photos]]
    rows = []
    for i, px in enumerate(pics):
        payload = _payload(20_000 + i)
        marked = nr.embed_probe(px, KEY_V2, payload)
        tile = adv.folded_tile(marked)
        for s in STRENGTHS:
            out = adv.subtract(marked, tile, s)
            q = adv.psnr(marked, out)
            row = {"photo": i, "s": s, "psnr": round(q, 2), **measure(out, ring, true_index, payload, layouts)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if q < 35.0:
                break
        print(f"[{time.strftime('%H:%M:%S')}] photo {i} done", file=sys.stderr, flush=True)
    summarize(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
