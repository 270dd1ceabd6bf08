"""The register API's request and response models (they make its OpenAPI schema), and the path parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from assay.register import service
from assay.web.errors import error_responses

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


def log_url(index: int | None) -> str | None:
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
        "log_url": log_url(v.log_index),
        "url": v.url_path,
    }


def _detail_out(view: Any, versions: list[Any]) -> dict[str, Any]:
    out = _summary_out(view)
    out.update(
        disclosure_sha256=view.disclosure_sha256,
        created_at=view.created_at,
        log_index=view.log_index,
        log_url=log_url(view.log_index),
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
