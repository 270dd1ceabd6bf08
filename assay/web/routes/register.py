"""The register on the web: public pages (``/systems``, ``/providers``, ``/rules``, ``/about``), the JSON API
under ``/api/v1``, the open-data exports and the disclosure's JSON Schema.

Reads are public. Writes take ``Authorization: Bearer <token>``: a provider's token publishes and updates that
provider's systems; an admin token (the oversight body) suspends, reinstates, reviews and adds providers.
Every error answers in the one error shape of ``assay.web.errors``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from assay.db import Database
from assay.errors import FieldProblem, InvalidInput, NotFound, UnsupportedMedia
from assay.register import service
from assay.register.access import Principal
from assay.register.search import SEARCH_WINDOW, SORTS, SystemQuery
from assay.register.vocabulary import Capability, DeploymentContext, Status
from assay.web.auth import require_principal
from assay.web.deps import get_config, get_db
from assay.web.errors import error_responses

router = APIRouter()

_ID = r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$"
SystemId = Path(description="The system's public id, e.g. 'acme-imagegen'.", max_length=80, pattern=_ID)
ProviderId = Path(description="The provider's id, e.g. 'acme'.", max_length=64, pattern=_ID)
Outcome = Literal["prohibited", "high_risk", "transparency", "minimal"]
DISCLOSURE_TYPES = (
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
    "text/plain",
)


# ------------------------------------------------------------------------------------------- API models


_CONFLICT = (409, "Conflicts with the current state (duplicate name, stale version)")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(*(_CONFLICT if c == 409 else c for c in codes))


class ProviderOut(BaseModel):
    id: str
    name: str
    jurisdiction: str
    website: str
    system_count: int
    created_at: datetime | None
    log_index: int | None
    url: str = Field(description="The provider's public page.")


class SystemSummaryOut(BaseModel):
    id: str
    name: str
    version: str = Field(description="The system's own version label.")
    status: str
    provider_id: str
    provider_name: str
    capabilities: list[str]
    contexts: list[str]
    outcome: Outcome = Field(
        description="The red-line screening outcome: the most severe finding, the register's policy lines included "
        "(see outcome_basis)."
    )
    outcome_basis: Literal["law", "register_policy"] = Field(
        "law",
        description="law: the law's own findings reach the outcome; register_policy: only the register's own policy "
        "lines (UN human-rights red lines, not binding law) do.",
    )
    impact_level: int = Field(ge=1, le=4)
    suspended: bool
    needs_review: bool = Field(description="An exception is claimed and awaits the oversight body's review.")
    summary: str
    training_data_headline: str
    version_number: int = Field(description="The register's version number of the current disclosure.")
    updated_at: datetime | None
    url: str = Field(description="The system's public page.")
    api_url: str
    name_copy: bool = Field(
        False, description="Another provider registered a system of the same name first (search ranks this after it)."
    )


class Links(BaseModel):
    self: str
    next: str | None
    prev: str | None


class SystemListOut(BaseModel):
    items: list[SystemSummaryOut]
    page: int
    per_page: int
    total: int = Field(description="Matches; for a search, at most 10,000 are counted (see total_is_exact).")
    total_is_exact: bool = Field(description="False when a search matched more systems than it counts.")
    pages: int
    links: Links


class ProviderListOut(BaseModel):
    items: list[ProviderOut]
    page: int
    per_page: int
    total: int
    pages: int
    links: Links


class VersionListOut(BaseModel):
    items: list[VersionOut]
    page: int
    per_page: int
    total: int
    pages: int
    links: Links


class VersionOut(BaseModel):
    number: int
    name: str
    version: str
    status: str
    reason: str = Field(description="Why this version was made.")
    actor: str = Field(description="Who made it: 'token:<id>' or 'operator'.")
    created_at: datetime
    disclosure_sha256: str
    outcome: Outcome
    impact_level: int
    needs_review: bool
    log_index: int | None
    log_url: str | None
    url: str


class ReviewOut(BaseModel):
    rule_id: str
    decision: Literal["upheld", "rejected"]
    reason: str
    claim_digest: str | None = Field(description="SHA-256 of the exact claim decided.")
    actor: str
    created_at: datetime
    log_index: int | None


class SuspensionOut(BaseModel):
    action: Literal["suspended", "reinstated"]
    reason: str
    actor: str
    created_at: datetime
    log_index: int | None


class DeployerOut(BaseModel):
    id: str | None = Field(description="The organisation's id in this register, if the disclosure gives one.")
    legal_name: str | None
    jurisdiction: str | None
    use: str | None
    status: Literal["provider", "confirmed", "pending", "denied", "unregistered"] = Field(
        description="provider: the provider itself; confirmed: the organisation confirmed it with its own token; "
        "pending: named by the provider, not confirmed; denied: the organisation says it does not deploy it; "
        "unregistered: named by the provider, not registered here (cannot confirm)."
    )
    status_label: str = Field(description="The status in words, as pages show it.")
    confirmed: bool = Field(description="True only for the provider itself and confirmed deployers.")
    decided_at: datetime | None
    log_index: int | None = Field(description="Log index of the deployer's decision, if any.")


class SameNameOut(BaseModel):
    id: str
    name: str
    provider_id: str
    provider_name: str
    first: bool = Field(description="This one was registered first under the name.")
    url_path: str


class DeployerDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["confirmed", "denied"] = Field(
        description="confirmed: this organisation deploys the system as the disclosure says; denied: it does not."
    )


class SystemDetailOut(SystemSummaryOut):
    disclosure_sha256: str
    created_at: datetime | None
    log_index: int | None = Field(description="Log index of the current version's entry.")
    log_url: str | None
    findings: list[dict[str, Any]] = Field(
        description="Red-line findings of the current version's screening. Each has a 'kind': prohibition (the law "
        "forbids it; 'prohibits' says what), condition (the law allows it only under conditions), obligation (the "
        "law attaches duties) or policy (the register's own line, not law), and its 'kind_label'."
    )
    impact: dict[str, Any] = Field(description="The impact assessment: level, scores and obligations.")
    reviews: list[ReviewOut]
    suspension: SuspensionOut | None = Field(description="The newest suspension or reinstatement, if any.")
    suspensions: list[SuspensionOut] = Field(
        description="Every suspension and reinstatement of the system, newest first."
    )
    rules_version: str = Field(description="The version of the red-line rule set that screened it.")
    legal_outcome: Outcome = Field(
        description="The outcome under the law alone (the register's policy findings left out)."
    )
    versions: list[VersionOut] = Field(description="Every version, newest first.")
    disclosure: dict[str, Any] = Field(description="The whole current disclosure.")
    deployers: list[DeployerOut] = Field(
        description="The deployers the disclosure names and whether each confirmed it; only 'confirmed' (and the "
        "provider itself) is the organisation's own word."
    )
    same_name: list[SameNameOut] = Field(description="Other providers' systems of the same name.")


class VersionDetailOut(VersionOut):
    system_id: str
    rules_version: str
    findings: list[dict[str, Any]]
    impact: dict[str, Any]
    reviews: list[ReviewOut]
    disclosure: dict[str, Any]


class ValidationOut(BaseModel):
    valid: bool
    name: str
    version: str
    status: str
    capabilities: list[str]
    contexts: list[str]
    outcome: Outcome
    needs_review: bool
    findings: list[dict[str, Any]]
    impact_level: int
    impact: dict[str, Any]
    training_data_headline: str
    disclosure_sha256: str


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="Why; shown publicly.")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule_id: str = Field(min_length=1, max_length=100, description="The rule whose exception is reviewed.")
    decision: Literal["upheld", "rejected"]
    reason: str = Field(min_length=1, max_length=2000, description="Why; shown publicly.")
    version: int = Field(
        ge=1,
        le=2_000_000_000,
        description="The version whose claim was read and decided (version_number of GET /api/v1/systems/{id}). "
        "If the provider has published another version since, the answer is 409 and nothing is recorded.",
    )


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
    name: str = Field(min_length=1, max_length=300, pattern=r"\S", description="The legal name.")
    jurisdiction: str = Field("", max_length=100)
    website: str = Field(
        "",
        max_length=500,
        description="The provider's website: an http:// or https:// address (or empty).",
        json_schema_extra={"pattern": "^$|" + service.WEB_ADDRESS},
    )


class WhoAmIOut(BaseModel):
    token_id: int
    role: Literal["admin", "provider"]
    provider_id: str | None


_DISCLOSURE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A disclosure in JSON or YAML (UTF-8). Its format: /schema/disclosure/v1.json.",
        "content": {
            # The disclosure's own JSON Schema is published separately (it is large, and shared with tools).
            "application/json": {"schema": {"type": "object", "description": "See /schema/disclosure/v1.json."}},
            "application/yaml": {"schema": {"type": "string", "description": "See /schema/disclosure/v1.json."}},
        },
    }
}


# ------------------------------------------------------------------------------------------- API: reads


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
            raise _no_system(system_id)
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


# ------------------------------------------------------------------------------------------- API: writes


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


# ------------------------------------------------------------------------------------------- exports


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


# ------------------------------------------------------------------------------------------- pages


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    ctx = {"h": _HELPERS, **context}
    return request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status_code)


@router.get("/systems", response_class=HTMLResponse, include_in_schema=False)
def systems_page(request: Request, db: Database = Depends(get_db), config: Any = Depends(get_config)) -> HTMLResponse:
    params = request.query_params
    query, problems = _query_from_form(params, config)
    with db.read() as session:
        result = service.search(session, query)
        providers = service.provider_choices(session)
    return _page(
        request,
        "register/systems.html",
        {
            "query": query,
            "result": result,
            "problems": problems,
            "providers": providers,
            "capabilities": list(Capability),
            "contexts": list(DeploymentContext),
            "statuses": list(Status),
            "page_url": lambda n: _page_url(request, n),
        },
    )


@router.get("/systems/{system_id}", response_class=HTMLResponse, include_in_schema=False)
def system_page(request: Request, system_id: str, db: Database = Depends(get_db)) -> HTMLResponse:
    with db.read() as session:
        view = service.get_system(session, system_id)
        if view is None:
            raise _no_system(system_id)
        versions = service.history(session, system_id)
    return _page(
        request,
        "register/system.html",
        {
            "s": view,
            "versions": versions,
            "disclosure": _display_order(view.disclosure),
            "claims": _claims_by_rule(view.disclosure),
        },
    )


@router.get("/systems/{system_id}/versions/{number}", response_class=HTMLResponse, include_in_schema=False)
def version_page(request: Request, system_id: str, number: int, db: Database = Depends(get_db)) -> HTMLResponse:
    with db.read() as session:
        current = service.get_system(session, system_id)
        if current is None:
            raise _no_system(system_id)
        v = service.get_version(session, system_id, number)
        if v is None:
            raise NotFound(
                f"{current.name} has no version {number}", hint=f"it has versions 1 to {current.version_number}"
            )
        previous = service.get_version(session, system_id, number - 1) if number > 1 else None
    changes = _diff(previous.disclosure, v.disclosure) if previous else []
    return _page(
        request,
        "register/version.html",
        {
            "s": current,
            "v": v,
            "previous": previous,
            "changes": changes,
            "disclosure": _display_order(v.disclosure),
            "claims": _claims_by_rule(v.disclosure),
        },
    )


@router.get("/providers", response_class=HTMLResponse, include_in_schema=False)
def providers_page(request: Request, db: Database = Depends(get_db), config: Any = Depends(get_config)) -> HTMLResponse:
    page = _int_param(request.query_params.get("page"), 1)
    with db.read() as session:
        result = service.list_providers(session, page=page, per_page=config.page_size)
    return _page(request, "register/providers.html", {"result": result, "page_url": lambda n: _page_url(request, n)})


@router.get("/providers/{provider_id}", response_class=HTMLResponse, include_in_schema=False)
def provider_page(
    request: Request, provider_id: str, db: Database = Depends(get_db), config: Any = Depends(get_config)
) -> HTMLResponse:
    page = _int_param(request.query_params.get("page"), 1)
    with db.read() as session:
        p = service.get_provider(session, provider_id)
        if p is None:
            raise NotFound(f"there is no provider {provider_id!r}", hint="see the list of providers at /providers")
        result = service.search(
            session, SystemQuery(provider=provider_id, sort="name", page=page, per_page=config.page_size)
        )
    return _page(
        request, "register/provider.html", {"p": p, "result": result, "page_url": lambda n: _page_url(request, n)}
    )


@router.get("/rules", response_class=HTMLResponse, include_in_schema=False)
def rules_page(request: Request) -> HTMLResponse:
    return _page(request, "register/rules.html", {"rules": _rules(), "levels": _impact_levels()})


@router.get("/about", response_class=HTMLResponse, include_in_schema=False)
def about_page(request: Request, db: Database = Depends(get_db)) -> HTMLResponse:
    with db.read() as session:
        counts = _counts(session)
    return _page(request, "register/about.html", {"counts": counts})


# ------------------------------------------------------------------------------------------- helpers


def _no_system(system_id: str) -> NotFound:
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
        return _page_url(request, n)

    return {
        "self": at(page.page),
        "next": at(page.page + 1) if page.has_next else None,
        "prev": at(page.page - 1) if page.has_prev and page.page - 1 <= page.pages else None,
    }


def _page_url(request: Request, n: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page" and v != ""]
    if n > 1:
        params.append(("page", str(n)))
    return request.url.path + (("?" + urlencode(params)) if params else "")


def _log_url(index: int | None) -> str | None:
    return None if index is None else f"/log/entries/{index}"


def _summary_out(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "version": s.version,
        "status": s.status,
        "provider_id": s.provider_id,
        "provider_name": s.provider_name,
        "capabilities": s.capabilities,
        "contexts": s.contexts,
        "outcome": s.outcome,
        "impact_level": s.impact_level,
        "suspended": s.suspended,
        "needs_review": s.needs_review,
        "summary": s.summary,
        "training_data_headline": s.training_data_headline,
        "version_number": s.version_number,
        "updated_at": s.updated_at,
        "url": s.url_path,
        "api_url": f"/api/v1/systems/{s.id}",
        "name_copy": s.name_copy,
        "outcome_basis": s.outcome_basis,
    }


def _version_out(v: Any) -> dict[str, Any]:
    return {
        "number": v.number,
        "name": v.name,
        "version": v.version,
        "status": v.status,
        "reason": v.reason,
        "actor": v.actor,
        "created_at": v.created_at,
        "disclosure_sha256": v.disclosure_sha256,
        "outcome": v.outcome,
        "impact_level": v.impact_level,
        "needs_review": v.needs_review,
        "log_index": v.log_index,
        "log_url": _log_url(v.log_index),
        "url": v.url_path,
    }


def _detail_out(view: Any, versions: list[Any]) -> dict[str, Any]:
    out = _summary_out(view)
    out.update(
        disclosure_sha256=view.disclosure_sha256,
        created_at=view.created_at,
        log_index=view.log_index,
        log_url=_log_url(view.log_index),
        findings=view.findings,
        impact=view.impact,
        reviews=view.reviews,
        suspension=view.suspension,
        suspensions=view.suspensions,
        rules_version=view.rules_version,
        versions=[_version_out(v) for v in versions],
        disclosure=view.disclosure,
        deployers=view.deployers,
        same_name=view.same_name,
        legal_outcome=view.legal_outcome or view.outcome,
    )
    return out


def _provider_out(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "jurisdiction": p.jurisdiction,
        "website": p.website,
        "system_count": p.system_count,
        "created_at": p.created_at,
        "log_index": p.log_index,
        "url": p.url_path,
    }


def _int_param(value: str | None, default: int | None, *, lo: int = 1, hi: int = 1_000_000) -> int | None:
    if value is None or value.strip() == "":
        return default
    try:
        n = int(value)
    except ValueError:
        return default
    return min(max(n, lo), hi)


def _query_from_form(params: Any, config: Any) -> tuple[SystemQuery, list[str]]:
    """The search form's query; values a person cannot have meant are dropped with a note, not an error page."""
    problems: list[str] = []

    def pick(name: str, allowed: set[str] | None) -> str | None:
        value = (params.get(name) or "").strip()
        if not value:
            return None
        if allowed is not None and value not in allowed:
            problems.append(f"Ignored the unknown {name.replace('_', ' ')} “{value[:60]}”.")
            return None
        return value[:100]

    level = pick("impact_level", {"1", "2", "3", "4"})
    sort = pick("sort", set(SORTS)) or "relevance"
    q = (params.get("q") or "")[:500]
    query = SystemQuery(
        q=q,
        provider=pick("provider", None),
        capability=pick("capability", {c.value for c in Capability}),
        context=pick("context", {c.value for c in DeploymentContext}),
        outcome=pick("outcome", {"prohibited", "high_risk", "transparency", "minimal"}),
        impact_level=int(level) if level else None,
        status=pick("status", {s.value for s in Status}),
        sort=sort,
        page=_int_param(params.get("page"), 1) or 1,
        per_page=config.page_size,
    )
    last = SEARCH_WINDOW // query.per_page
    if query.words and query.page > last:
        problems.append(f"A search shows its first {SEARCH_WINDOW:,} matches; this is the last page of them.")
        query = query.at_page(last)
    return query, problems


