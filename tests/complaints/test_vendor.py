"""The vendored libsodium.js is the unmodified npm release its README names, and the pages load it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).parents[2] / "assay" / "web" / "static" / "complaints"
VENDOR = STATIC / "vendor" / "libsodium.js-0.8.4"


def test_vendored_files_match_the_hashes_in_their_readme() -> None:
    readme = (VENDOR / "README.md").read_text()
    rows = re.findall(r"\| `([\w.-]+\.js)` \|.*\| `([0-9a-f]{64})` \|", readme)
    assert {name for name, _ in rows} == {"libsodium-sumo.js", "libsodium-wrappers.js"}
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "ISC" in readme and (VENDOR / "LICENSE").read_text().startswith("Copyright (c) 2015-2026")


def test_pages_load_the_vendored_version(client, system_id, body_key) -> None:  # type: ignore[no-untyped-def]
    page = client.get(f"/systems/{system_id}/complaints/new").text
    for src in re.findall(r'<script src="([^"]+)"', page):
        r = client.get(src)
        assert r.status_code == 200 and len(r.content) > 1000, src
    assert "/static/complaints/vendor/libsodium.js-0.8.4/libsodium-sumo.js" in page
