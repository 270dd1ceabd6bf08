"""The register's JSON API (``/api/v1/...``) and its open-data exports: reads, writes and their helpers.

Thin: every read and write is one call of ``assay.register.service`` inside one transaction; this module
only turns HTTP into those calls and views into JSON.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from assay.db import Database
from assay.errors import FieldProblem, InvalidInput, NotFound, UnsupportedMedia
from assay.register import service
from assay.register.access import Principal
from assay.register.search import SystemQuery
from assay.register.vocabulary import Capability, DeploymentContext, Status
from assay.web.auth import require_principal
from assay.web.deps import get_config, get_db
from assay.web.routes.register_schemas import (
    _DISCLOSURE_BODY,
    DISCLOSURE_TYPES,
    DeployerDecisionIn,
    Outcome,
    ProviderId,
    ProviderIn,
    ProviderListOut,
    ProviderOut,
    ReasonIn,
    ReviewIn,
    SystemDetailOut,
    SystemId,
    SystemListOut,
    ValidationOut,
    VersionDetailOut,
    VersionListOut,
    WhoAmIOut,
    _detail_out,
    _errors,
    _provider_out,
    _summary_out,
    _version_out,
)

router = APIRouter()


def _system_query(
    q: str = Query("", max_length=500, description="Words to search for (all must match, as prefixes)."),
    provider: str | None = Query(None, max_length=64, description="Only this provider's systems."),
    capability: Capability | None = Query(None, description="Only systems declaring this capability."),
    context: DeploymentContext | None = Query(None, description="Only systems used in this context."),
    outcome: Outcome | None = Query(None, description="Only systems with this screening outcome."),
    impact_level: int | None = Query(None, ge=1, le=4, description="Only systems at this impact level."),
    status: Status | None = Query(None, description="Only systems with this status."),
    suspended: bool | None = Query(None, description="Only suspended (true) or not suspended (false) systems."),
    sort: Literal["relevance", "name", "updated"] = Query("relevance", description="Order of the results."),
    page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1."),
    per_page: int | None = Query(
        None, ge=1, le=1_000_000, description="Items per page (default ASSAY_PAGE_SIZE, at most ASSAY_MAX_PAGE_SIZE)."
    ),
    config: Any = Depends(get_config),
) -> SystemQuery:
    return SystemQuery(
        q=q,
        provider=provider,
        capability=capability.value if capability else None,
        context=context.value if context else None,
        outcome=outcome,
        impact_level=impact_level,
        status=status.value if status else None,
        suspended=suspended,
        sort=sort,
        page=page,
        per_page=min(per_page or config.page_size, config.max_page_size),  # clamped, as GitHub's API does
    ).validated(max_per_page=config.max_page_size)


@router.get(
    "/api/v1/systems",
    response_model=SystemListOut,
    tags=["register"],
    summary="List and search systems",
    responses=_errors(422),
)
def api_list_systems(
    request: Request, response: Response, query: SystemQuery = Depends(_system_query), db: Database = Depends(get_db)
) -> dict[str, Any]:
    """Systems with their screening outcome and impact level, filtered and paginated (newest rules apply)."""
    with db.read() as session:
        page = service.search(session, query)
    links = _links(request, page)
    response.headers["link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url and rel != "self")
    return {
        "items": [_summary_out(s) for s in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "total_is_exact": page.total_is_exact,
        "pages": page.pages,
        "links": links,
    }


@router.get(
    "/api/v1/systems/{system_id}",
    response_model=SystemDetailOut,
    tags=["register"],
    summary="One system: disclosure, findings, impact level, history",
    responses=_errors(404, 422),
)
def api_get_system(response: Response, system_id: str = SystemId, db: Database = Depends(get_db)) -> dict[str, Any]:
    with db.read() as session:
        view = service.get_system(session, system_id)
        if view is None:
            raise no_system(system_id)
        versions = service.history(session, system_id)
    # The version a client must name (expected_version / If-Match) to update it.
    response.headers["etag"] = f'"{view.version_number}"'
    return _detail_out(view, versions)


@router.get(
    "/api/v1/systems/{system_id}/versions",
    response_model=VersionListOut,
    tags=["register"],
    summary="Every version of a system, newest first (paginated)",
    responses=_errors(404, 422),
)
def api_versions(
    request: Request,
    response: Response,
    system_id: str = SystemId,
    page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1."),
    per_page: int | None = Query(None, ge=1, le=1_000_000, description="Items per page (at most ASSAY_MAX_PAGE_SIZE)."),
    db: Database = Depends(get_db),
    config: Any = Depends(get_config),
) -> dict[str, Any]:
    per_page = min(per_page or config.page_size, config.max_page_size)
    with db.read() as session:
        result = service.history_page(session, system_id, page=page, per_page=per_page)
    links = _links(request, result)
    response.headers["link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url and rel != "self")
    return {
        "items": [_version_out(v) for v in result.items],
        "page": result.page,
        "per_page": result.per_page,
        "total": result.total,
        "pages": result.pages,
        "links": links,
    }


@router.get(
    "/api/v1/systems/{system_id}/versions/{number}",
    response_model=VersionDetailOut,
    tags=["register"],
    summary="One version of a system in full",
    responses=_errors(404, 422),
)
def api_version(
    system_id: str = SystemId, number: int = Path(ge=1, le=2_000_000_000), db: Database = Depends(get_db)
) -> dict[str, Any]:
    with db.read() as session:
        v = service.get_version(session, system_id, number)
    if v is None:
        raise NotFound(
            f"system {system_id!r} has no version {number}",
            hint=f"list its versions at /api/v1/systems/{system_id}/versions",
        )
    out = _version_out(v)
    out.update(
        system_id=v.system_id,
        findings=v.findings,
        impact=v.impact,
        reviews=v.reviews,
        disclosure=v.disclosure,
        rules_version=v.rules_version,
    )
    return out


@router.get(
    "/api/v1/providers",
    response_model=ProviderListOut,
    tags=["register"],
    summary="List providers",
    responses=_errors(422),
)
def api_list_providers(
    request: Request,
    page: int = Query(1, ge=1, le=1_000_000),
    per_page: int | None = Query(None, ge=1, le=1_000_000, description="Items per page (at most ASSAY_MAX_PAGE_SIZE)."),
    db: Database = Depends(get_db),
    config: Any = Depends(get_config),
) -> dict[str, Any]:
    per_page = min(per_page or config.page_size, config.max_page_size)
    with db.read() as session:
        result = service.list_providers(session, page=page, per_page=per_page)
    return {
        "items": [_provider_out(p) for p in result.items],
        "page": result.page,
        "per_page": result.per_page,
        "total": result.total,
        "pages": result.pages,
        "links": _links(request, result),
    }


@router.get(
    "/api/v1/providers/{provider_id}",
    response_model=ProviderOut,
    tags=["register"],
    summary="One provider",
    responses=_errors(404, 422),
)
def api_get_provider(provider_id: str = ProviderId, db: Database = Depends(get_db)) -> dict[str, Any]:
    with db.read() as session:
        p = service.get_provider(session, provider_id)
    if p is None:
        raise NotFound(f"there is no provider {provider_id!r}", hint="list providers at /api/v1/providers")
    return _provider_out(p)


@router.get(
    "/api/v1/whoami", response_model=WhoAmIOut, tags=["register"], summary="Check a token", responses=_errors(401)
)
def api_whoami(principal: Principal = Depends(require_principal)) -> dict[str, Any]:
    return {
        "token_id": principal.token_id,
        "role": "admin" if principal.is_admin else "provider",
        "provider_id": principal.provider_id,
    }


@router.get(
    "/api/v1/vocabularies",
    tags=["register"],
    summary="Every controlled vocabulary with labels",
    response_model=dict[str, list[dict[str, str]]],
)
def api_vocabularies() -> dict[str, Any]:
    from assay.register.vocabulary import vocabulary_table

    return vocabulary_table()


@router.get(
    "/api/v1/rules",
    tags=["register"],
    summary="The red-line rules the register screens against",
    response_model=dict[str, Any],
)
def api_rules() -> dict[str, Any]:
    from assay.register.screening import load_rules

    rules = load_rules()
    return {"version": rules.version, "rules": rules.as_data()}


@router.get(
    "/schema/disclosure/v1.json",
    tags=["register"],
    summary="The disclosure format's JSON Schema",
    response_class=JSONResponse,
    responses={
        200: {
            "content": {"application/schema+json": {"schema": {"type": "object"}}},
            "description": "A JSON Schema (2020-12).",
        }
    },
)
def disclosure_schema(config: Any = Depends(get_config)) -> JSONResponse:
    from assay.register.disclosure import disclosure_json_schema

    return JSONResponse(
        disclosure_json_schema(config.base_url),
        media_type="application/schema+json",
        headers={"cache-control": "public, max-age=3600", "access-control-allow-origin": "*"},
    )


async def _disclosure_body(request: Request) -> bytes:
    media = request.headers.get("content-type", "")
    kind, _, params = media.partition(";")
    kind = kind.strip().lower()
    if kind and kind not in DISCLOSURE_TYPES and not kind.endswith("+json"):
        raise UnsupportedMedia(
            f"a disclosure cannot be sent as {kind!r}",
            hint="send it as application/json or application/yaml (UTF-8)",
        )
    charset = params.strip().lower().removeprefix("charset=").strip('"') if "charset=" in params.lower() else ""
    if charset and charset.replace("-", "") != "utf8":
        raise UnsupportedMedia(f"a disclosure must be UTF-8, not {charset!r}", hint="send it encoded as UTF-8")
    return await request.body()


@router.post(
    "/api/v1/systems",
    response_model=SystemDetailOut,
    status_code=201,
    tags=["register"],
    summary="Publish a system",
    responses=_errors(401, 403, 404, 409, 413, 415, 422),
    openapi_extra=_DISCLOSURE_BODY,
)
async def api_publish(
    request: Request,
    response: Response,
    provider: str | None = Query(None, max_length=64, description="Admins: the provider to publish for."),
    reason: str = Query("", max_length=2000, description="Why it is published (shown in the history)."),
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    """Publish a new system from its disclosure (JSON or YAML). It is validated, screened against the red
    lines and given an impact level; the response shows all three. A provider's token publishes for its own
    provider only."""
    body = await _disclosure_body(request)

    def work() -> dict[str, Any]:
        with db.write() as session:
            view = service.publish(
                session, body, principal=principal, provider_id=provider, reason=reason, source="the request body"
            )
            return _detail_out(view, service.history(session, view.id))

    out = await run_in_threadpool(work)
    response.headers["location"] = out["api_url"]
    response.headers["etag"] = f'"{out["version_number"]}"'
    return out


@router.put(
    "/api/v1/systems/{system_id}",
    response_model=SystemDetailOut,
    tags=["register"],
    summary="Update a system (adds a version)",
    responses=_errors(401, 403, 404, 409, 413, 415, 422),
    openapi_extra=_DISCLOSURE_BODY,
)
async def api_update(
    request: Request,
    response: Response,
    system_id: str = SystemId,
    expected_version: int | None = Query(
        None, ge=1, le=2_000_000_000, description="The version this update is based on (or send If-Match)."
    ),
    reason: str = Query("", max_length=2000, description="Why it changed (shown in the history)."),
    if_match: str | None = Header(
        None,
        max_length=16,
        pattern=r'^(W/)?"?[1-9][0-9]{0,8}"?$',
        description='The ETag of the version read, e.g. "3".',
    ),
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    """Replace the disclosure with a new version; earlier versions stay on record. Name the version you based
    the change on (``expected_version`` or ``If-Match``): if someone else updated the system since, you get
    409 and nothing is written."""
    expected = expected_version if expected_version is not None else _if_match_version(if_match)
    body = await _disclosure_body(request)

    def work() -> dict[str, Any]:
        with db.write() as session:
            view = service.update(
                session,
                system_id,
                body,
                expected_version=expected,
                principal=principal,
                reason=reason,
                source="the request body",
            )
            return _detail_out(view, service.history(session, view.id))

    out = await run_in_threadpool(work)
    response.headers["etag"] = f'"{out["version_number"]}"'
    return out


@router.post(
    "/api/v1/validate",
    response_model=ValidationOut,
    tags=["register"],
    summary="Validate a disclosure without publishing it",
    responses=_errors(413, 415, 422),
    openapi_extra=_DISCLOSURE_BODY,
)
async def api_validate(request: Request) -> dict[str, Any]:
    """What publishing would record: the screening outcome, findings and impact level. Writes nothing."""
    body = await _disclosure_body(request)
    return await run_in_threadpool(service.validate, body, source="the request body")


def _admin_write(db: Database, fn: Any, system_id: str, **kwargs: Any) -> dict[str, Any]:
    with db.write() as session:
        view = fn(session, system_id, **kwargs)
        return _detail_out(view, service.history(session, view.id))


@router.post(
    "/api/v1/systems/{system_id}/suspend",
    response_model=SystemDetailOut,
    tags=["register: admin"],
    summary="Suspend a system",
    responses=_errors(401, 403, 404, 409, 422),
)
def api_suspend(
    body: ReasonIn,
    system_id: str = SystemId,
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    return _admin_write(db, service.suspend, system_id, reason=body.reason, principal=principal)


@router.post(
    "/api/v1/systems/{system_id}/reinstate",
    response_model=SystemDetailOut,
    tags=["register: admin"],
    summary="Lift a suspension",
    responses=_errors(401, 403, 404, 409, 422),
)
def api_reinstate(
    body: ReasonIn,
    system_id: str = SystemId,
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    return _admin_write(db, service.reinstate, system_id, reason=body.reason, principal=principal)


@router.post(
    "/api/v1/systems/{system_id}/reviews",
    response_model=SystemDetailOut,
    tags=["register: admin"],
    summary="Uphold or reject a claimed exception",
    responses=_errors(401, 403, 404, 409, 422),
)
def api_review(
    body: ReviewIn,
    system_id: str = SystemId,
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    return _admin_write(
        db,
        service.review_exception,
        system_id,
        rule_id=body.rule_id,
        decision=body.decision,
        reason=body.reason,
        version=body.version,
        principal=principal,
    )


@router.post(
    "/api/v1/systems/{system_id}/deployer-confirmation",
    response_model=SystemDetailOut,
    tags=["register"],
    summary="Confirm (or deny) being a deployer of a system",
    responses=_errors(401, 403, 404, 409, 422),
)
def api_confirm_deployer(
    body: DeployerDecisionIn,
    system_id: str = SystemId,
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    """The organisation named as a deployer in the system's current disclosure answers with its own token
    (the deployer is the token's provider). Until it confirms, pages, the API and the export show it as "named
    by the provider, not confirmed". If a later version changes what the disclosure says about the deployer, it
    must confirm again. The provider's or the oversight body's token gets 403."""
    return _admin_write(db, service.confirm_deployer, system_id, decision=body.decision, principal=principal)


@router.post(
    "/api/v1/providers",
    response_model=ProviderOut,
    status_code=201,
    tags=["register: admin"],
    summary="Register a provider",
    responses=_errors(401, 403, 409, 422),
)
def api_add_provider(
    body: ProviderIn,
    response: Response,
    principal: Principal = Depends(require_principal),
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    with db.write() as session:
        p = service.add_provider(
            session,
            id=body.id,
            name=body.name,
            jurisdiction=body.jurisdiction,
            website=body.website,
            principal=principal,
        )
    response.headers["location"] = f"/api/v1/providers/{p.id}"
    return _provider_out(p)


@router.get(
    "/api/v1/export/systems.json",
    tags=["open data"],
    summary="The whole register as JSON (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}}, "description": "Every system, in full."}},
)
def export_json(db: Database = Depends(get_db), config: Any = Depends(get_config)) -> StreamingResponse:
    from assay.register.export import iter_json

    return StreamingResponse(
        iter_json(db, base_url=config.base_url),
        media_type="application/json",
        headers={
            "content-disposition": 'attachment; filename="assay-systems.json"',
            "access-control-allow-origin": "*",
        },
    )


@router.get(
    "/api/v1/export/systems.csv",
    tags=["open data"],
    summary="The whole register as CSV (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per system."}},
)
def export_csv(db: Database = Depends(get_db), config: Any = Depends(get_config)) -> StreamingResponse:
    from assay.register.export import iter_csv

    return StreamingResponse(
        iter_csv(db, base_url=config.base_url),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="assay-systems.csv"', "access-control-allow-origin": "*"},
    )


def no_system(system_id: str) -> NotFound:
    return NotFound(
        f"there is no system {system_id!r} in the register",
        hint="search the register at /systems (API: /api/v1/systems)",
    )


def _if_match_version(if_match: str | None) -> int:
    if if_match is None:
        raise InvalidInput(
            "say which version your update is based on",
            hint='add ?expected_version=N (or the header If-Match: "N") with the version you read',
            problems=[FieldProblem("query.expected_version", "missing", "give the version number you read")],
        )
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or not 1 <= int(text) <= 2_000_000_000:
        raise InvalidInput(
            f"If-Match {if_match!r} is not a version this API gave out",
            hint='send the ETag of GET /api/v1/systems/{id}, e.g. If-Match: "3"',
            problems=[FieldProblem("header.if-match", "not a version number", 'e.g. "3"')],
        )
    return int(text)


def _links(request: Request, page: Any) -> dict[str, str | None]:
    def at(n: int) -> str:
        return page_url(request, n)

    return {
        "self": at(page.page),
        "next": at(page.page + 1) if page.has_next else None,
        "prev": at(page.page - 1) if page.has_prev and page.page - 1 <= page.pages else None,
    }


def page_url(request: Request, n: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page" and v != ""]
    if n > 1:
        params.append(("page", str(n)))
    return request.url.path + (("?" + urlencode(params)) if params else "")