def _diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Field-level changes between two disclosures: [{path, before, after}], in document order."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[dict[str, Any]] = []
        for key in list(new) + [k for k in old if k not in new]:
            out += _diff(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and old != new
        and len(old) == len(new)
        and all(isinstance(x, dict) for x in old + new)
    ):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += _diff(a, b, f"{path}[{i}]")
        return out
    if old == new:
        return []
    return [{"path": path, "before": old, "after": new}]


def _counts(session: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from assay.register.models import Provider, System

    by_outcome = dict(session.execute(select(System.outcome, func.count()).group_by(System.outcome)).all())
    return {
        "systems": sum(by_outcome.values()),
        "providers": session.scalar(select(func.count()).select_from(Provider)),
        **{f"outcome_{k}": v for k, v in by_outcome.items()},
    }


def _rules() -> list[dict[str, Any]]:
    from assay.register.screening import load_rules

    return load_rules().as_data()


def _claims_by_rule(disclosure: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("rule")): c for c in disclosure.get("exception_claims") or [] if isinstance(c, dict)}


def _display_order(disclosure: dict[str, Any]) -> dict[str, Any]:
    """The disclosure in the format's own field order (stored canonical JSON sorts keys alphabetically)."""
    from assay.register.disclosure import Disclosure

    try:
        return Disclosure.model_validate(disclosure).model_dump(mode="json", exclude_defaults=True)
    except Exception:  # noqa: BLE001 - an old version the current format no longer accepts: show it as stored
        return disclosure


