"""Provenance on the web: the /check page, the check and marking API, mark records, the published trust
anchor, and the C2PA Soft Binding Resolution API.

Uploaded media is read into memory (never spooled to disk, never logged) by :mod:`assay.web.uploads`, bounded
by the app's upload limit, and dropped when the request ends.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from pydantic.config import JsonDict
from starlette.convertors import Convertor, register_url_convertor

from assay.config import Config
from assay.db import Database
from assay.errors import AssayError, FieldProblem, InvalidInput
from assay.provenance.checking import check_media
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.keys import binding_algorithms
from assay.provenance.marking import MAX_BATCH, mark_images, record_batch
from assay.provenance.media import MARKABLE_TYPES
from assay.provenance.records import crl_der, list_marks, mark_page_view, mark_record, provider_credentials
from assay.provenance.resolution import (
    MAX_RESULTS,
    manifest_store,
    matches_by_binding,
    matches_by_content,
    supported_algorithms,
)
from assay.register.access import Principal
from assay.web.auth import optional_principal, require_principal
from assay.web.deps import get_config, get_db
from assay.web.errors import error_responses
from assay.web.routes.provenance_models import (
    BatchOut,
    MarkedOut,
    MarkListOut,
    MarkOut,
    MatchesOut,
    SupportedAlgorithmsOut,
    VerdictOut,
)
from assay.web.textcheck import TEXT_BODIES, TextVerdictOut, check_text_body, is_text_request, is_text_upload
from assay.web.uploads import MediaSlots, read_media_upload, read_text_box

router = APIRouter()


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_IMAGE_BODY = {"image/*": _BINARY}
_UPLOAD_ERRORS = (
    413,
    (415, "Not an image or text Assay can read (e.g. text that is not UTF-8), or a form sent instead of the file"),
    (422, "Empty, damaged, or too small to carry a mark (the hint says how large)"),
    (429, "Busy examining other images: try again in a few seconds"),
)
# A soft-binding value: base64 of the 8-byte mark (12 characters, the last one '=').
_BINDING_VALUE = r"^[A-Za-z0-9+/]{10}[AEIMQUYcgkosw048]=$"
_ALG: JsonDict = {"enum": list(binding_algorithms())}


def _env(config: Config = Depends(get_config)) -> ProvenanceEnv:
    return ProvenanceEnv.open(config)


def _media_slots(request: Request) -> Any:
    slots = getattr(request.app.state, "media_slots", None)
    if slots is None:  # made in the event loop on first use; no await in between, so made once
        slots = request.app.state.media_slots = MediaSlots(max(2, min(8, os.cpu_count() or 2)))
    return slots.for_request(request)  # one client never holds every slot


async def _read_upload(request: Request, *, field: str = "file") -> tuple[bytes, dict[str, str]]:
    """The uploaded file and its small text fields, in memory (see :mod:`assay.web.uploads`)."""
    return await read_media_upload(request, max_bytes=request.app.state.config.max_upload_bytes, field=field)


# ---------------------------------------------------------------------------------------------- checking


@router.get("/check", response_class=HTMLResponse, include_in_schema=False)
def check_page(request: Request) -> HTMLResponse:
    return _check_template(request, {"verdict": None})


@router.get("/check/shared", response_class=HTMLResponse, include_in_schema=False)
def shared_verdict_page(request: Request, db: Database = Depends(get_db)) -> HTMLResponse:
    """A verdict someone shared: re-stated from its signed link (no media is stored), with a form to check the
    same file again."""
    from assay.provenance.sharepage import shared_context

    context = shared_context(db, request.app.state.config, dict(request.query_params))
    return _check_template(request, context, 200 if context["shared"] is not None else 404)


def _check_template(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    from assay.provenance import wording

    max_mb = max(1, request.app.state.config.max_upload_bytes // 1_000_000)
    return request.app.state.templates.TemplateResponse(
        request, "provenance/check.html", context | {"max_mb": max_mb, "words": wording}, status_code=status_code
    )


@router.post("/check", response_class=HTMLResponse, include_in_schema=False)
async def check_page_post(request: Request, db: Database = Depends(get_db), config: Config = Depends(get_config)):
    try:
        if request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded"):
            # The text box: the text is checked in memory, never stored.
            text = await read_text_box(request, max_bytes=config.max_body_bytes, field="text")
            verdict = await run_in_threadpool(_text_verdict, db, config, text.encode(), "text/plain", "This text")
            return _check_template(request, {"verdict": verdict, "text": text})
        data, fields = await _read_upload(request)
        if is_text_upload(fields, data):  # a .txt, .md, .html or .docx file
            verdict = await run_in_threadpool(_text_verdict, db, config, data, "", "This file")
            return _check_template(request, {"verdict": verdict})
        # The message follows "We could not check this file." on the page, so it starts a sentence.
        image_verdict = await _media_slots(request).run(check_media, db, config, data, name="This file")
    except AssayError as exc:
        return _check_template(request, {"verdict": None, "error": exc}, exc.http_status)
    # The file's name is shown back with its verdict, never stored or logged.
    return _check_template(request, {"verdict": image_verdict.as_dict(), "file_name": fields.get("file.name", "")})


def _text_verdict(
    db: Database, config: Config, data: bytes, content_type: str, name: str, oversight: bool = False
) -> dict[str, Any]:
    from assay.provenance.textcheck import check_text
    from assay.provenance.textfiles import extract_text

    text = check_text_body(data, content_type, name) if content_type else extract_text(data, name)
    verdict = check_text(db, config, text, name=name).as_dict(oversight=oversight)
    verdict.pop("file", None)
    return verdict


@router.post(
    "/api/v1/check",
    tags=["provenance"],
    summary="Check an image or a text for an Assay mark and Content Credentials",
    responses={
        200: {"model": VerdictOut | TextVerdictOut, "description": "The verdict (``kind: text`` for a text)"},
        **error_responses(*_UPLOAD_ERRORS),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **_IMAGE_BODY,
                **TEXT_BODIES,
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    },
)
async def api_check(
    request: Request,
    db: Database = Depends(get_db),
    config: Config = Depends(get_config),
) -> Any:
    """Send the image as the body (or as the ``file`` field of a form); or a text: as a ``text/plain``,
    ``text/markdown`` or ``text/html`` body, as JSON ``{"text": ...}``, or as a Word document (.docx). What is
    checked is held in memory and never stored. The answer is the verdict: who made it, the evidence, and what
    the check cannot know (texts: ``kind: text``, see docs/text-provenance.md).
    With the oversight body's token the evidence also carries the raw scores (detector p-value and z-score,
    hash distances, the fingerprint agreement), which public answers leave out."""
    oversight = await run_in_threadpool(_is_oversight, request, db)
    ctype = request.headers.get("content-type", "")
    if is_text_request(ctype):
        body = await request.body()  # bounded by the BodyLimit middleware
        return await run_in_threadpool(_text_verdict, db, config, body, ctype, "the text", oversight)
    data, fields = await _read_upload(request)
    if is_text_upload(fields, data):
        return await run_in_threadpool(_text_verdict, db, config, data, "", "the file", oversight)
    verdict = await _media_slots(request).run(check_media, db, config, data, name="the file")
    body = verdict.as_dict(oversight=oversight)
    body.pop("file", None)
    return body


def _is_oversight(request: Request, db: Database) -> bool:
    """Whether the request carries the oversight body's token. The token is optional here, so it is read by
    hand rather than declared (a declared bearer scheme would make it look required in the OpenAPI schema); a
    token that is sent must still be valid (401 otherwise)."""
    header = request.headers.get("authorization")
    if header is None:
        return False
    from fastapi.security import HTTPAuthorizationCredentials

    scheme, _, token = header.partition(" ")
    principal = optional_principal(request, HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip()), db)
    return principal is not None and principal.is_admin


# ---------------------------------------------------------------------------------------------- marking


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


@router.post(
    "/api/v1/marks",
    tags=["provenance"],
    summary="Mark an image made by one of your systems",
    status_code=201,
    response_class=Response,
    responses={
        201: {
            "model": MarkedOut,
            "headers": {"Assay-Mark-Id": {"schema": {"type": "string"}}},
            "description": "The marked image (in the format sent), or JSON with 'Accept: application/json'",
            "content": {t: _BINARY for t in MARKABLE_TYPES},
        },
        **error_responses(
            401,
            (403, "Not your system, or a system that may not mark (the hint says why)"),
            (404, "No such system"),
            (409, "The image already carries an Assay mark (the message names its system)"),
            *_UPLOAD_ERRORS,
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **_IMAGE_BODY,
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "system_id": {"type": "string"},
                            "visible_label": {"type": "boolean"},
                        },
                    }
                },
            },
        }
    },
)
async def api_mark(
    request: Request,
    system_id: str | None = Query(None),
    visible_label: bool = Query(False),
    remark: bool = Query(False, description="Mark again an image that already carries this system's own mark."),
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
    env: ProvenanceEnv = Depends(_env),
) -> Response:
    """Embeds the watermark with a fresh mark id, signs Content Credentials with your certificate and records
    the mark. Answers with the marked image (``Assay-Mark-Id`` header), or with JSON when you ask for
    ``Accept: application/json``."""
    data, fields = await _read_upload(request)
    system_id = system_id or fields.get("system_id")
    if not system_id:
        raise InvalidInput(
            "say which system made the image",
            hint="send system_id (query or form field)",
            problems=[FieldProblem("system_id", "missing", "the id of your registered system")],
        )
    label = visible_label or _bool(fields.get("visible_label"))
    results = await _media_slots(request).run(
        mark_images,
        db,
        env,
        images=[data],
        system_id=system_id,
        principal=principal,
        visible_label=label,
        names=["the file"],  # "the image is not an image ..." would contradict itself
        remark=remark,
    )
    r = results[0]
    headers = {"Assay-Mark-Id": r.mark.hex, "Location": f"/api/v1/marks/{r.mark.hex}"}
    if r.log_index is not None:
        headers["Assay-Log-Index"] = str(r.log_index)
    if "application/json" in request.headers.get("accept", ""):
        body = r.as_dict() | {"data_base64": base64.b64encode(r.data).decode()}
        return JSONResponse(body, status_code=201, headers=headers)
    return Response(r.data, status_code=201, media_type=r.media_type, headers=headers)


class BatchIn(BaseModel):
    # Entries are checked one by one by record_batch, whose problems name each wrong field of each entry.
    entries: list[Any] = Field(
        max_length=MAX_BATCH,
        description="The JSON lines 'assay mark --offline' wrote, one object each.",
        json_schema_extra={"minItems": 1, "items": {"type": "object"}},
    )


@router.post(
    "/api/v1/marks/batch",
    tags=["provenance"],
    summary="Record marks made offline with a marking kit",
    responses={
        200: {"model": BatchOut, "description": "Every entry is recorded (or was already)"},
        **error_responses(
            401,
            (403, "An entry's system is not this provider's, or may not mark"),
            (409, "A different entry was recorded under one of these mark ids"),
            413,
            (422, f"Not JSON, wrong entries (each listed in problems), or more than {MAX_BATCH} of them"),
        ),
    },
)
async def api_record_batch(
    body: BatchIn,
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
    env: ProvenanceEnv = Depends(_env),
) -> Any:
    """Body: ``{"entries": [...]}``, the lines ``assay mark --offline`` wrote. All or nothing; re-sending an
    identical entry is harmless."""
    results = await run_in_threadpool(record_batch, db, env, entries=body.entries, principal=principal)
    return {"recorded": sum(r["status"] == "recorded" for r in results), "results": results}


@router.get(
    "/api/v1/marks",
    tags=["provenance"],
    summary="List recorded marks",
    responses={200: {"model": MarkListOut, "description": "A page of marks, newest first"}, **error_responses(422)},
)
def api_list_marks(
    request: Request,
    system_id: str | None = None,
    provider_id: str | None = None,
    page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1."),
    per_page: int | None = Query(None, ge=1, le=1_000_000, description="Items per page (at most ASSAY_MAX_PAGE_SIZE)."),
    db: Database = Depends(get_db),
    config: Config = Depends(get_config),
) -> Any:
    """Public answers leave out the perceptual hash; the oversight body's token gets it."""
    oversight = _is_oversight(request, db)
    per_page = min(per_page or config.page_size, config.max_page_size)
    return list_marks(
        db, system_id=system_id, provider_id=provider_id, page=page, per_page=per_page, oversight=oversight
    ).as_dict()


