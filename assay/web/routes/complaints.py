"""The complaints channel on the web: the form, receipts, follow-up, public statistics, and the body's API.

Two modes, and every page says which one was used:

- **Browser** (JavaScript on): ``/static/complaints/complaints.js`` seals the complaint and its attachments to
  the oversight body's key before upload and derives the receipt's keys itself; the server receives only the
  sealed box, the receipt's access key (an Argon2id output) and the reply public key.
- **Server** (JavaScript off): the form posts to ``/complaints``; the body is read in memory only
  (:mod:`assay.web.uploads`), sealed at once and dropped. Nothing is logged, spooled or stored in
  the clear.

The oversight body's side is the JSON API under ``/api/v1/complaints`` with an admin token; the CLI
(``assay complaints``) uses it, or the local database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from assay.complaints import crypto, service
from assay.complaints.abuse import (
    LOOKUP_CHALLENGE_TTL,
    AbuseKeys,
    AbuseState,
    LookupPrice,
    OneTimeTokens,
    ProofOfWork,
    RateLimit,
    ReceiptBudget,
    WorkSlots,
)
from assay.complaints.crypto import KdfParams
from assay.complaints.receipts import load_or_create_pepper
from assay.complaints.stats import LABELS, STATUSES
from assay.config import Config
from assay.db import Database
from assay.errors import ConfigError, FieldProblem, InvalidInput, NotFound
from assay.register.access import Principal
from assay.web.auth import require_principal
from assay.web.errors import error_responses
from assay.web.uploads import read_form_in_memory

router = APIRouter()
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
        # Two buckets for complaints, by what a request costs and proves, never by who sends it: forms sent
        # without JavaScript carry no proof of work, so their flood must not shut out complaints that paid one.
        self.filing = RateLimit(state, "filing", config.complaints_per_hour)  # browser complaints and additions
        self.filing_without_js = RateLimit(state, "filing_without_js", config.complaints_per_hour)
        # Look-ups have no shared bucket (one let 64 guesses lock every holder out): a browser's look-up pays a
        # proof of work priced by load, each receipt has its own budget, and a receipt typed without JavaScript
        # waits for one of a few Argon2id slots.
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


# ---------------------------------------------------------------------------------------------------------
# Pages: filing


@router.get("/systems/{system_id}/complaints/new", response_class=HTMLResponse, include_in_schema=False)
def complaint_form(request: Request, system_id: str) -> HTMLResponse:
    system = _system(request, system_id)
    key = _current_key(request)
    ch = _channel(request)
    params = ch.params(_db(request), _today(request)) if key else None
    return _render(
        request,
        "complaints/new.html",
        {
            "system": system,
            "key": key,
            "params": params,
            "form_token": ch.forms.issue(),
            "pow_bits": ch.config.complaints_pow_bits,
            "limits": _limits(ch.config),
            "fields": crypto.FIELDS,
            "key_b64": crypto.b64(key.public_key) if key else "",
            "salt_b64": crypto.b64(params.salt) if params else "",
        },
        headers=NO_STORE,
    )


@router.post("/complaints", response_class=HTMLResponse, include_in_schema=False)
async def file_without_javascript(request: Request) -> HTMLResponse:
    """The no-JavaScript path: read the form in memory, seal it at once, show the receipt once."""
    ch = _channel(request)
    config = ch.config
    form = await read_form_in_memory(
        request.headers.get("content-type", ""),
        request.stream(),
        max_total=config.complaints_max_bytes,
        max_files=crypto.MAX_ATTACHMENTS,
    )
    return await run_in_threadpool(_file_sealed_on_server, request, ch, form)


def _file_sealed_on_server(request: Request, ch: _Channel, form: Any) -> HTMLResponse:
    system = _system(request, form.fields.get("system_id", ""))
    key = _require_key(request)
    today = _today(request)
    content = crypto.ComplaintContent(
        fields={k: form.fields.get(k, "").strip() for k in crypto.FIELDS if form.fields.get(k, "").strip()},
        attachments=tuple(crypto.Attachment(f.name, f.content_type, f.data, "as-is") for f in form.files),
        system_id=system.id,
        mode="server",
    )
    crypto.check_content(content)  # before anything is spent or stored
    ch.filing_without_js.take("complaint")
    token = form.fields.get("form_token", "")
    ch.forms.spend(token)
    try:
        words, entropy = crypto.new_receipt()
        params = ch.params(_db(request), today)
        with _KDF_SLOTS:
            keys = crypto.derive_receipt_keys(entropy, params)
        # The reply key goes inside the sealed complaint, as the browser does, so the body can check it.
        sealed = crypto.seal(
            crypto.pack_complaint(replace(content, reply_public_key=keys.reply_public_key)), key.public_key
        )
        own_copy = crypto.seal_own_copy(content, keys.copy_key) if _keep_copy(form.fields) else None
        del content
        with _db(request).write() as session:
            service.submit_complaint(
                session,
                system_id=system.id,
                key_id=key.key_id,
                ciphertext=sealed,
                lookup=crypto.lookup_hash(keys.access_key, ch.pepper()),
                reply_public_key=keys.reply_public_key,
                today=today,
                max_bytes=ch.config.complaints_max_bytes,
                own_copy=own_copy,
            )
    except BaseException:
        ch.forms.unspend(token)
        raise
    return _render(
        request,
        "complaints/receipt.html",
        {
            "system": system,
            "words": words.split(),
            "mode": "server",
            "received_on": today,
            "deadlines": _first_deadlines(today),
            "attachments": len(form.files),
            "kept_copy": own_copy is not None,
        },
        headers=NO_STORE,
    )


def _keep_copy(fields: dict[str, str]) -> bool:
    """The form's "keep a copy I can re-read with my receipt" box (checked unless the person unticks it)."""
    return fields.get("keep_copy", "") in ("on", "1", "true", "yes")


