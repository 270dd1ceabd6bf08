"""Assay only, on more pictures than the peer comparison: ``python -m bench.watermark.more [--per-source 3]``.

The peer table uses twelve 1-2 MP photos; this run takes every picture scikit-image and scikit-learn bundle
(23, colour and grey, photographs and textures), makes ``--per-source`` random crops of each (40-100% of the
area, aspect 1:2 to 2:1) resampled to 0.6-3 MP, marks them and runs every attack, counting exact recoveries
and any wrong payload. About 4 s per image on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Iterator

import numpy as np
from PIL import Image

from . import attacks


def sources() -> list[tuple[str, np.ndarray]]:
    import skimage.data as data
    from sklearn.datasets import load_sample_images

    out: list[tuple[str, np.ndarray]] = []
    for name in (
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "hubble_deep_field",
        "retina",
        "immunohistochemistry",
        "colorwheel",
    ):
        out.append((name, getattr(data, name)()))
    left, right, _ = data.stereo_motorcycle()
    out += [("motorcycle_left", left), ("motorcycle_right", right)]
    for name in (
        "camera",
        "coins",
        "brick",
        "grass",
        "gravel",
        "moon",
        "cell",
        "clock",
        "microaneurysms",
        "page",
        "text",
    ):
        grey = getattr(data, name)()
        if grey.ndim == 2:
            grey = np.repeat(grey[..., None], 3, axis=2)
        out.append((name, grey[..., :3].astype(np.uint8)))
    samples = load_sample_images()
    for path, img in zip(samples.filenames, samples.images, strict=True):
        out.append((os.path.basename(path).split(".")[0], np.asarray(img, dtype=np.uint8)))
    return out


def variants(srcs: list[tuple[str, np.ndarray]], per: int, seed: int = 99) -> Iterator[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    for name, px in srcs:
        h, w = px.shape[:2]
        for k in range(per):
            area, aspect = rng.uniform(0.4, 1.0), rng.uniform(0.5, 2.0)
            ch = int(min(h, np.sqrt(area * h * w / aspect)))
            cw = int(min(w, area * h * w / ch))
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            mp = float(np.exp(rng.uniform(np.log(0.6), np.log(3.0))))
            f = np.sqrt(mp * 1e6 / (ch * cw))
            size = (max(256, round(cw * f)), max(256, round(ch * f)))
            crop = Image.fromarray(px[y0 : y0 + ch, x0 : x0 + cw])
            yield f"{name}#{k}", np.asarray(crop.resize(size, Image.Resampling.LANCZOS))


def main(argv: list[str] | None = None) -> int:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
        os.environ.setdefault(var, "1")
    from assay.watermark import detect, embed

    parser = argparse.ArgumentParser(prog="python -m bench.watermark.more", description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-source", type=int, default=3, help="random crops per bundled picture (default 3)")
    parser.add_argument(
        "--version", type=int, choices=(2, 3), default=3, help="Assay's mark: 3 (online, the default) or 2 (kits)"
    )
    parser.add_argument("--kit", action="store_true", help="version 3 as an offline kit makes it (the kits' secret)")
    args = parser.parse_args(argv)
    key = hashlib.sha256(b"review 3 extra photos key").digest()
    register = hashlib.sha256(b"review 3 extra photos field secret").digest()
    kits = hashlib.sha256(b"review 3 extra photos kits' field secret").digest()
    secret = (kits if args.kit else register) if args.version == 3 else None
    # What a check reads: the register's secret, and its kits' once it has issued one (always, with --kit).
    reading = ([register, kits] if args.kit else register) if args.version == 3 else None
    exact: dict[str, list[bool]] = {}
    misses: dict[str, list[str]] = {}
    wrong = images = unbound = 0
    t0 = time.perf_counter()
    for idx, (name, px) in enumerate(variants(sources(), args.per_source)):
        payload = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
        marked = embed(px, payload, key=key, field_secret=secret)

        def accept(_key_id: str, value: int, payload: int = payload) -> bool:
            return value == payload  # the register's mark check: the payload this system embedded

        for attack, run in attacks.ALL.items():
            rng = np.random.default_rng([idx, 13, len(attack)])
            attacked = np.ascontiguousarray(run(marked, rng))
            got = (
                detect(attacked, key=key, field_secret=reading, accept=accept if secret else None)
                if min(attacked.shape[:2]) >= 64
                else None
            )
            exact.setdefault(attack, []).append(got is not None and got.payload == payload)
            wrong += got is not None and got.payload is not None and got.payload != payload
            unbound += got is not None and got.unbound_payload is not None
            if got is None or got.payload != payload:
                misses.setdefault(attack, []).append(name)
        images += 1
        print(f"[{time.perf_counter() - t0:.0f} s] {images} {name} {px.shape[1]}x{px.shape[0]}", file=sys.stderr)
    made = ", made by a kit (checked with both secrets)" if args.kit else ""
    counts = f"{images} images, {wrong} wrong payloads, {unbound} genuine marks called unbound"
    print(f"Version {args.version}{made}: {counts}")
    print("\n| attack | exact recovery | missed |\n|---|---|---|")
    for attack, got in exact.items():
        label = attack + (" (stretch)" if attack in attacks.STRETCH else "")
        print(f"| {label} | {100 * np.mean(got):.1f}% | {', '.join(misses.get(attack, []))} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
