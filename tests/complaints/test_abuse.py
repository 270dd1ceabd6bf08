"""Abuse controls with an injected clock, and fuzzing of the decoders that take untrusted input."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.complaints.abuse import OneTimeTokens, ProofOfWork, RateLimit, solve
from assay.complaints.crypto import parse_receipt
from assay.errors import AssayError, ConfigError, Conflict, InvalidInput, RateLimited, TooLarge
from assay.web.uploads import read_form_in_memory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_proof_of_work_is_checked_spent_once_and_expires() -> None:
    clock = Clock()
    pow_ = ProofOfWork(10, clock=clock, ttl=60)
    challenge = pow_.challenge()
    nonce = solve(challenge)
    with pytest.raises(InvalidInput, match="does not solve"):
        pow_.verify(challenge, "ff" * 8 if nonce != "ff" * 8 else "00" * 8)
    pow_.verify(challenge, nonce)
    with pytest.raises(InvalidInput, match="already received"):
        pow_.verify(challenge, nonce)
    late = pow_.challenge()
    clock.now += 61
    with pytest.raises(InvalidInput, match="expired"):
        pow_.verify(late, solve(late))
    other = ProofOfWork(10, clock=clock)
    foreign = other.challenge()
    with pytest.raises(InvalidInput, match="not issued by this server"):
        pow_.verify(foreign, solve(foreign))
    with pytest.raises(ConfigError):
        ProofOfWork(99)


def test_a_solution_needs_the_difficulty_of_its_challenge() -> None:
    # A challenge's difficulty is signed: lowering the byte that carries it breaks the HMAC.
    pow_ = ProofOfWork(12)
    challenge = pow_.challenge()
    raw = bytearray(bytes.fromhex(challenge))
    raw[24] = 1
    cheap = raw.hex()
    with pytest.raises(InvalidInput, match="not issued"):
        pow_.verify(cheap, solve(cheap))


def test_shared_rate_limit_refills_with_time() -> None:
    clock = Clock()
    limit = RateLimit(3600, clock=clock, burst=2)  # one per second, bursts of two
    limit.take()
    limit.take()
    with pytest.raises(RateLimited) as info:
        limit.take()
    assert info.value.extra["retry_after"] >= 1
    clock.now += 1.0
    limit.take()


def test_one_time_form_tokens() -> None:
    clock = Clock()
    tokens = OneTimeTokens(clock=clock, ttl=100)
    t = tokens.issue()
    tokens.spend(t)
    with pytest.raises(Conflict, match="already sent"):
        tokens.spend(t)
    tokens.unspend(t)  # a failed submission gives it back
    tokens.spend(t)
    old = tokens.issue()
    clock.now += 101
    with pytest.raises(InvalidInput, match="expired"):
        tokens.spend(old)
    with pytest.raises(InvalidInput, match="did not come from this register"):
        tokens.spend("zz")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_proof_of_work_never_crashes_on_garbage(challenge: str, nonce: str) -> None:
    with pytest.raises(InvalidInput):
        ProofOfWork(8).verify(challenge, nonce)


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
