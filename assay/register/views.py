"""The register's read model: the plain, frozen views other parts of Assay code against, and ``to_dict``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assay.db.types import aware, iso_z, utc_now
from assay.register.models import (
    Provider,
    ScreeningRecord,
    System,
    SystemVersion,
)

__all__ = [
    "DEPLOYER_STATUSES",
    "WEB_ADDRESS",
    "ProviderView",
    "SystemSummary",
    "SystemView",
    "VersionView",
    "is_web_address",
    "to_dict",
]


@dataclass(frozen=True)
class ProviderView:
    id: str
    name: str
    jurisdiction: str
    url_path: str
    website: str = ""
    created_at: datetime | None = None
    log_index: int | None = None
    system_count: int = 0


@dataclass(frozen=True)
class SystemSummary:
    """A system as lists show it: no disclosure, no history."""

    id: str
    name: str
    version: str
    status: str
    provider_id: str
    provider_name: str
    capabilities: list[str]
    contexts: list[str]
    outcome: str
    impact_level: int
    suspended: bool
    needs_review: bool
    summary: str
    training_data_headline: str
    version_number: int
    updated_at: datetime
    url_path: str
    name_copy: bool = False  # another provider registered a system of this name first
    outcome_basis: str = "law"  # or "register_policy": only the register's own policy lines reach the outcome


@dataclass(frozen=True)
class VersionView:
    """One version of a system: who made it, when and why; its disclosure, screening and impact level."""

    system_id: str
    number: int
    name: str
    version: str
    status: str
    reason: str
    actor: str
    created_at: datetime
    log_index: int | None
    disclosure_sha256: str
    outcome: str
    impact_level: int
    needs_review: bool
    disclosure: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    impact: dict[str, Any] = field(default_factory=dict)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    rules_version: str = ""

    @property
    def url_path(self) -> str:
        return f"/systems/{self.system_id}/versions/{self.number}"


@dataclass(frozen=True)
class SystemView:
    """The current state of a system, as the public sees it (the read model of the contract)."""

    id: str
    name: str
    version: str
    status: str
    provider_id: str
    provider_name: str
    capabilities: list[str]
    contexts: list[str]
    outcome: str
    impact_level: int
    suspended: bool
    needs_review: bool
    training_data_headline: str
    version_number: int
    disclosure: dict[str, Any]
    url_path: str
    summary: str = ""
    disclosure_sha256: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    log_index: int | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    impact: dict[str, Any] = field(default_factory=dict)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    suspension: dict[str, Any] | None = None
    suspensions: list[dict[str, Any]] = field(default_factory=list)  # every suspension and reinstatement, newest first
    rules_version: str = ""
    # Each deployer the disclosure names, and whether that organisation confirmed it (see DEPLOYER_STATUSES).
    deployers: list[dict[str, Any]] = field(default_factory=list)
    # "law", or "register_policy" when only the register's own policy lines reach ``outcome``; and the law's own.
    outcome_basis: str = "law"
    legal_outcome: str = ""
    # Systems of other providers with the same name; name_copy: one of them was registered first.
    same_name: list[dict[str, Any]] = field(default_factory=list)
    name_copy: bool = False


# What the register can say about a deployer the provider names, in the words pages and exports use.
DEPLOYER_STATUSES = {
    "provider": "the provider itself",
    "confirmed": "confirmed by the deployer",
    "pending": "named by the provider, not confirmed",
    "denied": "named by the provider; the deployer denies it",
    "unregistered": "named by the provider, not confirmed (not registered here)",
}


def to_dict(view: Any) -> dict[str, Any]:
    """A view (SystemView, SystemSummary, VersionView, ProviderView) as JSON-ready data, times in ISO 8601."""
    import dataclasses

    data = dataclasses.asdict(view)
    if isinstance(view, VersionView):
        data["url_path"] = view.url_path
    return _isoformat(data)


def _isoformat(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, dict):
        return {k: _isoformat(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_isoformat(v) for v in value]
    return value


# An absolute http(s) address: a host of letters, digits, dots and hyphens (IDNs in punycode), an optional port,
# then printable ASCII. No userinfo, spaces or control characters; never javascript:, data: or a bare name.
WEB_ADDRESS = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$"


def is_web_address(value: str) -> bool:
    """Whether ``value`` matches :data:`WEB_ADDRESS` (the one rule the API schema also publishes)."""
    return bool(value) and re.fullmatch(WEB_ADDRESS, value) is not None


def _summary(s: System, provider_name: str, caps: list[str], ctxs: list[str]) -> SystemSummary:
    return SystemSummary(
        id=s.id,
        name=s.name,
        version=s.version_label,
        status=s.status,
        provider_id=s.provider_id,
        provider_name=provider_name,
        capabilities=caps,
        contexts=ctxs,
        outcome=s.outcome,
        impact_level=s.impact_level,
        suspended=s.suspended,
        needs_review=s.needs_review,
        summary=s.summary,
        training_data_headline=s.training_data_headline,
        version_number=s.current_version,
        updated_at=_aware(s.updated_at),
        url_path=f"/systems/{s.id}",
        name_copy=bool(s.name_copy),
        outcome_basis=s.outcome_basis or "law",
    )


def _version_view(v: SystemVersion, screening: ScreeningRecord, level: int, **extra: Any) -> VersionView:
    return VersionView(
        system_id=v.system_id,
        number=v.number,
        name=v.name,
        version=v.version_label,
        status=v.status,
        reason=v.reason,
        actor=v.actor,
        created_at=_aware(v.created_at),
        log_index=v.log_index,
        disclosure_sha256=v.disclosure_sha256,
        outcome=screening.outcome,
        impact_level=level,
        needs_review=screening.needs_review,
        findings=list(screening.findings),
        rules_version=screening.rules_version,
        **extra,
    )


def _provider_view(p: Provider, count: int) -> ProviderView:
    return ProviderView(
        id=p.id,
        name=p.name,
        jurisdiction=p.jurisdiction,
        url_path=f"/providers/{p.id}",
        # Only a web address is ever shown or exported, even if an older version stored something else.
        website=p.website if is_web_address(p.website) else "",
        created_at=_aware(p.created_at),
        log_index=p.log_index,
        system_count=count,
    )


# One set of UTC helpers for the whole register (assay.db.types).
_now, _aware = utc_now, aware