class _MarkIdConvertor(Convertor[str]):
    """Only mark ids route to a mark's record, so ``/api/v1/marks/batch`` is not also a (malformed) mark id."""

    regex = "[0-9a-fA-F]{16}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("mark_id", _MarkIdConvertor())


@router.get(
    "/api/v1/marks/{mark_id:mark_id}",
    tags=["provenance"],
    summary="One mark record",
    responses={
        200: {"model": MarkOut, "description": "The mark's public record"},
        **error_responses((404, "No mark with this id is recorded (or not 16 hexadecimal digits)")),
    },
)
def api_mark_record(
    request: Request,
    mark_id: str = Path(
        description="16 hexadecimal digits, as 'assay mark' printed them.",
        json_schema_extra={"pattern": f"^{_MarkIdConvertor.regex}$"},
    ),
    db: Database = Depends(get_db),
) -> Any:
    """Public answers leave out the perceptual hash; the oversight body's token gets it."""
    return mark_record(db, mark_id, oversight=_is_oversight(request, db))


@router.get("/marks/{mark_id}", response_class=HTMLResponse, include_in_schema=False)
def mark_page(request: Request, mark_id: str, db: Database = Depends(get_db)) -> HTMLResponse:
    page = mark_page_view(db, mark_id)
    return request.app.state.templates.TemplateResponse(
        request,
        "provenance/mark.html",
        {"mark": page.mark, "system": page.system, "version_then": page.version_then},
    )


