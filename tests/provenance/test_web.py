"""The provenance API and pages: check, marks (tokens), trust anchor, and the C2PA resolution endpoints."""

from __future__ import annotations

import io

import c2pa
import pytest

from assay import watermark
from assay.provenance.keys import MarkId

from .conftest import Register, encode, synthetic_pixels


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def marked(web, sqlite_register: Register):  # type: ignore[no-untyped-def]
    image = encode(synthetic_pixels(60, 640, 480), "JPEG")
    resp = web.post(
        "/api/v1/marks?system_id=acme-imagegen",
        content=image,
        headers=_auth(sqlite_register.acme_token) | {"Content-Type": "image/jpeg"},
    )
    assert resp.status_code == 201, resp.text
    return resp


def test_mark_then_check_over_the_api(web, marked) -> None:  # type: ignore[no-untyped-def]
    mark_id = marked.headers["Assay-Mark-Id"]
    assert marked.headers["content-type"] == "image/jpeg" and marked.headers["Location"] == f"/api/v1/marks/{mark_id}"
    v = web.post("/api/v1/check", files={"file": ("x.jpg", marked.content, "image/jpeg")}).json()
    assert v["status"] == "marked" and v["mark_id"] == mark_id and "file" not in v
    assert v["evidence"]["manifest"]["state"] == "trusted"
    record = web.get(f"/api/v1/marks/{mark_id}").json()
    assert record["system_id"] == "acme-imagegen" and record["sha256"]
    listing = web.get("/api/v1/marks", params={"system_id": "acme-imagegen"}).json()
    assert listing["total"] == 1 and listing["items"][0]["mark_id"] == mark_id
    page = web.get(f"/marks/{mark_id}")
    assert page.status_code == 200 and mark_id in page.text and "Acme ImageGen" in page.text


