"""The register's service layer: every write, and the read model the rest of Assay uses.

Each write (publish, update, suspend, reinstate, review an exception, add a provider) is one call inside one
write transaction of the caller's (``with db.write() as session``); it checks the principal's permission
first, validates everything before it writes anything, appends to the transparency log as its last step
(``assay.transparency.record``), and stores the log index on the row it wrote. If anything fails, the
caller's transaction rolls back and nothing at all is written.

Versions are append-only: an update adds version n+1 with who, when and why, and rewrites only the
denormalised copies on ``systems``. Concurrent updates never lose one: an update names the version it was
based on (``expected_version``) and gets :class:`Conflict` if another update got there first; the single
SQLite writer, and on PostgreSQL a row lock on the system, make the check and the append atomic.

Read model (the contract other parts code against)::

    with db.read() as session:
        system = get_system(session, "acme-imagegen")     # SystemView | None
        provider = get_provider(session, "acme")           # ProviderView | None

Writes::

    with db.write() as session:
        view = publish(session, document, principal=principal)                  # document: dict or Disclosure
        view = update(session, view.id, document2, expected_version=1, principal=principal, reason="new model")
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assay.db.types import aware as _aware
from assay.db.types import utc_now as _now
from assay.errors import Conflict, FieldProblem, InvalidInput, NotFound
from assay.register.access import Principal, record_event
from assay.register.models import (
    DeployerConfirmation,
    ExceptionReview,
    ImpactRecord,
    Provider,
    ScreeningRecord,
    System,
    SystemCapability,
    SystemContext,
    SystemSuspension,
    SystemVersion,
)
from assay.register.search import Page, SystemQuery, index_system, search_systems

__all__ = [
    "DEPLOYER_STATUSES",
    "ProviderView",
    "SystemSummary",
    "SystemView",
    "VersionView",
    "add_provider",
    "confirm_deployer",
    "disclosure_sha256",
    "get_provider",
    "get_system",
    "get_version",
    "history",
    "list_providers",
    "publish",
    "reinstate",
    "rescreen",
    "review_exception",
    "search",
    "subject_names",
    "suspend",
    "to_dict",
    "update",
    "validate",
]

PROVIDER_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_MAX_REASON = 2000
_MAX_SYSTEM_ID = 80


# ---------------------------------------------------------------------------------------------- views


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


# ---------------------------------------------------------------------------------------------- reads


def get_system(session: Session, system_id: str) -> SystemView | None:
    system = session.get(System, system_id)
    if system is None:
        return None
    version = _version_row(session, system.id, system.current_version)
    screening = _latest_screening(session, version.id)
    impact = session.scalars(select(ImpactRecord).where(ImpactRecord.version_id == version.id)).one()
    provider = session.get(Provider, system.provider_id)
    assert provider is not None  # a foreign key guarantees it
    suspensions = _suspensions(session, system.id)
    disclosure = json.loads(version.disclosure)
    return SystemView(
        id=system.id,
        name=system.name,
        version=system.version_label,
        status=system.status,
        provider_id=system.provider_id,
        provider_name=provider.name,
        capabilities=_capabilities(session, [system.id])[system.id],
        contexts=_contexts(session, [system.id])[system.id],
        outcome=system.outcome,
        impact_level=system.impact_level,
        suspended=system.suspended,
        needs_review=system.needs_review,
        training_data_headline=system.training_data_headline,
        version_number=system.current_version,
        disclosure=disclosure,
        url_path=f"/systems/{system.id}",
        summary=system.summary,
        disclosure_sha256=version.disclosure_sha256,
        created_at=_aware(system.created_at),
        updated_at=_aware(system.updated_at),
        log_index=version.log_index,
        findings=list(screening.findings),
        impact=dict(impact.assessment),
        reviews=_reviews(session, system.id, version.number),
        suspension=suspensions[0] if suspensions else None,
        suspensions=suspensions,
        rules_version=screening.rules_version,
        deployers=_deployers(session, system, disclosure),
        outcome_basis=system.outcome_basis or "law",
        legal_outcome=_legal_outcome(screening.findings, system.outcome),
        same_name=_same_name(session, system),
        name_copy=bool(system.name_copy),
    )


def get_provider(session: Session, provider_id: str) -> ProviderView | None:
    provider = session.get(Provider, provider_id)
    if provider is None:
        return None
    count = session.scalar(select(func.count()).select_from(System).where(System.provider_id == provider.id)) or 0
    return _provider_view(provider, count)


def subject_names(
    session: Session, *, systems: set[str], providers: set[str]
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Names for pages that mention register ids (the log): ``{system id: (name, provider id)}`` and
    ``{provider id: name}``, the providers of the systems included. Unknown ids are left out."""
    found = {
        row.id: (row.name, row.provider_id)
        for row in session.execute(
            select(System.id, System.name, System.provider_id).where(System.id.in_(sorted(systems)))
        )
    }
    wanted = providers | {p for _, p in found.values()}
    names = {
        row.id: row.name
        for row in session.execute(select(Provider.id, Provider.name).where(Provider.id.in_(sorted(wanted))))
    }
    return found, names


