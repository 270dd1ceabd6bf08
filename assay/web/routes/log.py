"""The transparency log on the web.

- ``/log/checkpoint``, ``/log/tile/<L>/<N>[.p/<W>]``, ``/log/tile/entries/<N>[.p/<W>]``: the C2SP tlog-tiles
  layout, read-only, so any tlog-tiles client can read and verify the log; ``/log/vkey``: the verifier key.
- ``/log`` and ``/log/entries/{index}``: pages for people (what the log is, how to verify it, each entry with
  its proof), ``/log/entries/{index}/proof``: the entry's c2sp.org/tlog-proof, ``/api/v1/log/...``: JSON.
- ``POST /witness/add-checkpoint``, ``GET /witness/<origin hash>/checkpoint``, ``/witness/vkey``: this register
  as a C2SP tlog-witness for the logs its operator trusts (``assay log witness trust``).

The router's lifespan starts the background integrator of the app's log (and stops it on shutdown).
"""

from __future__ import annotations

import base64
import gzip
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from assay.errors import InvalidInput, NotFound
from assay.tlog import Checkpoint, TileID, leaf_hash
from assay.transparency import decode_entry, open_log
from assay.transparency.integrator import BackgroundIntegrator
from assay.transparency.reading import Head, entry_at, recent_entries
from assay.transparency.service import TransparencyLog

log = logging.getLogger("assay.web.log")

IMMUTABLE = "public, max-age=31536000, immutable"
# tlog-tiles: the checkpoint is mutable and must not be cached beyond a few seconds.
SHORT = "public, max-age=2"
# Public, static data: any web page may read it (browser-based verifiers), without credentials.
PUBLIC = {"Access-Control-Allow-Origin": "*"}

# Documented answers (OpenAPI), so that clients and the schema tests know every status and content type.
_JSON_ERROR: dict[str, Any] = {"content": {"application/json": {}}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found (the one JSON error shape)", **_JSON_ERROR}
}
_TEXT: dict[str, Any] = {"content": {"text/plain": {}}}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    config = app.state.config
    tlog = open_log(app.state.db, config)
    # Every worker runs an integrator; the one holding the lease integrates (at once, for a new log's first
    # checkpoint), the others stand by to take over.
    worker = BackgroundIntegrator(tlog, period=config.log_period_ms / 1000)
    await run_in_threadpool(worker.integrate_if_leader)
    worker.start()
    app.state.transparency_log = tlog
    try:
        yield
    finally:
        await run_in_threadpool(worker.stop)


router = APIRouter(lifespan=lifespan)


def _log(request: Request) -> TransparencyLog:
    tlog = getattr(request.app.state, "transparency_log", None)
    if tlog is None:  # an app used without its lifespan (no background thread): open on demand
        tlog = open_log(request.app.state.db, request.app.state.config)
        request.app.state.transparency_log = tlog
    return tlog


def _published_head(tlog: TransparencyLog) -> Head:
    head = tlog.head()
    if not head.checkpoint:
        raise NotFound("the log has no checkpoint yet", hint="try again in a second, once the log has started")
    return head


# -- the tlog-tiles layout ---------------------------------------------------------------------------------


@router.head("/log/checkpoint", include_in_schema=False)
@router.get(
    "/log/checkpoint",
    tags=["log"],
    summary="The latest signed checkpoint (C2SP tlog-checkpoint)",
    response_class=PlainTextResponse,
    responses=_NOT_FOUND,
)
def checkpoint(request: Request) -> Response:
    tlog = _log(request)
    note = tlog.note(_published_head(tlog))
    return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": SHORT, **PUBLIC})


@router.head("/log/vkey", include_in_schema=False)
@router.get(
    "/log/vkey",
    tags=["log"],
    summary="The log's verifier key (C2SP signed-note vkey)",
    response_class=PlainTextResponse,
)
def vkey(request: Request) -> Response:
    return Response(
        _log(request).vkey + "\n",
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", **PUBLIC},
    )