def test_marking_needs_the_owning_providers_live_token(web, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    image = encode(synthetic_pixels(61, 512, 384), "JPEG")
    url = "/api/v1/marks?system_id=acme-imagegen"
    assert web.post(url, content=image, headers={"Content-Type": "image/jpeg"}).status_code == 401
    other = web.post(url, content=image, headers=_auth(sqlite_register.other_token) | {"Content-Type": "image/jpeg"})
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
    writer = web.post(
        "/api/v1/marks?system_id=acme-writer",
        content=image,
        headers=_auth(sqlite_register.acme_token) | {"Content-Type": "image/jpeg"},
    )
    assert writer.status_code == 403 and "synthetic_image" in writer.json()["error"]["message"]
    not_image = web.post(url, content=b"not an image", headers=_auth(sqlite_register.acme_token))
    assert not_image.status_code == 415
    assert not_image.json()["error"]["message"] == "the file is not an image Assay can read"
    from assay.register.access import revoke_token

    from .conftest import OPERATOR

    with sqlite_register.db.write() as s:
        revoke_token(s, sqlite_register.acme_token[:12], actor=OPERATOR)
    revoked = web.post(url, content=image, headers=_auth(sqlite_register.acme_token) | {"Content-Type": "image/jpeg"})
    assert revoked.status_code == 401
    assert web.get("/api/v1/marks").json()["total"] == 0


def test_bad_uploads_get_the_one_error_shape(web) -> None:  # type: ignore[no-untyped-def]
    for body, ctype, code in [
        (b"not an image", "image/png", "unsupported_media"),
        (b"", "image/png", "invalid_input"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png", "invalid_input"),
        (b"{}", "application/json", "invalid_input"),  # JSON is a text to check: {"text": ...}
        (b"caf\xe9 au lait", "text/plain", "unsupported_media"),  # a text that is not UTF-8
    ]:
        r = web.post("/api/v1/check", content=body, headers={"Content-Type": ctype})
        assert r.status_code in (415, 422) and r.json()["error"]["code"] == code, (body, r.text)
    form = web.post("/api/v1/check", files={"other": ("x.txt", b"abc", "text/plain")})
    assert form.status_code == 422 and form.json()["error"]["problems"][0]["path"] == "file"


def test_the_trust_anchor_is_published(web, marked) -> None:  # type: ignore[no-untyped-def]
    anchors = web.get("/trust/anchors.pem")
    assert anchors.status_code == 200 and anchors.text.startswith("-----BEGIN CERTIFICATE-----")
    ctx = c2pa.Context.from_dict({"trust": {"trust_anchors": anchors.text}, "verify": {"verify_trust": True}})
    with c2pa.Reader("image/jpeg", io.BytesIO(marked.content), context=ctx) as reader:
        assert reader.get_validation_state() == "Trusted"
    assert web.get("/trust/crl.der").headers["content-type"] == "application/pkix-crl"


def test_a_providers_certificates_and_marking_keys_are_public(web, marked, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    from assay.provenance.credentials import list_certificates, revoke_certificate
    from assay.provenance.marking import list_namespaces

    from .conftest import OPERATOR

    with sqlite_register.db.read() as s:
        (cert,) = list_certificates(s, provider_id="acme")  # issued on the first mark
        (key,) = list_namespaces(s, provider_id="acme")
    revoke_certificate(sqlite_register.db, fingerprint_or_serial=cert.fingerprint, principal=OPERATOR)
    assert 'href="/providers/acme/credentials"' in web.get("/providers/acme").text
    page = web.get("/providers/acme/credentials")
    assert page.status_code == 200
    assert cert.fingerprint in page.text and key["key_id"] in page.text and "revoked</strong>" in page.text
    from assay.provenance.marking import list_watermark_keys

    with sqlite_register.db.read() as s:
        (wm_key,) = list_watermark_keys(s, provider_id="acme")  # made when acme-imagegen first marked
    assert wm_key["key_id"] in page.text and wm_key["system_id"] == "acme-imagegen"
    assert "PRIVATE" not in page.text and "BEGIN" not in page.text  # public facts only, never key material
    other = web.get("/providers/other/credentials").text
    assert "no signing certificate yet" in other and "no marking key yet" in other
    missing = web.get("/providers/nobody/credentials")
    assert missing.status_code == 404


def test_soft_binding_resolution_api(web, marked) -> None:  # type: ignore[no-untyped-def]
    mark = MarkId.parse(marked.headers["Assay-Mark-Id"])
    algs = web.get("/services/supportedAlgorithms").json()
    assert algs == {
        "watermarks": [
            {"alg": watermark.FIELD_ALGORITHM},
            {"alg": watermark.ALGORITHM},
            {"alg": watermark.LEGACY_ALGORITHM},
        ],
        "fingerprints": [],
    }
    by_binding = web.get("/matches/byBinding", params={"alg": watermark.ALGORITHM, "value": mark.binding_value}).json()
    [match] = by_binding["matches"]
    assert match["manifestId"].startswith("urn:c2pa:")
    post = web.post("/matches/byBinding", json={"alg": watermark.ALGORITHM, "value": mark.binding_value}).json()
    assert post == by_binding
    by_content = web.post(
        f"/matches/byContent?alg={watermark.ALGORITHM}", content=marked.content, headers={"Content-Type": "image/jpeg"}
    ).json()
    assert by_content["matches"][0]["manifestId"] == match["manifestId"]
    store = web.get(f"/manifests/{match['manifestId']}")
    assert store.status_code == 200 and store.headers["content-type"] == "application/c2pa"
    # The stored manifest store validates against the marked file as a sidecar.
    with c2pa.Reader("image/jpeg", io.BytesIO(marked.content), store.content) as reader:
        assert reader.get_active_manifest()["label"] == match["manifestId"]
    assert web.get("/matches/byBinding", params={"alg": "com.example", "value": mark.binding_value}).status_code == 422
    assert web.get("/matches/byBinding", params={"alg": watermark.ALGORITHM, "value": "!!"}).status_code == 422
    none = web.get("/matches/byBinding", params={"alg": watermark.ALGORITHM, "value": MarkId(12345).binding_value})
    assert none.json() == {"matches": []}
    assert web.get("/manifests/urn:c2pa:nothing").status_code == 404


def test_check_page_without_javascript(web, marked) -> None:  # type: ignore[no-untyped-def]
    page = web.get("/check")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert '<label for="file">' in page.text
    result = web.post("/check", files={"file": ("a.jpg", marked.content, "image/jpeg")})
    assert result.status_code == 200 and "AI-generated by Acme ImageGen" in result.text
    assert "What this check cannot tell you" in result.text
    text = web.post("/check", files={"file": ("a.txt", b"hello", "text/plain")})  # texts are checked too
    assert text.status_code == 200 and "No Assay text mark found" in text.text
    bad = web.post("/check", files={"file": ("a.pdf", b"%PDF-1.4\n\x00\x01\x02", "application/pdf")})
    assert bad.status_code == 415 and "We could not check this file" in bad.text
    assert "This file is not an image Assay can read" in bad.text  # a sentence, not "... file.</strong> the file"


def test_malformed_requests_are_invalid_input_never_a_server_error(web, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    # Found by the schema test: a page number past what SQLite's integers hold was a 500.
    far = web.get("/api/v1/marks", params={"page": 30744573456182588, "per_page": 300})
    assert far.status_code == 422 and far.json()["error"]["problems"][0]["path"] == "query.page", far.text
    # Found by the schema test: a non-text 'alg' in the body was a 500.
    for body in ({"alg": {}, "value": "AAAAAAAAAAA="}, {"value": "AAAAAAAAAAA="}, [1]):
        r = web.post("/matches/byBinding", json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    r = web.post(
        "/api/v1/marks/batch",
        content=b'{"entries": [',
        headers=_auth(sqlite_register.acme_token) | {"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and [p["path"] for p in r.json()["error"]["problems"]] == ["body"]
    r = web.post("/api/v1/marks/batch", json={"entries": "x"}, headers=_auth(sqlite_register.acme_token))
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["path"] == "entries"
    # Only mark ids route to a mark's record, so the batch path takes POST alone.
    r = web.get("/api/v1/marks/batch")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert web.get("/api/v1/marks/not-a-mark-id").status_code == 404


def test_real_answers_match_the_documented_schemas(web, marked, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    # The schema test cannot make a markable image blindly, so the verdict and the records are checked here.
    import schemathesis

    schema = schemathesis.openapi.from_dict(web.get("/openapi.json").json())
    mark_id = marked.headers["Assay-Mark-Id"]
    image = encode(synthetic_pixels(61, 400, 300), "PNG")
    answers = [
        (
            "/api/v1/marks",
            "POST",
            web.post(
                "/api/v1/marks?system_id=acme-imagegen",
                content=image,
                headers=_auth(sqlite_register.acme_token) | {"Content-Type": "image/png", "Accept": "application/json"},
            ),
        ),
        ("/api/v1/marks", "POST", marked),
        (
            "/api/v1/check",
            "POST",
            web.post("/api/v1/check", content=marked.content, headers={"Content-Type": "image/jpeg"}),
        ),
        ("/api/v1/check", "POST", web.post("/api/v1/check", content=image, headers={"Content-Type": "image/png"})),
        ("/api/v1/marks", "GET", web.get("/api/v1/marks")),
        ("/api/v1/marks/{mark_id}", "GET", web.get(f"/api/v1/marks/{mark_id}")),
        ("/trust/anchors.pem", "GET", web.get("/trust/anchors.pem")),
        ("/trust/crl.der", "GET", web.get("/trust/crl.der")),
    ]
    for path, method, response in answers:
        assert response.status_code in (200, 201), (path, response.text)
        schema[path][method].validate_response(response)


def test_images_are_examined_a_few_at_a_time_and_a_long_queue_is_told_to_come_back(web) -> None:  # type: ignore[no-untyped-def]
    from assay.web.routes.provenance import MediaSlots

    image = encode(synthetic_pixels(62, 512, 384), "JPEG")
    # One slot, a short wait; the semaphore lives in the app's event loop, so it is made and taken there.
    slots = web.app.state.media_slots = web.portal.call(lambda: MediaSlots(1, wait=0.2))
    web.portal.call(slots.semaphore.acquire)  # another upload is being examined
    busy = web.post("/api/v1/check", content=image, headers={"Content-Type": "image/jpeg"})
    assert busy.status_code == 429 and busy.json()["error"]["code"] == "rate_limited" and busy.json()["error"]["hint"]
    web.portal.call(slots.semaphore.release)
    assert web.post("/api/v1/check", content=image, headers={"Content-Type": "image/jpeg"}).status_code == 200


def test_the_mark_page_names_the_version_the_image_was_made_with(web, marked, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    from assay.register import service

    from .conftest import OPERATOR, disclosure

    with sqlite_register.db.write() as s:
        service.update(
            s, "acme-imagegen", disclosure(system__version="4.0"), expected_version=1, principal=OPERATOR, reason="v4"
        )
    page = web.get(f"/marks/{marked.headers['Assay-Mark-Id']}").text
    assert "version 3.2 (Acme Imaging B.V.); its entry has changed since (now version 4.0)" in page


def test_raw_scores_only_for_the_oversight_token(web, marked, sqlite_register: Register) -> None:  # type: ignore[no-untyped-def]
    from assay.register.access import create_token

    from .conftest import OPERATOR

    with sqlite_register.db.write() as s:
        admin = create_token(s, admin=True, actor=OPERATOR).secret
    headers = {"Content-Type": "image/jpeg"}
    public = web.post("/api/v1/check", content=marked.content, headers=headers).json()["evidence"]
    assert public["watermark"]["found"] and "p_value" not in public["watermark"]
    assert "phash_distance" not in public["match"]
    provider = web.post("/api/v1/check", content=marked.content, headers=headers | _auth(sqlite_register.acme_token))
    assert "p_value" not in provider.json()["evidence"]["watermark"]  # a provider is not the oversight body
    oversight = web.post("/api/v1/check", content=marked.content, headers=headers | _auth(admin)).json()["evidence"]
    assert oversight["watermark"]["p_value"] < 1e-6 and oversight["match"]["phash_distance"] == 0
    bad = web.post("/api/v1/check", content=marked.content, headers=headers | _auth("ast_not-a-real-token-at-all"))
    assert bad.status_code == 401
