"""Receipts people keep (issue 11 item 5), over HTTP: the receipt page's facts and "Save as a file", the
follow-up page naming the system, and the complainant's own copy, which only the receipt opens."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from assay.complaints import crypto, service
from assay.complaints.abuse import solve
from assay.complaints.models import ComplaintMessage
from assay.errors import InvalidInput

from .test_web import WHAT, channel_params, form_token, lookup_body, receipt_words, scan, sealed_submission

DAY = date(2026, 5, 30)  # + 7 days = 6 June; + 3 months = 6 September


def test_the_no_javascript_receipt_names_system_and_deadlines_and_saves_as_a_file(
    client, app, system_id, body_key, sqlite_db, config
) -> None:  # type: ignore[no-untyped-def]
    app.state.complaints_today = lambda: DAY
    r = client.post(
        "/complaints",
        data={"system_id": system_id, "form_token": form_token(client, system_id), "what": WHAT, "keep_copy": "on"},
    )
    assert r.status_code == 200
    words = receipt_words(r.text)
    facts = re.sub(r"\s+", " ", r.text.split('id="receipt-facts"', 1)[1].split("</dl>", 1)[0])
    assert "Acme ImageGen (by Acme Imaging B.V.)" in facts and "2026-05-30" in facts
    assert 'id="receipt-ack-by">2026-06-06<' in facts and 'id="receipt-answer-by">2026-09-06<' in facts
    assert "kept: these words also let you re-read what you sent" in facts
    assert 'id="receipt-written"' in r.text and 'id="receipt-next"' in r.text  # the "written it down" step

    saved = client.post(
        "/complaints/receipt.txt", data={"receipt": words, "system_id": system_id, "received_on": "2026-05-30"}
    )
    assert saved.status_code == 200 and saved.headers["cache-control"] == "no-store"
    assert saved.headers["content-disposition"] == 'attachment; filename="assay-complaint-receipt.txt"'
    text = saved.text
    assert " 1. " + words.split()[0] in text and "12. " + words.split()[11] in text
    assert "about Acme ImageGen" in text and "by 2026-06-06 (7 days)" in text and "by 2026-09-06 (3 months)" in text
    assert "http://testserver/complaints/follow-up" in text
    # Only a receipt can be turned into a file this way; nothing of it is stored.
    bad = client.post("/complaints/receipt.txt", data={"receipt": "not a receipt", "system_id": system_id})
    assert bad.status_code == 422
    assert scan([Path(sqlite_db.url.split("sqlite:///")[1]).parent, config.data_dir], [words.encode()]) == []

    # Following up without JavaScript: the page names the system and shows what was sent, from the own copy.
    page = client.post("/complaints/follow-up", data={"receipt": words})
    assert page.status_code == 200 and "Your complaint about Acme ImageGen" in page.text
    assert WHAT in page.text and "What happened" in page.text


def test_without_the_box_ticked_no_copy_is_kept(client, system_id, body_key, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/complaints", data={"system_id": system_id, "form_token": form_token(client, system_id), "what": WHAT}
    )
    assert "not kept: only the oversight body can read what you sent" in re.sub(r"\s+", " ", r.text)
    with sqlite_db.read() as s:
        (view,) = service.list_complaints(s)
    assert view.messages[0].own_copy is None
    page = client.post("/complaints/follow-up", data={"receipt": receipt_words(r.text)})
    assert WHAT not in page.text and "No copy was kept for you" in page.text


def test_the_own_copy_opens_only_with_its_receipt_and_the_server_cannot_read_or_forge_it(
    client, system_id, body_key, sqlite_db, config
) -> None:  # type: ignore[no-untyped-def]
    _, public, kid = body_key
    params = channel_params(client)
    body, keys = sealed_submission(client, system_id, public, kid, params)
    content = crypto.ComplaintContent(
        fields={"what": WHAT, "when": "in May"},
        attachments=(crypto.Attachment("letter.pdf", "application/pdf", b"%PDF-1.4 secret bytes", "as-is"),),
        system_id=system_id,
    )
    body["own_copy"] = crypto.b64(crypto.seal_own_copy(content, keys.copy_key))
    r = client.post("/api/v1/complaints", json=body)
    assert r.status_code == 201
    answer = r.json()
    assert answer["system_name"] == "Acme ImageGen" and answer["own_copy_kept"] is True
    assert answer["acknowledge_by"] and answer["answer_by"]  # what the browser's receipt shows, as the page does

    data = client.post("/api/v1/complaints/lookup", json=lookup_body(client, keys.access_key)).json()
    assert data["system_id"] == system_id and data["system_name"] == "Acme ImageGen"
    copy = crypto.open_own_copy(crypto.b64decode(data["messages"][0]["own_copy"]), keys.copy_key)
    assert copy["fields"] == {"what": WHAT, "when": "in May"}
    assert copy["attachments"] == [{"name": "letter.pdf", "type": "application/pdf", "size": 21, "metadata": "as-is"}]
    # Not the attachment's bytes, not the plaintext anywhere on the server.
    hits = scan([Path(sqlite_db.url.split("sqlite:///")[1]).parent, config.data_dir], [WHAT.encode(), b"secret bytes"])
    assert hits == []

    # Attacks with what the server holds: the access key and reply public key are the server's; neither opens it.
    blob = crypto.b64decode(data["messages"][0]["own_copy"])
    for guess in (keys.access_key, keys.reply_public_key, crypto.lookup_hash(keys.access_key, b"p" * 32)):
        with pytest.raises(crypto.UndecryptableError):
            crypto.open_own_copy(blob, guess)
    # A server that alters a byte, or swaps in a copy made under another receipt, is caught: it does not open.
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    other = crypto.derive_receipt_keys(crypto.new_receipt()[1], params)
    for forged in (tampered, crypto.seal_own_copy(content, other.copy_key)):
        with pytest.raises(crypto.UndecryptableError):
            crypto.open_own_copy(forged, keys.copy_key)

    # Sizes: Padme-padded like the sealed complaint, and bounded.
    short = crypto.seal_own_copy(crypto.ComplaintContent(fields={"what": "x" * 1000}), keys.copy_key)
    longer = crypto.seal_own_copy(crypto.ComplaintContent(fields={"what": "x" * 1010}), keys.copy_key)
    assert len(short) == len(longer)
    challenge = client.post("/api/v1/complaints/challenge").json()["challenge"]
    too_big = client.post(
        "/api/v1/complaints/information",
        json={
            "key_id": kid,
            "ciphertext": body["ciphertext"][:-4] + "AAAA",
            "access_key": crypto.b64(keys.access_key),
            "own_copy": crypto.b64(bytes(crypto.MAX_OWN_COPY_BYTES + 1)),
            "pow": {"challenge": challenge, "nonce": solve(challenge)},
        },
    )
    assert too_big.status_code == 422
    assert any(p["path"].endswith("own_copy") for p in too_big.json()["error"]["problems"])
    with sqlite_db.read() as s:
        assert len(s.query(ComplaintMessage).all()) == 1


def test_an_own_copy_of_the_wrong_size_is_refused_before_anything_is_stored(db) -> None:  # type: ignore[no-untyped-def]
    _, public = crypto.generate_body_key()
    with db.write() as s:
        kid = service.publish_key(s, public, today=DAY).key_id
    with pytest.raises(InvalidInput, match="own_copy"), db.write() as s:
        service.submit_complaint(
            s,
            system_id="sys",
            key_id=kid,
            ciphertext=crypto.seal(b"x" * 100, public),
            lookup=b"l" * 32,
            reply_public_key=b"r" * 32,
            today=DAY,
            max_bytes=10**6,
            own_copy=b"too short",
        )
    with db.read() as s:
        assert service.list_complaints(s) == []


def test_the_follow_up_page_is_in_the_navigation_and_on_the_home_page(client) -> None:  # type: ignore[no-untyped-def]
    home = client.get("/").text
    nav = home.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert '<a href="/complaints/follow-up">Follow up a complaint</a>' in nav
    main = home.split('<main id="main"', 1)[1]
    assert 'href="/complaints/follow-up"><strong>Follow up a complaint</strong>' in main
    assert '<a href="/complaints/follow-up">Follow up a complaint</a>' in client.get("/systems").text