def _first_deadlines(received_on: date) -> Any:
    """The deadlines a new complaint has: acknowledgement within 7 days, an answer within 3 months after."""
    from assay.complaints.stats import deadlines

    return deadlines(received_on=received_on, acknowledged_on=None, answered_on=None, today=received_on)


@router.post("/complaints/receipt.txt", include_in_schema=False)
async def save_receipt_without_javascript(request: Request) -> Response:
    """The no-JavaScript "Save as a file": the receipt page posts its words back (the server made them, so it
    learns nothing new) and gets them as a text file to download; nothing is stored or logged."""
    form = await read_form_in_memory(
        request.headers.get("content-type", ""), request.stream(), max_total=10_000, max_files=0
    )
    crypto.parse_receipt(form.fields.get("receipt", ""))  # only a receipt can be saved this way
    system = _system(request, form.fields.get("system_id", ""))
    try:
        received_on = date.fromisoformat(form.fields.get("received_on", ""))
    except ValueError:
        raise InvalidInput("received_on is not a date", hint="save the receipt from its own page") from None
    text = _receipt_text(
        words=form.fields["receipt"].split(),
        system_name=system.name,
        received_on=received_on,
        follow_up_url=f"{request.app.state.config.base_url}/complaints/follow-up",
    )
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        headers=NO_STORE | {"content-disposition": 'attachment; filename="assay-complaint-receipt.txt"'},
    )


def _receipt_text(*, words: list[str], system_name: str, received_on: date, follow_up_url: str) -> str:
    """The receipt as a text file: the same words and facts as the page (the browser's "Save" writes the same)."""
    d = _first_deadlines(received_on)
    numbered = "\n".join(f"{i:2d}. {w}" for i, w in enumerate(words, 1))
    return (
        f"Receipt of a complaint about {system_name}\n\n{numbered}\n\n"
        f"Received on {received_on.isoformat()}. The oversight body acknowledges it by "
        f"{d.acknowledge_by.isoformat()} (7 days) and answers by {d.answer_by.isoformat()} (3 months).\n"
        f"Follow up with these twelve words at {follow_up_url}\n"
        "Anyone who has these words can read the replies and what you sent: keep them where only you can.\n"
    )


# ---------------------------------------------------------------------------------------------------------
# Pages: follow-up with the receipt


