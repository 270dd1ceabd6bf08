"""Speed and memory of Assay's watermark on one core: ``python -m bench.watermark.speed``.

Times embed and detect on 2-megapixel photos (best and median of several runs) and the peak of memory that
numpy allocates during each call (tracemalloc sees numpy's buffers; Pillow's own buffers, a few image-sized
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


def main() -> int:
    key = bytes(range(32))
    sources = photos.small_photos()[:4]
    print(
        "| photo (2.0 MP) | embed ms (best / median) | detect ms, marked (best / median) "
        "| detect ms, unmarked (best / median) | peak numpy memory ÷ image bytes |"
    )
    print("|---|---|---|---|---|")
    for photo in sources:
        h, w = photo.pixels.shape[:2]
        f = np.sqrt(2.0e6 / (h * w))
        pixels = np.asarray(
            Image.fromarray(photo.pixels).resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS)
        )
        marked = embed(pixels, 42, key=key)
        detect(marked, key=key)
        times: dict[str, list[float]] = {"embed": [], "detect": [], "unmarked": []}
        for _ in range(7):
            t0 = time.perf_counter()
            embed(pixels, 42, key=key)
            times["embed"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            found = detect(marked, key=key)
            times["detect"].append(time.perf_counter() - t0)
            assert found.payload == 42
            t0 = time.perf_counter()
            assert detect(pixels, key=key).payload is None
            times["unmarked"].append(time.perf_counter() - t0)
        peaks = []
        for name in ("embed", "detect"):
            tracemalloc.start()
            if name == "embed":
                embed(pixels, 42, key=key)
            else:
                detect(marked, key=key)
            peaks.append(tracemalloc.get_traced_memory()[1] / pixels.nbytes)
            tracemalloc.stop()
        e, d, u = (np.array(times[k]) * 1000 for k in ("embed", "detect", "unmarked"))
        print(
            f"| {photo.name} {pixels.shape[1]}x{pixels.shape[0]} | {e.min():.0f} / {np.median(e):.0f} "
            f"| {d.min():.0f} / {np.median(d):.0f} | {u.min():.0f} / {np.median(u):.0f} "
            f"| embed {peaks[0]:.1f}×, detect {peaks[1]:.1f}× |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
