"""What the complaint channel's routes share: the per-app channel state (abuse limits, keys), the answer-time
floor for receipts, and opening a complaint with a receipt typed without JavaScript."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic.json_schema import JsonDict
from starlette.concurrency import run_in_threadpool

from assay.complaints import crypto, service
from assay.complaints.abuse import (
    AbuseKeys,
    AbuseState,
    FilingPrice,
    LookupPrice,
    OneTimeTokens,
    ProofOfWork,
    ReceiptBudget,
)
from assay.complaints.crypto import KdfParams
from assay.complaints.receipts import load_or_create_pepper
from assay.complaints.stats import LABELS
from assay.config import Config
from assay.db import Database
from assay.errors import ConfigError, NotFound
from assay.web.slots import WorkSlots

_T = TypeVar("_T")
log = logging.getLogger("assay.complaints")

# Answers about a receipt take at least this long, found or not, so timing does not tell them apart.
LOOKUP_FLOOR_SECONDS = 0.35
# Server-side Argon2id runs (no-JavaScript path) at most this many at a time, to bound memory under load.
_KDF_SLOTS = threading.BoundedSemaphore(2)
# Receipts typed without JavaScript wait at most this long for one of the process's Argon2id slots, then are
# told the register is busy. The slots are taken in the event loop, so waiting holds no worker thread.
_KDF_SLOTS_PER_PROCESS = 2
_KDF_WAIT_SECONDS = 10.0
NO_STORE = {"cache-control": "no-store", "x-robots-tag": "noindex"}


# ---------------------------------------------------------------------------------------------------------
# Per-app state: keys from the data folder, counters and spent tokens in the database (shared by every worker
# and machine), nothing about any person


class _Channel:
    def __init__(self, config: Config, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        state = AbuseState(db, clock=clock)
        keys = AbuseKeys.load_or_create(config.data_dir)
        self.pow = ProofOfWork(config.complaints_pow_bits, keys=keys, state=state)
        # Neither complaints nor look-ups have a shared bucket (one let 64 guesses lock every holder out, and
        # 75 paid complaints every complainant): from the browser each pays a proof of work priced by load, and
        # whatever comes without JavaScript (a form, a typed receipt) waits for one of a few Argon2id slots,
        # first come first served. Each receipt also has its own budget of look-ups.
        self.filing_price = FilingPrice(
            state, base_bits=config.complaints_pow_bits, free_per_minute=max(1, config.complaints_per_hour // 60)
        )
        self.lookup_price = LookupPrice(
            state, base_bits=config.complaints_lookup_pow_bits, free_per_minute=config.complaints_lookups_per_minute
        )
        self.receipts = ReceiptBudget(state, keys, per_hour=config.complaints_lookups_per_receipt)
        self.kdf_slots: WorkSlots | None = None  # made in the event loop on first use (see _kdf_slots)
        self.forms = OneTimeTokens(keys=keys, state=state)
        self._pepper: bytes | None = None
        self._params: KdfParams | None = None
        self._lock = threading.Lock()

    def pepper(self) -> bytes:
        if self._pepper is None:
            self._pepper = load_or_create_pepper(self.config.data_dir)
        return self._pepper

    def params(self, db: Database, today: date) -> KdfParams:
        with self._lock:
            if self._params is None:
                c = self.config
                if c.complaints_kdf_memlimit < 8192:
                    raise ConfigError(
                        "ASSAY_COMPLAINTS_KDF_MEMLIMIT must be at least 8192 bytes",
                        hint="keep the default of 67108864 (64 MiB)",
                    )
                with db.write() as session:
                    self._params = service.channel_params(
                        session, opslimit=c.complaints_kdf_opslimit, memlimit=c.complaints_kdf_memlimit, today=today
                    )
            return self._params


def _channel(request: Request) -> _Channel:
    state = request.app.state
    ch = getattr(state, "complaints_channel", None)
    if ch is None:
        with _INIT_LOCK:
            ch = getattr(state, "complaints_channel", None)
            if ch is None:
                # Tests inject a clock (Unix seconds) as app.state.complaints_clock, as they do the day.
                clock = getattr(state, "complaints_clock", time.time)
                ch = state.complaints_channel = _Channel(state.config, state.db, clock)
    return ch


_INIT_LOCK = threading.Lock()


def _today(request: Request) -> date:
    """The day, from the app's injected clock if tests set one (``app.state.complaints_today``)."""
    clock: Callable[[], date] | None = getattr(request.app.state, "complaints_today", None)
    return clock() if clock else datetime.now(UTC).date()


def _db(request: Request) -> Database:
    return request.app.state.db


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status, headers=headers)


def _system(request: Request, system_id: str) -> Any:
    from assay.register.service import get_system

    with _db(request).read() as session:
        system = get_system(session, system_id)
    if system is None:
        raise NotFound(
            f"there is no system {system_id!r} in the register",
            hint="find the system on /systems and use its 'File a complaint' link",
        )
    return system


def _current_key(request: Request) -> service.KeyView | None:
    with _db(request).read() as session:
        return service.current_key(session)


def complaints_key(request: Request) -> service.KeyView | None:
    """For templates (a Jinja global): the key complaints are sealed to now, or None when none is published, in
    which case no page offers a "File a complaint" button that leads to a form that cannot send."""
    return _current_key(request)


def _require_key(request: Request) -> service.KeyView:
    key = _current_key(request)
    if key is None:
        raise service.ChannelNotReady()
    return key