@router.get("/complaints/follow-up", response_class=HTMLResponse, include_in_schema=False)
def follow_up_form(request: Request) -> HTMLResponse:
    key = _current_key(request)
    ch = _channel(request)
    params = ch.params(_db(request), _today(request)) if key else None
    return _render(
        request,
        "complaints/follow_up.html",
        {
            "key": key,
            "params": params,
            "pow_bits": ch.config.complaints_pow_bits,
            "limits": _limits(ch.config),
            "key_b64": crypto.b64(key.public_key) if key else "",
            "salt_b64": crypto.b64(params.salt) if params else "",
            "fields": crypto.FIELDS,
            "labels": LABELS,
        },
        headers=NO_STORE,
    )


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


@router.post("/complaints/follow-up", response_class=HTMLResponse, include_in_schema=False)
async def follow_up_without_javascript(request: Request) -> HTMLResponse:
    ch = _channel(request)
    form = await read_form_in_memory(
        request.headers.get("content-type", ""), request.stream(), max_total=10_000, max_files=0
    )
    receipt = form.fields.get("receipt", "")
    opened, _ = await _open_with_receipt(request, ch, receipt)
    return _status_page(request, opened, receipt)


@router.post("/complaints/follow-up/information", response_class=HTMLResponse, include_in_schema=False)
async def add_information_without_javascript(request: Request) -> HTMLResponse:
    ch = _channel(request)
    form = await read_form_in_memory(
        request.headers.get("content-type", ""),
        request.stream(),
        max_total=ch.config.complaints_max_bytes,
        max_files=crypto.MAX_ATTACHMENTS,
    )
    receipt = form.fields.get("receipt", "")
    opened, keys = await _open_with_receipt(request, ch, receipt)

    def work() -> HTMLResponse:
        key = _require_key(request)
        text = form.fields.get("what", "").strip()
        content = crypto.ComplaintContent(
            fields={"what": text} if text else {},
            kind="information",
            system_id=opened.view.system_id,
            attachments=tuple(crypto.Attachment(f.name, f.content_type, f.data, "as-is") for f in form.files),
            mode="server",
        )
        blob = crypto.pack_complaint(content)
        own_copy = crypto.seal_own_copy(content, keys.copy_key) if _keep_copy(form.fields) else None
        ch.filing_without_js.take("complaint")
        token = form.fields.get("form_token", "")
        ch.forms.spend(token)
        try:
            with _db(request).write() as session:
                view = service.add_information(
                    session,
                    lookup=crypto.lookup_hash(keys.access_key, ch.pepper()),
                    key_id=key.key_id,
                    ciphertext=crypto.seal(blob, key.public_key),
                    today=_today(request),
                    max_bytes=ch.config.complaints_max_bytes,
                    own_copy=own_copy,
                )
        except BaseException:
            ch.forms.unspend(token)
            raise
        return _status_page(
            request,
            _Opened(view, opened.replies, _open_copies(view, keys.copy_key), opened.system_name),
            receipt,
            notice="Your information was encrypted on the server and added to your complaint.",
        )

    return await run_in_threadpool(work)


@router.get("/complaints/wordlist.txt", include_in_schema=False)
def wordlist() -> PlainTextResponse:
    """The 2048 BIP-39 English words receipts are made of (the browser needs the same list)."""
    return PlainTextResponse("\n".join(crypto.wordlist()) + "\n", headers={"cache-control": "public, max-age=86400"})


# ---------------------------------------------------------------------------------------------------------
# Public statistics


@router.get("/systems/{system_id}/complaints", response_class=HTMLResponse, include_in_schema=False)
def stats_page(request: Request, system_id: str) -> HTMLResponse:
    system = _system(request, system_id)
    today = _today(request)
    with _db(request).read() as session:
        stats = service.stats_for_system(session, system.id, today=today).published()
    return _render(
        request,
        "complaints/stats.html",
        {
            "system": system,
            "stats": stats,
            "labels": LABELS,
            "statuses": STATUSES,
            "accepting": _current_key(request) is not None,
        },
    )


