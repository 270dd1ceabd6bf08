"""Red-line screening: which rules a disclosure triggers, and what follows.

The rules live as data in ``data/red_lines.yaml`` (EU AI Act Art. 5, Art. 26(10), Art. 6 with Annex I and
III, Art. 50, and the UN human-rights red lines on emotion and gender recognition and biometric surveillance).
:func:`screen` evaluates every rule against a disclosure and returns a :class:`Screening`::

    >>> from pathlib import Path
    >>> from assay.register.disclosure import parse_disclosure
    >>> from assay.register.screening import screen
    >>> d = parse_disclosure(Path("assay/register/examples/acme-imagegen.yaml").read_bytes())
    >>> result = screen(d)
    >>> result.outcome, [f.rule_id for f in result.findings]
    ('transparency', ['eu-art50-2-synthetic-content'])

Exceptions the law allows are never accepted silently. A claimed exception keeps the finding and its
outcome; the finding is marked ``claimed_pending_review`` (or ``missing_justification`` when the written
justification is too thin or a required reference is missing), and only an oversight body's decision, passed
in as ``reviews={rule_id: "upheld" | "rejected"}``, changes what the finding counts for.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.errors import FieldProblem, InvalidInput
from assay.register._conditions import FIELDS, FLAGS, Condition, closest_name
from assay.register._rules import (
    DEFAULT_RULES,
    EXCEPTION_STATUSES,
    KIND_LABELS,
    OUTCOME_LABELS,
    OUTCOMES,
    PROHIBITED_ACTS,
    REVIEW_DECISIONS,
    RULE_KINDS,
    ExceptionRule,
    Outcome,
    Rule,
    RuleSet,
    Source,
    load_rules,
    severity,
)
from assay.register.vocabulary import (
    VULNERABLE_GROUPS,
    Capability,
    DecisionRole,
    Modality,
)

__all__ = [
    "DEFAULT_RULES",
    "PROHIBITED_ACTS",
    "Outcome",
    "EXCEPTION_STATUSES",
    "FLAGS",
    "KIND_LABELS",
    "OUTCOMES",
    "RULE_KINDS",
    "Condition",
    "ExceptionRule",
    "Finding",
    "Rule",
    "RuleSet",
    "Screening",
    "Source",
    "facts_of",
    "finding_kind",
    "load_rules",
    "outcome_basis",
    "screen",
    "severity",
]


# --- Facts: what a rule can look at ------------------------------------------------------------------------


def facts_of(d: Any) -> dict[str, frozenset[str]]:
    """The facts of a disclosure that rules test, as sets of vocabulary values (and derived flags)."""
    s = d.system
    kinds = {d.provider.kind.value} | {dep.kind.value for dep in d.deployers}
    biometric_caps = {
        c for c in d.capabilities if c.value.startswith(("biometric_", "remote_biometric", "humanitarian_biometric"))
    } | ({Capability.EMOTION_RECOGNITION} & set(d.capabilities))
    flags = {
        "profiling": s.profiling,
        "fully_automated": s.human_oversight.decision_role == DecisionRole.FULLY_AUTOMATED,
        "vulnerable_groups": bool(VULNERABLE_GROUPS & set(s.affected_groups)),
        "biometric_input": Modality.BIOMETRIC in s.input_modalities or bool(biometric_caps),
        "personal_training_data": bool(d.training_data and d.training_data.personal_data_used),
        "biometric_training_data": bool(d.training_data and d.training_data.biometric_data_used),
        "public_body": bool(kinds & {"public_body", "private_public_service"}),
        "general_purpose_model": any(m.general_purpose for m in d.models),
        "fria": d.due_diligence.fria is not None,
    }
    return {
        "capabilities": frozenset(c.value for c in d.capabilities),
        "contexts": frozenset(c.value for c in s.deployment_contexts),
        "purposes": frozenset(p.value for p in s.purposes),
        "affected_groups": frozenset(g.value for g in s.affected_groups),
        "input_modalities": frozenset(m.value for m in s.input_modalities),
        "output_modalities": frozenset(m.value for m in s.output_modalities),
        "organisation_kinds": frozenset(kinds),
        "safety_component_of": frozenset(p.value for p in s.safety_component_of),
        "flags": frozenset(name for name, on in flags.items() if on),
    }


# --- Screening ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One rule that fired, in plain words, with the state of any exception claimed against it."""

    rule_id: str
    framework: str
    outcome: str  # what the rule says (never lowered by a claim)
    effective_outcome: str  # what the finding counts for: the rule's outcome unless an exception was upheld
    title: str
    explanation: str  # the rule's explanation plus what in the disclosure triggered it
    triggered_by: tuple[tuple[str, str], ...]  # (field, value) pairs
    sources: tuple[Source, ...]
    exception_status: str = "none"
    exception: str | None = None  # the id of the exception claimed, if any
    exception_title: str | None = None
    exception_problems: tuple[str, ...] = ()  # why a claim is not yet reviewable
    available_exceptions: tuple[str, ...] = ()
    review: str | None = None  # the oversight body's decision, if any
    claim_digest: str | None = None  # sha256 of the claim, so a review can be tied to its exact text
    kind: str = "obligation"  # the rule's kind: prohibition, condition, obligation or policy (RULE_KINDS)
    prohibits: tuple[str, ...] = ()  # what a prohibition forbids (PROHIBITED_ACTS keys)

    @property
    def needs_review(self) -> bool:
        return self.exception_status == "claimed_pending_review"

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, as stored with a screening and served by the API."""
        return {
            "rule_id": self.rule_id,
            "framework": self.framework,
            "kind": self.kind,
            "kind_label": KIND_LABELS[self.kind],
            "prohibits": list(self.prohibits),  # keys of PROHIBITED_ACTS
            "outcome": self.outcome,
            "effective_outcome": self.effective_outcome,
            "title": self.title,
            "explanation": self.explanation,
            "triggered_by": [{"field": f, "value": v} for f, v in self.triggered_by],
            "sources": [{"cite": s.cite, "url": s.url} for s in self.sources],
            "exception_status": self.exception_status,
            "exception": self.exception,
            "exception_title": self.exception_title,
            "exception_problems": list(self.exception_problems),
            "available_exceptions": list(self.available_exceptions),
            "review": self.review,
            "claim_digest": self.claim_digest,
            "needs_review": self.needs_review,
        }


@dataclass(frozen=True)
class Screening:
    outcome: str
    findings: tuple[Finding, ...]
    needs_review: bool
    rules_version: str
    unmatched_claims: tuple[str, ...] = field(default=())  # claims naming rules that did not fire
    # The most severe effective outcome of the law's findings alone (policy findings left out), and whether
    # ``outcome`` is the law's ("law") or only the register's policy ("register_policy").
    legal_outcome: str = "minimal"
    outcome_basis: str = "law"

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS[self.outcome]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, as stored and served by the API."""
        return {
            "outcome": self.outcome,
            "legal_outcome": self.legal_outcome,
            "outcome_basis": self.outcome_basis,
            "needs_review": self.needs_review,
            "rules_version": self.rules_version,
            "findings": [f.as_dict() for f in self.findings],
            "unmatched_claims": list(self.unmatched_claims),
        }