def list_providers(session: Session, *, page: int = 1, per_page: int = 50) -> Page[ProviderView]:
    if page < 1 or per_page < 1:
        raise InvalidInput("pages count from 1", hint="give page >= 1 and per_page >= 1")
    total = session.scalar(select(func.count()).select_from(Provider)) or 0
    providers = list(
        session.scalars(
            select(Provider)
            .order_by(func.lower(Provider.name), Provider.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    # Counted for this page's providers only (an index range each), not grouped over the whole register.
    counts = (
        dict(
            session.execute(
                select(System.provider_id, func.count())
                .where(System.provider_id.in_([p.id for p in providers]))
                .group_by(System.provider_id)
            ).all()
        )
        if providers
        else {}
    )
    items = [_provider_view(p, int(counts.get(p.id, 0))) for p in providers]
    return Page(items=items, page=page, per_page=per_page, total=total)


def provider_choices(session: Session, *, limit: int = 200) -> list[tuple[str, str]] | None:
    """(id, name) of every provider, for a filter menu; None when there are more than ``limit``."""
    if (session.scalar(select(func.count()).select_from(Provider)) or 0) > limit:
        return None
    return [
        (pid, name)
        for pid, name in session.execute(
            select(Provider.id, Provider.name).order_by(func.lower(Provider.name), Provider.id)
        ).all()
    ]


def search(session: Session, query: SystemQuery) -> Page[SystemSummary]:
    """One page of systems matching the query (full text and filters), as summaries."""
    found = search_systems(session, query)
    ids = [s.id for s in found.items]
    caps = _capabilities(session, ids)
    ctxs = _contexts(session, ids)
    names = _provider_names(session, {s.provider_id for s in found.items})
    items = [_summary(s, names[s.provider_id], caps[s.id], ctxs[s.id]) for s in found.items]
    return Page(
        items=items, page=found.page, per_page=found.per_page, total=found.total, total_is_exact=found.total_is_exact
    )


def history(session: Session, system_id: str) -> list[VersionView]:
    """Every version of a system, newest first (without the disclosures; see :func:`get_version`)."""
    return _history(session, system_id)


def history_page(session: Session, system_id: str, *, page: int = 1, per_page: int = 50) -> Page[VersionView]:
    """One page of a system's versions, newest first."""
    if page < 1 or per_page < 1:
        raise InvalidInput("pages count from 1", hint="give page >= 1 and per_page >= 1")
    items = _history(session, system_id, limit=per_page, offset=(page - 1) * per_page)
    total = session.scalar(select(func.count()).where(SystemVersion.system_id == system_id)) or 0
    return Page(items=items, page=page, per_page=per_page, total=total)


def _history(session: Session, system_id: str, *, limit: int | None = None, offset: int = 0) -> list[VersionView]:
    if session.get(System, system_id) is None:
        raise NotFound(f"there is no system {system_id!r}", hint="check the id; search the register at /systems")
    versions = list(
        session.scalars(
            select(SystemVersion)
            .where(SystemVersion.system_id == system_id)
            .order_by(SystemVersion.number.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    screenings = _latest_screenings(session, [v.id for v in versions])
    levels = dict(
        session.execute(
            select(ImpactRecord.version_id, ImpactRecord.level).where(
                ImpactRecord.version_id.in_([v.id for v in versions])
            )
        ).all()
    )
    return [_version_view(v, screenings[v.id], levels[v.id]) for v in versions]


def get_version(session: Session, system_id: str, number: int) -> VersionView | None:
    """One version in full: its disclosure, its (current) screening, its impact assessment and reviews."""
    v = session.scalars(
        select(SystemVersion).where(SystemVersion.system_id == system_id, SystemVersion.number == number)
    ).first()
    if v is None:
        return None
    screening = _latest_screening(session, v.id)
    impact = session.scalars(select(ImpactRecord).where(ImpactRecord.version_id == v.id)).one()
    return _version_view(
        v,
        screening,
        impact.level,
        disclosure=json.loads(v.disclosure),
        impact=dict(impact.assessment),
        reviews=_reviews(session, system_id, number),
    )


def validate(document: Any, *, source: str = "the disclosure") -> dict[str, Any]:
    """Validate, screen and assess a disclosure without writing anything: what publishing it would record."""
    a = _assess(document, source=source)
    return {
        "valid": True,
        "name": a.name,
        "version": a.version_label,
        "status": a.status,
        "capabilities": a.capabilities,
        "contexts": a.contexts,
        "outcome": a.screening["outcome"],
        "legal_outcome": a.screening["legal_outcome"],
        "outcome_basis": a.screening["outcome_basis"],
        "needs_review": a.screening["needs_review"],
        "findings": a.screening["findings"],
        "impact_level": a.impact["level"],
        "impact": a.impact,
        "training_data_headline": a.headline,
        "disclosure_sha256": a.sha256,
    }


def disclosure_sha256(document: Any) -> str:
    """The SHA-256 of a disclosure's canonical JSON: what a version records and the log carries."""
    from assay.register.disclosure import canonical_json

    return hashlib.sha256(canonical_json(_parse(document, source="the disclosure"))).hexdigest()


def to_dict(view: Any) -> dict[str, Any]:
    """A view (SystemView, SystemSummary, VersionView, ProviderView) as JSON-ready data, times in ISO 8601."""
    import dataclasses

    data = dataclasses.asdict(view)
    if isinstance(view, VersionView):
        data["url_path"] = view.url_path
    return _isoformat(data)


def _isoformat(value: Any) -> Any:
    if isinstance(value, datetime):
        return _aware(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: _isoformat(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_isoformat(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------- writes


# An absolute http(s) address: a host of letters, digits, dots and hyphens (IDNs in punycode), an optional port,
# then printable ASCII. No userinfo, spaces or control characters; never javascript:, data: or a bare name.
WEB_ADDRESS = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$"


def is_web_address(value: str) -> bool:
    """Whether ``value`` matches :data:`WEB_ADDRESS` (the one rule the API schema also publishes)."""
    return bool(value) and re.fullmatch(WEB_ADDRESS, value) is not None


def add_provider(
    session: Session,
    *,
    id: str,
    name: str,
    jurisdiction: str = "",
    website: str = "",
    principal: Principal,
    now: datetime | None = None,
) -> ProviderView:
    """Register a provider or deployer (the oversight body does this; providers then get tokens)."""
    principal.require_admin(action="register providers")
    problems = []
    if not PROVIDER_ID_RE.match(id or "") or "--" in id:
        problems.append(
            FieldProblem(
                "id",
                f"{id!r} is not a valid provider id",
                "use 1-64 lower-case letters, digits and '-', e.g. 'acme-health'",
            )
        )
    name = (name or "").strip()
    if not name or len(name) > 300:
        problems.append(
            FieldProblem("name", "a provider needs a legal name of 1-300 characters", "give its legal name")
        )
    if len(jurisdiction) > 100:
        problems.append(FieldProblem("jurisdiction", "longer than 100 characters", "give a country or region code"))
    website = (website or "").strip()
    if len(website) > 500:
        problems.append(FieldProblem("website", "longer than 500 characters", "give a shorter address"))
    elif website and not is_web_address(website):
        problems.append(
            FieldProblem(
                "website",
                f"{website[:60]!r} is not a web address (only http:// and https:// addresses are accepted)",
                "give a full address starting with https://, e.g. https://acme.example",
            )
        )
    if problems:
        raise InvalidInput(
            "the provider is not valid: " + "; ".join(f"{p.path}: {p.message}" for p in problems),
            hint="fix the listed fields",
            problems=problems,
        )
    if session.get(Provider, id) is not None:
        raise Conflict(f"there is already a provider {id!r}", hint="choose another id, or use the existing provider")
    provider = Provider(
        id=id,
        name=name,
        jurisdiction=jurisdiction.strip(),
        website=website.strip(),
        created_at=now or _now(),
        created_by=principal.actor,
    )
    session.add(provider)
    session.flush()
    provider.log_index = record_event(session, "provider.registered", {"provider": id})
    return _provider_view(provider, 0)


def publish(
    session: Session,
    document: Any,
    *,
    principal: Principal,
    provider_id: str | None = None,
    reason: str = "",
    source: str = "the disclosure",
    now: datetime | None = None,
) -> SystemView:
    """Publish a new system (version 1). ``document`` is a parsed dict/YAML mapping or a ``Disclosure``.

    Raises :class:`InvalidInput` (each wrong field), :class:`Forbidden` (another provider's token),
    :class:`NotFound` (unknown provider) or :class:`Conflict` (the provider already has a system of that name).
    """
    reason = _check_reason(reason, required=False) or "first publication"
    if principal.provider_id is not None and provider_id not in (None, principal.provider_id):
        principal.require_provider(provider_id, action="publish systems")  # raises Forbidden
    assessed = _assess(document, source=source)
    named = assessed.provider_id  # provider.id inside the disclosure, if the provider gave it
    provider_id = provider_id or principal.provider_id or named
    if provider_id is None:
        raise InvalidInput(
            "say which provider publishes this system",
            hint="give provider.id in the disclosure, or --provider ID (API: ?provider=ID)",
            problems=[FieldProblem("provider.id", "missing", "give the provider's id in this register")],
        )
    principal.require_provider(provider_id, action="publish systems")
    if named is not None and named != provider_id:
        principal.require_provider(named, action="publish systems")  # a provider's token: Forbidden
        raise InvalidInput(
            f"the disclosure names provider {named!r}, but it is being published for {provider_id!r}",
            hint="make provider.id match the provider it is published for, or leave provider.id out",
            problems=[FieldProblem("provider.id", f"is {named!r}, not {provider_id!r}", f"set it to {provider_id!r}")],
        )
    provider = session.get(Provider, provider_id)
    if provider is None:
        raise NotFound(
            f"there is no provider {provider_id!r}",
            hint=f"the oversight body registers it first: assay providers add {provider_id} --name ...",
        )
    _check_identities(session, provider, assessed.document)
    existing = session.scalars(
        select(System.id).where(System.provider_id == provider_id, System.name_key == assessed.name_key)
    ).first()
    if existing is not None:
        raise _duplicate(provider_id, assessed.name, existing)
    now = now or _now()
    system_id = _new_system_id(session, provider_id, assessed)
    system = System(
        id=system_id,
        provider_id=provider_id,
        current_version=1,
        created_at=now,
        created_by=principal.actor,
        **assessed.system_columns(now),
    )
    session.add(system)
    try:
        session.flush()
    except IntegrityError:  # a concurrent publish of the same name won the race (PostgreSQL)
        raise _duplicate(provider_id, assessed.name, None) from None
    _refresh_name_copies(session, {assessed.name_key})
    return _record_version(
        session,
        system,
        provider,
        assessed,
        number=1,
        reason=reason,
        principal=principal,
        now=now,
        event="system.published",
    )


def update(
    session: Session,
    system_id: str,
    document: Any,
    *,
    expected_version: int,
    principal: Principal,
    reason: str = "",
    source: str = "the disclosure",
    now: datetime | None = None,
) -> SystemView:
    """Add version n+1 to a system. ``expected_version`` must be its current version, else :class:`Conflict`."""
    system = _locked_system(session, system_id)
    principal.require_provider(system.provider_id, action="update systems")
    if expected_version != system.current_version:
        raise Conflict(
            f"system {system_id!r} is at version {system.current_version}, not {expected_version}: "
            "someone else updated it since you read it",
            hint=f"read version {system.current_version}, merge your change into it and send expected_version="
            f"{system.current_version}",
            extra={"current_version": system.current_version},
        )
    reason = _check_reason(reason, required=False)
    assessed = _assess(document, source=source)
    if assessed.preferred_id is not None and assessed.preferred_id != system.id:
        raise InvalidInput(
            f"the disclosure gives system.id {assessed.preferred_id!r}, but this is system {system.id!r}",
            hint="a system's id never changes; set system.id to it or leave system.id out",
            problems=[FieldProblem("system.id", f"is {assessed.preferred_id!r}", f"set it to {system.id!r}")],
        )
    if assessed.provider_id is not None and assessed.provider_id != system.provider_id:
        raise InvalidInput(
            f"the disclosure names provider {assessed.provider_id!r}, but {system.id!r} belongs to "
            f"{system.provider_id!r}",
            hint="a system cannot move to another provider; publish it anew under the other provider",
            problems=[FieldProblem("provider.id", f"is {assessed.provider_id!r}", f"set it to {system.provider_id!r}")],
        )
    current = _version_row(session, system.id, system.current_version)
    if assessed.sha256 == current.disclosure_sha256:
        raise Conflict(
            f"the disclosure is identical to version {system.current_version} of {system_id!r}; nothing to update",
            hint="change the disclosure, or leave the system as it is",
            extra={"current_version": system.current_version},
        )
    if assessed.name_key != system.name_key:
        clash = session.scalars(
            select(System.id).where(
                System.provider_id == system.provider_id, System.name_key == assessed.name_key, System.id != system.id
            )
        ).first()
        if clash is not None:
            raise _duplicate(system.provider_id, assessed.name, clash)
    provider = session.get(Provider, system.provider_id)
    assert provider is not None
    _check_identities(session, provider, assessed.document)
    now = now or _now()
    number = system.current_version + 1
    old_name_key = system.name_key
    for key, value in assessed.system_columns(now).items():
        setattr(system, key, value)
    system.current_version = number
    try:
        session.flush()
    except IntegrityError:
        raise _duplicate(system.provider_id, assessed.name, None) from None
    _refresh_name_copies(session, {old_name_key, assessed.name_key})
    return _record_version(
        session,
        system,
        provider,
        assessed,
        number=number,
        reason=reason or "update",
        principal=principal,
        now=now,
        event="system.updated",
    )


def _record_version(
    session: Session,
    system: System,
    provider: Provider,
    assessed: _Assessed,
    *,
    number: int,
    reason: str,
    principal: Principal,
    now: datetime,
    event: str,
) -> SystemView:
    """What publishing and updating both do once the system's row is written: append the version, refresh the
    facets and the search index, and log the event, all in the caller's transaction."""
    version = _append_version(session, system, assessed, number=number, reason=reason, principal=principal, now=now)
    _replace_facets(session, system.id, assessed)
    index_system(
        session,
        system,
        provider_name=provider.name,
        disclosure=assessed.document,
        capabilities=assessed.capabilities,
        contexts=assessed.contexts,
    )
    version.log_index = record_event(session, event, _log_body(system, version, assessed))
    session.flush()
    view = get_system(session, system.id)
    assert view is not None
    return view


def suspend(
    session: Session, system_id: str, *, reason: str, principal: Principal, now: datetime | None = None
) -> SystemView:
    """The oversight body suspends a system: its page says so until it is reinstated."""
    return _set_suspension(session, system_id, suspended=True, reason=reason, principal=principal, now=now)


def reinstate(
    session: Session, system_id: str, *, reason: str, principal: Principal, now: datetime | None = None
) -> SystemView:
    return _set_suspension(session, system_id, suspended=False, reason=reason, principal=principal, now=now)


def confirm_deployer(
    session: Session,
    system_id: str,
    *,
    principal: Principal,
    decision: str = "confirmed",
    now: datetime | None = None,
) -> SystemView:
    """A registered organisation, named as a deployer in a system's current disclosure, confirms it (or denies
    it) with its own token. Until then pages, the API and the export show the deployer as "named by the provider,
    not confirmed". Only the deployer's own token may answer: not the provider's, not the oversight body's
    (a register that could confirm for others would prove nothing).

    The decision holds for what the disclosure says about the deployer now (its entry's SHA-256); if a later
    version changes that entry, the deployer is unconfirmed again. Raises :class:`Forbidden` for another
    token, :class:`InvalidInput` if the system does not name this deployer, :class:`Conflict` if the same
    decision is already in force.
    """
    from assay.errors import Forbidden

    if decision not in ("confirmed", "denied"):
        raise InvalidInput(
            f"unknown decision {decision!r}",
            hint="decide 'confirmed' or 'denied'",
            problems=[FieldProblem("decision", "must be 'confirmed' or 'denied'", "")],
        )
    deployer_id = principal.provider_id
    if deployer_id is None:
        raise Forbidden(
            "only the deployer's own token can confirm that it deploys a system",
            hint="use a token of the organisation named as deployer (assay tokens create --provider ID)",
        )
    system = _locked_system(session, system_id)
    if deployer_id == system.provider_id:
        raise InvalidInput(
            f"{deployer_id!r} is the provider of {system_id!r}; a provider needs no confirmation as its deployer",
            hint="deployers other than the provider confirm with their own tokens",
        )
    version = _version_row(session, system.id, system.current_version)
    entries = [e for e in json.loads(version.disclosure).get("deployers") or [] if e.get("id") == deployer_id]
    if not entries:
        raise InvalidInput(
            f"version {system.current_version} of {system_id!r} does not name {deployer_id!r} as a deployer",
            hint="only an organisation the disclosure names as a deployer (deployers[].id) can confirm it",
            problems=[FieldProblem("deployers", f"no entry with id {deployer_id!r}", "")],
        )
    digest = _entry_sha256(entries[0])
    newest = _deployer_decisions(session, system.id).get(deployer_id)
    if newest is not None and newest.entry_sha256 == digest and newest.decision == decision:
        raise Conflict(f"{deployer_id!r} has {decision} this already", hint="nothing to do")
    now = now or _now()
    row = DeployerConfirmation(
        system_id=system.id,
        deployer_id=deployer_id,
        decision=decision,
        entry_sha256=digest,
        version_number=system.current_version,
        actor=principal.actor,
        actor_token_id=principal.actor_token_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    row.log_index = record_event(
        session,
        f"system.deployer.{decision}",
        {
            "system": system.id,
            "provider": system.provider_id,
            "deployer": deployer_id,
            "version": system.current_version,
            "entry_sha256": digest,
        },
    )
    session.flush()
    view = get_system(session, system.id)
    assert view is not None
    return view


def rescreen(
    session: Session, system_id: str, *, principal: Principal, now: datetime | None = None
) -> SystemView | None:
    """Screen a system's current version again under the rules in force, if it was screened under others.

    The oversight body's reviews still count (for the same claim text). The new screening is added (the earlier
    one stays on record), the system's outcome follows it, and the log records the new outcome with the rules'
    version. Returns None, writing nothing, when the current screening already used these rules.
    """
    from assay.register.screening import load_rules

    principal.require_admin(action="screen systems again")
    system = _locked_system(session, system_id)
    current = _version_row(session, system.id, system.current_version)
    screening = _latest_screening(session, current.id)
    if screening.rules_version == load_rules().version:
        return None
    now = now or _now()
    disclosure = _parse(json.loads(current.disclosure), source=f"version {current.number} of {system_id!r}")
    result = _screen(disclosure, _review_decisions(session, system.id, current.number, screening.findings))
    session.add(
        ScreeningRecord(
            version_id=current.id,
            outcome=result["outcome"],
            needs_review=result["needs_review"],
            findings=result["findings"],
            rules_version=result["rules_version"],
            cause="rules",
            actor=principal.actor,
            created_at=now,
        )
    )
    previous = system.outcome
    system.outcome = result["outcome"]
    system.outcome_basis = result["outcome_basis"]
    system.needs_review = result["needs_review"]
    system.updated_at = now
    _reindex(session, system)
    record_event(
        session,
        "system.rescreened",
        {
            "system": system.id,
            "provider": system.provider_id,
            "version": current.number,
            "outcome": result["outcome"],
            "previous_outcome": previous,
            "rules_version": result["rules_version"],
        },
    )
    session.flush()
    return get_system(session, system.id)


def review_exception(
    session: Session,
    system_id: str,
    *,
    rule_id: str,
    decision: str,
    reason: str,
    principal: Principal,
    version: int | None = None,
    now: datetime | None = None,
) -> SystemView:
    """The oversight body upholds or rejects an exception claimed against a red-line rule.

    Only a complete claim (screening status ``claimed_pending_review``, or one already decided) can be
    reviewed. The current version is screened again with the newest decision per rule, and the result becomes
    its current screening (the earlier one stays on record); the log records the decision. A review belongs
    to one version and the exact claim text (its digest): a later version, even with the same claim, is
    screened afresh and waits for a new review, because the facts around the claim may have changed.
    """
    principal.require_admin(action="review exception claims")
    decision = {"accepted": "upheld", "accept": "upheld", "uphold": "upheld", "reject": "rejected"}.get(
        decision, decision
    )
    if decision not in REVIEW_DECISIONS:
        raise InvalidInput(
            f"unknown decision {decision!r}",
            hint="decide 'upheld' or 'rejected'",
            problems=[FieldProblem("decision", "must be 'upheld' or 'rejected'", "")],
        )
    reason = _check_reason(reason, required=True)
    system = _locked_system(session, system_id)
    number = system.current_version if version is None else version
    if number != system.current_version:
        raise Conflict(
            f"system {system_id!r} is at version {system.current_version}; only its current version can be reviewed",
            hint=f"review version {system.current_version}",
            extra={"current_version": system.current_version},
        )
    current = _version_row(session, system.id, number)
    screening = _latest_screening(session, current.id)
    finding = next((f for f in screening.findings if f.get("rule_id") == rule_id), None)
    reviewable = {f.get("rule_id"): f for f in screening.findings if f.get("exception_status") in _REVIEWABLE}
    if finding is None or rule_id not in reviewable:
        if finding is not None and finding.get("exception_status") in ("missing_justification", "unavailable"):
            why = "; ".join(finding.get("exception_problems") or []) or finding.get("exception_status")
            message = f"the exception claimed against {rule_id!r} cannot be reviewed yet: {why}"
            hint = "the provider must complete the claim in a new version first"
        else:
            message = f"version {number} of {system_id!r} claims no exception to rule {rule_id!r}"
            hint = (
                ("reviewable claims: " + ", ".join(sorted(map(str, reviewable))))
                if reviewable
                else "this version claims no exception that can be reviewed"
            )
        raise InvalidInput(
            message,
            hint=hint,
            problems=[
                FieldProblem(
                    "rule_id", "no reviewable exception claim under this rule", "pick a rule from the findings"
                )
            ],
        )
    now = now or _now()
    review = ExceptionReview(
        system_id=system.id,
        version_number=number,
        rule_id=rule_id,
        decision=decision,
        reason=reason,
        claim_digest=finding.get("claim_digest"),
        actor=principal.actor,
        actor_token_id=principal.actor_token_id,
        created_at=now,
    )
    session.add(review)
    session.flush()
    disclosure = _parse(json.loads(current.disclosure), source=f"version {number} of {system_id!r}")
    result = _screen(disclosure, _review_decisions(session, system.id, number, screening.findings))
    session.add(
        ScreeningRecord(
            version_id=current.id,
            outcome=result["outcome"],
            needs_review=result["needs_review"],
            findings=result["findings"],
            rules_version=result["rules_version"],
            cause="review",
            actor=principal.actor,
            created_at=now,
        )
    )
    system.outcome = result["outcome"]
    system.outcome_basis = result["outcome_basis"]
    system.needs_review = result["needs_review"]
    system.updated_at = now
    _reindex(session, system)
    review.log_index = record_event(
        session,
        "system.finding",
        {
            "system": system.id,
            "version": number,
            "rule": rule_id,
            "decision": decision,
            "claim_sha256": finding.get("claim_digest"),
            "outcome": result["outcome"],
            "review_id": review.id,
        },
    )
    session.flush()
    view = get_system(session, system.id)
    assert view is not None
    return view


# ---------------------------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Assessed:
    """A validated disclosure with everything derived from it, computed before anything is written."""

    document: dict[str, Any]
    canonical: str
    sha256: str
    name: str
    name_key: str
    version_label: str
    status: str
    summary: str
    capabilities: list[str]
    contexts: list[str]
    headline: str
    preferred_id: str | None
    provider_id: str | None
    screening: dict[str, Any]
    impact: dict[str, Any]

    def system_columns(self, now: datetime) -> dict[str, Any]:
        return {
            "name": self.name,
            "name_key": self.name_key,
            "version_label": self.version_label,
            "status": self.status,
            "summary": self.summary,
            "outcome": self.screening["outcome"],
            "outcome_basis": self.screening["outcome_basis"],
            "impact_level": self.impact["level"],
            "needs_review": self.screening["needs_review"],
            "training_data_headline": self.headline,
            "updated_at": now,
        }


def _assess(document: Any, *, source: str) -> _Assessed:
    disclosure = _parse(document, source=source)
    from assay.register.disclosure import canonical_json, training_data_headline

    canonical = canonical_json(disclosure)
    data = json.loads(canonical)
    facts = _facts(disclosure)
    screening = _screen(disclosure, None)
    from assay.register.impact import assess_impact

    impact = _plain(assess_impact(disclosure))
    impact["level"] = int(impact["level"])
    return _Assessed(
        document=data,
        canonical=canonical.decode("utf-8"),
        sha256=hashlib.sha256(canonical).hexdigest(),
        name=facts["name"],
        name_key=name_key(facts["name"]),
        version_label=facts["version"],
        status=facts["status"],
        summary=facts["summary"],
        capabilities=facts["capabilities"],
        contexts=facts["contexts"],
        headline=training_data_headline(disclosure),
        preferred_id=facts["preferred_id"],
        provider_id=facts["provider_id"],
        screening=screening,
        impact=impact,
    )


def _parse(document: Any, *, source: str) -> Any:
    from assay.register.disclosure import Disclosure, parse_disclosure

    if isinstance(document, Disclosure):
        return document
    return parse_disclosure(document, source=source)


def _screen(disclosure: Any, reviews: Any) -> dict[str, Any]:
    from assay.register.screening import KIND_LABELS, screen

    result = screen(disclosure, reviews=reviews)
    findings = []
    for f in result.findings:
        plain = _plain(f)
        plain["needs_review"] = bool(f.needs_review)
        plain["kind_label"] = KIND_LABELS[f.kind]
        findings.append(plain)
    return {
        "outcome": str(result.outcome),
        "legal_outcome": str(result.legal_outcome),
        "outcome_basis": str(result.outcome_basis),
        "needs_review": bool(result.needs_review),
        "findings": findings,
        "rules_version": str(result.rules_version),
    }


def _facts(disclosure: Any) -> dict[str, Any]:
    """The facts the register lists and filters by, read off a validated disclosure."""
    system = disclosure.system
    return {
        "name": system.name.strip(),
        "version": system.version,
        "status": str(system.status),
        "summary": _shorten(system.summary, 350),
        "capabilities": sorted({str(c) for c in disclosure.capabilities}),
        "contexts": sorted({str(c) for c in system.deployment_contexts}),
        "preferred_id": system.id,
        "provider_id": disclosure.provider.id,
    }


REVIEW_DECISIONS = ("upheld", "rejected")
# Exception statuses (assay.register.screening) of a complete claim: the ones the oversight body can decide.
_REVIEWABLE = ("claimed_pending_review", "upheld", "rejected")


def _review_decisions(session: Session, system_id: str, number: int, findings: list[dict[str, Any]]) -> dict[str, str]:
    """The newest decision per rule for one version, for claims whose text is still the one decided."""
    digests = {f.get("rule_id"): f.get("claim_digest") for f in findings}
    decisions: dict[str, str] = {}
    for review in session.scalars(
        select(ExceptionReview)
        .where(ExceptionReview.system_id == system_id, ExceptionReview.version_number == number)
        .order_by(ExceptionReview.id)
    ):
        if review.claim_digest is None or review.claim_digest == digests.get(review.rule_id):
            decisions[review.rule_id] = review.decision
    return decisions


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a domain result (pydantic model, dataclass, enum, tuple...)."""
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(mode="json"))
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return round(value, 6)
    return value


def _append_version(
    session: Session,
    system: System,
    assessed: _Assessed,
    *,
    number: int,
    reason: str,
    principal: Principal,
    now: datetime,
) -> SystemVersion:
    version = SystemVersion(
        system_id=system.id,
        number=number,
        disclosure=assessed.canonical,
        disclosure_sha256=assessed.sha256,
        name=assessed.name,
        version_label=assessed.version_label,
        status=assessed.status,
        reason=reason,
        actor=principal.actor,
        actor_token_id=principal.actor_token_id,
        created_at=now,
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError:  # unique (system_id, number): a concurrent update got this number first
        raise Conflict(f"system {system.id!r} was updated concurrently", hint="read it again and retry") from None
    session.add(
        ScreeningRecord(
            version_id=version.id,
            outcome=assessed.screening["outcome"],
            needs_review=assessed.screening["needs_review"],
            findings=assessed.screening["findings"],
            rules_version=assessed.screening["rules_version"],
            cause="submitted",
            actor=principal.actor,
            created_at=now,
        )
    )
    session.add(
        ImpactRecord(version_id=version.id, level=assessed.impact["level"], assessment=assessed.impact, created_at=now)
    )
    return version


def _replace_facets(session: Session, system_id: str, assessed: _Assessed) -> None:
    from sqlalchemy import delete

    session.execute(delete(SystemCapability).where(SystemCapability.system_id == system_id))
    session.execute(delete(SystemContext).where(SystemContext.system_id == system_id))
    session.add_all([SystemCapability(system_id=system_id, capability=c) for c in assessed.capabilities])
    session.add_all([SystemContext(system_id=system_id, context=c) for c in assessed.contexts])


def _log_body(system: System, version: SystemVersion, assessed: _Assessed) -> dict[str, Any]:
    return {
        "system": system.id,
        "provider": system.provider_id,
        "version": version.number,
        "disclosure_sha256": assessed.sha256,
        "outcome": assessed.screening["outcome"],
        # With the disclosure's hash and the rules' version, anyone can recompute the screening from the log.
        "rules_version": assessed.screening["rules_version"],
        "impact_level": assessed.impact["level"],
    }


def _set_suspension(
    session: Session, system_id: str, *, suspended: bool, reason: str, principal: Principal, now: datetime | None
) -> SystemView:
    principal.require_admin(action="suspend or reinstate systems")
    system = _locked_system(session, system_id)
    reason = _check_reason(reason, required=True)
    if system.suspended == suspended:
        state = "already suspended" if suspended else "not suspended"
        raise Conflict(f"system {system_id!r} is {state}", hint="nothing to do")
    now = now or _now()
    action = "suspended" if suspended else "reinstated"
    event = SystemSuspension(
        system_id=system.id,
        action=action,
        reason=reason,
        actor=principal.actor,
        actor_token_id=principal.actor_token_id,
        created_at=now,
    )
    session.add(event)
    system.suspended = suspended
    system.updated_at = now
    session.flush()
    _reindex(session, system)
    event.log_index = record_event(
        session,
        f"system.{action}",
        {
            "system": system.id,
            "version": system.current_version,
            "event_id": event.id,
            # The log commits to the reason by its hash (free text never goes in), so it cannot be changed later.
            "reason_sha256": hashlib.sha256(reason.encode()).hexdigest(),
        },
    )
    session.flush()
    view = get_system(session, system.id)
    assert view is not None
    return view


def _reindex(session: Session, system: System) -> None:
    """Refresh a system's search entry after its filterable facts changed (outcome, suspension)."""
    provider = session.get(Provider, system.provider_id)
    current = _version_row(session, system.id, system.current_version)
    index_system(
        session,
        system,
        provider_name=provider.name if provider else "",
        disclosure=json.loads(current.disclosure),
        capabilities=_capabilities(session, [system.id])[system.id],
        contexts=_contexts(session, [system.id])[system.id],
    )


def _legal_outcome(findings: list[dict[str, Any]], outcome: str) -> str:
    from assay.register.screening import outcome_basis

    return outcome_basis(findings, outcome)[0]


def _same_text(a: str, b: str) -> bool:
    """Names compared as people read them: Unicode-normalised, case and spacing ignored."""

    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).casefold().split())

    return norm(a) == norm(b)


def _check_identities(session: Session, provider: Provider, document: dict[str, Any]) -> None:
    """A disclosure speaks for the organisations the register knows only in their registered names.

    The provider's legal name and jurisdiction must be those of its record in the register (else anyone could
    publish as "Acme Imaging B.V., NL" under their own provider id), and a deployer given by its register id
    must be that organisation, as registered (an id the register does not know is shown as "not registered
    here"; it can never be confirmed). Raises :class:`InvalidInput` naming each field and its fix.
    """
    problems: list[FieldProblem] = []

    def compare(path: str, org: Mapping[str, Any], record: Provider, *, what: str) -> None:
        if not _same_text(str(org.get("legal_name", "")), record.name):
            problems.append(
                FieldProblem(
                    f"{path}.legal_name",
                    f"is {org.get('legal_name')!r}, but {what} {record.id!r} is registered as {record.name!r}",
                    f"set {path}.legal_name to {record.name!r} (the name the register holds; if that is wrong, the "
                    "oversight body corrects the provider record)",
                )
            )
        if record.jurisdiction and not _same_text(str(org.get("jurisdiction", "")), record.jurisdiction):
            problems.append(
                FieldProblem(
                    f"{path}.jurisdiction",
                    f"is {org.get('jurisdiction')!r}, but {what} {record.id!r} is registered in "
                    f"{record.jurisdiction!r}",
                    f"set {path}.jurisdiction to {record.jurisdiction!r}",
                )
            )

    compare("provider", document.get("provider") or {}, provider, what="provider")
    for i, entry in enumerate(document.get("deployers") or []):
        deployer_id = entry.get("id")
        if deployer_id is None:
            continue
        record = provider if deployer_id == provider.id else session.get(Provider, deployer_id)
        if record is None:  # not registered here: shown as named by the provider, never as confirmed
            continue
        compare(f"deployers[{i}]", entry, record, what="organisation")
    if problems:
        raise InvalidInput(
            "the disclosure names organisations otherwise than the register knows them: "
            + "; ".join(f"{p.path} {p.message}" for p in problems),
            hint=problems[0].fix if len(problems) == 1 else "fix the listed fields",
            problems=problems,
        )


def _entry_sha256(entry: Mapping[str, Any]) -> str:
    data = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _deployer_decisions(session: Session, system_id: str) -> dict[str, DeployerConfirmation]:
    """The newest decision of each deployer about a system."""
    newest: dict[str, DeployerConfirmation] = {}
    for row in session.scalars(
        select(DeployerConfirmation)
        .where(DeployerConfirmation.system_id == system_id)
        .order_by(DeployerConfirmation.id)
    ):
        newest[row.deployer_id] = row
    return newest


def _deployers(session: Session, system: System, disclosure: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each deployer the disclosure names, with what the register can say about it (DEPLOYER_STATUSES)."""
    ids = sorted({e["id"] for e in disclosure.get("deployers") or [] if e.get("id")})
    registered = set(session.scalars(select(Provider.id).where(Provider.id.in_(ids)))) if ids else set()
    return deployer_statuses(disclosure, system.provider_id, _deployer_decisions(session, system.id), registered)


def deployer_statuses(
    disclosure: Mapping[str, Any],
    provider_id: str,
    decisions: Mapping[str, DeployerConfirmation],
    registered: set[str] | Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The deployers of a disclosure with their status, from the newest decision of each deployer about the
    system and the ids registered here (shared by the read model and the export, which batches the queries)."""
    out = []
    for entry in disclosure.get("deployers") or []:
        deployer_id = entry.get("id")
        row = decisions.get(deployer_id) if deployer_id else None
        if deployer_id is None or deployer_id not in registered:
            status = "unregistered"
        elif deployer_id == provider_id:
            status = "provider"
        elif row is not None and row.entry_sha256 == _entry_sha256(entry):
            status = row.decision
        else:
            status = "pending"
        decided = row is not None and status in ("confirmed", "denied")
        out.append(
            {
                "id": deployer_id,
                "legal_name": entry.get("legal_name"),
                "jurisdiction": entry.get("jurisdiction"),
                "use": entry.get("use"),
                "status": status,
                "status_label": DEPLOYER_STATUSES[status],
                "confirmed": status in ("provider", "confirmed"),
                "decided_at": _aware(row.created_at) if decided and row else None,
                "log_index": row.log_index if decided and row else None,
            }
        )
    return out


def deployer_decisions(session: Session, system_ids: list[str]) -> dict[str, dict[str, DeployerConfirmation]]:
    """The newest decision of each deployer, for many systems at once: {system id: {deployer id: row}}."""
    out: dict[str, dict[str, DeployerConfirmation]] = {}
    if not system_ids:
        return out
    for row in session.scalars(
        select(DeployerConfirmation)
        .where(DeployerConfirmation.system_id.in_(system_ids))
        .order_by(DeployerConfirmation.id)
    ):
        out.setdefault(row.system_id, {})[row.deployer_id] = row
    return out


def _refresh_name_copies(session: Session, keys: set[str]) -> None:
    """Mark, among the systems of each name, every one but the first registered as a copy (owned here)."""
    session.flush()
    for key in keys:
        rows = list(
            session.scalars(select(System).where(System.name_key == key).order_by(System.created_at, System.id))
        )
        for i, row in enumerate(rows):
            copy = i > 0 and row.provider_id != rows[0].provider_id
            if bool(row.name_copy) != copy:
                row.name_copy = copy  # a column search orders by; no full-text reindex needed


def _same_name(session: Session, system: System) -> list[dict[str, Any]]:
    """Other providers' systems of the same name, first registered first (``first``: the original)."""
    rows = session.execute(
        select(System.id, System.name, System.provider_id, Provider.name.label("provider_name"), System.created_at)
        .join(Provider, Provider.id == System.provider_id)
        .where(System.name_key == system.name_key)
        .order_by(System.created_at, System.id)
        .limit(20)
    ).all()
    if len(rows) < 2:
        return []
    return [
        {
            "id": r.id,
            "name": r.name,
            "provider_id": r.provider_id,
            "provider_name": r.provider_name,
            "first": i == 0,
            "url_path": f"/systems/{r.id}",
        }
        for i, r in enumerate(rows)
        if r.id != system.id
    ]


def _locked_system(session: Session, system_id: str) -> System:
    # FOR UPDATE on PostgreSQL (ignored by SQLite, where the single writer already serialises writes):
    # the version check and the append below are atomic with respect to other updates of this system.
    system = session.scalars(select(System).where(System.id == system_id).with_for_update()).first()
    if system is None:
        raise NotFound(f"there is no system {system_id!r}", hint="check the id; search the register at /systems")
    return system


def _version_row(session: Session, system_id: str, number: int) -> SystemVersion:
    return session.scalars(
        select(SystemVersion).where(SystemVersion.system_id == system_id, SystemVersion.number == number)
    ).one()


def _latest_screening(session: Session, version_id: int) -> ScreeningRecord:
    return session.scalars(
        select(ScreeningRecord)
        .where(ScreeningRecord.version_id == version_id)
        .order_by(ScreeningRecord.id.desc())
        .limit(1)
    ).one()


def _latest_screenings(session: Session, version_ids: list[int]) -> dict[int, ScreeningRecord]:
    out: dict[int, ScreeningRecord] = {}
    for record in session.scalars(
        select(ScreeningRecord).where(ScreeningRecord.version_id.in_(version_ids)).order_by(ScreeningRecord.id)
    ):
        out[record.version_id] = record  # ascending ids: the newest one wins
    return out


def _reviews(session: Session, system_id: str, number: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ExceptionReview)
        .where(ExceptionReview.system_id == system_id, ExceptionReview.version_number == number)
        .order_by(ExceptionReview.id)
    )
    return [
        {
            "rule_id": r.rule_id,
            "decision": r.decision,
            "reason": r.reason,
            "actor": r.actor,
            "created_at": _aware(r.created_at),
            "log_index": r.log_index,
            "claim_digest": r.claim_digest,
        }
        for r in rows
    ]


def _suspensions(session: Session, system_id: str) -> list[dict[str, Any]]:
    """The oversight body's suspensions and reinstatements of a system, newest first: all of them stay public."""
    rows = session.scalars(
        select(SystemSuspension).where(SystemSuspension.system_id == system_id).order_by(SystemSuspension.id.desc())
    )
    return [
        {
            "action": row.action,
            "reason": row.reason,
            "actor": row.actor,
            "created_at": _aware(row.created_at),
            "log_index": row.log_index,
        }
        for row in rows
    ]


def _capabilities(session: Session, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        for sid, cap in session.execute(
            select(SystemCapability.system_id, SystemCapability.capability)
            .where(SystemCapability.system_id.in_(ids))
            .order_by(SystemCapability.capability)
        ):
            out[sid].append(cap)
    return out


def _contexts(session: Session, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        for sid, ctx in session.execute(
            select(SystemContext.system_id, SystemContext.context)
            .where(SystemContext.system_id.in_(ids))
            .order_by(SystemContext.context)
        ):
            out[sid].append(ctx)
    return out


def _provider_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Provider.id, Provider.name).where(Provider.id.in_(ids))).all())


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


def _duplicate(provider_id: str, name: str, existing: str | None) -> Conflict:
    where = f" ({existing})" if existing else ""
    return Conflict(
        f"provider {provider_id!r} already has a system named {name!r}{where}",
        hint="update that system with PUT /api/v1/systems/<id> (or 'assay systems update'), or choose another name",
        problems=[
            FieldProblem(
                "system.name",
                "already used by another system of this provider",
                "choose another name, or update the existing system",
            )
        ],
        extra={"existing_system": existing} if existing else None,
    )


def _check_reason(reason: str | None, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInput(
            "give a reason: it is shown publicly next to the decision",
            hint="say in one or two sentences why",
            problems=[FieldProblem("reason", "missing", "add a reason")],
        )
    if len(reason) > _MAX_REASON:
        raise InvalidInput(
            f"the reason is longer than {_MAX_REASON} characters",
            hint="shorten it",
            problems=[FieldProblem("reason", f"longer than {_MAX_REASON} characters", "shorten it")],
        )
    return reason


def name_key(name: str) -> str:
    """The form of a name that must be unique per provider: case, accents-as-typed and spacing ignored."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def slugify(text: str, *, max_len: int = 60) -> str:
    """A URL-safe slug: ASCII letters, digits and '-' ("Émotion Scan 2" -> "emotion-scan-2")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    return slug[:max_len].strip("-")


def _new_system_id(session: Session, provider_id: str, assessed: _Assessed) -> str:
    """The disclosure's preferred ``system.id`` if free, else ``<provider>-<name>`` made unique with -2, -3...

    Ids are public and never change once given.
    """
    if assessed.preferred_id is not None:
        if len(assessed.preferred_id) > _MAX_SYSTEM_ID:
            raise InvalidInput(
                f"system.id is longer than {_MAX_SYSTEM_ID} characters",
                hint="shorten it",
                problems=[FieldProblem("system.id", "too long", f"at most {_MAX_SYSTEM_ID} characters")],
            )
        if session.get(System, assessed.preferred_id) is not None:
            raise Conflict(
                f"the system id {assessed.preferred_id!r} is already taken",
                hint="choose another system.id, or leave it out and the register derives one",
                problems=[FieldProblem("system.id", "already taken", "choose another id or leave it out")],
            )
        return assessed.preferred_id
    base = slugify(assessed.name) or "system"
    if base != provider_id and not base.startswith(provider_id + "-"):
        base = f"{provider_id}-{base}"
    base = base[: _MAX_SYSTEM_ID - 6].strip("-")
    candidate, n = base, 1
    while session.get(System, candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"