def _impact_levels() -> list[dict[str, Any]]:
    from assay.register.impact import LEVEL_NAMES, load_questionnaire

    q = load_questionnaire()
    return [
        {
            "level": n,
            "name": LEVEL_NAMES.get(n, ""),
            "description": q.level_summaries.get(n, ""),
            "obligations": [{"title": o.area_label, "text": o.text} for o in q.obligations.get(n, ())],
        }
        for n in (1, 2, 3, 4)
    ]


class _Helpers:
    """Formatting for the templates (labels, badges, dates), passed to every page as ``h``."""

    OUTCOME_LABELS = {
        "prohibited": "Prohibited by law",
        "high_risk": "High-risk",
        "transparency": "Transparency obligations",
        "minimal": "Minimal risk",
    }
    OUTCOME_CLASSES = {
        "prohibited": "prohibited",
        "high_risk": "high-risk",
        "transparency": "transparency",
        "minimal": "minimal",
    }
    ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}

    def __init__(self) -> None:
        from assay.register.vocabulary import VOCABULARIES

        self._by_vocab = {name: {m.value: m.label for m in vocab} for name, vocab in VOCABULARIES.items()}
        counts: dict[str, int] = {}
        labels: dict[str, str] = {}
        for table in self._by_vocab.values():
            for value, label in table.items():
                counts[value] = counts.get(value, 0) + 1
                labels[value] = label
        # A bare value is labelled only if exactly one vocabulary uses it ("other" is ambiguous).
        self._unique = {v: labels[v] for v, n in counts.items() if n == 1}
        self._fields = {
            "capabilities": "capability",
            "deployment_contexts": "deployment_context",
            "contexts": "deployment_context",
            "purposes": "purpose",
            "affected_groups": "affected_group",
            "groups": "affected_group",
            "input_modalities": "modality",
            "output_modalities": "modality",
            "modality": "modality",
            "status": "status",
            "kind": "organisation_kind",
            "decision_role": "decision_role",
            "size": "size_range",
            "safety_component_of": "regulated_product",
            "capability": "capability",
            "context": "deployment_context",
            "ai_training": "output_use",
            "ai_generative_training": "output_use",
            "data_mining": "output_use",
            "ai_inference": "output_use",
        }

    def outcome_label(self, outcome: str) -> str:
        return self.OUTCOME_LABELS.get(outcome, outcome)

    def outcome_class(self, outcome: str) -> str:
        return self.OUTCOME_CLASSES.get(outcome, "")

    def finding_kind(self, finding: Any) -> str:
        """prohibition, condition, obligation or policy (findings stored before kinds existed included)."""
        from assay.register.screening import finding_kind

        return finding_kind(finding)

    def kind_label(self, kind: str) -> str:
        from assay.register.screening import KIND_LABELS

        return KIND_LABELS.get(kind, kind)

    def prohibited_acts(self, findings: Any) -> str:
        """What the law forbids, in words, for the effective prohibitions among the findings."""
        from assay.register.screening import PROHIBITED_ACTS

        acts: list[str] = []
        for f in findings or []:
            if self.finding_kind(f) == "prohibition" and f.get("effective_outcome", f.get("outcome")) == "prohibited":
                for a in f.get("prohibits") or list(PROHIBITED_ACTS):
                    label = PROHIBITED_ACTS.get(a, a)
                    if label not in acts:
                        acts.append(label)
        order = list(PROHIBITED_ACTS.values())
        acts.sort(key=lambda a: order.index(a) if a in order else len(order))
        return ", ".join(acts[:-1]) + (" and " if len(acts) > 1 else "") + acts[-1] if acts else ""

    def prohibition_cites(self, findings: Any) -> str:
        cites = [
            s.get("cite", "")
            for f in findings or []
            if self.finding_kind(f) == "prohibition" and f.get("effective_outcome", f.get("outcome")) == "prohibited"
            for s in f.get("sources") or []
        ]
        return "; ".join(dict.fromkeys(c for c in cites if c))

    def roman(self, level: Any) -> str:
        return self.ROMAN.get(level, str(level))

    def label(self, field: str, value: Any) -> str:
        if not isinstance(value, str):
            return "" if value is None else str(value)
        vocab = self._fields.get(field)
        if vocab and value in self._by_vocab.get(vocab, {}):
            return self._by_vocab[vocab][value]
        return value

    def vocab_label(self, vocab: str, value: str) -> str:
        return self._by_vocab.get(vocab, {}).get(value, value)

    def humanize(self, key: Any) -> str:
        special = {
            "fria": "Fundamental-rights impact assessment (EU AI Act Art. 27)",
            "dpia": "Data-protection impact assessment",
            "tdm_opt_out": "Text-and-data-mining opt-outs",
            "url": "Link",
            "id": "Identifier in this register",
            "respects_robots_txt": "Respects robots.txt",
            "public_url": "Public page",
            "output_reuse": "What others may do with the outputs",
            "ai_training": "Training AI models on them",
            "ai_generative_training": "Training generative AI models on them",
            "data_mining": "Text and data mining",
            "ai_inference": "Feeding them to an AI system",
        }
        if key in special:
            return special[key]
        text = str(key).replace("_", " ")
        return text[:1].upper() + text[1:]

    def is_url(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith(("https://", "http://")) and " " not in value

    def date(self, value: Any) -> str:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d")
        return str(value or "")[:10]

    def datetime(self, value: Any) -> str:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M UTC")
        return str(value or "")

    def iso(self, value: Any) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value or "")

    def log_url(self, index: Any) -> str | None:
        return _log_url(index)

    def json(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)

    def answers(self, answers: Any) -> list[tuple[str, str, str]]:
        """Impact questionnaire answers as (question id, question text, chosen label)."""
        from assay.register.impact import load_questionnaire

        questions = {q.id: q for q in load_questionnaire().questions}
        rows = []
        for qid, choice in (answers or {}).items():
            q = questions.get(qid)
            label = next((c.label for c in q.choices if c.id == choice), choice) if q else choice
            rows.append((qid, q.text if q else qid, label))
        return rows

    def percent(self, part: Any, whole: Any) -> str:
        try:
            return f"{100 * float(part) / float(whole):.0f}%"
        except (TypeError, ValueError, ZeroDivisionError):
            return "–"

    def short(self, value: Any, limit: int = 160) -> str:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text if len(text) <= limit else text[: limit - 1] + "…"


_HELPERS = _Helpers()