def _describe(field_name: str, value: str) -> str:
    vocab, noun = FIELDS[field_name]
    if vocab is None:
        return FLAGS.get(value, value)
    try:
        label = vocab(value).label
    except ValueError:
        label = value
    return f"{noun} \u201c{label}\u201d"


def _because(evidence: list[tuple[str, str]]) -> str:
    parts = [_describe(f, v) for f, v in evidence]
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f" This disclosure triggers it through: {listed}."


_WORD = re.compile(r"[^\W\d_]{2,}")


def _claim_problems(claim: Any, exc: ExceptionRule, facts: Mapping[str, frozenset[str]]) -> tuple[str, list[str]]:
    """Status of a claim before review ('unavailable', 'missing_justification' or 'claimed_pending_review')."""
    if exc.unavailable_when is not None and exc.unavailable_when.evaluate(facts)[0]:
        _, ev = exc.unavailable_when.evaluate(facts)
        why = "; ".join(_describe(f, v) for f, v in ev) or "its conditions"
        return "unavailable", [f"the exception cannot apply here because {why}"]
    problems = []
    words = _WORD.findall(claim.justification)
    distinct = {w.lower() for w in words}
    if len(words) < exc.min_words:
        problems.append(f"the justification has {len(words)} words; at least {exc.min_words} are needed")
    elif len(distinct) < exc.min_words // 2:
        problems.append("the justification repeats itself; explain the facts, necessity and safeguards")
    for name in exc.requires:
        if not getattr(claim, name, None):
            problems.append(f"the claim needs '{name}' ({name.replace('_', ' ')} reference)")
    for name in exc.requires_facts:
        if name not in facts["flags"]:
            problems.append(f"the law requires this before the exception can apply: {FLAGS[name]}")
    return ("missing_justification" if problems else "claimed_pending_review"), problems


