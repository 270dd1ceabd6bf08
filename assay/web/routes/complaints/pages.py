"""The complaint channel's pages: filing (with and without JavaScript), follow-up with a receipt, and the public
statistics (page and JSON)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.complaints import crypto, service
from assay.complaints.stats import LABELS, STATUSES
from assay.errors import InvalidInput
from assay.web.errors import error_responses
from assay.web.routes.complaints._channel import (
    _KDF_SLOTS,
    _NO_SYSTEM,
    NO_STORE,
    _Channel,
    _channel,
    _current_key,
    _db,
    _first_deadlines,
    _kdf_slots,
    _limits,
    _open_copies,
    _open_with_receipt,
    _Opened,
    _render,
    _require_key,
    _status_page,
    _system,
    _today,
)
from assay.web.uploads import read_form_in_memory

router = APIRouter()

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
    # No shared bucket (a flood emptied it and shut every complainant out): the server's Argon2id is what a
    # form costs, admitted a few at a time per worker, first come first served, "busy" after a bounded wait.
    return await _kdf_slots(ch).run(  # type: ignore[return-value]
        lambda: _file_sealed_on_server(request, ch, form),
        busy="the register is busy receiving other complaints just now: go back, your text is still in the form",
    )


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