@router.head("/log/tile/{path:path}", include_in_schema=False)
@router.get(
    "/log/tile/{path:path}",
    tags=["log"],
    summary="A tile or entry bundle (C2SP tlog-tiles)",
    responses={200: {"content": {"application/octet-stream": {}}}, **_NOT_FOUND},
)
def tile(request: Request, path: str) -> Response:
    try:
        tile_id = TileID.parse("tile/" + path)
    except InvalidInput:
        raise NotFound(
            f"/log/tile/{path} is not a tile of this log",
            hint="tiles are at /log/tile/<L>/<N>[.p/<W>] and /log/tile/entries/<N>[.p/<W>]",
        ) from None
    tlog = _log(request)
    data = tlog.read_tile(tile_id)
    if data is None:
        raise NotFound(
            f"/log/tile/{path} is not published",
            hint="fetch /log/checkpoint first; only tiles that a checkpoint covers exist",
        )
    headers = {"Cache-Control": IMMUTABLE, **PUBLIC}
    if tile_id.is_entries:
        headers["Vary"] = "Accept-Encoding"
        if "gzip" in request.headers.get("accept-encoding", ""):
            data = gzip.compress(data, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
    return Response(data, media_type="application/octet-stream", headers=headers)


# -- pages and JSON ----------------------------------------------------------------------------------------


def _entry_view(tlog: TransparencyLog, index: int) -> dict[str, Any]:
    head = tlog.head()
    data = entry_at(tlog.db, index)
    if data is None:
        raise NotFound(
            f"the log has no entry {index}",
            hint=f"the log holds entries 0 to {max(head.size - 1, 0)}; newer ones appear within seconds",
        )
    entry = decode_entry(data)
    integrated = index < head.size
    proof = tlog.proof(index) if integrated else None
    return {
        "index": index,
        "kind": entry["kind"],
        "time": entry["time"],
        "body": entry["body"],
        "entry": data.decode(),
        "leaf_hash": leaf_hash(data).hex(),
        "integrated": integrated,
        "tree_size": head.size,
        "proof": proof,
        "vkey": tlog.vkey,
        "origin": tlog.origin,
    }


def _checkpoint_view(tlog: TransparencyLog) -> dict[str, Any]:
    head = tlog.head()
    cp = Checkpoint.parse(head.checkpoint.split("\n\n")[0] + "\n") if head.checkpoint else None
    return {
        "origin": tlog.origin,
        "vkey": tlog.vkey,
        "tree_size": head.size,
        "root_hash": cp.root_hash.hex() if cp else None,
        "checkpoint": tlog.note(head) or None,
        "published_at": head.published_at.isoformat() if head.published_at else None,
    }


@router.get("/api/v1/log", tags=["log"], summary="The log's latest checkpoint and key, as JSON")
def api_log(request: Request) -> dict[str, Any]:
    return _checkpoint_view(_log(request))


@router.get(
    "/api/v1/log/entries/{index}",
    tags=["log"],
    summary="One log entry, decoded, with its tlog-proof",
    responses=_NOT_FOUND,
)
def api_entry(request: Request, index: int = Path(ge=0, le=2**63 - 1)) -> dict[str, Any]:
    return _entry_view(_log(request), index)


@router.get(
    "/log/entries/{index}/proof",
    tags=["log"],
    summary="The entry's c2sp.org/tlog-proof",
    response_class=PlainTextResponse,
    responses=_NOT_FOUND,
)
def entry_proof(request: Request, index: int = Path(ge=0, le=2**63 - 1)) -> Response:
    view = _entry_view(_log(request), index)
    if view["proof"] is None:
        raise NotFound(f"entry {index} is not integrated into the tree yet", hint="try again in a second")
    return Response(
        view["proof"],
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": f'inline; filename="assay-log-{index}.tlog-proof"',
            "Cache-Control": "no-cache",
        },
    )


