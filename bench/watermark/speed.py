"""Speed and memory of Assay's watermark on one core: ``python -m bench.watermark.speed``.

Times embed and detect on 2-megapixel photos, version 1 (one key: the figures before issue 9) and version 2 with
one key and with a ring of 1,000 keys, marked and unmarked, interleaved (best and median of 9 runs), and the peak of
memory that numpy allocates during each call (tracemalloc sees numpy's buffers; Pillow's own buffers, a few image-sized
bytes, are not included and are counted separately from the image size). Prints the table and writes it, with the load
average before and after, to SPEED.md beside this file.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import platform  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from assay.watermark import KeyRing, detect, embed  # noqa: E402

from . import photos  # noqa: E402


def _runs(pixels: np.ndarray, marked: np.ndarray, old: np.ndarray, key: bytes, ring: KeyRing) -> dict:
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


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    lines: list[str] = []

    def emit(text: str = "") -> None:
        print(text)
        lines.append(text)

    load_before = _load()
    main_table(emit)
    head = [
        "# Watermark speed and memory (one core, 2 MP)",
        "",
        f"Produced by `python -m bench.watermark.speed`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{platform.machine()}, Python {platform.python_version()}, OpenBLAS held to one thread, on the shared machine "
        f"(load average {load_before} before the run, {_load()} after). Targets (issue 9): embed ≤ 100 ms, "
        "detect ≤ 80 ms per 2 MP, marked and unmarked, with 1 and with 1,000 keys.",
        "",
    ]
    (Path(__file__).resolve().parent / "SPEED.md").write_text("\n".join(head + lines) + "\n")
    return 0


def main_table(emit: Callable[[str], None]) -> None:
    from assay.watermark import _embed_legacy

    key = bytes(range(32))
    ring = KeyRing([(f"system-{i}", bytes([i % 256, i // 256]) * 16) for i in range(999)] + [("target", key)])
    sources = photos.small_photos()[:4]
    emit(
        "| photo (2.0 MP) | v1 embed | v2 embed | v1 detect marked | v2 marked, 1 key | v2 marked, 1,000 keys "
        "| v1 detect unmarked | v2 unmarked, 1 key | v2 unmarked, 1,000 keys | peak numpy memory ÷ image bytes |"
    )
    emit("|---|---|---|---|---|---|---|---|---|---|")
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
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(9):  # interleaved, so the shared machine's load hits every variant alike
            for name, run in runs.items():
                t0, c0 = time.perf_counter(), time.process_time()
                run()
                times[name].append((time.perf_counter() - t0) * 1000)
                # CPU time of this process: not inflated by waiting for a core on a loaded machine (caches are
                # still shared, so it is not immune to the load either).
                cpu[name].append((time.process_time() - c0) * 1000)
        cpu_best = {k: float(np.min(v)) for k, v in cpu.items()}
        med = {k: float(np.median(v)) for k, v in times.items()}
        best = {k: float(np.min(v)) for k, v in times.items()}
        for k in ("v2 embed", "v2 marked 1", "v2 marked 1000", "v2 unmarked 1", "v2 unmarked 1000"):
            base = {"v2 embed": "v1 embed"}.get(k, "v1 marked" if "marked" in k and "un" not in k else "v1 unmarked")
            ratios.setdefault(f"{k} ÷ {base}", []).append(best[k] / best[base])
            ratios.setdefault(f"{k} ÷ {base}, CPU time", []).append(cpu_best[k] / cpu_best[base])
        for k, base in (
            ("v2 marked 1000", "v2 marked 1"),
            ("v2 unmarked 1000", "v2 unmarked 1"),
            ("v2 unmarked 1000", "v2 marked 1000"),
            ("v1 unmarked", "v1 marked"),
        ):
            ratios.setdefault(f"{k} ÷ {base}", []).append(best[k] / best[base])
        peaks = []
        for run in (runs["v2 embed"], runs["v2 marked 1000"]):
            tracemalloc.start()
            run()
            peaks.append(tracemalloc.get_traced_memory()[1] / pixels.nbytes)
            tracemalloc.stop()
        cells = " | ".join(f"{best[k]:.0f} / {med[k]:.0f} ({cpu_best[k]:.0f})" for k in runs)
        emit(
            f"| {photo.name} {pixels.shape[1]}x{pixels.shape[0]} | {cells} "
            f"| embed {peaks[0]:.1f}×, detect {peaks[1]:.1f}× |"
        )
    emit("")
    emit("Best / median of 9 interleaved runs, in ms of wall time, and in brackets the best CPU time of the process")
    emit("(not inflated by waiting for a core). Ratios of the best wall times (version 2 to version 1, 1,000 keys to")
    emit("1, unmarked to marked), median over the photos (the best time is the least inflated by the load):")
    for k, v in ratios.items():
        emit(f"- {k}: {np.median(v):.2f}×")
    emit("")
    emit(f"Load average at the end of the run: {_load()}")


if __name__ == "__main__":
    raise SystemExit(main())
