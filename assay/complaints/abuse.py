"""Holding back abuse without identifying anyone: a proof of work and a rate limit that keep no IP address.

- :class:`ProofOfWork` issues stateless challenges (random bytes, an expiry and an HMAC under a key that
  lives only in this process's memory). The browser finds a nonce such that SHA-256(challenge || nonce) starts
  with ``bits`` zero bits. A solved challenge is remembered until it expires, so it works once: a replayed
  submission is refused.
- :class:`RateLimit` is a token bucket shared by *everyone*: it counts requests, not requesters. It caps
  what a flood can cost the oversight body, at the price that a flood also slows honest complainants (the
  proof of work makes such a flood expensive). Nothing here is written to disk or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

from assay.errors import FieldProblem, InvalidInput, RateLimited

__all__ = ["OneTimeTokens", "ProofOfWork", "RateLimit", "solve"]

_CHALLENGE_TTL = 600.0


class ProofOfWork:
    def __init__(self, bits: int, *, clock: Callable[[], float] = time.monotonic, ttl: float = _CHALLENGE_TTL):
        if not 0 <= bits <= 32:
            from assay.errors import ConfigError

            raise ConfigError(
                f"ASSAY_COMPLAINTS_POW_BITS must be between 0 and 32, got {bits}",
                hint="keep the default of 18 (about half a second in a browser); 0 turns it off",
            )
        self.bits = bits
        self._clock = clock
        self._ttl = ttl
        self._key = secrets.token_bytes(32)  # per process; a restart invalidates outstanding challenges
        self._used: dict[bytes, float] = {}  # owned by _lock: solved challenges -> expiry
        self._lock = threading.Lock()

    def challenge(self) -> str:
        expires = int(self._clock() + self._ttl)
        body = secrets.token_bytes(16) + expires.to_bytes(8, "big") + bytes([self.bits])
        return (body + hmac.new(self._key, body, hashlib.sha256).digest()[:16]).hex()

    def verify(self, challenge: str, nonce: str) -> None:
        """Check a solution and spend it; raise :class:`InvalidInput` naming the field otherwise.

        1. The challenge must be one this process issued (HMAC) and not expired.
        2. SHA-256(challenge bytes || nonce bytes) must start with the challenge's number of zero bits.
        3. It must not have been spent before.
        """

        def bad(msg: str, fix: str) -> InvalidInput:
            return InvalidInput(msg, hint=fix, problems=[FieldProblem("pow", msg, fix)])

        try:
            raw = bytes.fromhex(challenge)
            nonce_bytes = bytes.fromhex(nonce)
        except (ValueError, TypeError):
            raise bad("the proof of work is not hexadecimal", "ask for a new challenge and solve it") from None
        if len(raw) != 41 or not 1 <= len(nonce_bytes) <= 16:
            raise bad("the proof of work is malformed", "ask for a new challenge and solve it")
        body, tag = raw[:25], raw[25:]
        if not hmac.compare_digest(hmac.new(self._key, body, hashlib.sha256).digest()[:16], tag):
            raise bad(
                "the proof-of-work challenge was not issued by this server (or it restarted)",
                "reload the page to get a new challenge",
            )
        expires = int.from_bytes(body[16:24], "big")
        now = self._clock()
        if now > expires:
            raise bad("the proof-of-work challenge has expired", "reload the page to get a new challenge")
        if not _has_zero_bits(hashlib.sha256(raw + nonce_bytes).digest(), body[24]):
            raise bad("the proof of work does not solve its challenge", "let the page finish its work, then send")
        with self._lock:
            for k in [k for k, exp in self._used.items() if exp < now]:
                del self._used[k]
            if raw in self._used:
                raise InvalidInput(
                    "this submission was already received (its proof of work was used before)",
                    hint="nothing more to do: a submission is kept once",
                    problems=[FieldProblem("pow", "already used", "solve a new challenge")],
                )
            self._used[raw] = float(expires)


def solve(challenge: str) -> str:
    """Find a nonce for a challenge (what the browser does; used by tests and API clients)."""
    raw = bytes.fromhex(challenge)
    bits = raw[24]
    n = 0
    while True:
        nonce = n.to_bytes(8, "big")
        if _has_zero_bits(hashlib.sha256(raw + nonce).digest(), bits):
            return nonce.hex()
        n += 1


def _has_zero_bits(digest: bytes, bits: int) -> bool:
    full, rest = divmod(bits, 8)
    if any(digest[:full]):
        return False
    return rest == 0 or digest[full] >> (8 - rest) == 0


class RateLimit:
    """A token bucket of ``per_hour`` requests shared by all clients (no key, so no IP address is kept)."""

    def __init__(self, per_hour: int, *, clock: Callable[[], float] = time.monotonic, burst: int | None = None):
        self.per_hour = per_hour
        self._clock = clock
        self._capacity = float(burst if burst is not None else max(1, per_hour // 4))
        self._tokens = self._capacity
        self._last = clock()
        self._lock = threading.Lock()

    def take(self, what: str = "request") -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.per_hour / 3600.0)
            self._last = now
            if self._tokens < 1.0:
                wait = int((1.0 - self._tokens) * 3600.0 / self.per_hour) + 1
                raise RateLimited(
                    f"the complaints channel is receiving many {what}s just now",
                    hint=f"please try again in {max(1, wait // 60)} minute(s); what you typed is not lost "
                    "if you keep this page open",
                    extra={"retry_after": wait},
                )
            self._tokens -= 1.0


class OneTimeTokens:
    """Signed single-use tokens for forms sent without JavaScript: re-sending a form is refused as a replay."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, ttl: float = 6 * 3600.0):
        self._clock = clock
        self._ttl = ttl
        self._key = secrets.token_bytes(32)
        self._spent: dict[bytes, float] = {}  # owned by _lock
        self._lock = threading.Lock()

    def issue(self) -> str:
        body = secrets.token_bytes(16) + int(self._clock() + self._ttl).to_bytes(8, "big")
        return (body + hmac.new(self._key, body, hashlib.sha256).digest()[:16]).hex()

    def spend(self, token: str) -> None:
        """1. issued here (HMAC); 2. not expired; 3. not spent before. Raises InvalidInput otherwise."""
        try:
            raw = bytes.fromhex(token)
        except (ValueError, TypeError):
            raw = b""
        fix = "open the form again from the system's page and send it once"
        if len(raw) != 40 or not hmac.compare_digest(
            hmac.new(self._key, raw[:24], hashlib.sha256).digest()[:16], raw[24:]
        ):
            raise InvalidInput(
                "this form has expired or did not come from this register",
                hint=fix,
                problems=[FieldProblem("form_token", "unknown", fix)],
            )
        now = self._clock()
        expires = int.from_bytes(raw[16:24], "big")
        if now > expires:
            raise InvalidInput("this form has expired", hint=fix, problems=[FieldProblem("form_token", "expired", fix)])
        with self._lock:
            for k in [k for k, exp in self._spent.items() if exp < now]:
                del self._spent[k]
            if raw in self._spent:
                from assay.errors import Conflict

                raise Conflict(
                    "this form was already sent, and what it carried was received once",
                    hint="nothing more to do; to add something, use your receipt on the follow-up page",
                )
            self._spent[raw] = float(expires)

    def unspend(self, token: str) -> None:
        """Give a token back when the submission failed before anything was stored, so the person can retry."""
        with self._lock:
            self._spent.pop(bytes.fromhex(token), None)