@router.get("/providers/{provider_id}/credentials", response_class=HTMLResponse, include_in_schema=False)
def provider_credentials_page(request: Request, provider_id: str, db: Database = Depends(get_db)) -> HTMLResponse:
    """A provider's signing certificates and marking keys (public facts only: fingerprints and key ids), so
    anyone can tie a file's Content Credentials or a mark to the provider, and see what was revoked and when."""
    c = provider_credentials(db, provider_id)
    return request.app.state.templates.TemplateResponse(
        request,
        "provenance/credentials.html",
        {"p": c.provider, "certificates": c.certificates, "keys": c.namespaces, "wm_keys": c.watermark_keys},
    )


# ---------------------------------------------------------------------------------------------- trust

_PEM = {"content": {"application/x-pem-file": {"schema": {"type": "string"}}}}


@router.get(
    "/trust/anchors.pem",
    tags=["provenance"],
    summary="The register's C2PA trust anchors (PEM)",
    response_class=Response,
    responses={200: {"description": "PEM certificates", **_PEM}},
)
def trust_anchors(env: ProvenanceEnv = Depends(_env)) -> Response:
    """Give these to a C2PA validator (e.g. c2pa-python's Context trust settings) to see Assay-signed
    Content Credentials as Trusted."""
    return Response(
        env.anchors_pem(), media_type="application/x-pem-file", headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get(
    "/trust/intermediate.pem",
    tags=["provenance"],
    summary="The CA that issues providers' certificates",
    response_class=Response,
    responses={200: {"description": "A PEM certificate", **_PEM}},
)
def trust_intermediate(env: ProvenanceEnv = Depends(_env)) -> Response:
    return Response(env.ca.intermediate_pem(), media_type="application/x-pem-file")


@router.get(
    "/trust/crl.der",
    tags=["provenance"],
    summary="Revoked provider signing certificates (CRL)",
    response_class=Response,
    responses={200: {"description": "An X.509 CRL (DER)", "content": {"application/pkix-crl": _BINARY}}},
)
def trust_crl(db: Database = Depends(get_db), env: ProvenanceEnv = Depends(_env)) -> Response:
    return Response(crl_der(db, env), media_type="application/pkix-crl")


# ---------------------------------------------------------------------------------------------- C2PA resolution


@router.get(
    "/services/supportedAlgorithms",
    tags=["c2pa-soft-binding"],
    summary="Soft-binding algorithms this register resolves",
    responses={200: {"model": SupportedAlgorithmsOut, "description": "The algorithms"}},
)
def sb_supported() -> Any:
    return supported_algorithms()


_MATCHES = {"model": MatchesOut, "description": "The manifests recorded with this mark (none if unknown)"}
_UNRESOLVABLE = (422, "An algorithm this register does not resolve, or a malformed value")
# Required, and documented with their exact form; checked by the resolver, whose messages say how to fix them.
_ALG_PARAM = Query(description="The soft-binding algorithm.", json_schema_extra=_ALG)
_MAX_RESULTS = Query(None, ge=1, le=MAX_RESULTS, description="At most this many matches (default 10).")


@router.get(
    "/matches/byBinding",
    tags=["c2pa-soft-binding"],
    summary="Manifests for a soft-binding value",
    responses={200: _MATCHES, **error_responses(_UNRESOLVABLE)},
)
def sb_by_binding(
    alg: str = _ALG_PARAM,
    value: str = Query(
        description="The c2pa.soft-binding block's value (base64 of the 8-byte mark).",
        json_schema_extra={"pattern": _BINDING_VALUE},
    ),
    maxResults: int | None = _MAX_RESULTS,
    db: Database = Depends(get_db),  # noqa: N803 - spec name
    config: Config = Depends(get_config),
) -> Any:
    return matches_by_binding(db, config, alg=alg, value=value, max_results=maxResults)


class BindingIn(BaseModel):
    alg: str = Field(description="The soft-binding algorithm.", json_schema_extra=_ALG)
    value: str = Field(
        description="The c2pa.soft-binding block's value (base64 of the 8-byte mark).",
        json_schema_extra={"pattern": _BINDING_VALUE},
    )


@router.post(
    "/matches/byBinding",
    tags=["c2pa-soft-binding"],
    summary="Manifests for a soft-binding value (body)",
    responses={200: _MATCHES, **error_responses(413, _UNRESOLVABLE)},
)
def sb_by_binding_post(
    body: BindingIn,
    maxResults: int | None = _MAX_RESULTS,  # noqa: N803
    db: Database = Depends(get_db),
    config: Config = Depends(get_config),
) -> Any:
    return matches_by_binding(db, config, alg=body.alg, value=body.value, max_results=maxResults)


@router.post(
    "/matches/byContent",
    tags=["c2pa-soft-binding"],
    summary="Manifests for an asset's watermark",
    responses={200: _MATCHES, **error_responses(*_UPLOAD_ERRORS)},
    openapi_extra={"requestBody": {"required": True, "content": _IMAGE_BODY}},
)
async def sb_by_content(
    request: Request,
    alg: str | None = Query(None, json_schema_extra=_ALG),
    maxResults: int | None = _MAX_RESULTS,  # noqa: N803
    db: Database = Depends(get_db),
    config: Config = Depends(get_config),
) -> Any:
    data, _ = await _read_upload(request)
    return await _media_slots(request).run(matches_by_content, db, config, data, alg=alg, max_results=maxResults)


@router.get(
    "/manifests/{manifestId}",
    tags=["c2pa-soft-binding"],
    summary="A recorded C2PA manifest store",
    response_class=Response,
    responses={
        200: {"description": "The manifest store", "content": {"application/c2pa": _BINARY}},
        **error_responses((404, "No manifest with this id is recorded")),
    },
)
def sb_manifest(
    manifestId: str,
    returnActiveManifest: bool = Query(False),  # noqa: N803
    db: Database = Depends(get_db),
) -> Response:
    # Each record holds exactly one manifest (the active one), so returnActiveManifest changes nothing.
    return Response(manifest_store(db, manifestId), media_type="application/c2pa")