@router.get(
    "/log/entries/{index}",
    tags=["log"],
    summary="One log entry (HTML, or JSON when asked)",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}, "application/json": {}}},
        404: {
            "description": "No such entry (an HTML page, or the JSON error shape when asked)",
            "content": {"text/html": {}, "application/json": {}},
        },
    },
)
def entry_page(request: Request, index: int = Path(ge=0, le=2**63 - 1)) -> Response:
    tlog = _log(request)
    accept = request.headers.get("accept", "")
    as_json = "application/json" in accept and "text/html" not in accept
    try:
        view = _entry_view(tlog, index)
    except NotFound as exc:
        if as_json:
            raise
        return request.app.state.templates.TemplateResponse(
            request, "error.html", {"status": 404, "error": exc.as_dict()}, status_code=404
        )
    if as_json:
        return JSONResponse(view)
    context = {
        "e": view,
        "links": _subject_links(view["kind"], view["body"]),
        # The exact bytes, to save next to the proof for 'assay log check-proof --entry' (copying the text
        # from the page could change them).
        "entry_b64": base64.b64encode(view["entry"].encode()).decode(),
    }
    return request.app.state.templates.TemplateResponse(request, "log/entry.html", context)


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _subject_links(kind: str, body: dict[str, Any]) -> dict[str, str]:
    """Links from an entry's ids to the register's pages about them (system, provider, mark)."""
    pages = {"system": "/systems/{}", "provider": "/providers/{}"}
    if kind == "mark.recorded":
        pages["mark"] = "/marks/{}"
    return {
        field: template.format(quote(value, safe=""))
        for field, template in pages.items()
        if isinstance(value := body.get(field), str) and _ID.fullmatch(value)
    }


# What each kind of entry is, in words; the code stays beside it for those who verify.
KIND_LABELS = {
    "system.published": "System published",
    "system.updated": "System updated",
    "system.finding": "Exception reviewed",
    "system.suspended": "System suspended",
    "system.reinstated": "System reinstated",
    "system.deployer.confirmed": "Deployer confirmed",
    "system.deployer.denied": "Deployer denied",
    "system.rescreened": "Screened under new rules",
    "provider.registered": "Provider registered",
    "token.issued": "API token issued",
    "token.revoked": "API token revoked",
    "provider.key.issued": "Marking key issued",
    "provider.key.revoked": "Marking key revoked",
    "provider.certificate.issued": "Signing certificate issued",
    "provider.certificate.revoked": "Signing certificate revoked",
    "mark.recorded": "Image marked",
    "complaints.key.published": "Complaints key published",
    "complaints.key.rotated": "Complaints key rotated",
}
# The facts worth a glance besides system and provider, by field, in this order (the entry page has them all).
_DETAILS = {
    "version": "version",
    "system_version": "version",
    "outcome": "outcome",
    "previous_outcome": "was",
    "impact_level": "impact level",
    "rule": "rule",
    "decision": "decision",
    "deployer": "deployer",
    "role": "role",
    "token_id": "token",
    "key_id": "key",
    "mark": "mark",
}


def _describe_entries(db: Any, entries: list[dict[str, Any]]) -> None:
    """Add to each entry what it is about: its kind in words, the system and provider (names and links)."""
    from assay.register.service import subject_names

    system_ids = {b["system"] for e in entries if isinstance(b := e["body"], dict) and isinstance(b.get("system"), str)}
    provider_ids = {
        b["provider"] for e in entries if isinstance(b := e["body"], dict) and isinstance(b.get("provider"), str)
    }
    with db.read() as session:
        systems, providers = subject_names(session, systems=system_ids, providers=provider_ids)
    for e in entries:
        body = e["body"] if isinstance(e["body"], dict) else {}
        links = _subject_links(e["kind"], body)
        system_id = body.get("system") if isinstance(body.get("system"), str) else None
        system = systems.get(system_id) if system_id else None
        provider_id = body.get("provider") if isinstance(body.get("provider"), str) else None
        provider_id = provider_id or (system[1] if system else None)
        e["label"] = KIND_LABELS.get(e["kind"], e["kind"])
        e["system"] = (
            {"id": system_id, "name": system[0] if system else system_id, "href": links.get("system")}
            if system_id
            else None
        )
        e["provider"] = (
            {
                "id": provider_id,
                "name": providers.get(provider_id, provider_id),
                "href": f"/providers/{quote(provider_id, safe='')}" if _ID.fullmatch(provider_id) else None,
            }
            if provider_id
            else None
        )
        e["details"] = [(label, body[field], links.get(field)) for field, label in _DETAILS.items() if field in body][
            :3
        ]


