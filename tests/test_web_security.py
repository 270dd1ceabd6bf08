"""Exploit-style checks of the web layer: headers on every kind of answer, strict paths, no crash on odd input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def _strict(headers) -> None:  # type: ignore[no-untyped-def]
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", "")
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_a_body_over_the_limit_is_answered_with_the_strict_headers(client, accept: str) -> None:  # type: ignore[no-untyped-def]
    big = b"x" * (client.app.state.config.max_body_bytes + 1)
    r = client.post("/rules", content=big, headers={"content-type": "text/plain", "accept": accept})
    assert r.status_code == 413
    _strict(r.headers)


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_an_unexpected_error_is_answered_with_the_strict_headers(app, accept: str) -> None:  # type: ignore[no-untyped-def]
    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom", headers={"accept": accept})
    assert r.status_code == 500
    assert "Traceback" not in r.text and "a bug" not in r.text
    _strict(r.headers)


@pytest.mark.parametrize(
    "path",
    [
        "/log/tile/0/" + "x000/" * 1500 + "000",  # more digits than Python converts to an int
        "/log/tile/entries/" + "x999/" * 30 + "999",  # beyond any tree size
        "/log/tile/0/../../../etc/passwd",
        "/log/tile/0/%2e%2e/%2e%2e/secret",
    ],
)
def test_a_hostile_tile_path_is_not_found_not_a_crash(app, path: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get(path)
    assert r.status_code == 404
    assert "root:" not in r.text and "Traceback" not in r.text


def _chunks(total: int):  # type: ignore[no-untyped-def]
    for _ in range(total // 65536 + 2):
        yield b"{" * 65536


@pytest.mark.parametrize(
    ("path", "ctype", "limit"),
    [
        ("/api/v1/complaints/lookup", "application/json", "max_upload_bytes"),
        ("/api/v1/systems/x/suspend", "application/json", "max_body_bytes"),
    ],
)
def test_a_streamed_body_over_the_limit_is_413_wherever_it_is_read(client, path: str, ctype: str, limit: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        path,
        content=_chunks(getattr(client.app.state.config, limit)),
        headers={"content-type": ctype, "accept": "application/json"},
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("path", ["/api/v1/complaints", "/api/v1/marks/batch", "/api/v1/complaints/lookup"])
def test_a_json_body_of_a_million_tiny_values_is_refused_before_it_is_parsed(client, path: str) -> None:  # type: ignore[no-untyped-def]
    # Small on the wire (3.6 MB, within the upload limit) but about 80 MB once parsed; no token needed to send
    # it, because FastAPI parses the body before the token check runs.
    body = b'{"entries": [' + b",".join([b"[]"] * 1_200_000) + b"]}"
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large" and "values" in r.json()["error"]["message"]


def test_a_real_batch_shape_is_not_mistaken_for_a_json_bomb(client) -> None:  # type: ignore[no-untyped-def]
    entry = {
        "mark_id": "0" * 16,
        "system_id": "s",
        "created_at": "2026-01-01T00:00:00Z",
        "manifest_id": "urn:c2pa:x",
        "manifest": "A" * 4000,
        "visible_label": False,
    }
    import json

    body = json.dumps({"entries": [entry] * 10_000}).encode()
    r = client.post("/api/v1/marks/batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 401  # reaches the token check


def test_nothing_of_the_complaint_channel_is_cached_not_even_its_errors(client) -> None:  # type: ignore[no-untyped-def]
    # An error page of the follow-up form can echo a mistyped receipt word: no cache may keep it.
    for method, path in (
        ("POST", "/complaints/follow-up"),
        ("GET", "/complaints/no-such-page"),
        ("POST", "/api/v1/complaints/information"),
        ("GET", "/systems/nobody/complaints/new"),
    ):
        r = client.request(method, path, data={"receipt": "abandon ability"} if method == "POST" else None)
        assert r.status_code >= 400 and r.headers["cache-control"] == "no-store", (path, r.status_code)
    assert "no-store" not in client.get("/systems").headers.get("cache-control", "")


def test_redirects_do_not_follow_the_host_header(client) -> None:  # type: ignore[no-untyped-def]
    # Starlette's trailing-slash redirect is built from the Host header a client sends; a shared cache could
    # serve it to others. Redirects within the site are paths.
    r = client.get("/systems/?q=x", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code in (301, 307, 308) and r.headers["location"] == "/systems?q=x"
