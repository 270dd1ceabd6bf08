"""Smaller holes found by probing (issue 10, item 8): HEAD answered 405 on every page, and a provider's website
could be a javascript: address, accepted by the API and the CLI and shown and exported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from assay.register import service
from assay.register.access import Principal, create_token


@pytest.mark.parametrize("path", ["/", "/systems", "/check", "/rules", "/log", "/api/v1/health", "/static/assay.css"])
def test_head_is_answered_like_get_without_a_body(client, path: str) -> None:  # type: ignore[no-untyped-def]
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b"" and head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-security-policy"]  # the same middleware stack answered


def test_head_where_only_post_is_served_is_405_and_allow_names_head_beside_get(client) -> None:  # type: ignore[no-untyped-def]
    assert client.head("/api/v1/check").status_code == 405
    answer = client.put("/check")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    "website",
    [
        "javascript:alert(document.domain)",
        "JavaScript://x.example/%0aalert(1)",
        "data:text/html,x",
        "acme.example",
        "https:///no-host",
        "https://acme.example/a b",
    ],
)
def test_a_provider_website_must_be_a_web_address(client, website: str) -> None:  # type: ignore[no-untyped-def]
    operator = Principal.local_operator()
    with client.app.state.db.write() as session:
        admin = create_token(session, admin=True, actor=operator).secret
    answer = client.post(
        "/api/v1/providers",
        json={"id": "initech", "name": "Initech", "website": website},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()["error"]["problems"][0]
    assert problem["path"] == "website" and "https://" in problem["fix"]
    ok = client.post(
        "/api/v1/providers",
        json={"id": "initech", "name": "Initech", "website": "https://initech.example/about"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert ok.status_code == 201 and ok.json()["website"] == "https://initech.example/about"


def test_a_website_stored_before_the_check_is_never_shown_or_exported(client) -> None:  # type: ignore[no-untyped-def]
    from assay.register.models import Provider

    with client.app.state.db.write() as session:
        service.add_provider(session, id="old", name="Old Ltd", principal=Principal.local_operator())
        session.get(Provider, "old").website = "javascript:alert(1)"  # as an older version could store it
    assert client.get("/api/v1/providers/old").json()["website"] == ""
    page = client.get("/providers/old")
    assert page.status_code == 200 and "Old Ltd" in page.text and "javascript:" not in page.text


def test_the_cli_refuses_it_with_the_field_and_the_fix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = subprocess.run(
        [sys.executable, "-m", "assay", "--data-dir", str(tmp_path), "providers", "add", "initech", "--name",
         "Initech", "--website", "javascript:alert(1)"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "website" in r.stderr and "https://" in r.stderr and "Traceback" not in r.stderr
