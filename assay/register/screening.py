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
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from assay.errors import ConfigError, FieldProblem, InvalidInput
from assay.register._yaml import StrictLoader  # strict: no duplicate keys, no aliases, YAML 1.2 scalars
from assay.register.vocabulary import (
    VULNERABLE_GROUPS,
    AffectedGroup,
    Capability,
    DecisionRole,
    DeploymentContext,
    Modality,
    OrganisationKind,
    Purpose,
    RegulatedProduct,
    closest,
)

__all__ = [
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

Outcome = Literal["prohibited", "high_risk", "transparency", "minimal"]
# Most severe first; a system's outcome is the most severe of its findings' effective outcomes.
OUTCOMES: tuple[str, ...] = ("prohibited", "high_risk", "transparency", "minimal")
OUTCOME_LABELS = {
    "prohibited": "Prohibited",
    "high_risk": "High risk",
    "transparency": "Transparency obligations",
    "minimal": "Minimal risk",
}
EXCEPTION_STATUSES: tuple[str, ...] = (
    "none",  # no exception claimed
    "claimed_pending_review",  # claimed with a justification of substance; waits for the oversight body
    "missing_justification",  # claimed, but the justification is too thin or a required reference is missing
    "unavailable",  # claimed, but the law rules the exception out for this system
    "upheld",  # the oversight body accepted the claim
    "rejected",  # the oversight body rejected the claim
)
REVIEW_DECISIONS = {"upheld": "upheld", "accepted": "upheld", "rejected": "rejected"}

# What kind of line a rule draws (see data/red_lines.yaml): the law's prohibitions, the law's conditions of use,
# the law's obligations, and the register's own policy lines. Pages, the API and the export never present one
# as another.
RULE_KINDS: tuple[str, ...] = ("prohibition", "condition", "obligation", "policy")
KIND_LABELS = {
    "prohibition": "Prohibited by law",
    "condition": "Allowed by law only under conditions",
    "obligation": "Legal obligations",
    "policy": "Register policy, not law",
}
# What an Art. 5 prohibition forbids; Art. 5(1)(a)-(g) all three, Art. 5(1)(h) only the use.
PROHIBITED_ACTS = {
    "placing_on_the_market": "placing on the market",
    "putting_into_service": "putting into service",
    "use": "use",
}

DEFAULT_RULES = Path(__file__).parent / "data" / "red_lines.yaml"


def severity(outcome: str) -> int:
    """Higher is more severe: minimal 0, transparency 1, high_risk 2, prohibited 3."""
    return len(OUTCOMES) - 1 - OUTCOMES.index(outcome)


# --- Facts: what a rule can look at ------------------------------------------------------------------------

# Derived yes/no facts rules may test with ``flags: [...]``; each with the words used in explanations.
FLAGS: dict[str, str] = {
    "profiling": "the system profiles people",
    "fully_automated": "the system decides without a person reviewing each case",
    "vulnerable_groups": "the system affects groups in a vulnerable situation",
    "biometric_input": "the system processes biometric data",
    "personal_training_data": "personal data was used for training",
    "biometric_training_data": "biometric data was used for training",
    "public_body": "a public body provides or uses the system",
    "general_purpose_model": "the system uses a general-purpose AI model",
    "fria": "the disclosure includes a fundamental-rights impact assessment (due_diligence.fria)",
}

# Each condition field, the vocabulary it takes, and how explanations name its values.
_FIELDS: dict[str, tuple[Any, str]] = {
    "capabilities": (Capability, "capability"),
    "contexts": (DeploymentContext, "deployment context"),
    "purposes": (Purpose, "purpose"),
    "affected_groups": (AffectedGroup, "affected group"),
    "input_modalities": (Modality, "input"),
    "output_modalities": (Modality, "output"),
    "organisation_kinds": (OrganisationKind, "organisation kind"),
    "safety_component_of": (RegulatedProduct, "regulated product"),
    "flags": (None, "fact"),
}


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


# --- Conditions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A node of a rule's condition: ``all``/``any``/``not`` over children, or ``has`` a field value."""

    op: Literal["all", "any", "not", "has"]
    children: tuple[Condition, ...] = ()
    field: str = ""
    values: frozenset[str] | None = None  # None means "any value at all" ("*")

    def evaluate(self, facts: Mapping[str, frozenset[str]]) -> tuple[bool, list[tuple[str, str]]]:
        """Whether the condition holds, and the (field, value) pairs that made it hold."""
        if self.op == "has":
            present = facts.get(self.field, frozenset())
            hits = sorted(present if self.values is None else present & self.values)
            return bool(hits), [(self.field, v) for v in hits]
        if self.op == "not":
            held, _ = self.children[0].evaluate(facts)
            return not held, []
        results = [c.evaluate(facts) for c in self.children]
        held = all(r[0] for r in results) if self.op == "all" else any(r[0] for r in results)
        evidence: list[tuple[str, str]] = []
        if held:
            for ok, ev in results:
                if ok:
                    evidence.extend(e for e in ev if e not in evidence)
        return held, evidence


def _compile(raw: Any, path: str, problems: list[FieldProblem]) -> Condition | None:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        problems.append(
            FieldProblem(
                path,
                "a condition must be a mapping with exactly one key",
                "use all:, any:, not:, or one field such as capabilities: [...]",
            )
        )
        return None
    ((key, value),) = raw.items()
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            problems.append(
                FieldProblem(
                    f"{path}.{key}", "must be a non-empty list of conditions", "list the conditions, one '- ' each"
                )
            )
            return None
        children = [_compile(v, f"{path}.{key}[{i}]", problems) for i, v in enumerate(value)]
        if any(c is None for c in children):
            return None
        return Condition(op=key, children=tuple(c for c in children if c is not None))
    if key == "not":
        child = _compile(value, f"{path}.not", problems)
        return Condition(op="not", children=(child,)) if child else None
    if key not in _FIELDS:
        guess = closest_name(str(key), list(_FIELDS) + ["all", "any", "not"])
        problems.append(
            FieldProblem(
                f"{path}.{key}",
                f"unknown condition field '{key}'",
                (f"did you mean '{guess}'? " if guess else "") + "use one of: all, any, not, " + ", ".join(_FIELDS),
            )
        )
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append(
            FieldProblem(
                f"{path}.{key}",
                "must be a non-empty list of values",
                "give the values as a list, e.g. [emotion_recognition]",
            )
        )
        return None
    if value == ["*"]:
        return Condition(op="has", field=key, values=None)
    vocab, _ = _FIELDS[key]
    allowed = list(FLAGS) if vocab is None else [m.value for m in vocab]
    ok = True
    for i, v in enumerate(value):
        if v not in allowed:
            ok = False
            guess = closest(vocab, v) if vocab is not None else closest_name(v, allowed)
            problems.append(
                FieldProblem(
                    f"{path}.{key}[{i}]",
                    f"unknown value '{v}' for {key}",
                    (f"did you mean '{guess}'? " if guess else "") + "allowed: " + ", ".join(allowed),
                )
            )
    return Condition(op="has", field=key, values=frozenset(value)) if ok else None


def closest_name(value: str, names: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    return found[0] if found else None


# --- The rule set ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    cite: str
    url: str


@dataclass(frozen=True)
class ExceptionRule:
    """A legal exception to a rule: what the law says, and what a claim must contain to be reviewed."""

    id: str
    title: str
    legal_text: str
    source: Source
    guidance: str
    min_words: int
    requires: tuple[str, ...]
    outcome_when_upheld: str
    unavailable_when: Condition | None = None
    # Facts (FLAGS) the law requires before the exception can apply, e.g. a FRIA for Art. 5(2).
    requires_facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    id: str
    framework: Literal["eu_ai_act", "un_human_rights"]
    outcome: str
    title: str
    explanation: str
    sources: tuple[Source, ...]
    when: Condition
    exceptions: tuple[ExceptionRule, ...] = ()
    kind: str = "obligation"  # one of RULE_KINDS
    prohibits: tuple[str, ...] = ()  # for a prohibition: keys of PROHIBITED_ACTS


@dataclass(frozen=True)
class RuleSet:
    """A validated rule set; ``version`` is the file's declared version plus a digest of its bytes."""

    version: str
    rules: tuple[Rule, ...]
    exceptions: Mapping[str, ExceptionRule]

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def as_data(self) -> list[dict[str, Any]]:
        """The rules as plain data, for the "about the rules" page and the API."""
        return [
            {
                "id": r.id,
                "framework": r.framework,
                "kind": r.kind,
                "kind_label": KIND_LABELS[r.kind],
                "prohibits": list(r.prohibits),
                "outcome": r.outcome,
                "title": r.title,
                "explanation": r.explanation,
                "sources": [{"cite": s.cite, "url": s.url} for s in r.sources],
                "exceptions": [
                    {
                        "id": e.id,
                        "title": e.title,
                        "legal_text": e.legal_text,
                        "guidance": e.guidance,
                        "source": {"cite": e.source.cite, "url": e.source.url},
                        "min_words": e.min_words,
                        "requires": list(e.requires),
                        "requires_facts": [{"fact": f, "description": FLAGS[f]} for f in e.requires_facts],
                        "outcome_when_upheld": e.outcome_when_upheld,
                    }
                    for e in r.exceptions
                ],
            }
            for r in self.rules
        ]


_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]{2,79}$")
_CLAIM_FIELDS = ("legal_basis", "authorisation")


def _text(raw: Mapping[str, Any], key: str, path: str, problems: list[FieldProblem], *, limit: int = 2000) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(FieldProblem(f"{path}.{key}", "missing or empty", f"write the {key.replace('_', ' ')}"))
        return ""
    if len(value) > limit:
        problems.append(FieldProblem(f"{path}.{key}", f"longer than {limit} characters", "shorten it"))
    return value.strip()


def _source(raw: Any, path: str, problems: list[FieldProblem]) -> Source | None:
    if not isinstance(raw, Mapping) or set(raw) != {"cite", "url"}:
        problems.append(
            FieldProblem(
                path,
                "a source needs exactly 'cite' and 'url'",
                'write {cite: "EU AI Act Art. 5(1)(f)", url: "https://..."}',
            )
        )
        return None
    cite, url = raw["cite"], raw["url"]
    if not isinstance(cite, str) or not cite.strip():
        problems.append(FieldProblem(f"{path}.cite", "missing citation", "name the article, point or document"))
        return None
    if not isinstance(url, str) or not url.startswith("https://"):
        problems.append(FieldProblem(f"{path}.url", "not an https address", "link to the official text"))
        return None
    return Source(cite.strip(), url)


def _unknown_keys(raw: Mapping[str, Any], allowed: set[str], path: str, problems: list[FieldProblem]) -> None:
    for key in raw:
        if key not in allowed:
            guess = closest_name(str(key), sorted(allowed))
            problems.append(
                FieldProblem(
                    f"{path}.{key}",
                    f"unknown key '{key}'",
                    (f"did you mean '{guess}'? " if guess else "") + "allowed: " + ", ".join(sorted(allowed)),
                )
            )


def _exception(eid: str, raw: Any, path: str, problems: list[FieldProblem]) -> ExceptionRule | None:
    before = len(problems)
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem(path, "an exception must be a mapping", "give its title, legal_text, ..."))
        return None
    if not re.fullmatch(r"[a-z0-9_]{3,80}", eid):
        problems.append(FieldProblem(path, f"invalid exception id '{eid}'", "use lowercase letters, digits, _"))
    _unknown_keys(
        raw,
        {
            "title",
            "legal_text",
            "source",
            "guidance",
            "min_words",
            "requires",
            "requires_facts",
            "outcome_when_upheld",
            "unavailable_when",
        },
        path,
        problems,
    )
    title = _text(raw, "title", path, problems, limit=200)
    legal_text = _text(raw, "legal_text", path, problems)
    guidance = _text(raw, "guidance", path, problems)
    source = _source(raw.get("source"), f"{path}.source", problems)
    min_words = raw.get("min_words")
    if not isinstance(min_words, int) or isinstance(min_words, bool) or not 20 <= min_words <= 1000:
        problems.append(
            FieldProblem(
                f"{path}.min_words",
                "must be a whole number from 20 to 1000",
                "set the minimum length of a justification, in words",
            )
        )
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or any(r not in _CLAIM_FIELDS for r in requires):
        problems.append(
            FieldProblem(f"{path}.requires", "must list claim fields", "use a list of: " + ", ".join(_CLAIM_FIELDS))
        )
        requires = []
    requires_facts = raw.get("requires_facts", [])
    if not isinstance(requires_facts, list) or any(r not in FLAGS for r in requires_facts):
        problems.append(
            FieldProblem(
                f"{path}.requires_facts", "must list facts the register derives", "use a list of: " + ", ".join(FLAGS)
            )
        )
        requires_facts = []
    upheld = raw.get("outcome_when_upheld")
    if upheld not in OUTCOMES:
        problems.append(
            FieldProblem(
                f"{path}.outcome_when_upheld", f"unknown outcome {upheld!r}", "use one of: " + ", ".join(OUTCOMES)
            )
        )
    unavailable = None
    if "unavailable_when" in raw:
        unavailable = _compile(raw["unavailable_when"], f"{path}.unavailable_when", problems)
    if len(problems) > before or source is None:
        return None
    return ExceptionRule(
        eid,
        title,
        legal_text,
        source,
        guidance,
        int(min_words),
        tuple(requires),
        str(upheld),
        unavailable,
        tuple(requires_facts),
    )


