"""The log over HTTP: the tlog-tiles layout read back by an independent client, headers, pages, JSON."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from assay.db import Database
from assay.tlog import TileID, TileReader, decode_bundle, leaf_hash, tree_root, verify_checkpoint, verify_proof
from assay.transparency import record, record_many
from assay.transparency.audit import HttpSource, monitor_log, proof_from_tiles, verify_log

T = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def wait_for_size(client: TestClient, size: int, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        note = client.get("/log/checkpoint").text
        if int(note.split("\n")[1]) >= size or time.monotonic() > deadline:
            return note
        time.sleep(0.02)


def fill(db: Database, n: int, start: int = 0) -> None:
    with db.write() as s:
        record_many(s, [("mark.recorded", {"mark": start + i, "sha256": f"{i:064x}"}) for i in range(n)], time=T)


def test_the_background_integrator_publishes_soon_after_a_commit(client: TestClient, sqlite_db: Database) -> None:
    with sqlite_db.write() as s:
        index = record(s, "system.published", {"system": "acme-imagegen", "version": 1}, time=T)
    note = wait_for_size(client, index + 1)
    assert note.split("\n")[1] == "1"


def test_an_independent_client_reads_and_verifies_the_tiles_layout(client: TestClient, sqlite_db: Database) -> None:
    fill(sqlite_db, 70_000 // 100)
    fill(sqlite_db, 5, start=700)
    note = wait_for_size(client, 705)
    vkey = client.get("/log/vkey").text.strip()
    cp = verify_checkpoint(note, vkey)
    assert cp.size == 705 and cp.origin == "testserver/log"

    # An independent reader: only HTTP GETs in the tlog-tiles layout and assay.tlog's verifiers.
    def fetch(tile: TileID) -> bytes:
        r = client.get(f"/log/{tile.path}")
        assert r.status_code == 200, tile.path
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        return r.content

    assert tree_root(TileReader(cp.size, fetch).node, cp.size) == cp.root_hash
    entries = []
    for n in range(3):
        width = min(256, cp.size - n * 256)
        entries += decode_bundle(fetch(TileID(-1, n, width)), width)
    reader = TileReader(cp.size, fetch)
    assert [leaf_hash(e) for e in entries] == [reader.node(0, i) for i in range(cp.size)]
    # Tiles beyond the checkpoint are not served, and malformed paths are a 404 in the JSON error shape.
    assert client.get("/log/tile/0/003").status_code == 404
    r = client.get("/log/tile/0/1")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_checkpoint_vkey_and_bundle_headers(client: TestClient, sqlite_db: Database) -> None:
    fill(sqlite_db, 10)
    wait_for_size(client, 10)
    r = client.get("/log/checkpoint")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=2"
    assert r.headers["access-control-allow-origin"] == "*"
    assert client.get("/log/vkey").headers["content-type"] == "text/plain; charset=utf-8"
    r = client.get("/log/tile/entries/000.p/10", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and len(decode_bundle(r.content, 10)) == 10
    raw = client.get("/log/tile/entries/000.p/10", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and gzip.compress(raw.content)


def test_entry_pages_show_the_entry_and_its_proof(client: TestClient, sqlite_db: Database) -> None:
    with sqlite_db.write() as s:
        index = record(s, "provider.key.issued", {"provider": "acme", "key_id": "k1"}, time=T)
    wait_for_size(client, index + 1)
    page = client.get(f"/log/entries/{index}")
    assert page.status_code == 200 and "provider.key.issued" in page.text and "c2sp.org/tlog-proof@v1" in page.text
    data = client.get(f"/api/v1/log/entries/{index}").json()
    assert data["body"] == {"provider": "acme", "key_id": "k1"} and data["integrated"]
    proof = client.get(f"/log/entries/{index}/proof")
    assert proof.headers["content-type"] == "text/plain; charset=utf-8"
    verify_proof(proof.text, data["entry"].encode(), client.get("/log/vkey").text.strip())
    assert client.get(f"/log/entries/{index}", headers={"Accept": "application/json"}).json()["index"] == index
    missing = client.get("/log/entries/99999")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert client.get("/api/v1/log/entries/99999").json()["error"]["code"] == "not_found"
    assert client.get("/log/entries/-1").status_code == 422


def test_the_log_page_explains_and_lists_recent_entries(client: TestClient, sqlite_db: Database) -> None:
    fill(sqlite_db, 30)
    wait_for_size(client, 30)
    page = client.get("/log")
    assert page.status_code == 200
    assert "assay log verify --url http://testserver/log" in page.text
    assert "/log/entries/29" in page.text and "/log?before=" in page.text
    older = client.get("/log?before=5")
    assert "/log/entries/4" in older.text and '/log/entries/5"' not in older.text
    assert client.get("/api/v1/log").json()["tree_size"] == 30


def test_audit_routines_work_over_http(client: TestClient, sqlite_db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fill(sqlite_db, 300)
    wait_for_size(client, 300)
    vkey = client.get("/log/vkey").text.strip()
    source = HttpSource("http://testserver/log", client=client)
    assert verify_log(source, vkey).tree_size == 300
    state = tmp_path / "monitor.json"
    assert monitor_log(source, state, vkey).status == "first"
    fill(sqlite_db, 20, start=300)
    wait_for_size(client, 320)
    result = monitor_log(source, state)
    assert (result.status, result.old_size, result.new_size) == ("grew", 300, 320)
    assert result.new_entries == {"mark.recorded": 20}
    proof, entry = proof_from_tiles(source, vkey, 310)
    assert verify_proof(proof, entry, vkey).size == 320


@pytest.mark.parametrize("path", ["/log/checkpoint", "/log/vkey", "/log", "/log/tile/0/000.p/1"])
def test_log_endpoints_answer_without_entries(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code in (200, 404)
    if path != "/log/tile/0/000.p/1":
        assert r.status_code == 200


def test_static_log_resources_answer_head_requests(client: TestClient, sqlite_db: Database) -> None:
    fill(sqlite_db, 3)
    wait_for_size(client, 3)
    for path in ("/log/checkpoint", "/log/vkey", "/log/tile/0/000.p/3"):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b"", path


def test_an_http_source_refuses_oversized_answers_from_a_hostile_server() -> None:
    # A stand-in server (not our code) that answers every path with far more than any tile can hold,
    # compressed so that it costs it nothing to send.
    import gzip

    import httpx

    from assay.errors import StorageError
    from assay.tlog import TileID

    huge = gzip.compress(b"\0" * 50_000_000)

    def hostile(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=huge, headers={"Content-Encoding": "gzip"})

    source = HttpSource("http://hostile.example/log", client=httpx.Client(transport=httpx.MockTransport(hostile)))
    with pytest.raises(StorageError, match=r"tile/0/000 is larger than the 8,192 bytes"):
        source.tile(TileID(0, 0))
    with pytest.raises(StorageError, match=r"checkpoint is larger than the 1,000,000 bytes"):
        source.checkpoint()
    with pytest.raises(StorageError, match=r"tile/entries/000 is larger than the 16,777,472 bytes"):
        source.tile(TileID(-1, 0))


def test_an_http_source_names_a_redirect_instead_of_following_it() -> None:
    import httpx

    from assay.errors import StorageError

    def moved(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "https://register.example/log/checkpoint"})

    source = HttpSource("http://register.example/log", client=httpx.Client(transport=httpx.MockTransport(moved)))
    with pytest.raises(StorageError, match="redirects to https://register.example/log/checkpoint") as info:
        source.checkpoint()
    assert "--url" in info.value.hint