@router.get(
    "/api/v1/systems/{system_id}/complaints",
    tags=["complaints"],
    summary="Public, content-free complaint statistics of a system",
    responses=error_responses(_NO_SYSTEM),
)
def stats_api(request: Request, system_id: str) -> dict[str, Any]:
    """Counts as of the end of the last full month (``as_of``; they change on ``next_update``). A count under
    ``suppressed_below`` (5) is ``null``, zero included, and so is a cell that would follow from the others by
    subtraction: no figure may point at one complainant."""
    system = _system(request, system_id)
    with _db(request).read() as session:
        return service.stats_for_system(session, system.id, today=_today(request)).published()


# ---------------------------------------------------------------------------------------------------------
# API: the complainant's browser


# Documented forms of the binary fields (base64url, no padding); checked in the routes, whose messages say more
# than a pattern mismatch would.
_KEY_32 = {"pattern": "^[A-Za-z0-9_-]{43}$"}
_B64URL = {"pattern": "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"}
_OWN_COPY_DOC = (
    "base64url of the complainant's own copy (crypto_secretbox under the receipt's copy key, at most 256 KiB), "
    "so the receipt can re-read what was sent; optional."
)


class ProofOfWorkSolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    challenge: str = Field(max_length=200)
    nonce: str = Field(max_length=64)


class SubmitComplaint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system_id: str = Field(max_length=64, description="The system the complaint is about.")
    key_id: str = Field(max_length=16, description="The oversight body's key the complaint is sealed to.")
    ciphertext: str = Field(
        description="base64url of the sealed box (crypto_box_seal of the padded container).", json_schema_extra=_B64URL
    )
    access_key: str = Field(
        max_length=64, description="base64url of the receipt's 32-byte access key.", json_schema_extra=_KEY_32
    )
    reply_public_key: str = Field(
        max_length=64, description="base64url of the receipt's X25519 reply key.", json_schema_extra=_KEY_32
    )
    own_copy: str | None = Field(None, description=_OWN_COPY_DOC, json_schema_extra=_B64URL)
    pow: ProofOfWorkSolution | None = None


class AddInformation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(max_length=16)
    ciphertext: str = Field(json_schema_extra=_B64URL)
    access_key: str = Field(max_length=64, json_schema_extra=_KEY_32)
    own_copy: str | None = Field(None, description=_OWN_COPY_DOC, json_schema_extra=_B64URL)
    pow: ProofOfWorkSolution | None = None


class Lookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_key: str = Field(
        max_length=64, description="base64url of the receipt's 32-byte access key.", json_schema_extra=_KEY_32
    )
    pow: ProofOfWorkSolution | None = Field(
        None,
        description="A solved challenge from POST /api/v1/complaints/challenge?purpose=lookup (needed whenever "
        "that challenge has more than 0 bits).",
    )


def _access_key(text: str) -> bytes:
    raw = crypto.b64decode(text, path="access_key")
    if len(raw) != 32:
        raise InvalidInput(
            "access_key must be 32 bytes",
            hint="derive it from the receipt as the form does",
            problems=[FieldProblem("access_key", "not 32 bytes", "send 32 bytes, base64url")],
        )
    return raw


def _check_pow(ch: _Channel, solution: ProofOfWorkSolution | None) -> None:
    if ch.config.complaints_pow_bits <= 0:
        return
    if solution is None:
        raise InvalidInput(
            "a proof of work is needed",
            hint="ask POST /api/v1/complaints/challenge and solve it",
            problems=[FieldProblem("pow", "missing", "solve a challenge")],
        )
    ch.pow.verify(solution.challenge, solution.nonce)


@router.get(
    "/api/v1/complaints/channel",
    tags=["complaints"],
    summary="The oversight body's current key, the receipt parameters and the limits",
    responses=error_responses(_NOT_READY),
)
def channel_info(request: Request) -> dict[str, Any]:
    ch = _channel(request)
    key = _require_key(request)
    params = ch.params(_db(request), _today(request))
    return {
        "key": key.as_dict(),
        "kdf": params.as_dict(),
        "pow_bits": ch.config.complaints_pow_bits,
        "limits": _limits(ch.config),
        "wordlist": "/complaints/wordlist.txt",
        "construction": "libsodium crypto_box_seal (X25519, XSalsa20-Poly1305) of a Padme-padded container",
    }


