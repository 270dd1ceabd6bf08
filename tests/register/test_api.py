"""The register's JSON API: reads, writes with tokens, optimistic concurrency, bad bodies, exports."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import yaml

from assay.register import service
from assay.register.access import create_token, revoke_token

from .conftest import DELETE, EXAMPLES, OPERATOR, as_json, example, variant


@pytest.fixture
def tokens(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    db = client.app.state.db
    with db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", principal=OPERATOR)
        service.add_provider(session, id="globex", name="Globex", principal=OPERATOR)
        out = {
            "admin": create_token(session, admin=True, actor=OPERATOR).secret,
            "acme": create_token(session, provider_id="acme", actor=OPERATOR).secret,
            "globex": create_token(session, provider_id="globex", actor=OPERATOR).secret,
        }
    return out


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


JSON = {"content-type": "application/json"}


def _publish(client, token: str, d: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/systems", content=as_json(d or example()), headers={**JSON, **auth(token)})


def test_publish_json_then_read_it_back(client, tokens) -> None:  # type: ignore[no-untyped-def]
    r = _publish(client, tokens["acme"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == "/api/v1/systems/acme-imagegen" and r.headers["etag"] == '"1"'
    assert body["outcome"] == "transparency" and body["version_number"] == 1
    assert body["findings"][0]["rule_id"] == "eu-art50-2-synthetic-content"
    assert body["impact"]["level"] == body["impact_level"]
    assert body["versions"][0]["log_url"] == f"/log/entries/{body['log_index']}"
    detail = client.get("/api/v1/systems/acme-imagegen").json()
    assert detail["disclosure"] == body["disclosure"] and detail["url"] == "/systems/acme-imagegen"
    listing = client.get("/api/v1/systems").json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == "acme-imagegen"
    assert listing["items"][0]["impact_level"] == body["impact_level"]
    versions = client.get("/api/v1/systems/acme-imagegen/versions").json()
    assert [v["number"] for v in versions["items"]] == [1] and versions["total"] == 1
    assert client.get("/api/v1/systems/acme-imagegen/versions/1").json()["disclosure"] == body["disclosure"]
    assert client.get("/api/v1/providers/acme").json()["system_count"] == 1


def test_publish_yaml_as_sent_by_a_provider(client, tokens) -> None:  # type: ignore[no-untyped-def]
    raw = (EXAMPLES / "talentsift-cv-screening.yaml").read_bytes()
    with client.app.state.db.write() as session:
        service.add_provider(session, id="talentsift", name="TalentSift Ltd", principal=OPERATOR)
        token = create_token(session, provider_id="talentsift", actor=OPERATOR).secret
    r = client.post(
        "/api/v1/systems?reason=first%20filing",
        content=raw,
        headers={"content-type": "application/yaml", **auth(token)},
    )
    assert r.status_code == 201, r.text
    assert r.json()["outcome"] == "high_risk" and r.json()["versions"][0]["reason"] == "first filing"


def test_update_needs_the_version_it_was_based_on(client, tokens) -> None:  # type: ignore[no-untyped-def]
    _publish(client, tokens["acme"])
    changed = as_json(variant(example(), **{"system.version": "3.3"}))
    headers = {**JSON, **auth(tokens["acme"])}
    missing = client.put("/api/v1/systems/acme-imagegen", content=changed, headers=headers)
    assert missing.status_code == 422 and missing.json()["error"]["problems"][0]["path"] == "query.expected_version"
    ok = client.put("/api/v1/systems/acme-imagegen?expected_version=1&reason=minor", content=changed, headers=headers)
    assert ok.status_code == 200 and ok.json()["version_number"] == 2 and ok.headers["etag"] == '"2"'
    stale = client.put(
        "/api/v1/systems/acme-imagegen",
        content=as_json(variant(example(), **{"system.version": "4"})),
        headers={**headers, "if-match": '"1"'},
    )
    assert stale.status_code == 409 and stale.json()["error"]["current_version"] == 2
    via_etag = client.put(
        "/api/v1/systems/acme-imagegen",
        content=as_json(variant(example(), **{"system.version": "4"})),
        headers={**headers, "if-match": ok.headers["etag"]},
    )
    assert via_etag.status_code == 200 and via_etag.json()["version_number"] == 3
    assert [v["number"] for v in via_etag.json()["versions"]] == [3, 2, 1]


def test_tokens_are_checked_and_other_providers_are_forbidden(client, tokens) -> None:  # type: ignore[no-untyped-def]
    assert _publish(client, "").status_code == 401
    no_header = client.post("/api/v1/systems", content=as_json(example()), headers=JSON)
    assert no_header.status_code == 401 and no_header.json()["error"]["code"] == "unauthorized"
    assert _publish(client, "ast_" + "x" * 43).status_code == 401
    basic = client.post("/api/v1/systems", content=as_json(example()), headers={**JSON, "authorization": "Basic YTpi"})
    assert basic.status_code == 401
    forbidden = _publish(client, tokens["globex"])  # the disclosure names provider acme
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/systems").json()["total"] == 0
    assert _publish(client, tokens["acme"]).status_code == 201
    update = client.put(
        "/api/v1/systems/acme-imagegen?expected_version=1",
        content=as_json(variant(example(), **{"system.version": "9"})),
        headers={**JSON, **auth(tokens["globex"])},
    )
    assert update.status_code == 403
    assert client.get("/api/v1/systems/acme-imagegen").json()["version_number"] == 1
    suspend = client.post("/api/v1/systems/acme-imagegen/suspend", json={"reason": "x"}, headers=auth(tokens["acme"]))
    assert suspend.status_code == 403
    with client.app.state.db.write() as session:
        revoke_token(session, tokens["acme"], actor=OPERATOR)
    assert client.get("/api/v1/whoami", headers=auth(tokens["acme"])).status_code == 401
    assert client.get("/api/v1/whoami", headers=auth(tokens["admin"])).json()["role"] == "admin"


def test_admin_actions(client, tokens) -> None:  # type: ignore[no-untyped-def]
    _publish(client, tokens["acme"])
    admin = auth(tokens["admin"])
    r = client.post("/api/v1/systems/acme-imagegen/suspend", json={"reason": "Outputs found unmarked."}, headers=admin)
    assert (
        r.status_code == 200 and r.json()["suspended"] and r.json()["suspension"]["reason"] == "Outputs found unmarked."
    )
    assert client.get("/api/v1/systems?suspended=true").json()["total"] == 1
    again = client.post("/api/v1/systems/acme-imagegen/suspend", json={"reason": "again"}, headers=admin)
    assert again.status_code == 409
    empty = client.post("/api/v1/systems/acme-imagegen/reinstate", json={"reason": ""}, headers=admin)
    assert empty.status_code == 422
    assert (
        client.post("/api/v1/systems/acme-imagegen/reinstate", json={"reason": "Fixed."}, headers=admin).json()[
            "suspended"
        ]
        is False
    )
    history = client.get("/api/v1/systems/acme-imagegen").json()["suspensions"]
    assert [e["action"] for e in history] == ["reinstated", "suspended"]
    assert history[1]["reason"] == "Outputs found unmarked." and history[1]["log_index"] is not None
    page = client.get("/systems/acme-imagegen").text
    assert 'id="oversight"' in page and "Outputs found unmarked." in page and "Fixed." in page
    review = client.post(
        "/api/v1/systems/acme-imagegen/reviews",
        json={"rule_id": "eu-art50-2-synthetic-content", "decision": "upheld", "reason": "x", "version": 1},
        headers=admin,
    )
    assert review.status_code == 422 and "claims no exception" in review.json()["error"]["message"]
    p = client.post("/api/v1/providers", json={"id": "initech", "name": "Initech"}, headers=admin)
    assert p.status_code == 201 and p.headers["location"] == "/api/v1/providers/initech"
    assert client.post("/api/v1/providers", json={"id": "initech", "name": "Initech"}, headers=admin).status_code == 409
    assert (
        client.post("/api/v1/providers", json={"id": "x", "name": "X"}, headers=auth(tokens["acme"])).status_code == 403
    )


def test_review_through_the_api(client, tokens) -> None:  # type: ignore[no-untyped-def]
    raw = (EXAMPLES / "skyguard-controller-wellbeing.yaml").read_bytes()
    d = yaml.safe_load(raw)
    admin = auth(tokens["admin"])
    with client.app.state.db.write() as session:
        service.add_provider(session, id=d["provider"]["id"], name=d["provider"]["legal_name"], principal=OPERATOR)
    r = client.post(
        f"/api/v1/systems?provider={d['provider']['id']}",
        content=raw,
        headers={"content-type": "application/yaml", **admin},
    )
    assert r.status_code == 201 and r.json()["outcome"] == "prohibited" and r.json()["needs_review"]
    rule = d["exception_claims"][0]["rule"]
    upheld = client.post(
        f"/api/v1/systems/{r.json()['id']}/reviews",
        json={"rule_id": rule, "decision": "upheld", "reason": "Safety purpose shown.", "version": 1},
        headers=admin,
    )
    assert upheld.status_code == 200 and upheld.json()["outcome"] != "prohibited"
    assert upheld.json()["reviews"][0]["decision"] == "upheld"


def test_a_review_of_a_version_that_is_no_longer_current_records_nothing(client, tokens) -> None:  # type: ignore[no-untyped-def]
    # The oversight body read version 1's claim; the provider then published version 2 with another claim text.
    # Upholding must not attach to a claim nobody reviewed.
    raw = (EXAMPLES / "skyguard-controller-wellbeing.yaml").read_bytes()
    d = yaml.safe_load(raw)
    admin = auth(tokens["admin"])
    with client.app.state.db.write() as session:
        service.add_provider(session, id=d["provider"]["id"], name=d["provider"]["legal_name"], principal=OPERATOR)
    sid = client.post(
        f"/api/v1/systems?provider={d['provider']['id']}",
        content=raw,
        headers={"content-type": "application/yaml", **admin},
    ).json()["id"]
    rule = d["exception_claims"][0]["rule"]
    d["exception_claims"][0]["justification"] += " The sensor readings are also used to plan rosters."
    v2 = client.put(
        f"/api/v1/systems/{sid}?expected_version=1", json=json.loads(json.dumps(d, default=str)), headers=admin
    )
    assert v2.status_code == 200 and v2.json()["needs_review"]
    stale = client.post(
        f"/api/v1/systems/{sid}/reviews",
        json={"rule_id": rule, "decision": "upheld", "reason": "Safety purpose shown.", "version": 1},
        headers=admin,
    )
    assert stale.status_code == 409 and stale.json()["error"]["current_version"] == 2
    after = client.get(f"/api/v1/systems/{sid}").json()
    assert after["outcome"] == "prohibited" and after["needs_review"] and after["reviews"] == []
    missing = client.post(
        f"/api/v1/systems/{sid}/reviews", json={"rule_id": rule, "decision": "upheld", "reason": "x"}, headers=admin
    )
    assert missing.status_code == 422
    assert [p["path"] for p in missing.json()["error"]["problems"]] == ["version"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "needle"),
    [
        (b"\xff\xfe\x00bad", "application/json", 422, "invalid_input", "UTF-8"),
        (b'{"schema_version": "1", ', "application/json", 422, "invalid_input", "JSON"),
        (b"system: [unclosed", "application/yaml", 422, "invalid_input", "YAML"),
        (b"a: &x 1\nb: *x\n", "application/yaml", 422, "invalid_input", "aliases"),
        (b"", "application/json", 422, "invalid_input", "empty"),
        (b"[1, 2]", "application/json", 422, "invalid_input", "list"),
        (b"<xml/>", "application/xml", 415, "unsupported_media", "application/xml"),
        (b"{}", "application/json; charset=latin-1", 415, "unsupported_media", "UTF-8"),
        (b"x=1", "application/x-www-form-urlencoded", 415, "unsupported_media", "form"),
    ],
)
def test_bad_bodies_get_specific_errors_and_write_nothing(
    client, tokens, body, content_type, status, code, needle
) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/systems", content=body, headers={"content-type": content_type, **auth(tokens["acme"])})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and needle.lower() in (error["message"] + error["hint"]).lower()
    assert client.get("/api/v1/systems").json()["total"] == 0


def test_oversized_body_is_refused_before_parsing(client, tokens) -> None:  # type: ignore[no-untyped-def]
    limit = client.app.state.config.max_body_bytes
    big = b'{"pad": "' + b"x" * limit + b'"}'
    r = client.post("/api/v1/systems", content=big, headers={**JSON, **auth(tokens["acme"])})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_invalid_disclosure_lists_every_wrong_field(client, tokens) -> None:  # type: ignore[no-untyped-def]
    bad = variant(
        example(), capabilities=["emotion_recogniton"], **{"system.status": "live", "provider.jurisdiction": DELETE}
    )
    r = _publish(client, tokens["acme"], bad)
    assert r.status_code == 422
    problems = {p["path"]: p for p in r.json()["error"]["problems"]}
    assert {"capabilities[0]", "system.status", "provider.jurisdiction"} <= set(problems)
    assert all(p["fix"] for p in problems.values())


def test_duplicate_name_is_409(client, tokens) -> None:  # type: ignore[no-untyped-def]
    assert _publish(client, tokens["acme"]).status_code == 201
    twin = variant(example(), **{"system.id": DELETE, "system.name": "ACME imagegen"})
    r = _publish(client, tokens["acme"], twin)
    assert r.status_code == 409 and r.json()["error"]["existing_system"] == "acme-imagegen"


def test_validate_writes_nothing(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/validate", content=as_json(example("moodpulse-call-centre")), headers=JSON)
    assert r.status_code == 200 and r.json()["outcome"] == "prohibited" and r.json()["valid"]
    assert client.get("/api/v1/systems").json()["total"] == 0


def test_list_filters_pagination_and_links(client, tokens) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        d = variant(example(), **{"system.id": DELETE, "system.name": f"Tool {i}"})
        assert _publish(client, tokens["acme"], d).status_code == 201
    r = client.get("/api/v1/systems?per_page=2&page=2&sort=name&capability=synthetic_image")
    body = r.json()
    assert body["total"] == 5 and body["pages"] == 3 and [s["name"] for s in body["items"]] == ["Tool 2", "Tool 3"]
    assert body["links"]["next"].endswith("page=3") and "capability=synthetic_image" in body["links"]["next"]
    assert 'rel="next"' in r.headers["link"] and 'rel="prev"' in r.headers["link"]
    assert client.get("/api/v1/systems?outcome=prohibited").json()["total"] == 0
    bad = client.get("/api/v1/systems?capability=mind_reading&impact_level=9&per_page=100000")
    assert bad.status_code == 422
    assert {p["path"] for p in bad.json()["error"]["problems"]} >= {"query.capability", "query.impact_level"}


def test_exports_stream_the_whole_register(client, tokens) -> None:  # type: ignore[no-untyped-def]
    hostile = variant(
        example(),
        **{
            "system.id": DELETE,
            "system.name": '=HYPERLINK("http://evil")',
            "system.summary": '+1 cell, "quoted", with, commas\nand a newline',
        },
    )
    _publish(client, tokens["acme"])
    _publish(client, tokens["acme"], hostile)
    data = client.get("/api/v1/export/systems.json")
    assert data.status_code == 200 and data.headers["content-type"].startswith("application/json")
    doc = json.loads(data.content)
    assert doc["count"] == 2 and {s["id"] for s in doc["systems"]} == {"acme-imagegen", "acme-hyperlink-http-evil"}
    first = next(s for s in doc["systems"] if s["id"] == "acme-imagegen")
    assert first["disclosure"]["system"]["name"] == "Acme ImageGen" and first["findings"] and first["impact"]["level"]
    text = client.get("/api/v1/export/systems.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2
    evil = next(r for r in rows if r["id"] == "acme-hyperlink-http-evil")
    assert evil["name"] == '\'=HYPERLINK("http://evil")'  # defused for spreadsheets
    assert evil["summary"] == '\'+1 cell, "quoted", with, commas and a newline'  # lists show one line
    assert rows[0]["capabilities"] == "synthetic_image" and rows[0]["outcome"] == "transparency"


def test_schema_and_vocabularies(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/schema/disclosure/v1.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/schema+json")
    schema = r.json()
    assert schema["$id"] == "http://testserver/schema/disclosure/v1.json" and "system" in schema["properties"]
    vocab = client.get("/api/v1/vocabularies").json()
    assert any(v["value"] == "synthetic_image" for v in vocab["capability"])
    rules = client.get("/api/v1/rules").json()
    assert rules["version"] and all(r["sources"] for r in rules["rules"])


def test_version_history_is_paginated(client, tokens) -> None:  # type: ignore[no-untyped-def]
    d = example()
    admin = auth(tokens["admin"])
    assert client.post("/api/v1/systems", content=as_json(d), headers={**JSON, **admin}).status_code == 201
    for n in range(1, 5):
        d = variant(d, **{"system.summary": f"Summary, revision {n}."})
        r = client.put(
            f"/api/v1/systems/acme-imagegen?expected_version={n}", content=as_json(d), headers={**JSON, **admin}
        )
        assert r.status_code == 200, r.text
    first = client.get("/api/v1/systems/acme-imagegen/versions?per_page=2")
    body = first.json()
    assert [v["number"] for v in body["items"]] == [5, 4]
    assert (body["total"], body["pages"], body["links"]["prev"]) == (5, 3, None)
    assert 'rel="next"' in first.headers["link"]
    assert body["links"]["next"] == "/api/v1/systems/acme-imagegen/versions?per_page=2&page=2"
    last = client.get("/api/v1/systems/acme-imagegen/versions?per_page=2&page=3").json()
    assert [v["number"] for v in last["items"]] == [1] and last["links"]["next"] is None
    assert client.get("/api/v1/systems/nope/versions").status_code == 404
