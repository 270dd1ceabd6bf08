"""Writing the register: providers, and systems' versions (publish and update).

Each write checks the principal's permission first, validates everything before it writes, appends to the
transparency log as its last step and stores the log index on the row it wrote (see ``service``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assay.errors import Conflict, FieldProblem, InvalidInput, NotFound
from assay.register._assess import _assess, _Assessed, _check_reason, slugify
from assay.register.access import Principal, record_event
from assay.register.models import (
    ImpactRecord,
    Provider,
    ScreeningRecord,
    System,
    SystemCapability,
    SystemContext,
    SystemVersion,
)
from assay.register.queries import _locked_system, _version_row, get_system
from assay.register.search import index_system
from assay.register.views import ProviderView, SystemView, _now, _provider_view, is_web_address

__all__ = [
    "PROVIDER_ID_RE",
    "add_provider",
    "publish",
    "update",
]


PROVIDER_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_MAX_SYSTEM_ID = 80


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