def _rule(
    raw: Any,
    path: str,
    exceptions: Mapping[str, ExceptionRule],
    problems: list[FieldProblem],
) -> Rule | None:
    before = len(problems)
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem(path, "a rule must be a mapping", "give id, outcome, title, ..."))
        return None
    _unknown_keys(
        raw,
        {"id", "framework", "kind", "prohibits", "outcome", "title", "explanation", "sources", "when", "exceptions"},
        path,
        problems,
    )
    rid = raw.get("id")
    if not isinstance(rid, str) or not _RULE_ID.match(rid):
        problems.append(
            FieldProblem(f"{path}.id", f"invalid rule id {rid!r}", "use 3-80 lowercase letters, digits, '-' and '.'")
        )
    framework = raw.get("framework")
    if framework not in ("eu_ai_act", "un_human_rights"):
        problems.append(
            FieldProblem(f"{path}.framework", f"unknown framework {framework!r}", "use eu_ai_act or un_human_rights")
        )
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES[:3]:
        problems.append(
            FieldProblem(f"{path}.outcome", f"unknown outcome {outcome!r}", "use prohibited, high_risk or transparency")
        )
    kind = raw.get("kind", "policy" if framework == "un_human_rights" else "obligation")
    prohibits = raw.get("prohibits", [])
    if kind not in RULE_KINDS:
        problems.append(FieldProblem(f"{path}.kind", f"unknown kind {kind!r}", "use one of " + ", ".join(RULE_KINDS)))
    elif (kind == "prohibition") != (outcome == "prohibited"):
        problems.append(
            FieldProblem(
                f"{path}.kind",
                f"kind {kind!r} with outcome {outcome!r}",
                "only a prohibition of the law has the outcome 'prohibited', and a prohibition always has it",
            )
        )
    elif (kind == "policy") != (framework == "un_human_rights"):
        problems.append(
            FieldProblem(
                f"{path}.kind",
                f"kind {kind!r} in framework {framework!r}",
                "the register's policy lines are the un_human_rights rules; the EU AI Act's rules are law",
            )
        )
    if kind == "prohibition" and (
        not isinstance(prohibits, list) or not prohibits or any(a not in PROHIBITED_ACTS for a in prohibits)
    ):
        problems.append(
            FieldProblem(
                f"{path}.prohibits",
                "a prohibition must list what the law forbids",
                "list some of: " + ", ".join(PROHIBITED_ACTS),
            )
        )
    elif kind != "prohibition" and prohibits:
        problems.append(FieldProblem(f"{path}.prohibits", "only a prohibition forbids acts", "remove 'prohibits'"))
    title = _text(raw, "title", path, problems, limit=200)
    explanation = _text(raw, "explanation", path, problems)
    sources_raw = raw.get("sources")
    sources: list[Source] = []
    if not isinstance(sources_raw, list) or not sources_raw:
        problems.append(
            FieldProblem(
                f"{path}.sources", "every rule must cite at least one source", "add sources: [{cite: ..., url: ...}]"
            )
        )
    else:
        for i, s in enumerate(sources_raw):
            src = _source(s, f"{path}.sources[{i}]", problems)
            if src:
                sources.append(src)
    when = None
    if "when" not in raw:
        problems.append(FieldProblem(f"{path}.when", "missing condition", "say when the rule fires"))
    else:
        when = _compile(raw["when"], f"{path}.when", problems)
    rule_exceptions: list[ExceptionRule] = []
    for i, eid in enumerate(raw.get("exceptions", []) or []):
        exc = exceptions.get(eid) if isinstance(eid, str) else None
        if exc is None:
            problems.append(
                FieldProblem(
                    f"{path}.exceptions[{i}]",
                    f"unknown exception {eid!r}",
                    "define it under the top-level 'exceptions', or use one of: " + ", ".join(exceptions),
                )
            )
        elif (
            isinstance(outcome, str)
            and outcome in OUTCOMES
            # An exception lowers the outcome; a claim that the law's conditions are met keeps it (it only
            # records that the oversight body accepted how they are met).
            and severity(exc.outcome_when_upheld) > severity(outcome) - (0 if kind == "condition" else 1)
        ):
            problems.append(
                FieldProblem(
                    f"{path}.exceptions[{i}]",
                    f"exception '{eid}' would not lower the outcome '{outcome}'",
                    "an upheld exception must lead to a less severe outcome",
                )
            )
        else:
            rule_exceptions.append(exc)
    if len(problems) > before or when is None:
        return None
    return Rule(
        str(rid),
        framework,
        str(outcome),
        title,
        explanation,
        tuple(sources),
        when,  # type: ignore[arg-type]
        tuple(rule_exceptions),
        str(kind),
        tuple(prohibits) if isinstance(prohibits, list) else (),
    )


