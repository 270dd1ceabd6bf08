"""Checks per second per core for 2-megapixel JPEGs, and whether the cost grows with the number of systems.

    .venv/bin/python bench/check/run.py [--images 20] [--systems 100,10000]

For each system count it builds a fresh register (SQLite in a temporary folder) with that many registered
systems (all of them image generators, with one recorded mark each, so the index holds as many marks as
systems), marks the benchmark images for one system, and times ``check_media`` on one core: decoding,
C2PA validation, watermark detection, resolution and comparison. Half the images checked are marked, half
are not. Results go to stdout as a Markdown table (copied into RESULTS.md).
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from assay.config import Config  # noqa: E402
from assay.db import Database  # noqa: E402
from assay.provenance.checking import check_media  # noqa: E402
from assay.provenance.environment import ProvenanceEnv  # noqa: E402
from assay.provenance.marking import mark_images  # noqa: E402
from assay.register import service  # noqa: E402
from assay.register.access import Principal  # noqa: E402

OPERATOR = Principal.local_operator()
EXAMPLE = Path(__file__).resolve().parents[2] / "assay" / "register" / "examples" / "acme-imagegen.yaml"


def photo(seed: int, w: int = 1920, h: int = 1080) -> np.ndarray:
    """A 2-MP synthetic 'photo': gradients, shapes, texture and sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 180 + 40, y / h * 160 + 50, (x + y) / (w + h) * 140 + 70], -1)
    img = Image.fromarray(base.astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(60):
        cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(15, 260))
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    arr = np.asarray(img).astype(np.float32) + rng.normal(0, 5, (h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def jpeg(px: np.ndarray, q: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, "JPEG", quality=q)
    return buf.getvalue()


def build(n_systems: int, folder: Path) -> tuple[Database, ProvenanceEnv]:
    import yaml
    from sqlalchemy import insert

    from assay.provenance.models import MarkNamespace, MarkRecord

    config = Config(data_dir=folder, public_url="http://bench.example")
    db = Database(config.resolved_database_url)
    db.upgrade()
    doc = yaml.safe_load(EXAMPLE.read_text())
    with db.write() as s:
        service.add_provider(s, id="acme", name="Acme Imaging B.V.", jurisdiction="NL", principal=OPERATOR)
    t = time.time()
    for i in range(n_systems):
        d = dict(doc, system=dict(doc["system"], id=f"gen-{i:05d}", name=f"Generator {i:05d}"))
        with db.write() as s:
            service.publish(s, d, principal=OPERATOR, provider_id="acme")
    # One recorded mark per system (rows only: the check's cost is one primary-key lookup either way).
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    with db.write() as s:
        s.execute(
            insert(MarkNamespace).values(
                number=999,
                provider_id="acme",
                purpose="kit",
                key_id="0" * 16,
                next_sequence=n_systems + 1,
                created_at=now,
                revoked_reason="",
            )
        )
        s.execute(
            insert(MarkRecord),
            [
                dict(
                    mark_id=f"{(999 << 44) | ((i + 1) << 16):016x}",
                    namespace=999,
                    sequence=i + 1,
                    system_id=f"gen-{i:05d}",
                    system_version_number=1,
                    provider_id="acme",
                    created_at=now,
                    recorded_at=now,
                    sha256="0" * 64,
                    phash="0" * 16,
                    width=1920,
                    height=1080,
                    media_type="image/jpeg",
                    alg="org.assay.watermark.1",
                    manifest_id=None,
                    manifest=None,
                    certificate_fingerprint="",
                    visible_label=False,
                    origin="batch",
                    log_index=None,
                    recorded_by_token=None,
                )
                for i in range(n_systems)
            ],
        )
    print(f"  built {n_systems} systems in {time.time() - t:.1f}s", file=sys.stderr)
    return db, ProvenanceEnv.open(config)


def bench(n_systems: int, n_images: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db, env = build(n_systems, Path(tmp))
        originals = [jpeg(photo(s)) for s in range(n_images)]
        half = n_images // 2
        marked = mark_images(db, env, images=originals[:half], system_id="gen-00000", principal=OPERATOR)
        files = [m.data for m in marked] + originals[half:]
        check_media(db, env, files[0])  # warm-up (imports, caches)
        times, found = [], 0
        for data in files:
            t = time.perf_counter()
            v = check_media(db, env, data)
            times.append(time.perf_counter() - t)
            found += v.status == "marked"
        db.dispose()
    assert found == half, f"expected {half} marked images, found {found}"
    mean = statistics.mean(times)
    return {
        "systems": n_systems,
        "images": len(files),
        "mean_ms": mean * 1000,
        "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))] * 1000,
        "per_sec_core": 1 / mean,
    }


def stages(n: int = 10) -> dict[str, float]:
    """Where the time of one check goes (marked 2-MP JPEG)."""
    from assay import watermark
    from assay.provenance.manifest import read_manifest
    from assay.provenance.media import decode_image, perceptual_hash

    data = jpeg(watermark.embed(photo(99), 12345, key=bytes(32)))
    out: dict[str, list[float]] = {"decode": [], "c2pa_read": [], "detect": [], "phash": []}
    for _ in range(n):
        t = time.perf_counter()
        img = decode_image(data, max_bytes=10**8, max_pixels=10**8)
        out["decode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        read_manifest(data, "image/jpeg", anchors_pem=b"")
        out["c2pa_read"].append(time.perf_counter() - t)
        t = time.perf_counter()
        watermark.detect(img.pixels, key=bytes(32))
        out["detect"].append(time.perf_counter() - t)
        t = time.perf_counter()
        perceptual_hash(img.pixels)
        out["phash"].append(time.perf_counter() - t)
    return {k: statistics.median(v) * 1000 for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--systems", default="100,10000")
    args = ap.parse_args()
    try:
        import os

        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, 1 core pinned", file=sys.stderr)
    rows = [bench(int(n), args.images) for n in args.systems.split(",")]
    print("| registered systems | checks | mean ms/check | p95 ms | checks/s/core |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['systems']:,} | {r['images']} | {r['mean_ms']:.1f} | {r['p95_ms']:.1f} | {r['per_sec_core']:.1f} |"
        )
    st = stages()
    print()
    print("| stage (median, marked 2-MP JPEG) | ms |")
    print("|---|---:|")
    for k, v in st.items():
        print(f"| {k} | {v:.1f} |")


if __name__ == "__main__":
    main()
