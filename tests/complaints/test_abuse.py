"""Abuse controls with an injected clock, and fuzzing of the decoders that take untrusted input."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.complaints.abuse import (
    LOOKUP_MAX_BITS,
    AbuseKeys,
    AbuseState,
    LookupPrice,
    OneTimeTokens,
    ProofOfWork,
    ReceiptBudget,
    solve,
)
from assay.complaints.crypto import parse_receipt
from assay.db import Database
from assay.errors import AssayError, ConfigError, Conflict, InvalidInput, RateLimited, StorageError, TooLarge
from assay.web.uploads import read_form_in_memory

_KEYS = AbuseKeys.random()
# Garbage is refused before the database is asked (HMAC first): a state over no database shows it.
# (an empty database: no tables, so any query would fail).
_STATE_UNUSED = AbuseState(Database(f"sqlite:///{tempfile.mkdtemp()}/empty.db"))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _not_a_solution(challenge: str) -> str:
    """A nonce that does not solve the challenge (a fixed one would, one time in 2**bits)."""
    raw = bytes.fromhex(challenge)
    return next(
        n.to_bytes(8, "big").hex()
        for n in range(2**64 - 1, 0, -1)
        if hashlib.sha256(raw + n.to_bytes(8, "big")).digest()[0] >> (8 - min(raw[24], 8)) != 0
    )


def _state(db: Database, clock: Clock) -> AbuseState:
    return AbuseState(db, clock=clock)


def test_proof_of_work_is_checked_spent_once_and_expires(db: Database) -> None:
    clock = Clock()
    keys = AbuseKeys.random()
    pow_ = ProofOfWork(10, keys=keys, state=_state(db, clock), ttl=60)
    challenge = pow_.challenge()
    nonce = solve(challenge)
    with pytest.raises(InvalidInput, match="does not solve"):
        pow_.verify(challenge, _not_a_solution(challenge))
    pow_.verify(challenge, nonce)
    with pytest.raises(InvalidInput, match="already received"):
        pow_.verify(challenge, nonce)
    # Another worker (its own objects, the same database and data-folder key) refuses the replay too.
    other_worker = ProofOfWork(10, keys=keys, state=_state(db, clock), ttl=60)
    with pytest.raises(InvalidInput, match="already received"):
        other_worker.verify(challenge, nonce)
    fresh = pow_.challenge()
    other_worker.verify(fresh, solve(fresh))  # and accepts what the first issued
    late = pow_.challenge()
    clock.now += 61
    with pytest.raises(InvalidInput, match="expired"):
        pow_.verify(late, solve(late))
    foreign = ProofOfWork(10, keys=AbuseKeys.random(), state=_state(db, clock)).challenge()
    with pytest.raises(InvalidInput, match="not issued by this register"):
        pow_.verify(foreign, solve(foreign))
    with pytest.raises(ConfigError):
        ProofOfWork(99, keys=keys, state=_state(db, clock))


def test_a_solution_needs_the_difficulty_of_its_challenge(sqlite_db: Database) -> None:
    # A challenge's difficulty is signed: lowering the byte that carries it breaks the HMAC.
    pow_ = ProofOfWork(12, keys=AbuseKeys.random(), state=AbuseState(sqlite_db))
    challenge = pow_.challenge()
    raw = bytearray(bytes.fromhex(challenge))
    raw[24] = 1
    cheap = raw.hex()
    with pytest.raises(InvalidInput, match="not issued"):
        pow_.verify(cheap, solve(cheap))
    # A cheap challenge issued for a look-up does not pay for a complaint.
    easy = pow_.challenge(4)
    with pytest.raises(InvalidInput, match="too easy"):
        pow_.verify(easy, solve(easy))
    pow_.verify(easy, solve(easy), min_bits=4)


def test_one_time_form_tokens(db: Database) -> None:
    clock = Clock()
    keys = AbuseKeys.random()
    tokens = OneTimeTokens(keys=keys, state=_state(db, clock), ttl=100)
    other_worker = OneTimeTokens(keys=keys, state=_state(db, clock), ttl=100)
    t = tokens.issue()
    tokens.spend(t)
    with pytest.raises(Conflict, match="already sent"):
        other_worker.spend(t)
    tokens.unspend(t)  # a failed submission gives it back
    other_worker.spend(t)
    old = tokens.issue()
    clock.now += 101
    with pytest.raises(InvalidInput, match="expired"):
        tokens.spend(old)
    with pytest.raises(InvalidInput, match="did not come from this register"):
        tokens.spend("zz")
    tokens.unspend("zz")  # harmless


def test_look_up_price_rises_with_paid_look_ups_only_and_is_capped(sqlite_db: Database) -> None:
    clock = Clock()
    clock.now = 60 * 100_000.0  # the start of a minute
    price = LookupPrice(_state(sqlite_db, clock), base_bits=10, free_per_minute=8)
    assert price.bits() == 10
    for _ in range(8):
        price.paid()
    clock.now += 1.5  # past the one-second cache
    assert price.bits() == 10
    for _ in range(24):
        price.paid()
    clock.now += 1.5
    assert price.bits() == 12  # 32 a minute: two doublings past 8
    clock.now += 60  # the next minute still remembers the last (sliding window), fading
    assert 10 < price.bits() <= 12
    clock.now += 120
    assert price.bits() == 10
    assert price.bits_for_rate(10**9) == LOOKUP_MAX_BITS  # the most a holder ever pays


def test_a_receipt_budget_is_its_own(db: Database) -> None:
    clock = Clock()
    budget = ReceiptBudget(_state(db, clock), AbuseKeys.random(), per_hour=3)
    holder, guesses = b"h" * 32, [bytes([i]) * 32 for i in range(50)]
    for g in guesses:
        budget.spend(g)
    for _ in range(3):
        budget.spend(holder)
    with pytest.raises(RateLimited, match="this receipt was used many times"):
        budget.spend(holder)
    clock.now += 3600
    budget.spend(holder)


def test_abuse_key_is_made_once_in_the_data_folder_and_shared(tmp_path: Path) -> None:
    a = AbuseKeys.load_or_create(tmp_path)
    b = AbuseKeys.load_or_create(tmp_path)
    assert a.pow == b.pow and a.form != a.pow
    path = tmp_path / "complaints" / "abuse.key"
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(b"short")
    with pytest.raises(StorageError, match="damaged"):
        AbuseKeys.load_or_create(tmp_path)


def test_expired_rows_are_purged(sqlite_db: Database) -> None:
    from sqlalchemy import func, select

    from assay.complaints.models import AbuseCounter, SpentToken

    clock = Clock()
    state = _state(sqlite_db, clock)
    for i in range(5):
        state.spend("pow", bytes([i]) * 16, clock.now + 10)
        state.add("lookups", b"", 60)
    clock.now += 3 * 3600
    state.spend("pow", b"x" * 16, clock.now + 10)
    with sqlite_db.read() as s:
        assert s.scalar(select(func.count()).select_from(SpentToken)) == 1
        assert s.scalar(select(func.count()).select_from(AbuseCounter)) == 0


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_proof_of_work_never_crashes_on_garbage(challenge: str, nonce: str) -> None:
    with pytest.raises(InvalidInput):
        ProofOfWork(8, keys=_KEYS, state=_STATE_UNUSED).verify(challenge, nonce)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_receipt_parser_never_crashes(text: str) -> None:
    try:
        parse_receipt(text)
    except InvalidInput:
        pass


async def _chunks(data: bytes, size: int):  # type: ignore[no-untyped-def]
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _read_form(data: bytes, chunk: int, **limits: int) -> Any:
    # On a thread of its own: the browser tests' Playwright keeps an event loop running on the main thread for as
    # long as their session lasts, and asyncio.run refuses to start inside it.
    coro = read_form_in_memory("multipart/form-data; boundary=b", _chunks(data, chunk), **limits)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=64))
def test_in_memory_form_reader_fails_only_with_assay_errors(body: bytes, chunk: int) -> None:
    prefix = b'--b\r\nContent-Disposition: form-data; name="what"\r\n\r\n'
    for data in (body, prefix + body, prefix + body + b"\r\n--b--\r\n"):
        try:
            _read_form(data, chunk, max_total=400, max_files=2)
        except AssayError:
            pass


def test_in_memory_form_reader_reads_fields_and_files_and_enforces_limits() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="what"\r\n\r\nh\xc3\xa9llo\r\n'
        b'--b\r\nContent-Disposition: form-data; name="attachments"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + b"x" * 300 + b"\r\n--b--\r\n"
    )
    form = _read_form(body, 7, max_total=400, max_files=2)
    assert form.fields == {"what": "héllo"} and form.files[0].data == b"x" * 300
    assert form.files[0].name == "a.txt" and form.files[0].content_type == "text/plain"
    with pytest.raises(TooLarge):
        _read_form(body, 7, max_total=200, max_files=2)
    with pytest.raises(InvalidInput, match="attachments"):
        _read_form(body, 7, max_total=400, max_files=0)
