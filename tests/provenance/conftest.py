"""Fixtures for provenance: a register with providers and systems, made through the register's own service,
and synthetic test images built in code (no binary fixtures)."""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from assay.config import Config
from assay.db import Database
from assay.provenance.environment import ProvenanceEnv
from assay.register import service
from assay.register.access import Principal, create_token

EXAMPLE = Path(__file__).resolve().parents[2] / "assay" / "register" / "examples" / "acme-imagegen.yaml"
OPERATOR = Principal.local_operator()


def synthetic_pixels(seed: int, w: int = 640, h: int = 480) -> np.ndarray:
    """A picture with smooth gradients, shapes and sensor-like noise (texture where a watermark can hide)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 200 + 30, y / h * 180 + 40, (x + y) / (w + h) * 150 + 60], -1)
    img = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(25):
        cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(10, min(w, h) // 4))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    arr = np.asarray(img).astype(np.float32) + rng.normal(0, 6, (h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str = "PNG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **kw)
    return buf.getvalue()


def disclosure(**changes: Any) -> dict[str, Any]:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc = copy.deepcopy(doc)
    for dotted, value in changes.items():
        node = doc
        parts = dotted.split("__")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    return doc


@dataclass
class Register:
    db: Database
    env: ProvenanceEnv
    config: Config
    acme_token: str
    other_token: str

    def principal(self, token: str) -> Principal:
        from assay.register.access import authenticate

        with self.db.read() as s:
            return authenticate(s, token)


def _publish(db: Database, doc: dict[str, Any], provider: str) -> str:
    with db.write() as s:
        return service.publish(s, doc, principal=OPERATOR, provider_id=provider).id


@pytest.fixture
def register(db: Database, tmp_path: Path) -> Register:
    """The register on SQLite and on PostgreSQL (see make_register)."""
    return make_register(db, tmp_path)


@pytest.fixture
def sqlite_register(sqlite_db: Database, tmp_path: Path) -> Register:
    return make_register(sqlite_db, tmp_path)


@pytest.fixture
def web(sqlite_register: Register):  # type: ignore[no-untyped-def]
    """A TestClient on an app serving ``sqlite_register``."""
    from fastapi.testclient import TestClient

    from assay.web.app import create_app

    app = create_app(sqlite_register.config, sqlite_register.db, migrate=False)
    with TestClient(app) as client:
        yield client


def make_register(db: Database, tmp_path: Path) -> Register:
    """Providers 'acme' (with the generative image system 'acme-imagegen', a text-only system and a
    prohibited one) and 'other' (with its own image system), plus a token for each provider."""
    config = Config(data_dir=tmp_path / "data", public_url="http://testserver")
    with db.write() as s:
        service.add_provider(s, id="acme", name="Acme Imaging B.V.", jurisdiction="NL", principal=OPERATOR)
        service.add_provider(s, id="other", name="Other Labs", jurisdiction="DE", principal=OPERATOR)
    _publish(db, disclosure(), "acme")
    _publish(
        db,
        disclosure(
            system__id="acme-writer",
            system__name="Acme Writer",
            capabilities=["synthetic_text"],
            system__output_modalities=["text"],
        ),
        "acme",
    )
    _publish(
        db,
        disclosure(
            system__id="acme-scorer", system__name="Acme Scorer", capabilities=["synthetic_image", "social_scoring"]
        ),
        "acme",
    )
    _publish(
        db,
        disclosure(
            provider__id="other",
            provider__legal_name="Other Labs",
            provider__jurisdiction="DE",  # as registered: a disclosure names its provider as the register knows it
            deployers=[],
            system__id="other-gen",
            system__name="Other Gen",
        ),
        "other",
    )
    with db.write() as s:
        acme = create_token(s, provider_id="acme", actor=OPERATOR).secret
        other = create_token(s, provider_id="other", actor=OPERATOR).secret
    return Register(db=db, env=ProvenanceEnv.open(config), config=config, acme_token=acme, other_token=other)
