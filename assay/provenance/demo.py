"""Demo content for a newcomer: a few images "generated" by the demo register's generative image system,
marked, and saved in the data folder, so ``assay check data/demo/images`` and the /check page work at once.

``assay demo load`` (the register's demo loader) calls :func:`load_demo` after it has published the demo
systems. The images are drawn in code (no binary fixtures), each a different scene.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from assay.config import Config
from assay.db import Database
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.marking import mark_images, may_mark
from assay.register.access import Principal
from assay.register.service import get_system, system_ids

__all__ = ["DEMO_FOLDER", "load_demo"]

DEMO_FOLDER = Path("demo") / "images"
PREFERRED_SYSTEM = "acme-imagegen"


def load_demo(db: Database, config: Config, *, system_id: str | None = None) -> dict[str, Any]:
    """Mark three demo images for the demo generative system and write them (and two comparisons) to
    ``<data_dir>/demo/images``. Safe to run again: existing files are kept, nothing is marked twice."""
    folder = Path(config.data_dir) / DEMO_FOLDER
    system = _demo_system(db, system_id)
    if system is None:
        return {"folder": str(folder), "marked": [], "skipped": "no system that may mark images is registered"}
    folder.mkdir(parents=True, exist_ok=True)
    names = ["sunset-over-hills.jpg", "city-at-night.png", "still-life-labelled.jpg"]
    if all((folder / n).exists() for n in names):
        return {"folder": str(folder), "marked": [], "skipped": "the demo images exist already"}
    env = ProvenanceEnv.open(config)
    operator = Principal.local_operator()
    scenes = [_sunset(1024, 640), _city(900, 600), _still_life(800, 800)]
    results = []
    for name, pixels, label in zip(names, scenes, (False, False, True), strict=True):
        fmt = "PNG" if name.endswith(".png") else "JPEG"
        [r] = mark_images(
            db,
            env,
            images=[_encode(pixels, fmt)],
            system_id=system,
            principal=operator,
            visible_label=label,
            names=[name],
        )
        (folder / name).write_bytes(r.data)
        results.append({"file": name, "mark_id": r.mark.hex, "log_index": r.log_index})
    # Two files to compare with: the first image re-saved by "a website" (credentials stripped, the watermark
    # stays), and a picture nobody marked.
    stripped = Image.open(io.BytesIO((folder / names[0]).read_bytes())).convert("RGB").resize((800, 500))
    buf = io.BytesIO()
    stripped.save(buf, "JPEG", quality=80)
    (folder / "sunset-reposted-without-credentials.jpg").write_bytes(buf.getvalue())
    (folder / "unmarked-photo.jpg").write_bytes(_encode(_sunset(1024, 640, seed=7), "JPEG"))
    # Integrate the log now, so the marks' proofs exist for the first 'assay check'.
    from assay.transparency import integrate

    integrate(db, config)
    return {"folder": str(folder), "system": system, "marked": results}


def _demo_system(db: Database, system_id: str | None) -> str | None:
    with db.read() as session:
        others = system_ids(session)
        candidates = [system_id] if system_id else [PREFERRED_SYSTEM, *others]
        for sid in candidates:
            view = get_system(session, sid)
            if view is not None and may_mark(view) is None:
                return view.id
    return None


def _encode(pixels: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _noise(h: int, w: int, seed: int, sigma: float = 5.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, sigma, (h, w, 1))


def _sunset(w: int, h: int, seed: int = 1) -> np.ndarray:
    y = np.linspace(0, 1, h)[:, None, None]
    sky = np.concatenate([255 - 60 * y, 140 - 80 * y, 90 + 100 * y], axis=2) * np.ones((1, w, 1))
    img = Image.fromarray(np.clip(sky + _noise(h, w, seed), 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.ellipse((w * 0.6, h * 0.35, w * 0.75, h * 0.35 + w * 0.15), fill=(255, 220, 120))
    rng = np.random.default_rng(seed)
    for k, shade in enumerate((70, 50, 30)):
        base = h * (0.6 + 0.12 * k)
        pts = [(x, base - 60 * np.sin(x / w * 6 + k + rng.random())) for x in np.linspace(0, w, 40)]
        d.polygon([(0, h), *pts, (w, h)], fill=(shade, shade + 30, shade))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(1)))


def _city(w: int, h: int, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), (15, 20, 45))
    d = ImageDraw.Draw(img)
    x = 0
    while x < w:
        bw, bh = int(rng.integers(40, 110)), int(rng.integers(h // 4, h - 60))
        d.rectangle((x, h - bh, x + bw, h), fill=tuple(int(v) for v in rng.integers(25, 60, 3)))
        for wy in range(h - bh + 10, h - 10, 18):
            for wx in range(x + 6, x + bw - 8, 14):
                if rng.random() < 0.45:
                    d.rectangle((wx, wy, wx + 6, wy + 9), fill=(255, 210, int(rng.integers(90, 160))))
        x += bw + int(rng.integers(2, 12))
    return np.clip(np.asarray(img) + _noise(h, w, seed, 4), 0, 255).astype(np.uint8)


def _still_life(w: int, h: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h)[:, None, None]
    wall = np.concatenate([200 - 40 * y, 190 - 40 * y, 170 - 30 * y], axis=2) * np.ones((1, w, 1))
    img = Image.fromarray(np.clip(wall + _noise(h, w, seed), 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.rectangle((0, h * 0.65, w, h), fill=(120, 80, 50))
    for _ in range(5):
        cx, r = int(rng.integers(int(w * 0.15), int(w * 0.85))), int(rng.integers(50, 110))
        d.ellipse(
            (cx - r, h * 0.65 - 1.6 * r, cx + r, h * 0.65 + 0.2 * r),
            fill=tuple(int(v) for v in rng.integers(60, 240, 3)),
        )
    return np.asarray(img.filter(ImageFilter.GaussianBlur(0.8)))