@router.get(
    "/log",
    tags=["log"],
    summary="What the log is and how to verify it",
    response_class=HTMLResponse,
    responses={422: {"description": "A malformed 'before' (an HTML error page)", "content": {"text/html": {}}}},
)
def log_page(request: Request, before: int | None = Query(None, ge=1, le=2**63 - 1)) -> Response:
    tlog = _log(request)
    page = 25
    recent = []
    for idx, data in recent_entries(tlog.db, limit=page, before=before):
        entry = decode_entry(data)
        recent.append({"index": idx, "kind": entry["kind"], "time": entry["time"], "body": entry["body"]})
    _describe_entries(tlog.db, recent)
    older = recent[-1]["index"] if len(recent) == page and recent[-1]["index"] > 0 else None
    context = {"cp": _checkpoint_view(tlog), "recent": recent, "older": older}
    return request.app.state.templates.TemplateResponse(request, "log/index.html", context)


# -- this register as a witness for other logs (C2SP tlog-witness) -----------------------------------------

_MAX_WITNESS_BODY = 64 * 1024


def _witness_key(request: Request):  # type: ignore[no-untyped-def]
    from assay.transparency.witness import load_or_create_witness_key

    key = getattr(request.app.state, "witness_key", None)
    if key is None:
        key = load_or_create_witness_key(request.app.state.config)
        request.app.state.witness_key = key
    return key


@router.post(
    "/witness/add-checkpoint",
    tags=["log"],
    summary="Cosign a checkpoint (C2SP tlog-witness)",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "The cosignature line(s)", **_TEXT},
        400: {"description": "Malformed request, or old size beyond the checkpoint", **_TEXT},
        403: {"description": "Not validly signed by the log's key", **_TEXT},
        404: {"description": "A log this witness does not witness", **_TEXT},
        409: {
            "description": "The old size is not the last cosigned; body: that size",
            "content": {"text/x.tlog.size": {}},
        },
        422: {"description": "Inconsistent with the last cosigned checkpoint", **_TEXT},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "'old <size>', up to 63 base64 consistency proof lines, a blank line, the checkpoint",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def witness_add_checkpoint(request: Request) -> Response:
    from assay.transparency.witness import add_checkpoint

    body = await request.body()
    if len(body) > _MAX_WITNESS_BODY:
        return Response(
            f"the request is larger than {_MAX_WITNESS_BODY} bytes\n",
            status_code=400,
            media_type="text/plain; charset=utf-8",
        )
    answer = await run_in_threadpool(add_checkpoint, request.app.state.db, _witness_key(request), body)
    return Response(
        # Set as is: Starlette would append a charset to text/x.tlog.size, whose form the spec fixes.
        answer.body.encode(),
        status_code=answer.status,
        headers={"Cache-Control": "no-store", "Content-Type": answer.content_type},
    )


@router.get(
    "/witness/vkey", tags=["log"], summary="This witness's cosignature verifier key", response_class=PlainTextResponse
)
def witness_vkey(request: Request) -> Response:
    return Response(_witness_key(request).vkey + "\n", media_type="text/plain; charset=utf-8")


@router.get(
    "/witness/{origin_hash}/checkpoint",
    tags=["log"],
    response_class=PlainTextResponse,
    summary="The latest checkpoint this witness cosigned for a log (by SHA-256 of its origin, hex)",
    responses={404: {"description": "Never cosigned (or not an origin hash)", **_TEXT}},
)
def witness_latest(request: Request, origin_hash: str) -> Response:
    from assay.transparency.witness import witness_checkpoint

    note = witness_checkpoint(request.app.state.db, origin_hash)
    if note is None:
        return Response(
            "this witness has not cosigned a checkpoint of that log\n",
            status_code=404,
            media_type="text/plain; charset=utf-8",
        )
    return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": SHORT})
