"""The register on the web: public pages (``/systems``, ``/providers``, ``/rules``, ``/about``), the JSON API
under ``/api/v1``, the open-data exports and the disclosure's JSON Schema.

Reads are public. Writes take ``Authorization: Bearer <token>``: a provider's token publishes and updates that
provider's systems; an admin token (the oversight body) suspends, reinstates, reviews and adds providers.
Every error answers in the one error shape of ``assay.web.errors``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from assay.db import Database
from assay.errors import NotFound
from assay.register import service
from assay.register.search import SEARCH_WINDOW, SORTS, SystemQuery
from assay.register.vocabulary import Capability, DeploymentContext, Status
from assay.web.deps import get_config, get_db
from assay.web.routes.register_api import no_system, page_url, router
from assay.web.routes.register_format import _HELPERS

# One router for the register's API and pages: the pages are added to the API's router (after its routes, in
# the order they were always matched) rather than included, because the app reads every router's routes flat
# (assay.web.app, for the Allow header of 405 answers) and FastAPI keeps an included router nested.
__all__ = ["router"]


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
            "page_url": lambda n: page_url(request, n),
        },
    )


@router.get("/systems/{system_id}", response_class=HTMLResponse, include_in_schema=False)
def system_page(request: Request, system_id: str, db: Database = Depends(get_db)) -> HTMLResponse:
    with db.read() as session:
        view = service.get_system(session, system_id)
        if view is None:
            raise no_system(system_id)
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
            raise no_system(system_id)
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
    page = _int_param(request.query_params.get("page"), 1) or 1
    with db.read() as session:
        result = service.list_providers(session, page=page, per_page=config.page_size)
    return _page(request, "register/providers.html", {"result": result, "page_url": lambda n: page_url(request, n)})


@router.get("/providers/{provider_id}", response_class=HTMLResponse, include_in_schema=False)
def provider_page(
    request: Request, provider_id: str, db: Database = Depends(get_db), config: Any = Depends(get_config)
) -> HTMLResponse:
    page = _int_param(request.query_params.get("page"), 1) or 1
    with db.read() as session:
        p = service.get_provider(session, provider_id)
        if p is None:
            raise NotFound(f"there is no provider {provider_id!r}", hint="see the list of providers at /providers")
        result = service.search(
            session, SystemQuery(provider=provider_id, sort="name", page=page, per_page=config.page_size)
        )
    return _page(
        request, "register/provider.html", {"p": p, "result": result, "page_url": lambda n: page_url(request, n)}
    )


@router.get("/rules", response_class=HTMLResponse, include_in_schema=False)
def rules_page(request: Request) -> HTMLResponse:
    return _page(request, "register/rules.html", {"rules": _rules(), "levels": _impact_levels()})


@router.get("/about", response_class=HTMLResponse, include_in_schema=False)
def about_page(request: Request, db: Database = Depends(get_db)) -> HTMLResponse:
    with db.read() as session:
        counts = service.register_counts(session)
    return _page(request, "register/about.html", {"counts": counts})


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


def _int_param(value: str | None, default: int | None, *, lo: int = 1, hi: int = 1_000_000) -> int | None:
    if value is None or value.strip() == "":
        return default
    try:
        n = int(value)
    except ValueError:
        return default
    return min(max(n, lo), hi)