@router.post(
    "/api/v1/complaints/challenge",
    tags=["complaints"],
    summary="A proof-of-work challenge: for a complaint, or (purpose=lookup) for a receipt look-up, priced by load",
    responses=error_responses(422),
)
def challenge(
    request: Request, purpose: str = Query("complaint", pattern="^(complaint|lookup)$", max_length=16)
) -> dict[str, Any]:
    ch = _channel(request)
    if purpose == "lookup":
        bits = ch.lookup_price.bits()
        return {"challenge": ch.pow.challenge(bits, ttl=LOOKUP_CHALLENGE_TTL), "bits": bits}
    return {"challenge": ch.pow.challenge(), "bits": ch.config.complaints_pow_bits}


def _check_lookup_pow(ch: _Channel, solution: ProofOfWorkSolution | None) -> None:
    """A look-up pays the difficulty its challenge was issued at (at least the quiet one), and is counted."""
    if solution is None:
        if ch.lookup_price.bits() <= 0:
            ch.lookup_price.paid()  # free while quiet, but counted: a flood still raises the price
            return
        raise InvalidInput(
            "a proof of work is needed",
            hint="ask POST /api/v1/complaints/challenge?purpose=lookup and solve it",
            problems=[FieldProblem("pow", "missing", "solve a challenge")],
        )
    ch.pow.verify(solution.challenge, solution.nonce, min_bits=ch.lookup_price.base_bits)
    ch.lookup_price.paid()


@router.post(
    "/api/v1/complaints",
    status_code=201,
    tags=["complaints"],
    summary="File a complaint sealed in the browser",
    responses=error_responses(
        _NO_SYSTEM,
        (409, "No key is published, the key was replaced since, or this submission was already received"),
        413,
        422,
        429,
    ),
)
def submit(request: Request, body: SubmitComplaint) -> JSONResponse:
    ch = _channel(request)
    system = _system(request, body.system_id)
    ciphertext = crypto.b64decode(body.ciphertext, path="ciphertext")
    access = _access_key(body.access_key)
    reply_public = crypto.decode_public_key(body.reply_public_key, path="reply_public_key")
    own_copy = crypto.b64decode(body.own_copy, path="own_copy") if body.own_copy else None
    _check_pow(ch, body.pow)
    ch.filing.take("complaint")
    today = _today(request)
    with _db(request).write() as session:
        service.submit_complaint(
            session,
            system_id=system.id,
            key_id=body.key_id,
            ciphertext=ciphertext,
            lookup=crypto.lookup_hash(access, ch.pepper()),
            reply_public_key=reply_public,
            today=today,
            max_bytes=ch.config.complaints_max_bytes,
            own_copy=own_copy,
        )
    d = _first_deadlines(today)
    return JSONResponse(
        {
            "status": "received",
            "received_on": today.isoformat(),
            "mode": "browser",
            "system_id": system.id,
            "system_name": system.name,
            "acknowledge_by": d.acknowledge_by.isoformat(),
            "answer_by": d.answer_by.isoformat(),
            "own_copy_kept": own_copy is not None,
        },
        status_code=201,
        headers=NO_STORE,
    )


def _public_view(view: service.ComplaintView, today: date, system_name: str) -> dict[str, Any]:
    """What the receipt holder sees: the system, status, days, the replies (sealed to their reply key) and their
    own copies of what they sent (encrypted under their copy key)."""
    d = view.deadlines(today)
    return {
        "system_id": view.system_id,
        "system_name": system_name,
        "status": view.status,
        "status_label": LABELS[view.status],
        "received_on": view.received_on.isoformat(),
        "history": [{"status": s, "label": LABELS[s], "day": day.isoformat()} for s, day in view.history],
        "acknowledge_by": d.acknowledge_by.isoformat(),
        "answer_by": d.answer_by.isoformat(),
        "closed": view.status in ("resolved", "rejected"),
        "messages": [
            {
                "author": m.author,
                "kind": m.kind,
                "day": m.day.isoformat(),
                **({"ciphertext": crypto.b64(m.ciphertext)} if m.kind == "reply" else {}),
                **({"own_copy": crypto.b64(m.own_copy)} if m.own_copy is not None else {}),
            }
            for m in view.messages
        ],
    }


