"""Reads of the register: systems, versions, providers and deployers as plain views (``views``).

Every read runs inside the caller's session (``with db.read() as session``) and returns views, never rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assay.errors import InvalidInput, NotFound
from assay.register._assess import _legal_outcome
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
from assay.register.search import Page, SystemQuery, search_systems
from assay.register.views import (
    DEPLOYER_STATUSES,
    ProviderView,
    SystemSummary,
    SystemView,
    VersionView,
    _aware,
    _provider_view,
    _summary,
    _version_view,
)

__all__ = [
    "current_version",
    "deployer_decisions",
    "deployer_statuses",
    "get_provider",
    "get_system",
    "get_version",
    "history",
    "history_page",
    "list_providers",
    "provider_choices",
    "register_counts",
    "search",
    "subject_names",
    "system_ids",
]


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


def register_counts(session: Session) -> dict[str, int]:
    """How many systems (in all and by outcome) and providers the register holds, for the "about" page."""
    by_outcome = {
        str(outcome): int(n)
        for outcome, n in session.execute(select(System.outcome, func.count()).group_by(System.outcome)).all()
    }
    return {
        "systems": sum(by_outcome.values()),
        "providers": int(session.scalar(select(func.count()).select_from(Provider)) or 0),
        **{f"outcome_{k}": v for k, v in by_outcome.items()},
    }


def system_ids(session: Session, *, provider_id: str | None = None) -> list[str]:
    """Every system's id (or every one of ``provider_id``'s), in id order."""
    q = select(System.id).order_by(System.id)
    if provider_id is not None:
        q = q.where(System.provider_id == provider_id)
    return list(session.scalars(q))


def current_version(session: Session, system_id: str) -> int:
    """The number of a system's current version; 0 when there is no such system."""
    system = session.get(System, system_id)
    return system.current_version if system is not None else 0
