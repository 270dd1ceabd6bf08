"""Fuzzing the decoders and C2PA reading through the real check paths: never a 5xx, never an internal error.

Damaged copies of every format Assay reads (and of files it marked, Content Credentials included) are made by
bench/hostile/media.py's mutators, chosen by hypothesis, and sent through ``POST /api/v1/check`` and through
the function ``assay check`` runs for each file. A small budget here (CI); ``python -m bench.hostile`` runs
10,000 and more against a real server and the real CLI.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Register, encode

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the mutators live in bench/hostile, shared with the benchmark
    sys.path.insert(0, str(ROOT))
from bench.hostile.media import mutate, picture, seed_images  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the damage it survives

SEEDS = seed_images()
# Answers a damaged file may get: a verdict, too large, not an image, damaged. Anything else is a bug.
EXPECTED = {200, 413, 415, 422}


@pytest.fixture
def seeds(web, sqlite_register: Register) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """The format seeds, plus a JPEG and a PNG marked by the register (watermark and Content Credentials)."""
    out = dict(SEEDS)
    for fmt, name in (("JPEG", "marked.jpg"), ("PNG", "marked.png")):
        answer = web.post(
            "/api/v1/marks?system_id=acme-imagegen",
            content=encode(picture(11, 384, 288), fmt),
            headers={"Authorization": f"Bearer {sqlite_register.acme_token}", "Content-Type": f"image/{fmt.lower()}"},
        )
        assert answer.status_code == 201, answer.text
        out[name] = answer.content
    return out


_CASES = st.tuples(st.sampled_from(sorted([*SEEDS, "marked.jpg", "marked.png"])), st.integers(0, 2**32 - 1))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=_CASES)
def test_the_check_api_never_fails_on_damaged_media(web, seeds: dict[str, bytes], case: tuple[str, int]) -> None:  # type: ignore[no-untyped-def]
    name, seed = case
    data, how = mutate(name, seeds[name], random.Random(seed))
    answer = web.post("/api/v1/check", content=data, headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code in EXPECTED, (name, how, answer.status_code, answer.text[:300])
    body: dict[str, Any] = answer.json()
    if answer.status_code != 200:
        assert body["error"]["hint"] and body["error"]["code"] != "internal_error", (name, how, body)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=_CASES)
def test_assay_check_never_reports_an_internal_error_on_damaged_media(  # type: ignore[no-untyped-def]
    sqlite_register: Register, seeds: dict[str, bytes], tmp_path_factory, case: tuple[str, int]
) -> None:
    from assay.cli.check import _examine_one, _resolved, _worker_init
    from assay.provenance.evidence import VerifierMaterial

    # What each of assay check's worker processes does (examine), then what the command itself does (resolve).
    _worker_init(VerifierMaterial.from_register(sqlite_register.db, sqlite_register.config))
    name, seed = case
    data, how = mutate(name, seeds[name], random.Random(seed))
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    (result,) = _resolved(sqlite_register.db, sqlite_register.config, iter([_examine_one(str(path))]))
    assert result.get("status") != "error" or result["error"]["code"] != "internal_error", (name, how, result)
