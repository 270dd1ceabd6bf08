"""Speed and memory of Assay's watermark on one core: ``python -m bench.watermark.speed``.

Times embed and detect on 2-megapixel photos, version 1 (one key: the figures before issue 9) and version 2 with
one key and with a ring of 1,000 keys, marked and unmarked, interleaved (best and median of 9 runs), and the peak of
memory that numpy allocates during each call (tracemalloc sees numpy's buffers; Pillow's own buffers, a few image-sized
bytes, are not included and are counted separately from the image size).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from assay.watermark import detect, embed  # noqa: E402

from . import photos  # noqa: E402


def _runs(pixels: np.ndarray, marked: np.ndarray, old: np.ndarray, key: bytes, ring: object) -> dict:
    from assay.watermark import _detect, _embed_legacy

    return {
        "v1 embed": lambda: _embed_legacy(pixels, 42, key=key),
        "v2 embed": lambda: embed(pixels, 42, key=key),
        "v1 marked": lambda: _detect.detect_rgb(old, key),
        "v2 marked 1": lambda: detect(marked, key=key),
        "v2 marked 1000": lambda: detect(marked, keys=ring),
        "v1 unmarked": lambda: _detect.detect_rgb(pixels, key),
        "v2 unmarked 1": lambda: detect(pixels, key=key),
        "v2 unmarked 1000": lambda: detect(pixels, keys=ring),
    }


def main() -> int:
    from assay.watermark import KeyRing, _embed_legacy

    key = bytes(range(32))
    ring = KeyRing([(f"system-{i}", bytes([i % 256, i // 256]) * 16) for i in range(999)] + [("target", key)])
    sources = photos.small_photos()[:4]
    print(
        "| photo (2.0 MP) | v1 embed | v2 embed | v1 detect marked | v2 marked, 1 key | v2 marked, 1,000 keys "
        "| v1 detect unmarked | v2 unmarked, 1 key | v2 unmarked, 1,000 keys | peak numpy memory ÷ image bytes |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {}
    for photo in sources:
        h, w = photo.pixels.shape[:2]
        f = np.sqrt(2.0e6 / (h * w))
        pixels = np.asarray(
            Image.fromarray(photo.pixels).resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS)
        )
        marked = embed(pixels, 42, key=key)
        old = _embed_legacy(pixels, 42, key=key)
        runs = _runs(pixels, marked, old, key, ring)
        assert detect(marked, keys=ring).key_id == "target" and detect(pixels, keys=ring).payload is None
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(9):  # interleaved, so the shared machine's load hits every variant alike
            for name, run in runs.items():
                t0 = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - t0) * 1000)
        med = {k: float(np.median(v)) for k, v in times.items()}
        best = {k: float(np.min(v)) for k, v in times.items()}
        for k in ("v2 embed", "v2 marked 1", "v2 marked 1000", "v2 unmarked 1", "v2 unmarked 1000"):
            base = {"v2 embed": "v1 embed"}.get(k, "v1 marked" if "marked" in k and "un" not in k else "v1 unmarked")
            ratios.setdefault(k, []).append(best[k] / best[base])
        peaks = []
        for run in (runs["v2 embed"], runs["v2 marked 1000"]):
            tracemalloc.start()
            run()
            peaks.append(tracemalloc.get_traced_memory()[1] / pixels.nbytes)
            tracemalloc.stop()
        cells = " | ".join(f"{best[k]:.0f} / {med[k]:.0f}" for k in runs)
        print(
            f"| {photo.name} {pixels.shape[1]}x{pixels.shape[0]} | {cells} "
            f"| embed {peaks[0]:.1f}×, detect {peaks[1]:.1f}× |"
        )
    print()
    print("Best / median of 9 interleaved runs, in ms. Ratios of the best times to version 1's (single key), median")
    print("over the photos (the best time is the one least inflated by other work on a shared machine):")
    for k, v in ratios.items():
        print(f"- {k}: {np.median(v):.2f}×")
    print(f"\nLoad average during the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
