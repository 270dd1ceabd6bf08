"""The complaint channel's JSON API for the complainant's browser: channel info, proof-of-work challenges,
submitting, looking up and adding information with a receipt's access key."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from assay.complaints import crypto, service
from assay.complaints.abuse import FILING_CHALLENGE_TTL, LOOKUP_CHALLENGE_TTL
from assay.complaints.stats import LABELS
from assay.errors import FieldProblem, InvalidInput, NotFound
from assay.web.errors import error_responses
from assay.web.routes.complaints._channel import (
    _B64URL,
    _KEY_32,
    _NO_RECEIPT,
    _NO_SYSTEM,
    _NOT_READY,
    NO_STORE,
    _Channel,
    _channel,
    _db,
    _first_deadlines,
    _limits,
    _no_sooner_than_the_floor,
    _require_key,
    _system,
    _system_name,
    _today,
)

router = APIRouter()

# ---------------------------------------------------------------------------------------------------------
# API: the complainant's browser


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
    """A complaint (or an addition) pays at least the price of the moment, less a little slack, and is counted.

    No shared bucket follows: the price is the limit (see assay.complaints.abuse.FilingPrice)."""
    price = ch.filing_price
    if solution is None:
        if price.bits() <= 0:
            price.paid()  # free while quiet (ASSAY_COMPLAINTS_POW_BITS=0), but counted: a flood raises the price
            return
        raise InvalidInput(
            "a proof of work is needed",
            hint="ask POST /api/v1/complaints/challenge and solve it",
            problems=[FieldProblem("pow", "missing", "solve a challenge")],
        )
    ch.pow.verify(solution.challenge, solution.nonce, min_bits=price.least_accepted())
    price.paid()


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
    summary="A proof-of-work challenge for a complaint, or (purpose=lookup) for a receipt look-up; both priced by load",
    responses=error_responses(422),
)
def challenge(
    request: Request, purpose: str = Query("complaint", pattern="^(complaint|lookup)$", max_length=16)
) -> dict[str, Any]:
    ch = _channel(request)
    if purpose == "lookup":
        bits = ch.lookup_price.bits()
        return {"challenge": ch.pow.challenge(bits, ttl=LOOKUP_CHALLENGE_TTL), "bits": bits}
    bits = ch.filing_price.bits()
    return {"challenge": ch.pow.challenge(bits, ttl=FILING_CHALLENGE_TTL), "bits": bits}


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

    await run_in_threadpool(_check_pow, ch, body.pow)  # writes to the shared state: not on the event loop
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