@router.post(
    "/api/v1/complaints/lookup",
    tags=["complaints"],
    summary="A complaint's status and sealed replies, for the holder of its receipt",
    responses=error_responses(_NO_RECEIPT, 413, 422, 429),
)
async def lookup(request: Request, body: Lookup) -> JSONResponse:
    ch = _channel(request)
    access = _access_key(body.access_key)
    await run_in_threadpool(_check_lookup_pow, ch, body.pow)
    today = _today(request)

    def work() -> JSONResponse:
        lookup = crypto.lookup_hash(access, ch.pepper())
        with _db(request).read() as session:
            view = service.find_by_lookup(session, lookup)
        if view is None:
            raise NotFound(service.NOT_FOUND_BY_RECEIPT, hint=service.NOT_FOUND_HINT)
        ch.receipts.spend(lookup)
        return JSONResponse(_public_view(view, today, _system_name(request, view.system_id)), headers=NO_STORE)

    return await _no_sooner_than_the_floor(work)


@router.post(
    "/api/v1/complaints/information",
    status_code=201,
    tags=["complaints"],
    summary="Add information, sealed in the browser, to a complaint (with its receipt's access key)",
    responses=error_responses(
        _NO_RECEIPT,
        (409, "The complaint is closed, the key was replaced since, or this was already received"),
        413,
        422,
        429,
    ),
)
async def add_information(request: Request, body: AddInformation) -> JSONResponse:
    ch = _channel(request)
    access = _access_key(body.access_key)
    ciphertext = crypto.b64decode(body.ciphertext, path="ciphertext")
    own_copy = crypto.b64decode(body.own_copy, path="own_copy") if body.own_copy else None

    def pay() -> None:  # both write to the shared state in the database: not on the event loop
        _check_pow(ch, body.pow)
        ch.filing.take("complaint")

    await run_in_threadpool(pay)
    today = _today(request)

    def work() -> JSONResponse:
        with _db(request).write() as session:
            view = service.add_information(
                session,
                lookup=crypto.lookup_hash(access, ch.pepper()),
                key_id=body.key_id,
                ciphertext=ciphertext,
                today=today,
                max_bytes=ch.config.complaints_max_bytes,
                own_copy=own_copy,
            )
        return JSONResponse(
            _public_view(view, today, _system_name(request, view.system_id)), status_code=201, headers=NO_STORE
        )

    return await _no_sooner_than_the_floor(work)


# ---------------------------------------------------------------------------------------------------------
# API: the oversight body (admin token)


_ADMIN = error_responses(401, (403, "Not an admin token (the oversight body's)"))
_NO_COMPLAINT = (404, "No complaint with this id")


def _admin(principal: Principal = Depends(require_principal)) -> Principal:
    principal.require_admin(action="read or answer complaints")
    return principal


class PublishKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(
        max_length=64,
        description="base64url X25519 public key from 'assay complaints keygen'",
        json_schema_extra=_KEY_32,
    )


class SealedReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ciphertext: str = Field(
        description="The reply sealed to the complaint's reply public key.", json_schema_extra=_B64URL
    )
    body_copy: str = Field(
        description="The same reply sealed to the oversight body's own key.", json_schema_extra=_B64URL
    )
    body_copy_key_id: str = Field(max_length=16)

    def sealed(self) -> service.SealedReply:
        return service.SealedReply(
            crypto.b64decode(self.ciphertext, path="ciphertext"),
            crypto.b64decode(self.body_copy, path="body_copy"),
            self.body_copy_key_id,
        )


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(
        max_length=32, description=f"One of: {', '.join(STATUSES[1:])}", json_schema_extra={"enum": list(STATUSES[1:])}
    )
    reason: SealedReplyBody | None = Field(None, description="Required for 'rejected': the reason, sealed.")


