"""The complaints channel over HTTP: the no-JavaScript path, the browser API, the body's admin API, bad input."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assay.complaints import crypto, service
from assay.complaints.abuse import solve
from assay.complaints.models import Complaint, ComplaintMessage
from assay.db import Database

WHAT = "The benefits algorithm cut my allowance without telling me why"
EVIDENCE = b"%PDF-1.4 letter from the agency \x00\x01\x02 reference 7731"


def scan(paths: list[Path], needles: list[bytes]) -> list[str]:
    """Search files for plaintext in a subprocess (reading a live SQLite file in-process drops its locks)."""
    code = (
        "import sys, pathlib\n"
        "needles = [bytes.fromhex(h) for h in sys.argv[1].split(',')]\n"
        "for root in sys.argv[2:]:\n"
        "    p = pathlib.Path(root)\n"
        "    for f in ([p] if p.is_file() else [q for q in p.rglob('*') if q.is_file()]):\n"
        "        data = f.read_bytes()\n"
        "        for n in needles:\n"
        "            if n in data: print(f, n.hex())\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, ",".join(n.hex() for n in needles), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def form_token(client, system_id: str) -> str:  # type: ignore[no-untyped-def]
    page = client.get(f"/systems/{system_id}/complaints/new")
    assert page.status_code == 200
    return re.search(r'name="form_token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]


def receipt_words(html: str) -> str:
    section = html.split('id="receipt-words"', 1)[1].split("</ol>", 1)[0]
    words = re.findall(r"<li>([a-z]+)</li>", section)
    assert len(words) == 12
    return " ".join(words)


def lookup_body(client, access_key: bytes) -> dict:  # type: ignore[no-untyped-def]
    """What complaints.js sends to look a complaint up: the access key and a solved look-up challenge."""
    c = client.post("/api/v1/complaints/challenge", params={"purpose": "lookup"}).json()
    pow_ = {"challenge": c["challenge"], "nonce": solve(c["challenge"])} if c["bits"] else None
    return {"access_key": crypto.b64(access_key), "pow": pow_}


def count(db: Database, model: type) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_form_page_says_how_it_protects_and_needs_a_published_key(client, system_id, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/systems/{system_id}/complaints/new")
    assert r.status_code == 200 and "cannot be received yet" in r.text and "complaint-form" not in r.text
    private, public = crypto.generate_body_key()
    with sqlite_db.write() as s:
        key = service.publish_key(s, public, today=date.today())
    r = client.get(f"/systems/{system_id}/complaints/new")
    assert r.headers["cache-control"] == "no-store"
    assert "JavaScript is off" in r.text and "Encrypted in your browser" in r.text
    assert key.fingerprint in r.text and f'data-key-id="{key.key_id}"' in r.text
    assert f"/log/entries/{key.log_index}" in r.text
    assert client.get("/systems/no-such-system/complaints/new").status_code == 404


def test_before_a_key_is_published_the_channel_answers_409_with_the_fix(client, system_id) -> None:  # type: ignore[no-untyped-def]
    # Not a server error (it was 503): the register works, its operator has not published the body's key yet.
    r = client.get("/api/v1/complaints/channel")
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == "complaints_not_ready" and "assay complaints publish-key" in error["hint"]
    form = client.post("/complaints", data={"system_id": system_id, "what": WHAT})
    assert form.status_code == 409 and "publish-key" in form.text


def test_no_javascript_path_seals_in_memory_and_shows_the_receipt_once(
    client, system_id, body_key, sqlite_db, config, monkeypatch, caplog
) -> None:  # type: ignore[no-untyped-def]
    import tempfile

    import starlette.formparsers

    def no_disk(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("a complaint must never be spooled to a temporary file")

    for mod in (tempfile, starlette.formparsers):
        monkeypatch.setattr(mod, "SpooledTemporaryFile", no_disk, raising=False)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_disk)
    monkeypatch.setattr(tempfile, "TemporaryFile", no_disk)
    caplog.set_level(logging.DEBUG)
    big = EVIDENCE + bytes(1_500_000)  # over Starlette's 1 MB spooling threshold
    r = client.post(
        "/complaints",
        data={
            "system_id": system_id,
            "form_token": form_token(client, system_id),
            "what": WHAT,
            "when": "June 2026",
            "contact": "signal: +31 6 0000 0000",
        },
        files=[("attachments", ("letter.pdf", big, "application/pdf"))],
    )
    assert r.status_code == 200, r.text
    assert 'data-mode="server"' in r.text and "Encrypted on the server" in r.text
    assert r.headers["cache-control"] == "no-store"
    words = receipt_words(r.text)
    assert all(WHAT not in rec.getMessage() and words not in rec.getMessage() for rec in caplog.records)

    with sqlite_db.read() as s:
        (view,) = service.list_complaints(s)
    content = crypto.unpack_complaint(crypto.open_sealed(view.messages[0].ciphertext, body_key[0]))
    assert content.fields == {"what": WHAT, "when": "June 2026", "contact": "signal: +31 6 0000 0000"}
    assert content.mode == "server" and content.system_id == system_id
    assert content.reply_public_key == view.reply_public_key  # sealed inside too, as the browser does
    assert content.attachments[0].data == big and content.attachments[0].metadata == "as-is"
    hits = scan(
        [Path(sqlite_db.url.split("sqlite:///")[1]).parent, config.data_dir],
        [WHAT.encode(), EVIDENCE, b"+31 6 0000", words.encode()],
    )
    assert hits == []

    # The receipt finds it again (no-JS follow-up), and a reply sealed to the receipt's key reads in the page.
    with sqlite_db.write() as s:
        service.change_status(s, view.id, "acknowledged", today=date.today())
        blob = crypto.pack_message("We received <b>your</b> complaint.")
        service.add_reply(
            s,
            view.id,
            service.SealedReply(crypto.seal(blob, view.reply_public_key), crypto.seal(blob, body_key[1]), body_key[2]),
            today=date.today(),
            max_bytes=10**6,
        )
    page = client.post("/complaints/follow-up", data={"receipt": words.upper()})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Acknowledged" in page.text and "We received &lt;b&gt;your&lt;/b&gt; complaint." in page.text

    # Adding information without JavaScript.
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    added = client.post(
        "/complaints/follow-up/information", data={"receipt": words, "form_token": token, "what": "They wrote again."}
    )
    assert added.status_code == 200 and "added to your complaint" in added.text
    with sqlite_db.read() as s:
        info = [m for m in service.get_complaint(s, view.id).messages if m.kind == "information"]  # type: ignore[union-attr]
    added_content = crypto.unpack_complaint(crypto.open_sealed(info[0].ciphertext, body_key[0]))
    assert added_content.fields["what"] == "They wrote again."


def test_replayed_oversized_and_malformed_forms_store_nothing(client, system_id, body_key, sqlite_db, config) -> None:  # type: ignore[no-untyped-def]
    token = form_token(client, system_id)
    ok = client.post("/complaints", data={"system_id": system_id, "form_token": token, "what": WHAT})
    assert ok.status_code == 200
    before = (count(sqlite_db, Complaint), count(sqlite_db, ComplaintMessage))
    replay = client.post("/complaints", data={"system_id": system_id, "form_token": token, "what": WHAT})
    assert replay.status_code == 409 and "already sent" in replay.text
    too_big = client.post(
        "/complaints",
        data={"system_id": system_id, "form_token": form_token(client, system_id), "what": WHAT},
        files=[("attachments", ("x.bin", bytes(config.complaints_max_bytes + 10), "x/y"))],
    )
    assert too_big.status_code == 413
    empty = client.post(
        "/complaints", data={"system_id": system_id, "form_token": form_token(client, system_id), "what": "  "}
    )
    assert empty.status_code == 422 and "say what happened" in empty.text
    forged = client.post("/complaints", data={"system_id": system_id, "form_token": "ab" * 40, "what": WHAT})
    assert forged.status_code == 422 and "did not come from this register" in forged.text
    garbage = client.post(
        "/complaints", content=b"--xyz\r\nnot a form", headers={"content-type": "multipart/form-data; boundary=xyz"}
    )
    assert garbage.status_code in (404, 422)
    wrong_type = client.post("/complaints", content=b"{}", headers={"content-type": "application/json"})
    assert wrong_type.status_code == 415
    assert (count(sqlite_db, Complaint), count(sqlite_db, ComplaintMessage)) == before


def test_wrong_receipts_get_one_answer_whatever_exists(client, system_id, body_key) -> None:  # type: ignore[no-untyped-def]
    import time

    client.post("/complaints", data={"system_id": system_id, "form_token": form_token(client, system_id), "what": WHAT})
    answers = set()
    for _ in range(2):
        words, _ = crypto.new_receipt()
        start = time.monotonic()
        r = client.post("/complaints/follow-up", data={"receipt": words})
        assert time.monotonic() - start >= 0.35
        assert r.status_code == 404
        answers.add(re.sub(r"\s+", " ", r.text))
    assert len(answers) == 1 and "no complaint matches this receipt" in answers.pop()
    malformed = client.post("/complaints/follow-up", data={"receipt": "one two three"})
    assert malformed.status_code == 422 and "12 words" in malformed.text


# ------------------------------------------------------------------------------------------------ browser API


def sealed_submission(
    client,
    system_id: str,
    public: bytes,
    kid: str,
    params: crypto.KdfParams,  # type: ignore[no-untyped-def]
    text: str = WHAT,
) -> tuple[dict, crypto.ReceiptKeys]:
    """What complaints.js sends, made with the same primitives in Python."""
    _, entropy = crypto.new_receipt()
    keys = crypto.derive_receipt_keys(entropy, params)
    ct = crypto.seal(crypto.pack_complaint(crypto.ComplaintContent(fields={"what": text}, system_id=system_id)), public)
    challenge = client.post("/api/v1/complaints/challenge").json()["challenge"]
    return {
        "system_id": system_id,
        "key_id": kid,
        "ciphertext": crypto.b64(ct),
        "access_key": crypto.b64(keys.access_key),
        "reply_public_key": crypto.b64(keys.reply_public_key),
        "pow": {"challenge": challenge, "nonce": solve(challenge)},
    }, keys


def channel_params(client) -> crypto.KdfParams:  # type: ignore[no-untyped-def]
    kdf = client.get("/api/v1/complaints/channel").json()["kdf"]
    return crypto.KdfParams(salt=crypto.b64decode(kdf["salt"]), opslimit=kdf["opslimit"], memlimit=kdf["memlimit"])


def test_browser_api_submit_lookup_and_add(client, system_id, body_key, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    private, public, kid = body_key
    info = client.get("/api/v1/complaints/channel").json()
    assert info["key"]["key_id"] == kid and info["pow_bits"] == 6 and info["kdf"]["alg"] == "argon2id13"
    params = channel_params(client)
    body, keys = sealed_submission(client, system_id, public, kid, params)
    r = client.post("/api/v1/complaints", json=body)
    assert r.status_code == 201 and r.json()["mode"] == "browser"
    # The same proof of work (a replay of the request) is refused, and so is a replay with a fresh one.
    assert client.post("/api/v1/complaints", json=body).status_code == 422
    challenge = client.post("/api/v1/complaints/challenge").json()["challenge"]
    body["pow"] = {"challenge": challenge, "nonce": solve(challenge)}
    again = client.post("/api/v1/complaints", json=body)
    assert again.status_code == 409 and again.json()["error"]["message"] == "this submission was already received"
    assert count(sqlite_db, Complaint) == 1

    with sqlite_db.write() as s:
        (view,) = service.list_complaints(s)
        blob = crypto.pack_message("Thank you.")
        service.add_reply(
            s,
            view.id,
            service.SealedReply(crypto.seal(blob, view.reply_public_key), crypto.seal(blob, public), kid),
            today=date.today(),
            max_bytes=10**6,
        )
    unpaid = client.post("/api/v1/complaints/lookup", json={"access_key": crypto.b64(keys.access_key)})
    assert unpaid.status_code == 422 and "a proof of work is needed" in unpaid.text
    found = client.post("/api/v1/complaints/lookup", json=lookup_body(client, keys.access_key))
    assert found.status_code == 200 and found.headers["cache-control"] == "no-store"
    data = found.json()
    assert data["status"] == "received" and [m["kind"] for m in data["messages"]] == ["complaint", "reply"]
    assert "ciphertext" not in data["messages"][0]  # the complaint itself is not handed back, even to its author
    assert (
        crypto.unpack_message(
            crypto.open_sealed(crypto.b64decode(data["messages"][1]["ciphertext"]), keys.reply_private_key)
        )
        == "Thank you."
    )
    missing = [
        client.post("/api/v1/complaints/lookup", json=lookup_body(client, bytes([i]) * 32)).json() for i in (1, 2)
    ]
    assert missing[0] == missing[1] and missing[0]["error"]["message"] == service.NOT_FOUND_BY_RECEIPT

    ct = crypto.seal(
        crypto.pack_complaint(crypto.ComplaintContent(fields={"what": "more"}, kind="information")), public
    )
    challenge = client.post("/api/v1/complaints/challenge").json()["challenge"]
    added = client.post(
        "/api/v1/complaints/information",
        json={
            "key_id": kid,
            "ciphertext": crypto.b64(ct),
            "access_key": crypto.b64(keys.access_key),
            "pow": {"challenge": challenge, "nonce": solve(challenge)},
        },
    )
    assert added.status_code == 201 and [m["kind"] for m in added.json()["messages"]][-1] == "information"


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"ciphertext": "not base64!"}, 422, "ciphertext is not valid base64url"),
        ({"ciphertext": crypto.b64(b"short")}, 422, "too short to be a sealed box"),
        ({"access_key": crypto.b64(b"x" * 5)}, 422, "access_key must be 32 bytes"),
        ({"reply_public_key": crypto.b64(b"x" * 31)}, 422, "32-byte X25519 public key"),
        ({"key_id": "0123456789abcdef"}, 422, "not a key of the oversight body"),
        ({"system_id": "nobody-knows"}, 404, "no system"),
        ({"pow": None}, 422, "a proof of work is needed"),
        ({"pow": {"challenge": "00" * 41, "nonce": "00"}}, 422, "not issued by this register"),
        ({"extra": 1}, 422, "the request is malformed"),
    ],
)
def test_browser_api_bad_input(client, system_id, body_key, sqlite_db, change, status, fragment) -> None:  # type: ignore[no-untyped-def]
    body, _ = sealed_submission(client, system_id, body_key[1], body_key[2], channel_params(client))
    body.update(change)
    r = client.post("/api/v1/complaints", json=body)
    assert r.status_code == status, r.text
    assert fragment in r.text
    assert count(sqlite_db, Complaint) == 0


def test_limits_and_spent_tokens_are_shared_by_workers_and_keep_no_address(
    system_id,
    body_key,
    sqlite_db,  # type: ignore[no-untyped-def]
    config,
) -> None:
    # Two apps over one database and one data folder are two workers of one register: a challenge solved and
    # spent on one is refused on the other, and complaints filed through either raise one price.
    from fastapi.testclient import TestClient

    from assay.complaints.models import AbuseCounter, SpentToken
    from assay.web.app import create_app

    cfg = config.with_overrides(complaints_per_hour=60)  # one complaint a minute at the channel's price
    apps = [create_app(cfg, sqlite_db, migrate=False) for _ in range(2)]
    now = [60 * 30_000_000.0]
    for a in apps:
        a.state.complaints_clock = lambda: now[0]
    one, two = (TestClient(a) for a in apps)
    with one, two:
        body, _ = sealed_submission(one, system_id, body_key[1], body_key[2], channel_params(one))
        assert one.post("/api/v1/complaints", json=body).status_code == 201
        replay = two.post("/api/v1/complaints", json=body)
        assert replay.status_code == 422 and "proof of work was used before" in replay.text
        body, _ = sealed_submission(two, system_id, body_key[1], body_key[2], channel_params(two))
        assert two.post("/api/v1/complaints", json=body).status_code == 201
        now[0] += 1.5  # past each worker's one-second cache of the price
        # Two complaints this minute against one free, whichever worker took them: one bit dearer on both.
        assert one.post("/api/v1/complaints/challenge").json()["bits"] == 7
        assert two.post("/api/v1/complaints/challenge").json()["bits"] == 7
    # What the shared state holds: hashes, counters and times, no address, no cookie, no user agent.
    for table in (SpentToken, AbuseCounter):
        assert {c.name for c in table.__table__.columns} <= {
            "kind",
            "token",
            "expires",
            "scope",
            "key",
            "window_no",
            "count",
        }


def test_a_flood_of_free_requests_does_not_use_up_what_complaints_need(
    system_id,
    body_key,
    sqlite_db,  # type: ignore[no-untyped-def]
    config,
) -> None:
    # No-JavaScript forms cost a flooder no proof of work; they must not shut out anyone, nor make the browser's
    # complaints dearer (only paid complaints set their price). No bucket: nothing to use up.
    from fastapi.testclient import TestClient

    from assay.web.app import create_app

    app = create_app(config.with_overrides(complaints_per_hour=60), sqlite_db, migrate=False)  # one a minute free
    with TestClient(app) as c:
        forms = [
            c.post(
                "/complaints", data={"system_id": system_id, "form_token": form_token(c, system_id), "what": WHAT}
            ).status_code
            for _ in range(3)
        ]
        body, _ = sealed_submission(c, system_id, body_key[1], body_key[2], channel_params(c))
        paid = c.post("/api/v1/complaints", json=body)
    assert forms == [200, 200, 200]
    assert paid.status_code == 201, paid.text


def test_waiting_out_the_look_up_time_floor_holds_no_worker_thread(
    app,
    system_id,
    body_key,  # type: ignore[no-untyped-def]
    monkeypatch,
) -> None:
    # The floor (answers about receipts take at least 0.35 s) is waited asynchronously: a flood of look-ups
    # must not occupy the worker threads that every other page of the register needs.
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import anyio.to_thread
    import httpx

    from assay.web.routes.complaints import _channel as routes

    monkeypatch.setattr(routes, "LOOKUP_FLOOR_SECONDS", 1.5)  # long enough to look while they wait, under load
    from fastapi.testclient import TestClient

    sync = TestClient(app)  # to ask for the challenges first

    async def flood() -> tuple[int, list[int]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            tasks = [
                asyncio.create_task(c.post("/api/v1/complaints/lookup", json=body))
                for body in [lookup_body(sync, bytes([i]) * 32) for i in range(30)]
            ]
            fewest = 10**6
            for _ in range(24):  # the fewest threads held in the first 1.2 s
                await asyncio.sleep(0.05)
                fewest = min(fewest, anyio.to_thread.current_default_thread_limiter().borrowed_tokens)
            return fewest, [r.status_code for r in await asyncio.gather(*tasks)]

    with ThreadPoolExecutor(1) as pool:  # a loop of its own (the browser tests keep one on the main thread)
        fewest, codes = pool.submit(asyncio.run, flood()).result()
    assert codes == [404] * 30
    assert fewest == 0, f"{fewest} worker threads held all along while look-ups wait out the floor"


# ------------------------------------------------------------------------------------------- the body's API


def tokens(db: Database, system_provider: str = "acme") -> tuple[str, str]:
    from assay.register.access import Principal, create_token

    with db.write() as s:
        admin = create_token(s, admin=True, actor=Principal.local_operator()).secret
        provider = create_token(s, provider_id=system_provider, actor=Principal.local_operator()).secret
    return admin, provider


def test_admin_api_needs_an_admin_token(client, system_id, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    admin, provider = tokens(sqlite_db)
    assert client.get("/api/v1/complaints/inbox").status_code == 401
    r = client.get("/api/v1/complaints/inbox", headers={"authorization": f"Bearer {provider}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    _, public = crypto.generate_body_key()
    r = client.post(
        "/api/v1/complaints/keys",
        json={"public_key": crypto.b64(public)},
        headers={"authorization": f"Bearer {provider}"},
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/complaints/keys", json={"public_key": crypto.b64(public)}, headers={"authorization": f"Bearer {admin}"}
    )
    assert r.status_code == 201 and r.json()["log_index"] is not None
    assert client.get("/api/v1/complaints/keys").json()["keys"][0]["key_id"] == crypto.key_id(public)


def test_stats_with_an_injected_clock(client, app, system_id, body_key, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    day0 = date(2026, 1, 10)
    app.state.complaints_today = lambda: day0
    for _ in range(6):
        assert (
            client.post(
                "/complaints", data={"system_id": system_id, "form_token": form_token(client, system_id), "what": WHAT}
            ).status_code
            == 200
        )
    with sqlite_db.write() as s:
        views = service.list_complaints(s)
        for v in views[:5]:
            service.change_status(s, v.id, "acknowledged", today=day0 + timedelta(days=2))
    # In January the figures still describe December: nothing yet, "fewer than 5".
    app.state.complaints_today = lambda: day0 + timedelta(days=20)
    stats = client.get(f"/api/v1/systems/{system_id}/complaints").json()
    assert stats["as_of"] == "2025-12-31" and stats["next_update"] == "2026-02-01"
    assert stats["total"] is None and stats["suppressed_below"] == 5
    app.state.complaints_today = lambda: date(2026, 2, 1)
    stats = client.get(f"/api/v1/systems/{system_id}/complaints").json()
    assert stats["total"] == 6 and stats["by_status"]["acknowledged"] == 5 and stats["by_status"]["received"] is None
    assert stats["median_days_to_acknowledge"] == 2 and stats["acknowledged_within_7_days"] == 5
    assert stats["flags"]["not_acknowledged_within_7_days"] is None  # one: not published
    assert stats["flags"]["not_answered_within_3_months"] is None
    app.state.complaints_today = lambda: day0 + timedelta(days=130)
    later = client.get(f"/api/v1/systems/{system_id}/complaints").json()
    assert later["flags"]["not_answered_within_3_months"] == 6
    page = client.get(f"/systems/{system_id}/complaints")
    assert page.status_code == 200 and 'data-status="acknowledged">5<' in page.text
    assert 'data-status="received"><span class="suppressed">fewer than 5</span><' in page.text
    assert WHAT not in page.text and "Not answered within 3 months" in page.text
    assert "received up to <strong>2026-04-30</strong>" in page.text
