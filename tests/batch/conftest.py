"""An archive to check: a register with marked files, and a folder of marked, stripped, unmarked and broken
files built in code, once per test module (marking is the slow part)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from provenance.conftest import OPERATOR, encode, make_register, synthetic_pixels

from assay.config import Config
from assay.db import Database

# Under the files' sizes below (a 512x384 PNG is ~500 kB), over the 'big.jpg' stand-in.
MAX_BYTES = 1_500_000


@dataclass
class Archive:
    db: Database
    config: Config
    folder: Path
    names: list[str]  # every file in the folder, in the order a batch walks it
    marked: list[str]  # files that carry a resolvable mark


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    from assay.provenance.marking import mark_images
    from assay.transparency import integrate

    root = tmp_path_factory.mktemp("archive")
    # Where the register's settings put it (make_register's data folder), as 'assay check' finds it.
    (root / "data").mkdir()
    db = Database(Config(data_dir=root / "data").resolved_database_url)
    db.upgrade()
    reg = make_register(db, root)
    config = reg.config.with_overrides(max_upload_bytes=MAX_BYTES)
    folder = root / "files"
    (folder / "sub").mkdir(parents=True)
    sources = [encode(synthetic_pixels(80 + i, 512, 384), "JPEG" if i % 2 else "PNG") for i in range(3)]
    results = mark_images(
        db, reg.env, images=sources, system_id="acme-imagegen", principal=OPERATOR, names=["a", "b", "c"]
    )
    integrate(db, config)
    marked = []
    for i, r in enumerate(results):
        name = folder / ("sub" if i == 2 else "") / f"marked-{i}{'.jpg' if i % 2 else '.png'}"
        name.write_bytes(r.data)
        marked.append(str(name))
    # The first marked image as a website reposts it: re-encoded and resized, its credentials stripped.
    stripped = Image.open(io.BytesIO(results[0].data)).convert("RGB").resize((480, 360))
    buf = io.BytesIO()
    stripped.save(buf, "JPEG", quality=85)
    (folder / "stripped.jpg").write_bytes(buf.getvalue())
    marked.append(str(folder / "stripped.jpg"))
    for i in range(2):
        (folder / f"unmarked-{i}.jpg").write_bytes(encode(synthetic_pixels(90 + i, 512, 384), "JPEG"))
    (folder / "truncated.jpg").write_bytes(results[1].data[: len(results[1].data) // 2])
    (folder / "not-an-image.png").write_bytes(b"this is text, not a picture\n" * 10)
    (folder / "empty.webp").write_bytes(b"")
    (folder / "big.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(MAX_BYTES))
    from assay.batch import iter_inputs

    names = list(iter_inputs([str(folder)]))
    yield Archive(db=db, config=config, folder=folder, names=names, marked=sorted(marked))
    db.dispose()
