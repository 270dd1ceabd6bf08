"""The red-line rule set: its file format (``data/red_lines.yaml``), its validation and loading.

:func:`load_rules` reads and validates a rule file once (the default file is cached) and returns a
:class:`RuleSet`; every problem in a rule file is reported at once, with its path, as a ``ConfigError``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from assay.errors import ConfigError, FieldProblem
from assay.register._conditions import FLAGS, Condition, closest_name, compile_condition
from assay.register._yaml import StrictLoader  # strict: no duplicate keys, no aliases, YAML 1.2 scalars
from assay.register.labels import OUTCOME_LABELS

__all__ = [
    "DEFAULT_RULES",
    "EXCEPTION_STATUSES",
    "KIND_LABELS",
    "OUTCOMES",
    "OUTCOME_LABELS",
    "PROHIBITED_ACTS",
    "REVIEW_DECISIONS",
    "RULE_KINDS",
    "ExceptionRule",
    "Outcome",
    "Rule",
    "RuleSet",
    "Source",
    "load_rules",
    "severity",
]

Outcome = Literal["prohibited", "high_risk", "transparency", "minimal"]
# Most severe first; a system's outcome is the most severe of its findings' effective outcomes.
OUTCOMES: tuple[str, ...] = ("prohibited", "high_risk", "transparency", "minimal")
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
    min_words: Any = raw.get("min_words")  # raw YAML data, checked next
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
        unavailable = compile_condition(raw["unavailable_when"], f"{path}.unavailable_when", problems)
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
    framework: Any = raw.get("framework")  # raw YAML data, checked next
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
        when = compile_condition(raw["when"], f"{path}.when", problems)
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