async def _no_sooner_than_the_floor(work: Callable[[], _T]) -> _T:
    """Run ``work`` (which uses a receipt) in a worker thread; answer no sooner than the floor, found or not.

    The wait is asynchronous: a flood of look-ups must not hold the worker threads every page needs."""
    start = time.monotonic()
    try:
        return await run_in_threadpool(work)
    finally:
        left = LOOKUP_FLOOR_SECONDS - (time.monotonic() - start)
        if left > 0:
            await asyncio.sleep(left)


# Documented answers (OpenAPI): every error is the one JSON error shape.
_NO_SYSTEM = (404, "No such system in the register")
_NO_RECEIPT = (404, "No complaint matches this receipt")
_NOT_READY = (
    409,
    "The oversight body has not published its key yet (code 'complaints_not_ready'); the hint "
    "says what it runs to publish one",
)


_FIELD_TITLES = {
    "what": "What happened",
    "when": "When",
    "effect": "How it affected you",
    "ask": "What you asked for",
    "contact": "Contact details",
}


def _limits(config: Config) -> dict[str, int]:
    return {
        "max_bytes": config.complaints_max_bytes,
        "max_attachments": crypto.MAX_ATTACHMENTS,
        **{f"max_{k}_chars": v for k, v in crypto.FIELDS.items()},
    }


@dataclass(frozen=True)
class _Opened:
    view: service.ComplaintView
    replies: list[tuple[date, str]]
    # Message id -> the complainant's own copy, opened ({"fields", "attachments"}), or {"error": why}.
    copies: dict[int, dict[str, Any]] = field(default_factory=dict)
    system_name: str = ""


def _open_copies(view: service.ComplaintView, copy_key: bytes) -> dict[int, dict[str, Any]]:
    copies: dict[int, dict[str, Any]] = {}
    for m in view.messages:
        if m.own_copy is not None:
            try:
                copies[m.id] = crypto.open_own_copy(m.own_copy, copy_key)
            except crypto.UndecryptableError as exc:
                copies[m.id] = {"error": exc.message}
    return copies


def _system_name(request: Request, system_id: str) -> str:
    from assay.register.service import get_system

    with _db(request).read() as session:
        system = get_system(session, system_id)
    return system.name if system is not None else system_id


async def _open_with_receipt(request: Request, ch: _Channel, receipt: str) -> tuple[_Opened, crypto.ReceiptKeys]:
    """No-JavaScript follow-up: derive the receipt's keys here, find the complaint, open its replies in memory."""
    entropy = crypto.parse_receipt(receipt)  # a 422 about the typed text only, whatever exists

    def work() -> tuple[_Opened, crypto.ReceiptKeys]:
        params = ch.params(_db(request), _today(request))
        with _KDF_SLOTS:
            keys = crypto.derive_receipt_keys(entropy, params)
        lookup = crypto.lookup_hash(keys.access_key, ch.pepper())
        with _db(request).read() as session:
            view = service.find_by_lookup(session, lookup)
        if view is None:
            raise NotFound(service.NOT_FOUND_BY_RECEIPT, hint=service.NOT_FOUND_HINT)
        ch.receipts.spend(lookup)
        replies = []
        for m in view.messages:
            if m.kind == "reply":
                replies.append((m.day, crypto.unpack_message(crypto.open_sealed(m.ciphertext, keys.reply_private_key))))
        opened = _Opened(view, replies, _open_copies(view, keys.copy_key), _system_name(request, view.system_id))
        return opened, keys

    # The server's Argon2id is the expensive part: admitted a few at a time, first come first served.
    slots = _kdf_slots(ch)
    return await _no_sooner_than_the_floor_async(
        lambda: slots.run(work, busy="the register is busy opening other receipts just now")  # type: ignore[arg-type,return-value]
    )


def _kdf_slots(ch: _Channel) -> WorkSlots:
    if ch.kdf_slots is None:  # made in the event loop on first use; no await in between, so made once
        ch.kdf_slots = WorkSlots(_KDF_SLOTS_PER_PROCESS, wait=_KDF_WAIT_SECONDS)
    return ch.kdf_slots


async def _no_sooner_than_the_floor_async(work: Callable[[], Any]) -> Any:
    """As :func:`_no_sooner_than_the_floor`, for work that is already asynchronous."""
    start = time.monotonic()
    try:
        return await work()
    finally:
        left = LOOKUP_FLOOR_SECONDS - (time.monotonic() - start)
        if left > 0:
            await asyncio.sleep(left)


def _status_page(request: Request, opened: _Opened, receipt: str, *, notice: str = "") -> HTMLResponse:
    ch = _channel(request)
    return _render(
        request,
        "complaints/status.html",
        {
            "complaint": opened.view,
            "replies": opened.replies,
            "copies": opened.copies,
            "system_name": opened.system_name,
            "titles": _FIELD_TITLES,
            "receipt": receipt,
            "labels": LABELS,
            "notice": notice,
            "form_token": ch.forms.issue(),
            "limits": _limits(ch.config),
            "closed": opened.view.status in ("resolved", "rejected"),
            "deadlines": opened.view.deadlines(_today(request)),
        },
        headers=NO_STORE,
    )


def _first_deadlines(received_on: date) -> Any:
    """The deadlines a new complaint has: acknowledgement within 7 days, an answer within 3 months after."""
    from assay.complaints.stats import deadlines

    return deadlines(received_on=received_on, acknowledged_on=None, answered_on=None, today=received_on)


# Documented forms of the binary fields (base64url, no padding); checked in the routes, whose messages say more
# than a pattern mismatch would.
_KEY_32: JsonDict = {"pattern": "^[A-Za-z0-9_-]{43}$"}
_B64URL: JsonDict = {"pattern": "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"}