def screen(d: Any, *, reviews: Mapping[str, str] | None = None, rules: RuleSet | None = None) -> Screening:
    """Screen a disclosure against the red-line rules.

    ``reviews`` carries the oversight body's decisions on claimed exceptions, by rule id: ``"upheld"`` (or
    ``"accepted"``) or ``"rejected"``. An upheld review only takes effect on a complete claim; a review for a
    rule without a claim is ignored. Raises :class:`InvalidInput` for an unknown decision.
    """
    rules = rules or load_rules()
    reviews = dict(reviews or {})
    bad = [
        FieldProblem(f"reviews.{k}", f"unknown decision {v!r}", "use 'upheld' or 'rejected'")
        for k, v in reviews.items()
        if v not in REVIEW_DECISIONS
    ]
    if bad:
        raise InvalidInput("unknown review decision", hint="use 'upheld' or 'rejected'", problems=bad)
    facts = facts_of(d)
    claims = {c.rule: c for c in d.exception_claims}
    findings: list[Finding] = []
    fired: set[str] = set()
    for rule in rules.rules:
        held, evidence = rule.when.evaluate(facts)
        if not held:
            continue
        fired.add(rule.id)
        problems: list[str] = []
        status, exc_id, exc_title, decision, digest = "none", None, None, None, None
        effective = rule.outcome
        claim = claims.get(rule.id)
        exc = next((e for e in rule.exceptions if claim and e.id == claim.exception), None)
        if claim is not None and exc is not None:
            exc_id, exc_title = exc.id, exc.title
            digest = hashlib.sha256(
                "\x1f".join(
                    [
                        claim.rule,
                        claim.exception,
                        claim.justification,
                        claim.legal_basis or "",
                        claim.authorisation or "",
                    ]
                ).encode("utf-8")
            ).hexdigest()
            status, problems = _claim_problems(claim, exc, facts)
            decision = REVIEW_DECISIONS.get(reviews.get(rule.id, ""))
            # 1. A rejected claim stays rejected whatever its state.  2. Only a complete claim can be upheld.
            if decision == "rejected":
                status = "rejected"
            elif decision == "upheld" and status == "claimed_pending_review":
                status = "upheld"
                effective = exc.outcome_when_upheld
            elif decision == "upheld":
                problems.append("a review upheld this claim, but the claim is not complete, so it has no effect")
        findings.append(
            Finding(
                rule_id=rule.id,
                framework=rule.framework,
                outcome=rule.outcome,
                effective_outcome=effective,
                title=rule.title,
                explanation=rule.explanation + _because(evidence),
                triggered_by=tuple(evidence),
                sources=rule.sources,
                exception_status=status,
                exception=exc_id,
                exception_title=exc_title,
                exception_problems=tuple(problems),
                available_exceptions=tuple(e.id for e in rule.exceptions),
                review=decision,
                claim_digest=digest,
                kind=rule.kind,
                prohibits=rule.prohibits,
            )
        )
    findings.sort(key=lambda f: (-severity(f.outcome), f.framework != "eu_ai_act", f.rule_id))
    outcome = max((f.effective_outcome for f in findings), key=severity, default="minimal")
    legal = max((f.effective_outcome for f in findings if f.kind != "policy"), key=severity, default="minimal")
    return Screening(
        outcome=outcome,
        findings=tuple(findings),
        needs_review=any(f.needs_review for f in findings),
        rules_version=rules.version,
        unmatched_claims=tuple(sorted(r for r in claims if r not in fired)),
        legal_outcome=legal,
        outcome_basis="law" if legal == outcome else "register_policy",
    )


def finding_kind(finding: Mapping[str, Any]) -> str:
    """The kind of a stored finding; findings stored before kinds existed get their rule's kind today."""
    kind = finding.get("kind")
    if kind in RULE_KINDS:
        return str(kind)
    rule = load_rules().rule(str(finding.get("rule_id", "")))
    if rule is not None:
        return rule.kind
    return "policy" if finding.get("framework") == "un_human_rights" else "obligation"


def outcome_basis(findings: Sequence[Mapping[str, Any]], outcome: str) -> tuple[str, str]:
    """(legal outcome, basis) of stored findings: the law's own outcome, and "law" or "register_policy"."""
    legal = max(
        (str(f.get("effective_outcome") or f.get("outcome")) for f in findings if finding_kind(f) != "policy"),
        key=severity,
        default="minimal",
    )
    return legal, ("law" if legal == outcome else "register_policy")


def check_claims(d: Any) -> list[tuple[str, str, str]]:
    """Problems with claims naming unknown rules or exceptions (used by the disclosure parser)."""
    rules = load_rules()
    problems = []
    for i, claim in enumerate(d.exception_claims):
        rule = rules.rule(claim.rule)
        if rule is None:
            guess = closest_name(claim.rule, [r.id for r in rules.rules if r.exceptions])
            problems.append(
                (
                    f"exception_claims[{i}].rule",
                    f"unknown rule '{claim.rule}'",
                    (f"did you mean '{guess}'? " if guess else "")
                    + "rules with exceptions: "
                    + ", ".join(r.id for r in rules.rules if r.exceptions),
                )
            )
            continue
        if not rule.exceptions:
            problems.append(
                (
                    f"exception_claims[{i}].rule",
                    f"rule '{rule.id}' allows no exception",
                    "remove this claim; the law allows no exception to this rule",
                )
            )
            continue
        if claim.exception not in {e.id for e in rule.exceptions}:
            allowed = ", ".join(e.id for e in rule.exceptions)
            guess = closest_name(claim.exception, [e.id for e in rule.exceptions])
            problems.append(
                (
                    f"exception_claims[{i}].exception",
                    f"rule '{rule.id}' has no exception '{claim.exception}'",
                    (f"did you mean '{guess}'? " if guess else "") + f"allowed: {allowed}",
                )
            )
    return problems