@router.get("/api/v1/complaints/keys", tags=["complaints"], summary="Every key the oversight body published")
def keys(request: Request) -> dict[str, Any]:
    with _db(request).read() as session:
        return {"keys": [k.as_dict() for k in service.list_keys(session)]}


@router.post(
    "/api/v1/complaints/keys",
    status_code=201,
    tags=["complaints"],
    summary="Publish (or rotate to) a new key of the oversight body (admin)",
    responses=_ADMIN | error_responses((409, "This key was retired; it cannot be published again"), 413, 422),
)
def publish_key(request: Request, body: PublishKey, _: Principal = Depends(_admin)) -> dict[str, Any]:
    public = crypto.decode_public_key(body.public_key)
    with _db(request).write() as session:
        view = service.publish_key(session, public, today=_today(request))
    return view.as_dict()


@router.get(
    "/api/v1/complaints/inbox",
    tags=["complaints"],
    summary="Sealed messages after a cursor (admin)",
    responses=_ADMIN | error_responses(422),
)
def inbox(
    request: Request,
    after: int = Query(0, ge=0, le=2**62),
    limit: int = Query(50, ge=1, le=500),
    _: Principal = Depends(_admin),
) -> dict[str, Any]:
    with _db(request).read() as session:
        messages = service.inbox(session, after=after, limit=limit)
    return {"messages": [m.as_dict() for m in messages], "next_after": messages[-1].id if messages else after}


@router.get(
    "/api/v1/complaints/cases",
    tags=["complaints"],
    summary="Complaints with status, days and deadline flags, without content (admin)",
    responses=_ADMIN | error_responses(422),
)
def cases(
    request: Request,
    status: str | None = Query(None, max_length=32),
    system_id: str | None = Query(None, max_length=64),
    _: Principal = Depends(_admin),
) -> dict[str, Any]:
    today = _today(request)
    with _db(request).read() as session:
        views = service.list_complaints(session, status=status, system_id=system_id)
    return {"as_of": today.isoformat(), "complaints": [v.as_dict(today, with_messages=False) for v in views]}


@router.get(
    "/api/v1/complaints/cases/{complaint_id}",
    tags=["complaints"],
    summary="One complaint with its sealed messages (admin)",
    responses=_ADMIN | error_responses(_NO_COMPLAINT),
)
def case(request: Request, complaint_id: str, _: Principal = Depends(_admin)) -> dict[str, Any]:
    with _db(request).read() as session:
        view = service.get_complaint(session, complaint_id)
    if view is None:
        raise NotFound(f"no complaint with id {complaint_id!r}", hint="list them at /api/v1/complaints/cases")
    return view.as_dict(_today(request))


@router.post(
    "/api/v1/complaints/cases/{complaint_id}/replies",
    status_code=201,
    tags=["complaints"],
    summary="Add a sealed reply (admin)",
    responses=_ADMIN | error_responses(_NO_COMPLAINT, (409, "The complaint is closed"), 413, 422),
)
def reply(request: Request, complaint_id: str, body: SealedReplyBody, _: Principal = Depends(_admin)) -> dict[str, Any]:
    ch = _channel(request)
    with _db(request).write() as session:
        m = service.add_reply(
            session, complaint_id, body.sealed(), today=_today(request), max_bytes=ch.config.complaints_max_bytes
        )
    return m.as_dict()


@router.post(
    "/api/v1/complaints/cases/{complaint_id}/status",
    tags=["complaints"],
    summary="Move a complaint to a later status (admin)",
    responses=_ADMIN
    | error_responses(_NO_COMPLAINT, (409, "The complaint is closed, or already past this status"), 413, 422),
)
def set_status(request: Request, complaint_id: str, body: StatusBody, _: Principal = Depends(_admin)) -> dict[str, Any]:
    ch = _channel(request)
    today = _today(request)
    with _db(request).write() as session:
        view = service.change_status(
            session,
            complaint_id,
            body.status,
            today=today,
            reason=body.reason.sealed() if body.reason else None,
            max_bytes=ch.config.complaints_max_bytes,
        )
    return view.as_dict(today, with_messages=False)
