"""Every error of the API has one shape, pinned here across many kinds of error.

{"error": {"code": str, "message": str, "hint": str, "problems": [{"path": str, "message": str, "fix": str}],
           ...optional extra fields such as "current_version"}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assay.register import service
from assay.register.access import Principal, create_token
from assay.register.demo import EXAMPLES
from assay.register.disclosure import parse_disclosure

OPERATOR = Principal.local_operator()


def example() -> dict[str, Any]:
    d = parse_disclosure((EXAMPLES / "acme-imagegen.yaml").read_bytes())
    return d.model_dump(mode="json", exclude_defaults=True)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    # One app for every case: each case is an error, so none of them changes what the next one sees.
    from assay.config import Config
    from assay.db import Database
    from assay.web.app import create_app

    data = tmp_path_factory.mktemp("error-shape")
    db = Database(f"sqlite:///{data / 'assay.db'}")
    app = create_app(Config(data_dir=data, public_url="http://testserver"), db)
    with db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", principal=OPERATOR)
        service.add_provider(session, id="globex", name="Globex", principal=OPERATOR)
        tokens = {
            "acme": create_token(session, provider_id="acme", actor=OPERATOR).secret,
            "globex": create_token(session, provider_id="globex", actor=OPERATOR).secret,
            "admin": create_token(session, admin=True, actor=OPERATOR).secret,
        }
        service.publish(session, example(), principal=OPERATOR)
    with TestClient(app) as client:
        yield client, tokens
    db.dispose()


@pytest.fixture
def client(shared: tuple[TestClient, dict[str, str]]) -> TestClient:
    return shared[0]


@pytest.fixture
def setup(shared: tuple[TestClient, dict[str, str]]) -> dict[str, str]:
    return shared[1]


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


JSON = {"content-type": "application/json"}
DOC = json.dumps(example()).encode()

# (name, expected status, expected code, request) — the request gets the client and the tokens.
CASES: list[tuple[str, int, str, Callable[[TestClient, dict[str, str]], Any]]] = [
    ("unknown API path", 404, "not_found", lambda c, t: c.get("/api/v1/nothing-here")),
    ("unknown system", 404, "not_found", lambda c, t: c.get("/api/v1/systems/no-such-system")),
    ("unknown version", 404, "not_found", lambda c, t: c.get("/api/v1/systems/acme-imagegen/versions/99")),
    ("unknown provider", 404, "not_found", lambda c, t: c.get("/api/v1/providers/nobody")),
    ("bad path parameter", 422, "invalid_input", lambda c, t: c.get("/api/v1/systems/NOT%20AN%20ID")),
    ("wrong method", 405, "method_not_allowed", lambda c, t: c.delete("/api/v1/systems")),
    (
        "bad query values",
        422,
        "invalid_input",
        lambda c, t: c.get("/api/v1/systems?impact_level=nine&outcome=approved&page=0"),
    ),
    ("page size of zero", 422, "invalid_input", lambda c, t: c.get("/api/v1/systems?per_page=0")),
    ("page past the end of the numbers", 422, "invalid_input", lambda c, t: c.get("/api/v1/providers?page=99999999")),
    ("no token", 401, "unauthorized", lambda c, t: c.post("/api/v1/systems", content=DOC, headers=JSON)),
    (
        "malformed token",
        401,
        "unauthorized",
        lambda c, t: c.post("/api/v1/systems", content=DOC, headers={**JSON, **_bearer("nonsense")}),
    ),
    ("unknown token", 401, "unauthorized", lambda c, t: c.get("/api/v1/whoami", headers=_bearer("ast_" + "Z" * 43))),
    (
        "another provider's system",
        403,
        "forbidden",
        lambda c, t: c.put(
            "/api/v1/systems/acme-imagegen?expected_version=1", content=DOC, headers={**JSON, **_bearer(t["globex"])}
        ),
    ),
    (
        "provider acting as admin",
        403,
        "forbidden",
        lambda c, t: c.post("/api/v1/systems/acme-imagegen/suspend", json={"reason": "x"}, headers=_bearer(t["acme"])),
    ),
    (
        "duplicate name",
        409,
        "conflict",
        lambda c, t: c.post("/api/v1/systems", content=DOC, headers={**JSON, **_bearer(t["acme"])}),
    ),
    (
        "stale version",
        409,
        "conflict",
        lambda c, t: c.put(
            "/api/v1/systems/acme-imagegen", content=DOC, headers={**JSON, **_bearer(t["acme"]), "if-match": '"7"'}
        ),
    ),
    (
        "unchanged disclosure",
        409,
        "conflict",
        lambda c, t: c.put(
            "/api/v1/systems/acme-imagegen?expected_version=1", content=DOC, headers={**JSON, **_bearer(t["acme"])}
        ),
    ),
    (
        "oversized body",
        413,
        "too_large",
        lambda c, t: c.post("/api/v1/systems", content=b"x" * 3_000_000, headers={**JSON, **_bearer(t["acme"])}),
    ),
    (
        "wrong content type",
        415,
        "unsupported_media",
        lambda c, t: c.post("/api/v1/validate", content=b"<a/>", headers={"content-type": "text/html"}),
    ),
    (
        "not UTF-8",
        422,
        "invalid_input",
        lambda c, t: c.post("/api/v1/validate", content=b"\xc3\x28 not utf-8", headers=JSON),
    ),
    ("malformed JSON", 422, "invalid_input", lambda c, t: c.post("/api/v1/validate", content=b'{"a": ', headers=JSON)),
    (
        "malformed YAML",
        422,
        "invalid_input",
        lambda c, t: c.post("/api/v1/validate", content=b"a: [b", headers={"content-type": "application/yaml"}),
    ),
    (
        "invalid disclosure",
        422,
        "invalid_input",
        lambda c, t: c.post("/api/v1/validate", content=b'{"schema_version": "1"}', headers=JSON),
    ),
    (
        "invalid JSON body for an admin action",
        422,
        "invalid_input",
        lambda c, t: c.post(
            "/api/v1/systems/acme-imagegen/suspend", content=b"{", headers={**JSON, **_bearer(t["admin"])}
        ),
    ),
    (
        "JSON body that is not UTF-8",
        422,
        "invalid_input",
        lambda c, t: c.post(
            "/api/v1/systems/acme-imagegen/suspend",
            content=b'{"reason": "\xc3\x28"}',
            headers={**JSON, **_bearer(t["admin"])},
        ),
    ),
    (
        "missing field in an admin action",
        422,
        "invalid_input",
        lambda c, t: c.post(
            "/api/v1/systems/acme-imagegen/reviews", json={"decision": "upheld"}, headers=_bearer(t["admin"])
        ),
    ),
    (
        "review without a claim",
        422,
        "invalid_input",
        lambda c, t: c.post(
            "/api/v1/systems/acme-imagegen/reviews",
            json={"rule_id": "x", "decision": "upheld", "reason": "y", "version": 1},
            headers=_bearer(t["admin"]),
        ),
    ),
]


def _assert_shape(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "hint", "problems"} <= set(error)
    assert all(isinstance(error[k], str) for k in ("code", "message", "hint"))
    assert error["message"] and error["code"].islower()
    assert isinstance(error["problems"], list)
    for p in error["problems"]:
        assert set(p) == {"path", "message", "fix"} and all(isinstance(v, str) for v in p.values())
    text = json.dumps(body)
    assert "Traceback" not in text and 'File "' not in text
    return error


@pytest.mark.parametrize(("name", "status", "code", "request_"), CASES, ids=[c[0] for c in CASES])
def test_every_error_has_the_one_shape(
    client: TestClient,
    setup: dict[str, str],
    name: str,
    status: int,
    code: str,
    request_: Callable[[TestClient, dict[str, str]], Any],
) -> None:
    r = request_(client, setup)
    assert r.status_code == status, (name, r.text)
    assert r.headers["content-type"].startswith("application/json")
    error = _assert_shape(r.json())
    assert error["code"] == code, name


def test_field_errors_name_each_field(client: TestClient, setup: dict[str, str]) -> None:
    r = client.get("/api/v1/systems?impact_level=nine&outcome=approved")
    paths = {p["path"] for p in _assert_shape(r.json())["problems"]}
    assert {"query.impact_level", "query.outcome"} <= paths


@pytest.mark.parametrize(
    "body", [b"{", b'{"reason": "\xc3\x28"}', b'{"reason": "x"} trailing'], ids=["truncated", "not UTF-8", "trailing"]
)
def test_malformed_json_bodies_are_invalid_input_naming_the_body(
    client: TestClient, setup: dict[str, str], body: bytes
) -> None:
    r = client.post("/api/v1/systems/acme-imagegen/suspend", content=body, headers={**JSON, **_bearer(setup["admin"])})
    assert r.status_code == 422
    error = _assert_shape(r.json())
    assert error["code"] == "invalid_input" and error["hint"]
    assert [(p["path"], p["fix"]) for p in error["problems"]] == [("body", "send valid UTF-8 JSON")]


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/systems", "GET, HEAD, POST"),
        ("/api/v1/systems/acme-imagegen", "GET, HEAD, PUT"),
        ("/api/v1/complaints/keys", "GET, HEAD, POST"),
        ("/matches/byBinding", "GET, HEAD, POST"),
    ],
)
def test_method_not_allowed_names_every_method_of_the_path(client: TestClient, path: str, allow: str) -> None:
    # Starlette's own answer names the methods of the first route matching the path only.
    r = client.options(path)
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert _assert_shape(r.json())["code"] == "method_not_allowed"


def test_unexpected_errors_keep_the_shape_and_hide_the_details(app: Any) -> None:
    @app.get("/api/v1/test-explode", include_in_schema=False)
    def explode() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/test-explode")
    assert r.status_code == 500
    error = _assert_shape(r.json())
    assert error["code"] == "internal_error" and "secret internal detail" not in r.text


def test_pages_answer_errors_in_html_with_the_same_content(client: TestClient) -> None:
    r = client.get("/systems/no-such-system", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "no-such-system" in r.text and "<h1>" in r.text
