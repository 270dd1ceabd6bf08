"""Provenance on the web: the /check page, the check and marking API, mark records, the published trust
anchor, and the C2PA Soft Binding Resolution API.

Uploaded media is read into memory (never spooled to disk, never logged) by :func:`_read_upload`, bounded by
the app's upload limit, and dropped when the request ends.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select

from assay.config import Config
from assay.db import Database
from assay.errors import AssayError, FieldProblem, InvalidInput, NotFound, UnsupportedMedia
from assay.provenance.checking import check_media, mark_view
from assay.provenance.credentials import revoked_serials
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.keys import MarkId
from assay.provenance.marking import mark_images, record_batch
from assay.provenance.models import MarkRecord
from assay.provenance.resolution import (
    manifest_store,
    matches_by_binding,
    matches_by_content,
    supported_algorithms,
)
from assay.register.access import Principal
from assay.web.auth import require_principal
from assay.web.deps import get_config, get_db

router = APIRouter()


def _env(config: Config = Depends(get_config)) -> ProvenanceEnv:
    return ProvenanceEnv.open(config)


async def _read_upload(request: Request, *, field: str = "file") -> tuple[bytes, dict[str, str]]:
    """The uploaded file (multipart field ``field``, or the raw body) and the small text fields, in memory."""
    body = await request.body()  # bounded by the BodyLimit middleware (ASSAY_MAX_UPLOAD_BYTES)
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        if ctype.lower().startswith(("application/x-www-form-urlencoded", "application/json", "text/")):
            raise UnsupportedMedia(f"send the image itself, or a multipart form with a '{field}' field, not {ctype}",
                                   hint="e.g. curl --data-binary @image.jpg -H 'Content-Type: image/jpeg'")
        return body, {}
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(ctype)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("the multipart form has no boundary", hint="let your HTTP client build the form")
    parts: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    header_name = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        current.clear()
        current.update(headers={}, data=io.BytesIO())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        current["headers"][bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["data"].write(data[start:end])

    def on_part_end() -> None:
        parts.append({"headers": dict(current["headers"]), "data": current["data"].getvalue()})

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end})
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # noqa: BLE001 - the parser's errors all mean "malformed form"
        raise InvalidInput(f"the multipart form is malformed ({str(exc)[:100]})",
                           hint="let your HTTP client build the form") from None
    file_data: bytes | None = None
    fields: dict[str, str] = {}
    for part in parts[:20]:
        _, disp = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        if name == field:
            file_data = part["data"]
        elif len(part["data"]) <= 1000:
            fields[name] = part["data"].decode("utf-8", "replace")
    if file_data is None:
        raise InvalidInput(f"the form has no '{field}' field", hint="choose a file to check",
                           problems=[FieldProblem(field, "missing", "attach the image")])
    return file_data, fields


# ---------------------------------------------------------------------------------------------- checking

@router.get("/check", response_class=HTMLResponse, include_in_schema=False)
def check_page(request: Request) -> HTMLResponse:
    return _check_template(request, {"verdict": None})


def _check_template(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    max_mb = max(1, request.app.state.config.max_upload_bytes // 1_000_000)
    return request.app.state.templates.TemplateResponse(request, "provenance/check.html",
                                                        context | {"max_mb": max_mb}, status_code=status_code)


@router.post("/check", response_class=HTMLResponse, include_in_schema=False)
async def check_page_post(request: Request, db: Database = Depends(get_db), env: ProvenanceEnv = Depends(_env)):
    try:
        data, _ = await _read_upload(request)
        verdict = await run_in_threadpool(check_media, db, env, data, name="the file")
    except AssayError as exc:
        return _check_template(request, {"verdict": None, "error": exc}, exc.http_status)
    return _check_template(request, {"verdict": verdict.as_dict()})


@router.post("/api/v1/check", tags=["provenance"], summary="Check an image for an Assay mark and Content Credentials",
             openapi_extra={"requestBody": {"content": {
                 "image/*": {"schema": {"type": "string", "format": "binary"}},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}}}}}}})
async def api_check(request: Request, db: Database = Depends(get_db), env: ProvenanceEnv = Depends(_env)) -> Any:
    """Send the image as the body (or as the ``file`` field of a form). The image is checked in memory and
    never stored. The answer is the verdict: who made it, the evidence, and what the check cannot know."""
    data, _ = await _read_upload(request)
    verdict = await run_in_threadpool(check_media, db, env, data, name="the file")
    body = verdict.as_dict()
    body.pop("file", None)
    return body


# ---------------------------------------------------------------------------------------------- marking

def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


@router.post("/api/v1/marks", tags=["provenance"], summary="Mark an image made by one of your systems",
             openapi_extra={"requestBody": {"content": {
                 "image/*": {"schema": {"type": "string", "format": "binary"}},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}, "system_id": {"type": "string"},
                     "visible_label": {"type": "boolean"}}}}}}})
async def api_mark(request: Request, system_id: str | None = Query(None), visible_label: bool = Query(False),
                   principal: Principal = Depends(require_principal), db: Database = Depends(get_db),
                   env: ProvenanceEnv = Depends(_env)) -> Response:
    """Embeds the watermark with a fresh mark id, signs Content Credentials with your certificate and records
    the mark. Answers with the marked image (``Assay-Mark-Id`` header), or with JSON when you ask for
    ``Accept: application/json``."""
    data, fields = await _read_upload(request)
    system_id = system_id or fields.get("system_id")
    if not system_id:
        raise InvalidInput("say which system made the image", hint="send system_id (query or form field)",
                           problems=[FieldProblem("system_id", "missing", "the id of your registered system")])
    label = visible_label or _bool(fields.get("visible_label"))
    results = await run_in_threadpool(mark_images, db, env, images=[data], system_id=system_id,
                                      principal=principal, visible_label=label, names=["the image"])
    r = results[0]
    headers = {"Assay-Mark-Id": r.mark.hex, "Location": f"/api/v1/marks/{r.mark.hex}"}
    if r.log_index is not None:
        headers["Assay-Log-Index"] = str(r.log_index)
    if "application/json" in request.headers.get("accept", ""):
        body = r.as_dict() | {"data_base64": base64.b64encode(r.data).decode()}
        return JSONResponse(body, status_code=201, headers=headers)
    return Response(r.data, status_code=201, media_type=r.media_type, headers=headers)


@router.post("/api/v1/marks/batch", tags=["provenance"], summary="Record marks made offline with a marking kit")
async def api_record_batch(request: Request, principal: Principal = Depends(require_principal),
                           db: Database = Depends(get_db), env: ProvenanceEnv = Depends(_env)) -> Any:
    """Body: ``{"entries": [...]}``, the lines ``assay mark --offline`` wrote. All or nothing; re-sending an
    identical entry is harmless."""
    import json

    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON", hint='send {"entries": [...]}') from None
    entries = body.get("entries") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise InvalidInput("the body needs an 'entries' list", hint='send {"entries": [...]}',
                           problems=[FieldProblem("entries", "missing or not a list", "a list of mark entries")])
    results = await run_in_threadpool(record_batch, db, env, entries=entries, principal=principal)
    return {"recorded": sum(r["status"] == "recorded" for r in results), "results": results}


@router.get("/api/v1/marks", tags=["provenance"], summary="List recorded marks")
def api_list_marks(request: Request, system_id: str | None = None, provider_id: str | None = None,
                   page: int = Query(1, ge=1), per_page: int | None = Query(None, ge=1),
                   db: Database = Depends(get_db), config: Config = Depends(get_config)) -> Any:
    per_page = min(per_page or config.page_size, config.max_page_size)
    q = select(MarkRecord)
    count_q = select(func.count()).select_from(MarkRecord)
    if system_id:
        q, count_q = q.where(MarkRecord.system_id == system_id), count_q.where(MarkRecord.system_id == system_id)
    if provider_id:
        q = q.where(MarkRecord.provider_id == provider_id)
        count_q = count_q.where(MarkRecord.provider_id == provider_id)
    with db.read() as session:
        total = session.scalar(count_q) or 0
        rows = session.scalars(q.order_by(MarkRecord.created_at.desc(), MarkRecord.mark_id)
                               .offset((page - 1) * per_page).limit(per_page))
        items = [mark_view(r) for r in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def _mark_or_404(db: Database, mark_id: str) -> dict[str, Any]:
    mark = MarkId.parse(mark_id)
    with db.read() as session:
        row = session.get(MarkRecord, mark.hex)
        if row is None:
            raise NotFound(f"there is no recorded mark {mark.hex}",
                           hint="a mark made offline appears once its provider records the batch")
        return mark_view(row)


@router.get("/api/v1/marks/{mark_id}", tags=["provenance"], summary="One mark record")
def api_mark_record(mark_id: str, db: Database = Depends(get_db)) -> Any:
    return _mark_or_404(db, mark_id)


@router.get("/marks/{mark_id}", response_class=HTMLResponse, include_in_schema=False)
def mark_page(request: Request, mark_id: str, db: Database = Depends(get_db)) -> HTMLResponse:
    view = _mark_or_404(db, mark_id)
    from assay.register.service import get_system

    with db.read() as session:
        system = get_system(session, view["system_id"])
    return request.app.state.templates.TemplateResponse(request, "provenance/mark.html",
                                                        {"mark": view, "system": system})


# ---------------------------------------------------------------------------------------------- trust

@router.get("/trust/anchors.pem", tags=["provenance"], summary="The register's C2PA trust anchors (PEM)")
def trust_anchors(env: ProvenanceEnv = Depends(_env)) -> Response:
    """Give these to a C2PA validator (e.g. c2pa-python's Context trust settings) to see Assay-signed
    Content Credentials as Trusted."""
    return Response(env.anchors_pem(), media_type="application/x-pem-file",
                    headers={"Cache-Control": "public, max-age=3600"})


@router.get("/trust/intermediate.pem", tags=["provenance"], summary="The CA that issues providers' certificates")
def trust_intermediate(env: ProvenanceEnv = Depends(_env)) -> Response:
    return Response(env.ca.intermediate_pem(), media_type="application/x-pem-file")


@router.get("/trust/crl.der", tags=["provenance"], summary="Revoked provider signing certificates (CRL)")
def trust_crl(db: Database = Depends(get_db), env: ProvenanceEnv = Depends(_env)) -> Response:
    with db.read() as session:
        revoked = revoked_serials(session)
    return Response(env.ca.crl_der(revoked), media_type="application/pkix-crl")


# ---------------------------------------------------------------------------------------------- C2PA resolution

@router.get("/services/supportedAlgorithms", tags=["c2pa-soft-binding"],
            summary="Soft-binding algorithms this register resolves")
def sb_supported() -> Any:
    return supported_algorithms()


@router.get("/matches/byBinding", tags=["c2pa-soft-binding"], summary="Manifests for a soft-binding value")
def sb_by_binding(alg: str | None = Query(None), value: str | None = Query(None),
                  maxResults: int | None = Query(None), db: Database = Depends(get_db),  # noqa: N803 - spec name
                  env: ProvenanceEnv = Depends(_env)) -> Any:
    return matches_by_binding(db, env, alg=alg, value=value, max_results=maxResults)


@router.post("/matches/byBinding", tags=["c2pa-soft-binding"], summary="Manifests for a soft-binding value (body)")
async def sb_by_binding_post(request: Request, maxResults: int | None = Query(None),  # noqa: N803
                             db: Database = Depends(get_db), env: ProvenanceEnv = Depends(_env)) -> Any:
    import json

    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON", hint='send {"alg": "...", "value": "..."}') from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", hint='send {"alg": "...", "value": "..."}')
    return matches_by_binding(db, env, alg=body.get("alg"), value=body.get("value"), max_results=maxResults)


@router.post("/matches/byContent", tags=["c2pa-soft-binding"], summary="Manifests for an asset's watermark",
             openapi_extra={"requestBody": {"content": {
                 "image/*": {"schema": {"type": "string", "format": "binary"}}}}})
async def sb_by_content(request: Request, alg: str | None = Query(None), maxResults: int | None = Query(None),  # noqa: N803
                        db: Database = Depends(get_db), env: ProvenanceEnv = Depends(_env)) -> Any:
    data, _ = await _read_upload(request)
    return await run_in_threadpool(matches_by_content, db, env, data, alg=alg, max_results=maxResults)


@router.get("/manifests/{manifestId}", tags=["c2pa-soft-binding"], summary="A recorded C2PA manifest store",
            response_class=Response, responses={200: {"content": {"application/c2pa": {}}}})
def sb_manifest(manifestId: str, returnActiveManifest: bool = Query(False),  # noqa: N803
                db: Database = Depends(get_db)) -> Response:
    # Each record holds exactly one manifest (the active one), so returnActiveManifest changes nothing.
    return Response(manifest_store(db, manifestId), media_type="application/c2pa")
