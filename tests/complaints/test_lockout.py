"""Regression (issue 10, item 4): guessers cannot lock a receipt holder out of their complaint.

The attack that worked: receipt look-ups shared one global bucket and paid no proof of work, so 64 random
look-ups emptied it (the holder got 429) and one more every 12 s (the bucket's refill) kept it empty. Here the
same attack, with the register's production limits, on both paths; the holder must get their complaint every
time. Only what any client can do is used: random receipts, the public challenge endpoint, a solver.
"""

from __future__ import annotations

import random
import re
import time

import anyio
import pytest
from fastapi.testclient import TestClient

from assay.complaints import crypto
from assay.complaints.abuse import solve
from assay.errors import RateLimited
from assay.web.app import create_app
from assay.web.slots import WorkSlots

from .test_web import WHAT, channel_params, form_token, receipt_words, sealed_submission


class Clock:
    def __init__(self) -> None:
        self.now = 60 * 30_000_000.0  # the start of a minute

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def attacked(config, sqlite_db, monkeypatch):  # type: ignore[no-untyped-def]
    """The app with production limits (300 complaints an hour, 60 free look-ups a minute), an injected clock,
    and no answer floor (it only pads timing; it does not limit anything)."""
    from assay.web.routes.complaints import _channel as routes

    monkeypatch.setattr(routes, "LOOKUP_FLOOR_SECONDS", 0.0)
    cfg = config.with_overrides(complaints_per_hour=300, complaints_lookups_per_minute=60, complaints_lookup_pow_bits=8)
    app = create_app(cfg, sqlite_db, migrate=False)
    app.state.complaints_clock = clock = Clock()
    with TestClient(app) as client:
        yield client, clock


def _look_up(client: TestClient, access_key: bytes) -> tuple[int, int]:
    """A look-up as complaints.js makes it; returns (status, bits paid)."""
    c = client.post("/api/v1/complaints/challenge", params={"purpose": "lookup"}).json()
    pow_ = {"challenge": c["challenge"], "nonce": solve(c["challenge"])}
    r = client.post("/api/v1/complaints/lookup", json={"access_key": crypto.b64(access_key), "pow": pow_})
    return r.status_code, c["bits"]


def test_guessing_in_the_browser_api_never_locks_the_holder_out(attacked, system_id, body_key) -> None:  # type: ignore[no-untyped-def]
    client, clock = attacked
    body, keys = sealed_submission(client, system_id, body_key[1], body_key[2], channel_params(client))
    assert client.post("/api/v1/complaints", json=body).status_code == 201
    rng = random.Random(10)

    # 1. A burst larger than the old shared bucket (75): every guess is answered 404, none 429.
    guesses = [_look_up(client, rng.randbytes(32)) for _ in range(100)]
    assert {status for status, _ in guesses} == {404}
    assert _look_up(client, keys.access_key)[0] == 200
    # 2. Then one guess every 12 s (what kept the old bucket empty), the holder looking once a minute.
    for step in range(30):
        clock.now += 12
        assert _look_up(client, rng.randbytes(32))[0] == 404
        if step % 5 == 4:
            assert _look_up(client, keys.access_key)[0] == 200
    # 3. A heavier flood makes the next look-up cost more (for the flooder on every request, for the holder
    #    once), and still refuses nobody.
    clock.now += 120
    flood = [_look_up(client, rng.randbytes(32)) for _ in range(250)]
    assert {status for status, _ in flood} == {404}
    clock.now += 1.5  # past the price's one-second cache
    status, bits = _look_up(client, keys.access_key)
    assert status == 200 and bits >= 8 + 2, bits  # 250+ a minute against 60 free: two doublings or more
    # 4. Unpaid or underpaid look-ups are refused before anything is looked up.
    r = client.post("/api/v1/complaints/lookup", json={"access_key": crypto.b64(keys.access_key)})
    assert r.status_code == 422 and "a proof of work is needed" in r.text


def test_a_receipt_has_its_own_budget_that_no_guess_can_spend(attacked, system_id, body_key, sqlite_db, config) -> None:  # type: ignore[no-untyped-def]
    client, clock = attacked
    body, keys = sealed_submission(client, system_id, body_key[1], body_key[2], channel_params(client))
    assert client.post("/api/v1/complaints", json=body).status_code == 201
    for _ in range(config.complaints_lookups_per_receipt):  # the receipt's own budget (60 an hour)
        assert _look_up(client, keys.access_key)[0] == 200
    assert _look_up(client, keys.access_key)[0] == 429
    clock.now += 3600
    assert _look_up(client, keys.access_key)[0] == 200


def test_guessing_without_javascript_never_locks_the_holder_out(attacked, system_id, body_key) -> None:  # type: ignore[no-untyped-def]
    client, clock = attacked
    filed = client.post(
        "/complaints", data={"system_id": system_id, "form_token": form_token(client, system_id), "what": WHAT}
    )
    assert filed.status_code == 200
    words = receipt_words(filed.text)

    def follow_up(receipt: str) -> int:
        return client.post("/complaints/follow-up", data={"receipt": receipt}).status_code

    # Each guess costs the server an Argon2id (in a slot), never a place in a shared hourly budget.
    assert {follow_up(crypto.new_receipt()[0]) for _ in range(100)} == {404}
    assert follow_up(words) == 200
    for _ in range(10):
        clock.now += 12
        assert follow_up(crypto.new_receipt()[0]) == 404
        assert follow_up(words) == 200
    page = client.post("/complaints/follow-up", data={"receipt": words})
    assert re.search(r"received", page.text, re.I)


