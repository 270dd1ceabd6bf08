"""Holding back abuse without identifying anyone: proofs of work, one-time tokens and limits that keep no address.

Everything here is shared by every worker process and every machine of one register: the state lives in the
database (:class:`AbuseState`), the keys in the data folder (``complaints/abuse.key``, made on first use like the
pepper; copy it with the data folder's other secrets to a second machine).

- :class:`ProofOfWork` issues stateless challenges (random bytes, an expiry, a difficulty and an HMAC under the
  abuse key). The browser finds a nonce such that SHA-256(challenge || nonce) starts with ``bits`` zero bits. A
  solved challenge is recorded as spent until it expires, so it works once, on whichever worker it arrives.
- :class:`LookupPrice` prices receipt look-ups by load: the difficulty of a look-up's proof of work rises by
  one bit each time the look-ups of the last minute double past a free rate, up to :data:`LOOKUP_MAX_BITS`.
  There is no global cap on look-ups, so a flood cannot lock anyone out: it only makes everyone's next look-up
  cost more, and the flooder pays that price on every request while the holder pays it once.
- :class:`FilingPrice` prices filing a complaint (or adding to one) from the browser the same way: the channel's
  proof of work (18 bits) while complaints arrive at up to ``ASSAY_COMPLAINTS_PER_HOUR``, one bit more per
  doubling beyond, up to :data:`FILING_MAX_BITS`. A solution must also be no more than
  :data:`FILING_PRICE_SLACK_BITS` below the price when it arrives, so cheap challenges gathered in a quiet
  moment cannot be spent in a flood. There is no cap on complaints: a shared one let a flood shut every
  complainant out (issue 10); the price bounds a flood by the flooder's CPU instead.
- :class:`ReceiptBudget` limits how often *one* receipt opens its complaint (per hour, keyed by a keyed hash of
  the receipt's lookup hash). Guesses spend only the budgets of the random receipts they try, never a real one.
- The web app admits server-side Argon2id runs (receipts typed and forms sent without JavaScript) a few at a
  time (:class:`assay.web.slots.WorkSlots`): that part needs the web server's event loop, so it lives there.
- :class:`OneTimeTokens` are signed single-use tokens for forms sent without JavaScript.

Nothing here is keyed by a client: no IP address, no cookie. Rows expire within hours.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import delete, select

from assay.complaints.models import AbuseCounter, SpentToken
from assay.db import Database
from assay.errors import ConfigError, Conflict, FieldProblem, InvalidInput, RateLimited
from assay.files import read_or_create_secret

__all__ = [
    "FILING_MAX_BITS",
    "LOOKUP_MAX_BITS",
    "AbuseKeys",
    "AbuseState",
    "FilingPrice",
    "LookupPrice",
    "OneTimeTokens",
    "ProofOfWork",
    "ReceiptBudget",
    "solve",
]

_CHALLENGE_TTL = 600.0
# Look-up challenges live one minute: long enough to solve at the highest difficulty in a slow browser, short
# enough that challenges collected while the register was quiet stop working soon after a flood starts.
LOOKUP_CHALLENGE_TTL = 60.0
# The most a look-up's proof of work ever costs: 2^22 SHA-256, about 3 s in a browser (0.2 s for 18 bits,
# bench/complaints), about 0.35 s of native CPU. The holder pays it once; a flooder on every request.
LOOKUP_MAX_BITS = 22
# The most filing a complaint ever costs: 2^24 SHA-256, about 13 s in a browser, 1.3 s of native CPU a core. A
# complainant pays it once, after writing for minutes; a flooder with c cores files at most ~45 c a minute.
FILING_MAX_BITS = 24
# Filing challenges live three minutes: a slow phone at the highest price needs about a minute.
FILING_CHALLENGE_TTL = 180.0
# A filing's solution may be this many bits below the price when it arrives (the register got up to 4x busier
# while the browser worked); cheaper ones, gathered before a flood, are refused and the browser solves anew.
FILING_PRICE_SLACK_BITS = 2
_KEY_BYTES = 32

Clock = Callable[[], float]


# ---------------------------------------------------------------------------------------------------------
# Keys: in the data folder, so every worker and every machine that shares it issues and accepts the same tokens


class AbuseKeys:
    """The HMAC keys of challenges, form tokens and receipt budgets, derived from one secret file."""

    def __init__(self, secret: bytes) -> None:
        self.pow = _derive(secret, b"assay complaints pow")
        self.form = _derive(secret, b"assay complaints form")
        self.budget = _derive(secret, b"assay complaints receipt budget")

    @classmethod
    def random(cls) -> AbuseKeys:
        """Keys of this object only (tests, benchmarks): tokens it issues work nowhere else."""
        return cls(secrets.token_bytes(_KEY_BYTES))

    @classmethod
    def load_or_create(cls, data_dir: Path) -> AbuseKeys:
        """The installation's keys: ``<data_dir>/complaints/abuse.key`` (mode 0600), made on first use."""
        return cls(
            read_or_create_secret(
                Path(data_dir) / "complaints" / "abuse.key",
                _KEY_BYTES,
                what="the complaints abuse key",
                if_damaged="delete it: a new one is made (outstanding challenges and forms stop working, nothing else)",
            )
        )


