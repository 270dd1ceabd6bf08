"""The oversight body's and deployers' writes: suspend, reinstate, review an exception, screen again, confirm a
deployment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from assay.db import Database
from assay.errors import Conflict, FieldProblem, Forbidden, InvalidInput
from assay.register._assess import _check_reason, _parse, _screen
from assay.register.access import Principal, record_event
from assay.register.models import (
    DeployerConfirmation,
    ExceptionReview,
    Provider,
    ScreeningRecord,
    System,
    SystemSuspension,
)
from assay.register.queries import (
    _capabilities,
    _contexts,
    _deployer_decisions,
    _entry_sha256,
    _latest_screening,
    _locked_system,
    _review_decisions,
    _version_row,
    get_system,
    system_ids,
)
from assay.register.screening import load_rules
from assay.register.search import index_system
from assay.register.views import SystemView, _now

__all__ = [
    "REVIEW_DECISIONS",
    "confirm_deployer",
    "reinstate",
    "RescreenReport",
    "rescreen",
    "rescreen_many",
    "review_exception",
    "suspend",
]


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
    principal.require_admin(action="screen systems again")
    system = _locked_system(session, system_id)
    current = _version_row(session, system.id, system.current_version)
    screening = _latest_screening(session, current.id)
    if screening.rules_version == load_rules().version:
        return None
    now = now or _now()
    previous = system.outcome
    result = _screen_again(session, system, current, screening, cause="rules", principal=principal, now=now)
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


@dataclass(frozen=True)
class RescreenReport:
    """What :func:`rescreen_many` did: the systems whose screening changed, out of how many it looked at."""

    changed: tuple[SystemView, ...]
    checked: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "rescreened": [{"id": v.id, "outcome": v.outcome, "outcome_basis": v.outcome_basis} for v in self.changed],
            "checked": self.checked,
        }


def rescreen_many(db: Database, ids: Sequence[str] | None, *, principal: Principal) -> RescreenReport:
    """:func:`rescreen` each of ``ids`` (None: every system), each in a write transaction of its own.

    One system per transaction: each rescreening is its own log entry and history row, a failure stops the run
    without undoing those before it, and the single SQLite writer is not held for the whole register. The
    permission is checked before anything is read."""
    principal.require_admin(action="screen systems again")
    if ids is None:
        with db.read() as session:
            ids = system_ids(session)
    changed = []
    for system_id in ids:
        with db.write() as session:
            view = rescreen(session, system_id, principal=principal)
        if view is not None:
            changed.append(view)
    return RescreenReport(changed=tuple(changed), checked=len(ids))


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
    result = _screen_again(session, system, current, screening, cause="review", principal=principal, now=now)
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


REVIEW_DECISIONS = ("upheld", "rejected")


# Exception statuses (assay.register.screening) of a complete claim: the ones the oversight body can decide.
_REVIEWABLE = ("claimed_pending_review", "upheld", "rejected")


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


def _screen_again(
    session: Session,
    system: Any,
    version: Any,
    screening: Any,
    *,
    cause: str,
    principal: Principal,
    now: datetime,
) -> dict[str, Any]:
    """Screen ``version`` of ``system`` again (with the oversight body's reviews of its claims), add the new
    screening beside the earlier ones (``cause``: "rules" or "review"), and let the system's outcome follow it."""
    source = f"version {version.number} of {system.id!r}"
    disclosure = _parse(json.loads(version.disclosure), source=source)
    result = _screen(disclosure, _review_decisions(session, system.id, version.number, screening.findings))
    session.add(
        ScreeningRecord(
            version_id=version.id,
            outcome=result["outcome"],
            needs_review=result["needs_review"],
            findings=result["findings"],
            rules_version=result["rules_version"],
            cause=cause,
            actor=principal.actor,
            created_at=now,
        )
    )
    system.outcome = result["outcome"]
    system.outcome_basis = result["outcome_basis"]
    system.needs_review = result["needs_review"]
    system.updated_at = now
    _reindex(session, system)
    return result