def test_argon2id_slots_refuse_a_flood_with_busy_and_forget_it_at_once() -> None:
    # During a flood bigger than the slots can serve, waiting requests are told "busy" (429) after the wait;
    # the moment the flood ends, the next request is served: nothing is remembered against anyone.
    async def scenario() -> tuple[list[str], str]:
        slots = WorkSlots(1, wait=0.2)
        outcomes: list[str] = []

        async def one() -> None:
            try:
                await slots.run(lambda: time.sleep(0.15), busy="busy")
                outcomes.append("served")
            except RateLimited:
                outcomes.append("busy")

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(one)
        await slots.run(lambda: None, busy="busy")
        return outcomes, "served after"

    # On a thread of its own: the browser tests' Playwright keeps an event loop running on the main thread.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        outcomes, after = pool.submit(anyio.run, scenario).result()
    assert "busy" in outcomes and "served" in outcomes and after == "served after"


def test_free_look_ups_still_count_so_a_flood_makes_them_paid(config, sqlite_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from assay.web.routes.complaints import _channel as routes

    monkeypatch.setattr(routes, "LOOKUP_FLOOR_SECONDS", 0.0)
    cfg = config.with_overrides(complaints_lookup_pow_bits=0, complaints_lookups_per_minute=5)
    app = create_app(cfg, sqlite_db, migrate=False)
    app.state.complaints_clock = clock = Clock()
    with TestClient(app) as client:
        free = [
            client.post("/api/v1/complaints/lookup", json={"access_key": crypto.b64(bytes([i]) * 32)}).status_code
            for i in range(12)
        ]
        clock.now += 1.5
        r = client.post("/api/v1/complaints/lookup", json={"access_key": crypto.b64(bytes(32))})
        assert client.post("/api/v1/complaints/challenge", params={"purpose": "lookup"}).json()["bits"] >= 1
    assert free == [404] * 12
    assert r.status_code == 422 and "a proof of work is needed" in r.text


# ---------------------------------------------------------------------------------------------------------
# Filing (issue 10, item 4's second half): complaints used to take from one bucket shared by everyone (300 an
# hour, bursts of 75), so 75 complaints, paid at the fixed 18 bits, emptied it and one every 12 s kept every
# complainant out; forms sent without JavaScript had a bucket of their own, emptied the same way for free.


def _junk_filing(client: TestClient, system_id: str, public: bytes, kid: str) -> tuple[int, int]:
    """A complaint as any client can send it, paying whatever the register asks; returns (status, bits paid)."""
    from nacl.public import PrivateKey

    c = client.post("/api/v1/complaints/challenge").json()
    sealed = crypto.seal(
        crypto.pack_complaint(crypto.ComplaintContent(fields={"what": WHAT}, system_id=system_id)), public
    )
    body = {
        "system_id": system_id,
        "key_id": kid,
        "ciphertext": crypto.b64(sealed),
        "access_key": crypto.b64(random.randbytes(32)),
        "reply_public_key": crypto.b64(bytes(PrivateKey.generate().public_key)),
        "pow": {"challenge": c["challenge"], "nonce": solve(c["challenge"])},
    }
    return client.post("/api/v1/complaints", json=body).status_code, c["bits"]


def test_a_flood_of_paid_complaints_never_locks_a_complainant_out(attacked, system_id, body_key) -> None:  # type: ignore[no-untyped-def]
    client, clock = attacked
    _, public, kid = body_key
    quiet = [client.post("/api/v1/complaints/challenge").json() for _ in range(3)]  # gathered before the flood
    assert {c["bits"] for c in quiet} == {6}
    # 1. A burst larger than the old shared bucket (75): every complaint that paid is received.
    flood = [_junk_filing(client, system_id, public, kid) for _ in range(90)]
    assert {status for status, _ in flood} == {201}
    clock.now += 1.5  # past the price's one-second cache
    status, bits = _junk_filing(client, system_id, public, kid)  # the honest complainant
    assert status == 201 and bits >= 6 + 4, bits  # 90 a minute against 5 free: four doublings or more
    # 2. Cheap challenges gathered in the quiet are refused as too easy once the flood has raised the price.
    old = quiet[0]
    body, _ = sealed_submission(client, system_id, public, kid, channel_params(client))
    body["pow"] = {"challenge": old["challenge"], "nonce": solve(old["challenge"])}
    r = client.post("/api/v1/complaints", json=body)
    assert r.status_code == 422 and "too easy" in r.text
    # 3. Then one complaint every 12 s (what kept the old bucket empty), the honest one filing once a minute.
    for step in range(20):
        clock.now += 12
        assert _junk_filing(client, system_id, public, kid)[0] == 201
        if step % 5 == 4:
            assert _junk_filing(client, system_id, public, kid)[0] == 201
    # 4. Once the flood is over the price falls back to the channel's own.
    clock.now += 180
    assert client.post("/api/v1/complaints/challenge").json()["bits"] == 6


def test_a_flood_of_forms_without_javascript_never_locks_a_complainant_out(attacked, system_id, body_key) -> None:  # type: ignore[no-untyped-def]
    client, clock = attacked

    def file() -> int:
        data = {"system_id": system_id, "form_token": form_token(client, system_id), "what": WHAT}
        return client.post("/complaints", data=data).status_code

    # More than the old bucket's burst (75): each costs the server an Argon2id in a slot, no place in a budget.
    assert {file() for _ in range(80)} == {200}
    honest = client.post(
        "/complaints", data={"system_id": system_id, "form_token": form_token(client, system_id), "what": WHAT}
    )
    assert honest.status_code == 200 and len(receipt_words(honest.text).split()) == 12
    for _ in range(5):
        clock.now += 12
        assert file() == 200