def _derive(secret: bytes, label: bytes) -> bytes:
    return hmac.new(secret, label, hashlib.sha256).digest()


# ---------------------------------------------------------------------------------------------------------
# The shared state


class AbuseState:
    """Spent tokens, counters and token buckets in the database, shared by every process of the register.

    Every call is one short write transaction (on SQLite, under its one-writer lock). Expired rows are deleted
    now and then by whoever writes. Times are wall-clock Unix seconds: machines sharing one database need
    synchronised clocks (NTP), as for TLS.
    """

    _PURGE_EVERY = 60.0

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self.db = db
        self.clock = clock
        self._windows: dict[str, int] = {}  # scope -> window length seen, for purging; owned by _lock
        self._last_purge = 0.0  # owned by _lock
        self._lock = threading.Lock()

    def _insert(self, session, table):  # type: ignore[no-untyped-def]
        # INSERT ... ON CONFLICT: the one upsert both databases have, so that two workers adding to one counter
        # at once never lose an increment nor fail on a duplicate key.
        if self.db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        return insert(table)

    def spend(self, kind: str, token: bytes, expires: float) -> bool:
        """Record ``token`` as spent until ``expires``; ``False`` if it was spent before."""
        digest = hashlib.sha256(token).digest()[:16]
        with self.db.write() as s:
            self._maybe_purge(s)
            stmt = (
                self._insert(s, SpentToken)
                .values(kind=kind, token=digest, expires=int(expires))
                .on_conflict_do_nothing(index_elements=["kind", "token"])
                .returning(SpentToken.kind)  # a row back only if inserted (rowcount is -1 through the ORM)
            )
            return s.execute(stmt).first() is not None

    def unspend(self, kind: str, token: bytes) -> None:
        digest = hashlib.sha256(token).digest()[:16]
        with self.db.write() as s:
            s.execute(delete(SpentToken).where(SpentToken.kind == kind, SpentToken.token == digest))

    def add(self, scope: str, key: bytes, window: int) -> int:
        """Count one event of ``scope``/``key`` in the current window of ``window`` seconds; the new count."""
        now = self.clock()
        with self._lock:
            self._windows[scope] = window
        with self.db.write() as s:
            self._maybe_purge(s)
            stmt = self._insert(s, AbuseCounter).values(scope=scope, key=key, window_no=int(now // window), count=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=["scope", "key", "window_no"], set_={"count": AbuseCounter.count + 1}
            ).returning(AbuseCounter.count)
            return int(s.execute(stmt).scalar_one())

    def rate(self, scope: str, window: int, key: bytes = b"") -> float:
        """Events in the last ``window`` seconds (sliding: this window plus the remaining share of the last)."""
        now = self.clock()
        current = int(now // window)
        with self.db.read() as s:
            rows = dict(
                s.execute(
                    select(AbuseCounter.window_no, AbuseCounter.count).where(
                        AbuseCounter.scope == scope,
                        AbuseCounter.key == key,
                        AbuseCounter.window_no.in_((current - 1, current)),
                    )
                ).all()
            )
        elapsed = (now - current * window) / window
        return rows.get(current, 0) + rows.get(current - 1, 0) * (1.0 - elapsed)

    def _maybe_purge(self, s) -> None:  # type: ignore[no-untyped-def]
        now = self.clock()
        with self._lock:
            if now - self._last_purge < self._PURGE_EVERY:
                return
            self._last_purge = now
            windows = dict(self._windows)
        s.execute(delete(SpentToken).where(SpentToken.expires < int(now)))
        for scope, window in windows.items():
            s.execute(
                delete(AbuseCounter).where(AbuseCounter.scope == scope, AbuseCounter.window_no < int(now // window) - 1)
            )


# ---------------------------------------------------------------------------------------------------------
# Proof of work


def _bad_pow(msg: str, fix: str) -> InvalidInput:
    return InvalidInput(msg, hint=fix, problems=[FieldProblem("pow", msg, fix)])


class ProofOfWork:
    def __init__(
        self, bits: int, *, keys: AbuseKeys, state: AbuseState, ttl: float = _CHALLENGE_TTL, clock: Clock | None = None
    ) -> None:
        if not 0 <= bits <= 32:
            raise ConfigError(
                f"ASSAY_COMPLAINTS_POW_BITS must be between 0 and 32, got {bits}",
                hint="keep the default of 18 (about half a second in a browser); 0 turns it off",
            )
        self.bits = bits
        self._key = keys.pow
        self._state = state
        self._clock = clock or state.clock
        self._ttl = ttl

    def challenge(self, bits: int | None = None, *, ttl: float | None = None) -> str:
        """A challenge of ``bits`` (default: this channel's) that expires after ``ttl`` seconds."""
        bits = self.bits if bits is None else bits
        expires = int(self._clock() + (self._ttl if ttl is None else ttl))
        body = secrets.token_bytes(16) + expires.to_bytes(8, "big") + bytes([bits])
        return (body + hmac.new(self._key, body, hashlib.sha256).digest()[:16]).hex()

    def verify(self, challenge: str, nonce: str, *, min_bits: int | None = None) -> None:
        """Check a solution and spend it; raise :class:`InvalidInput` naming the field otherwise.

        1. The challenge must be one this register issued (HMAC) and not expired.
        2. Its difficulty must be at least ``min_bits`` (default: this channel's).
        3. SHA-256(challenge bytes || nonce bytes) must start with the challenge's number of zero bits.
        4. It must not have been spent before, on any worker (recorded in the database).
        """
        try:
            raw = bytes.fromhex(challenge)
            nonce_bytes = bytes.fromhex(nonce)
        except (ValueError, TypeError):
            raise _bad_pow("the proof of work is not hexadecimal", "ask for a new challenge and solve it") from None
        if len(raw) != 41 or not 1 <= len(nonce_bytes) <= 16:
            raise _bad_pow("the proof of work is malformed", "ask for a new challenge and solve it")
        body, tag = raw[:25], raw[25:]
        if not hmac.compare_digest(hmac.new(self._key, body, hashlib.sha256).digest()[:16], tag):
            raise _bad_pow(
                "the proof-of-work challenge was not issued by this register",
                "reload the page to get a new challenge",
            )
        expires = int.from_bytes(body[16:24], "big")
        if self._clock() > expires:
            raise _bad_pow("the proof-of-work challenge has expired", "reload the page to get a new challenge")
        if body[24] < (self.bits if min_bits is None else min_bits):
            raise _bad_pow("the proof-of-work challenge is too easy for this request", "ask for a new challenge")
        if not _has_zero_bits(hashlib.sha256(raw + nonce_bytes).digest(), body[24]):
            raise _bad_pow("the proof of work does not solve its challenge", "let the page finish its work, then send")
        if not self._state.spend("pow", body[:16], expires):
            raise InvalidInput(
                "this submission was already received (its proof of work was used before)",
                hint="nothing more to do: a submission is kept once",
                problems=[FieldProblem("pow", "already used", "solve a new challenge")],
            )


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


class LookupPrice:
    """The proof-of-work difficulty of a receipt look-up, from how many look-ups arrived in the last minute.

    ``base_bits`` up to ``free_per_minute`` look-ups a minute, then one bit more per doubling, at most
    :data:`LOOKUP_MAX_BITS` (or ``base_bits`` if higher). Only *paid* look-ups are counted (:meth:`paid`), so
    asking for challenges without solving them does not raise the price for anyone. The price is read from
    the database at most once a second per process (challenges are free to ask for).
    """

    _SCOPE = "lookups"
    _MAX_BITS = LOOKUP_MAX_BITS
    _SETTING = ("ASSAY_COMPLAINTS_LOOKUP_POW_BITS", "keep the default of 12 (a few milliseconds in a browser)")

    def __init__(self, state: AbuseState, *, base_bits: int, free_per_minute: int) -> None:
        if not 0 <= base_bits <= 32:
            raise ConfigError(f"{self._SETTING[0]} must be between 0 and 32, got {base_bits}", hint=self._SETTING[1])
        self.state = state
        self.base_bits = base_bits
        self.free_per_minute = max(1, free_per_minute)
        self.max_bits = max(self._MAX_BITS, base_bits)
        self._cached: tuple[float, int] = (-1e18, base_bits)  # (when, bits); owned by _lock
        self._lock = threading.Lock()

    def bits_for_rate(self, per_minute: float) -> int:
        if per_minute <= self.free_per_minute:
            return self.base_bits
        return min(self.max_bits, self.base_bits + math.ceil(math.log2(per_minute / self.free_per_minute)))

    def bits(self) -> int:
        now = self.state.clock()
        with self._lock:
            when, bits = self._cached
            if now - when < 1.0:
                return bits
        bits = self.bits_for_rate(self.state.rate(self._SCOPE, 60))
        with self._lock:
            self._cached = (now, bits)
        return bits

    def paid(self) -> None:
        """Count one look-up that carried a valid proof of work."""
        self.state.add(self._SCOPE, b"", 60)


class FilingPrice(LookupPrice):
    """The proof-of-work difficulty of filing a complaint or adding to one from the browser, priced by load as
    look-ups are: ``base_bits`` (the channel's, 18) up to ``free_per_minute`` paid filings a minute, one bit
    more per doubling beyond, at most :data:`FILING_MAX_BITS`. :meth:`least_accepted` is the cheapest solution
    taken now (the price less :data:`FILING_PRICE_SLACK_BITS`, never under ``base_bits``)."""

    _SCOPE = "filings"
    _MAX_BITS = FILING_MAX_BITS
    _SETTING = ("ASSAY_COMPLAINTS_POW_BITS", "keep the default of 18 (about 0.2 s in a browser); 0 turns it off")

    def least_accepted(self) -> int:
        return max(self.base_bits, self.bits() - FILING_PRICE_SLACK_BITS)


class ReceiptBudget:
    """At most ``per_hour`` look-ups of one receipt an hour, counted by a keyed hash of its lookup hash.

    Only look-ups that found a complaint are counted (:meth:`spend` after a hit): a guesser's random receipts
    have no complaint, so no guess can touch a real holder's budget, and the table never holds a row per
    guess. What the row tells, to someone holding both the database and the data folder's abuse key, is that
    a complaint was opened this hour; it is deleted after the next hour.
    """

    _SCOPE = "receipt"

    def __init__(self, state: AbuseState, keys: AbuseKeys, *, per_hour: int) -> None:
        self.state = state
        self._key = keys.budget
        self.per_hour = per_hour

    def spend(self, lookup: bytes) -> None:
        key = hmac.new(self._key, lookup, hashlib.sha256).digest()[:16]
        if self.state.add(self._SCOPE, key, 3600) > self.per_hour:
            raise RateLimited(
                "this receipt was used many times in the last hour",
                hint="please come back in an hour; nothing about your complaint has changed",
                extra={"retry_after": 3600 - int(self.state.clock() % 3600) + 1},
            )


# ---------------------------------------------------------------------------------------------------------
# One-time tokens


class OneTimeTokens:
    """Signed single-use tokens for forms sent without JavaScript: re-sending a form is refused as a replay."""

    def __init__(self, *, keys: AbuseKeys, state: AbuseState, ttl: float = 6 * 3600.0) -> None:
        self._key = keys.form
        self._state = state
        self._ttl = ttl

    def issue(self) -> str:
        body = secrets.token_bytes(16) + int(self._state.clock() + self._ttl).to_bytes(8, "big")
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
        expires = int.from_bytes(raw[16:24], "big")
        if self._state.clock() > expires:
            raise InvalidInput("this form has expired", hint=fix, problems=[FieldProblem("form_token", "expired", fix)])
        if not self._state.spend("form", raw[:16], expires):
            raise Conflict(
                "this form was already sent, and what it carried was received once",
                hint="nothing more to do; to add something, use your receipt on the follow-up page",
            )

    def unspend(self, token: str) -> None:
        """Give a token back when the submission failed before anything was stored, so the person can retry."""
        try:
            raw = bytes.fromhex(token)
        except (ValueError, TypeError):
            return
        if len(raw) == 40:
            self._state.unspend("form", raw[:16])