def _parse_rules(raw: Any, *, name: str, digest: str) -> RuleSet:
    problems: list[FieldProblem] = []
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{name}: the rule file must be a mapping with version, exceptions and rules",
            hint="see the comment at the top of assay/register/data/red_lines.yaml",
        )
    _unknown_keys(raw, {"version", "exceptions", "rules"}, "(file)", problems)
    version = raw.get("version")
    if not isinstance(version, str) or not version.strip():
        problems.append(FieldProblem("version", "missing version", 'set version: "YYYY-MM-DD.N"'))
    exceptions: dict[str, ExceptionRule] = {}
    raw_exceptions = raw.get("exceptions") or {}
    if not isinstance(raw_exceptions, Mapping):
        problems.append(FieldProblem("exceptions", "must be a mapping of id to exception", "see the file's comment"))
        raw_exceptions = {}
    for eid, body in raw_exceptions.items():
        exc = _exception(str(eid), body, f"exceptions.{eid}", problems)
        if exc:
            exceptions[exc.id] = exc
    rules: list[Rule] = []
    raw_rules = raw.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append(FieldProblem("rules", "no rules", "list the rules under 'rules:'"))
        raw_rules = []
    seen: dict[str, int] = {}
    for i, body in enumerate(raw_rules):
        rule = _rule(body, f"rules[{i}]", exceptions, problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(
                FieldProblem(
                    f"rules[{i}].id",
                    f"duplicate rule id '{rule.id}' (also rules[{seen[rule.id]}])",
                    "give every rule its own id",
                )
            )
        seen[rule.id] = i
        rules.append(rule)
    used = {e.id for r in rules for e in r.exceptions}
    for eid in exceptions:
        if eid not in used:
            problems.append(
                FieldProblem(
                    f"exceptions.{eid}",
                    "no rule refers to this exception",
                    "refer to it from a rule's exceptions, or remove it",
                )
            )
    if problems:
        raise ConfigError(
            f"{name}: the rule file is not valid ({len(problems)} problems)",
            hint="; ".join(f"{p.path}: {p.message}" for p in problems[:5]),
            problems=problems,
        )
    return RuleSet(version=f"{str(version).strip()}+{digest[:12]}", rules=tuple(rules), exceptions=exceptions)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and validate a rule file (default: the bundled ``data/red_lines.yaml``; cached).

    A file that is not valid raises :class:`ConfigError` listing each wrong entry by its path, e.g.
    ``rules[3].when.all[0].capabilities[0]: unknown value 'emotion_recog'``.
    """
    if path is None:
        return _default_rules()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _default_rules() -> RuleSet:
    return _load(DEFAULT_RULES)


def _load(path: Path) -> RuleSet:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the rule file {path}: {exc.strerror}", hint="check the path") from None
    try:
        loader = StrictLoader(data.decode("utf-8"))
        try:
            raw = loader.get_single_data()
        finally:
            loader.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to read the YAML means a bad rule file
        message = getattr(exc, "message", None) or str(exc)
        mark = getattr(exc, "mark", None)
        if mark is not None:
            message += f" (line {mark.line + 1}, column {mark.column + 1})"
        raise ConfigError(
            f"{path.name}: not a valid YAML rule file: {message}", hint="fix the YAML syntax at the position given"
        ) from None
    return _parse_rules(raw, name=path.name, digest=hashlib.sha256(data).hexdigest())


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
    vocab, noun = _FIELDS[field_name]
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
        status, exc_id, exc_title, problems, decision, digest = "none", None, None, [], None, None
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


def outcome_basis(findings: list[Mapping[str, Any]], outcome: str) -> tuple[str, str]:
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
