"""Impact levels I-IV from a due-diligence questionnaire, in the spirit of Canada's Algorithmic Impact Assessment.

The questionnaire (``data/questionnaire.yaml``) has risk questions and mitigation questions, each choice with
points. Some questions are answered from the disclosure itself (deployment contexts, affected groups,
biometric data, how decisions are made, due diligence on record), so a provider cannot answer its way out of
them; the others are answered in the disclosure's ``impact_answers``. Unanswered questions are scored at their
most cautious choice and listed. What follows from each level is in ``data/obligations.yaml``.

    >>> from pathlib import Path
    >>> from assay.register.disclosure import parse_disclosure
    >>> from assay.register.impact import assess_impact
    >>> d = parse_disclosure(Path("assay/register/examples/acme-imagegen.yaml").read_bytes())
    >>> a = assess_impact(d)
    >>> a.level, a.final_score <= a.max_score
    (1, True)

Scoring, as in the Canadian tool: the raw score is the sum of risk points; when the mitigation score reaches
80% of its maximum, the final score is the raw score less 15%; the level is set by the final score's share of
the maximum raw score (up to 25% level I, up to 50% II, up to 75% III, above IV).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from assay.errors import ConfigError, FieldProblem
from assay.register._conditions import closest_name
from assay.register._yaml import StrictLoader  # strict: no duplicate keys, no aliases, YAML 1.2 scalars
from assay.register.vocabulary import (
    ANNEX_III_PURPOSES,
    SENSITIVE_TRAIT_CATEGORISATION,
    VULNERABLE_GROUPS,
    Capability,
    DecisionRole,
    DeploymentContext,
    Modality,
    OrganisationKind,
)

__all__ = [
    "Choice",
    "Contribution",
    "ImpactAssessment",
    "Obligation",
    "Question",
    "Questionnaire",
    "assess_impact",
    "load_questionnaire",
]

_DATA = Path(__file__).parent / "data"
LEVEL_NAMES = {1: "Level I", 2: "Level II", 3: "Level III", 4: "Level IV"}


# --- Derived answers: read off the disclosure, never taken from the provider ------------------------------

_VERY_SENSITIVE = {
    DeploymentContext.LAW_ENFORCEMENT,
    DeploymentContext.MIGRATION_BORDER,
    DeploymentContext.JUSTICE_DEMOCRACY,
    DeploymentContext.HUMANITARIAN_AID,
}
_SENSITIVE = {
    DeploymentContext.WORKPLACE,
    DeploymentContext.EDUCATION,
    DeploymentContext.ESSENTIAL_SERVICES,
    DeploymentContext.HEALTH,
    DeploymentContext.CRITICAL_INFRASTRUCTURE,
    DeploymentContext.PUBLIC_SPACES,
}
_RED_LINE_CAPABILITIES = {
    Capability.EMOTION_RECOGNITION,
    Capability.GENDER_INFERENCE,
    Capability.BIOMETRIC_CATEGORISATION_OTHER,
    Capability.REMOTE_BIOMETRIC_IDENTIFICATION_REALTIME,
    Capability.REMOTE_BIOMETRIC_IDENTIFICATION_POST,
    Capability.FACIAL_IMAGE_SCRAPING,
    Capability.SOCIAL_SCORING,
    Capability.CRIME_RISK_PREDICTION_PROFILING,
    Capability.MANIPULATIVE_TECHNIQUES,
    Capability.EXPLOITATION_OF_VULNERABILITIES,
    Capability.HUMANITARIAN_BIOMETRIC_COLLECTION,
    Capability.DECEPTION_DETECTION,
    *SENSITIVE_TRAIT_CATEGORISATION,
}
_BIOMETRIC_CAPABILITIES = _RED_LINE_CAPABILITIES - {
    Capability.SOCIAL_SCORING,
    Capability.CRIME_RISK_PREDICTION_PROFILING,
    Capability.MANIPULATIVE_TECHNIQUES,
    Capability.EXPLOITATION_OF_VULNERABILITIES,
    Capability.GENDER_INFERENCE,  # may be inferred from names or text; biometric only with biometric input
} | {Capability.BIOMETRIC_VERIFICATION}


def _labels(values: Any) -> str:
    return ", ".join(f"\u201c{v.label}\u201d" for v in values)


def _context_sensitivity(d: Any) -> tuple[str, str]:
    contexts = set(d.system.deployment_contexts)
    if contexts & _VERY_SENSITIVE:
        return "very_sensitive", f"deployment contexts include {_labels(sorted(contexts & _VERY_SENSITIVE))}"
    if contexts & _SENSITIVE:
        return "sensitive", f"deployment contexts include {_labels(sorted(contexts & _SENSITIVE))}"
    return "ordinary", f"deployment contexts are {_labels(sorted(contexts))}"


def _vulnerable_groups(d: Any) -> tuple[str, str]:
    found = sorted(VULNERABLE_GROUPS & set(d.system.affected_groups))
    if found:
        return "yes", f"affected groups include {_labels(found)}"
    return "no", "no affected group listed is in a vulnerable situation"


def _biometric_data(d: Any) -> tuple[str, str]:
    reasons = []
    if Modality.BIOMETRIC in d.system.input_modalities:
        reasons.append("its inputs include biometric data")
    caps = sorted(_BIOMETRIC_CAPABILITIES & set(d.capabilities))
    if caps:
        reasons.append(f"it declares {_labels(caps)}")
    if d.training_data and d.training_data.biometric_data_used:
        reasons.append("biometric data was used for training")
    if reasons:
        return "yes", "; ".join(reasons)
    return "no", "no biometric input, capability or training data is declared"


def _decision_autonomy(d: Any) -> tuple[str, str]:
    role = d.system.human_oversight.decision_role
    return role.value, f"human oversight: {role.label.lower()}"


def _profiling(d: Any) -> tuple[str, str]:
    if d.system.profiling:
        return "yes", "the system profiles people (system.profiling)"
    return "no", "the system does not profile people (system.profiling)"


def _red_line_capabilities(d: Any) -> tuple[str, str]:
    caps = sorted(_RED_LINE_CAPABILITIES & set(d.capabilities))
    if caps:
        return "yes", f"it declares {_labels(caps)}"
    return "no", "no such capability is declared"


def _high_risk_purpose(d: Any) -> tuple[str, str]:
    purposes = sorted(set(ANNEX_III_PURPOSES) & set(d.system.purposes))
    reasons = [f"purposes include {_labels(purposes)}"] if purposes else []
    if d.system.safety_component_of:
        reasons.append(f"it is a safety component of: {_labels(d.system.safety_component_of)}")
    if reasons:
        return "yes", "; ".join(reasons)
    return "no", "no Annex III purpose or regulated product is declared"


def _public_authority_decisions(d: Any) -> tuple[str, str]:
    public = [o.legal_name for o in [d.provider, *d.deployers] if o.kind == OrganisationKind.PUBLIC_BODY]
    decides = d.system.human_oversight.decision_role != DecisionRole.NO_DECISIONS_ABOUT_PEOPLE
    if public and decides:
        return "yes", f"{public[0]} is a public body and the output is used in decisions about people"
    if public:
        return "no", "a public body uses it, but not for decisions about people"
    return "no", "no public body provides or uses it"


def _fria_done(d: Any) -> tuple[str, str]:
    if d.due_diligence.fria is not None:
        return "yes", "the disclosure contains an Art. 27 assessment covering points (a) to (f)"
    return "no", "the disclosure contains no fundamental-rights impact assessment"


def _affected_groups_consulted(d: Any) -> tuple[str, str]:
    c = d.due_diligence.consultation
    if c is None:
        return "none", "the disclosure describes no consultation"
    overlap = sorted(set(c.groups) & set(d.system.affected_groups))
    if overlap:
        return "affected_groups", f"consulted: {_labels(overlap)}"
    return "other_groups", f"consulted {_labels(c.groups)}, none of them listed as affected"


def _dpia_done(d: Any) -> tuple[str, str]:
    if d.due_diligence.dpia is not None:
        return "yes", f"DPIA referenced: {d.due_diligence.dpia.reference}"
    return "no", "no DPIA is referenced"


def _human_review(d: Any) -> tuple[str, str]:
    role = d.system.human_oversight.decision_role
    if role == DecisionRole.FULLY_AUTOMATED:
        return "no", "the output takes effect without a person reviewing each case"
    return "yes", f"human oversight: {role.label.lower()}"


def _group_evaluation(d: Any) -> tuple[str, str]:
    per_group = [(m.name, e.group) for m in d.models for e in m.evaluation if e.group]
    if per_group:
        return "yes", f"{len(per_group)} evaluation result(s) are reported per group"
    if not d.models:
        return "no", "no model and no evaluation results are disclosed"
    return "no", "no evaluation result is reported per group of people"


def _training_data_published(d: Any) -> tuple[str, str]:
    if d.training_data is not None:
        return "yes", "the disclosure summarises the training data"
    if not d.models:
        return "yes", "the system uses no trained model"
    return "no", "the disclosure has no training-data summary"


def _contest_channel(d: Any) -> tuple[str, str]:
    if d.system.contest.contact or d.system.contest.url:
        return "yes", "a contact or page for contesting is given"
    return "no", "only a description, no contact or page, is given"


DERIVATIONS: dict[str, Callable[[Any], tuple[str, str]]] = {
    "context_sensitivity": _context_sensitivity,
    "vulnerable_groups": _vulnerable_groups,
    "biometric_data": _biometric_data,
    "decision_autonomy": _decision_autonomy,
    "profiling": _profiling,
    "red_line_capabilities": _red_line_capabilities,
    "high_risk_purpose": _high_risk_purpose,
    "public_authority_decisions": _public_authority_decisions,
    "fria_done": _fria_done,
    "affected_groups_consulted": _affected_groups_consulted,
    "dpia_done": _dpia_done,
    "human_review": _human_review,
    "group_evaluation": _group_evaluation,
    "training_data_published": _training_data_published,
    "contest_channel": _contest_channel,
}

# Which part of the disclosure a derived question is read from, for error messages.
_DERIVED_FROM = {
    "context_sensitivity": "system.deployment_contexts",
    "vulnerable_groups": "system.affected_groups",
    "biometric_data": "system.input_modalities, capabilities and training_data.biometric_data_used",
    "decision_autonomy": "system.human_oversight.decision_role",
    "profiling": "system.profiling",
    "red_line_capabilities": "capabilities",
    "high_risk_purpose": "system.purposes and system.safety_component_of",
    "public_authority_decisions": "provider/deployers kind and system.human_oversight.decision_role",
    "fria_done": "due_diligence.fria",
    "affected_groups_consulted": "due_diligence.consultation",
    "dpia_done": "due_diligence.dpia",
    "human_review": "system.human_oversight.decision_role",
    "group_evaluation": "models[].evaluation[].group",
    "training_data_published": "training_data",
    "contest_channel": "system.contest",
}


# --- The questionnaire -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    points: int


@dataclass(frozen=True)
class Question:
    id: str
    kind: Literal["risk", "mitigation"]
    section: str
    text: str
    choices: tuple[Choice, ...]
    derived: str | None = None

    @property
    def max_points(self) -> int:
        return max(c.points for c in self.choices)

    @property
    def cautious(self) -> Choice:
        """The choice an unanswered question is scored at: most risk, or no mitigation."""
        if self.kind == "risk":
            return max(self.choices, key=lambda c: c.points)
        return min(self.choices, key=lambda c: c.points)

    def choice(self, choice_id: str) -> Choice | None:
        return next((c for c in self.choices if c.id == choice_id), None)


@dataclass(frozen=True)
class Obligation:
    area: str
    area_label: str
    text: str
    sources: tuple[tuple[str, str], ...]  # (citation, url)


@dataclass(frozen=True)
class Questionnaire:
    version: str
    questions: tuple[Question, ...]
    mitigation_threshold: float
    mitigation_reduction: float
    level_bounds: tuple[float, float, float]
    obligations: Mapping[int, tuple[Obligation, ...]]
    level_summaries: Mapping[int, str]

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    @property
    def max_risk(self) -> int:
        return sum(q.max_points for q in self.questions if q.kind == "risk")

    @property
    def max_mitigation(self) -> int:
        return sum(q.max_points for q in self.questions if q.kind == "mitigation")

    def as_data(self) -> dict[str, Any]:
        """The questionnaire as plain data (for pages, docs and the API)."""
        return {
            "version": self.version,
            "mitigation_threshold": self.mitigation_threshold,
            "mitigation_reduction": self.mitigation_reduction,
            "level_bounds": list(self.level_bounds),
            "max_risk": self.max_risk,
            "max_mitigation": self.max_mitigation,
            "questions": [
                {
                    "id": q.id,
                    "kind": q.kind,
                    "section": q.section,
                    "text": q.text,
                    "derived_from": _DERIVED_FROM.get(q.derived or ""),
                    "max_points": q.max_points,
                    "choices": [{"id": c.id, "label": c.label, "points": c.points} for c in q.choices],
                }
                for q in self.questions
            ],
        }


def _fail(name: str, problems: list[FieldProblem]) -> ConfigError:
    return ConfigError(
        f"{name}: not valid ({len(problems)} problems)",
        hint="; ".join(f"{p.path}: {p.message}" for p in problems[:5]),
        problems=problems,
    )


def _read_yaml(path: Path) -> tuple[Any, str]:
    try:
        data = path.read_bytes()
        loader = StrictLoader(data.decode("utf-8"))
        try:
            return loader.get_single_data(), hashlib.sha256(data).hexdigest()
        finally:
            loader.dispose()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", hint="check the path") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure means a bad data file
        message = getattr(exc, "message", None) or str(exc)
        raise ConfigError(f"{path.name}: not valid YAML: {message}", hint="fix the file's syntax") from None


def _parse_questions(raw: Any, problems: list[FieldProblem]) -> list[Question]:
    questions: list[Question] = []
    if not isinstance(raw, list) or not raw:
        problems.append(FieldProblem("questions", "no questions", "list the questions"))
        return questions
    seen: set[str] = set()
    for i, q in enumerate(raw):
        path = f"questions[{i}]"
        if not isinstance(q, Mapping):
            problems.append(FieldProblem(path, "must be a mapping", "give id, kind, section, text, choices"))
            continue
        unknown = set(q) - {"id", "kind", "section", "text", "choices", "derived"}
        for key in sorted(unknown):
            problems.append(
                FieldProblem(
                    f"{path}.{key}", f"unknown key '{key}'", "allowed: id, kind, section, text, choices, derived"
                )
            )
        qid = q.get("id")
        if not isinstance(qid, str) or not qid.replace("_", "").isalnum() or not qid.islower():
            problems.append(FieldProblem(f"{path}.id", f"invalid id {qid!r}", "use lowercase letters, digits, _"))
            continue
        if qid in seen:
            problems.append(FieldProblem(f"{path}.id", f"duplicate question id '{qid}'", "use unique ids"))
        seen.add(qid)
        kind = q.get("kind")
        if kind not in ("risk", "mitigation"):
            problems.append(FieldProblem(f"{path}.kind", f"unknown kind {kind!r}", "use risk or mitigation"))
        for key in ("section", "text"):
            if not isinstance(q.get(key), str) or not q[key].strip():
                problems.append(FieldProblem(f"{path}.{key}", "missing", f"write the {key}"))
        derived = q.get("derived")
        if derived is not None and derived not in DERIVATIONS:
            problems.append(
                FieldProblem(
                    f"{path}.derived", f"unknown derivation {derived!r}", "use one of: " + ", ".join(DERIVATIONS)
                )
            )
        choices: list[Choice] = []
        raw_choices = q.get("choices")
        if not isinstance(raw_choices, list) or len(raw_choices) < 2:
            problems.append(FieldProblem(f"{path}.choices", "needs at least two choices", "list the choices"))
            raw_choices = []
        for j, c in enumerate(raw_choices):
            cpath = f"{path}.choices[{j}]"
            if not isinstance(c, Mapping) or set(c) != {"id", "label", "points"}:
                problems.append(
                    FieldProblem(
                        cpath, "a choice needs exactly id, label and points", "write {id: ..., label: ..., points: N}"
                    )
                )
                continue
            points = c["points"]
            if not isinstance(points, int) or isinstance(points, bool) or not 0 <= points <= 10:
                problems.append(
                    FieldProblem(f"{cpath}.points", "must be a whole number from 0 to 10", "give the choice's weight")
                )
                continue
            if not isinstance(c["id"], str) or not isinstance(c["label"], str):
                problems.append(FieldProblem(cpath, "id and label must be text", "quote them"))
                continue
            if any(x.id == c["id"] for x in choices):
                problems.append(FieldProblem(f"{cpath}.id", f"duplicate choice '{c['id']}'", "use unique ids"))
            choices.append(Choice(c["id"], c["label"], points))
        if choices and min(c.points for c in choices) != 0:
            problems.append(FieldProblem(f"{path}.choices", "the lowest choice must score 0", "add a 0 choice"))
        if kind in ("risk", "mitigation") and len(choices) >= 2:
            questions.append(
                Question(qid, kind, str(q.get("section", "")), str(q.get("text", "")), tuple(choices), derived)
            )
    for qid in DERIVATIONS:
        matching = [q for q in questions if q.derived == qid]
        if not matching:
            problems.append(
                FieldProblem(
                    "questions", f"no question uses the derivation '{qid}'", "add the question or remove the derivation"
                )
            )
    for q in questions:
        if q.derived:
            # Every answer a derivation can give must be a choice of its question.
            for answer in _possible_answers(q.derived):
                if q.choice(answer) is None:
                    problems.append(
                        FieldProblem(
                            f"questions.{q.id}.choices",
                            f"the derivation can answer '{answer}', which is not a choice",
                            f"add a choice with id '{answer}'",
                        )
                    )
    return questions


def _possible_answers(derivation: str) -> tuple[str, ...]:
    return {
        "context_sensitivity": ("ordinary", "sensitive", "very_sensitive"),
        "decision_autonomy": tuple(r.value for r in DecisionRole),
        "affected_groups_consulted": ("none", "other_groups", "affected_groups"),
    }.get(derivation, ("no", "yes"))


def _parse_obligations(
    raw: Any, problems: list[FieldProblem]
) -> tuple[dict[int, tuple[Obligation, ...]], dict[int, str]]:
    out: dict[int, tuple[Obligation, ...]] = {}
    summaries: dict[int, str] = {}
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem("obligations", "must be a mapping", "see obligations.yaml"))
        return out, summaries
    areas = raw.get("areas") or {}
    sources = raw.get("sources") or {}
    levels = raw.get("levels") or {}
    if set(levels) != {"1", "2", "3", "4"}:
        problems.append(
            FieldProblem("obligations.levels", 'must define levels "1" to "4"', "give each level its obligations")
        )
        return out, summaries
    for key, body in levels.items():
        level = int(key)
        path = f"obligations.levels.{key}"
        if not isinstance(body, Mapping) or not isinstance(body.get("obligations"), Mapping):
            problems.append(FieldProblem(path, "needs name, summary and obligations", "see the other levels"))
            continue
        summaries[level] = str(body.get("summary", ""))
        items = []
        for area, ob in body["obligations"].items():
            if area not in areas:
                problems.append(
                    FieldProblem(
                        f"{path}.obligations.{area}", f"unknown area '{area}'", "use one of: " + ", ".join(areas)
                    )
                )
                continue
            if not isinstance(ob, Mapping) or not isinstance(ob.get("text"), str):
                problems.append(
                    FieldProblem(
                        f"{path}.obligations.{area}", "needs text and sources", "write {text: ..., sources: [...]}"
                    )
                )
                continue
            cited = []
            for s in ob.get("sources") or []:
                src = sources.get(s)
                if not isinstance(src, Mapping) or "cite" not in src or "url" not in src:
                    problems.append(
                        FieldProblem(
                            f"{path}.obligations.{area}.sources", f"unknown source '{s}'", "define it under 'sources'"
                        )
                    )
                    continue
                cited.append((str(src["cite"]), str(src["url"])))
            if not cited:
                problems.append(
                    FieldProblem(f"{path}.obligations.{area}.sources", "no source cited", "cite at least one source")
                )
            items.append(Obligation(area, str(areas[area]), ob["text"], tuple(cited)))
        missing = set(areas) - {o.area for o in items}
        for area in sorted(missing):
            problems.append(
                FieldProblem(
                    f"{path}.obligations",
                    f"no obligation for area '{area}'",
                    "every level must say something for every area",
                )
            )
        out[level] = tuple(items)
    return out, summaries


def load_questionnaire(path: str | Path | None = None, obligations: str | Path | None = None) -> Questionnaire:
    """Load and validate the questionnaire and obligations (default: the bundled files; cached).

    A file that is not valid raises :class:`ConfigError` listing each wrong entry by its path.
    """
    if path is None and obligations is None:
        return _default_questionnaire()
    return _load(Path(path or _DATA / "questionnaire.yaml"), Path(obligations or _DATA / "obligations.yaml"))


@lru_cache(maxsize=1)
def _default_questionnaire() -> Questionnaire:
    return _load(_DATA / "questionnaire.yaml", _DATA / "obligations.yaml")


def _load(path: Path, obligations_path: Path) -> Questionnaire:
    raw, digest = _read_yaml(path)
    raw_obligations, obligations_digest = _read_yaml(obligations_path)
    problems: list[FieldProblem] = []
    if not isinstance(raw, Mapping):
        raise _fail(path.name, [FieldProblem("(file)", "must be a mapping", "see the file's comment")])
    scoring = raw.get("scoring") or {}
    # Raw YAML data, checked below before use.
    threshold: Any = scoring.get("mitigation_threshold")
    reduction: Any = scoring.get("mitigation_reduction")
    bounds: Any = scoring.get("level_bounds")
    if not isinstance(threshold, float) or not 0 < threshold <= 1:
        problems.append(FieldProblem("scoring.mitigation_threshold", "must be a number in (0, 1]", "e.g. 0.80"))
    if not isinstance(reduction, float) or not 0 <= reduction < 1:
        problems.append(FieldProblem("scoring.mitigation_reduction", "must be a number in [0, 1)", "e.g. 0.15"))
    if (
        not isinstance(bounds, list)
        or len(bounds) != 3
        or not all(isinstance(b, float) for b in bounds)
        or not 0 < bounds[0] < bounds[1] < bounds[2] < 1
    ):
        problems.append(
            FieldProblem(
                "scoring.level_bounds", "must be three increasing shares between 0 and 1", "e.g. [0.25, 0.50, 0.75]"
            )
        )
    questions = _parse_questions(raw.get("questions"), problems)
    obligations, summaries = _parse_obligations(raw_obligations, problems)
    if problems:
        raise _fail(path.name, problems)
    version = f"{raw.get('version', '?')}+{(digest + obligations_digest)[:12]}"
    return Questionnaire(
        version,
        tuple(questions),
        float(threshold),
        float(reduction),
        tuple(bounds),
        obligations,
        summaries,
    )  # type: ignore[arg-type]


# --- Assessment --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contribution:
    """How one question contributed to the score."""

    question_id: str
    kind: str  # risk | mitigation
    section: str
    question: str
    answer: str  # choice id
    answer_label: str
    points: int
    max_points: int
    basis: Literal["derived", "answered", "unanswered"]
    why: str


@dataclass(frozen=True)
class ImpactAssessment:
    level: int  # 1-4
    level_name: str
    level_summary: str
    raw_score: int
    mitigation_score: int
    max_mitigation: int
    mitigation_applied: bool  # whether the 15% reduction applied
    final_score: float
    max_score: int  # maximum raw score
    contributions: tuple[Contribution, ...]
    unanswered: tuple[str, ...]
    obligations: tuple[Obligation, ...]
    questionnaire_version: str

    @property
    def share(self) -> float:
        return self.final_score / self.max_score if self.max_score else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, as stored with a version and served by the API."""
        return {
            "level": self.level,
            "level_name": self.level_name,
            "level_summary": self.level_summary,
            "raw_score": self.raw_score,
            "mitigation_score": self.mitigation_score,
            "max_mitigation": self.max_mitigation,
            "mitigation_applied": self.mitigation_applied,
            "final_score": self.final_score,
            "max_score": self.max_score,
            "share": round(self.share, 4),
            "contributions": [
                {
                    "question_id": c.question_id,
                    "kind": c.kind,
                    "section": c.section,
                    "question": c.question,
                    "answer": c.answer,
                    "answer_label": c.answer_label,
                    "points": c.points,
                    "max_points": c.max_points,
                    "basis": c.basis,
                    "why": c.why,
                }
                for c in self.contributions
            ],
            "unanswered": list(self.unanswered),
            "obligations": [
                {
                    "area": o.area,
                    "area_label": o.area_label,
                    "text": o.text,
                    "sources": [{"cite": c, "url": u} for c, u in o.sources],
                }
                for o in self.obligations
            ],
            "questionnaire_version": self.questionnaire_version,
        }


def assess_impact(d: Any, *, questionnaire: Questionnaire | None = None) -> ImpactAssessment:
    """Score a (validated) disclosure into an impact level, showing how each question contributed."""
    q = questionnaire or load_questionnaire()
    answers: Mapping[str, str] = d.impact_answers
    contributions: list[Contribution] = []
    unanswered: list[str] = []
    for question in q.questions:
        if question.derived:
            answer_id, why = DERIVATIONS[question.derived](d)
            basis: Literal["derived", "answered", "unanswered"] = "derived"
            choice = question.choice(answer_id)
            assert choice is not None, "checked when the questionnaire was loaded"
            why = f"From the disclosure: {why}."
        elif question.id in answers and question.choice(answers[question.id]) is not None:
            choice = question.choice(answers[question.id])
            assert choice is not None
            basis, why = "answered", "Answered by the provider."
        else:
            choice = question.cautious
            basis = "unanswered"
            unanswered.append(question.id)
            why = (
                "Not answered, so scored at the highest-risk choice."
                if question.kind == "risk"
                else "Not answered, so no mitigation is counted."
            )
        contributions.append(
            Contribution(
                question.id,
                question.kind,
                question.section,
                question.text,
                choice.id,
                choice.label,
                choice.points,
                question.max_points,
                basis,
                why,
            )
        )
    raw = sum(c.points for c in contributions if c.kind == "risk")
    mitigation = sum(c.points for c in contributions if c.kind == "mitigation")
    applied = mitigation >= q.mitigation_threshold * q.max_mitigation
    final = round(raw * (1 - q.mitigation_reduction), 2) if applied else float(raw)
    share = final / q.max_risk
    level = 1 + sum(share > bound for bound in q.level_bounds)
    return ImpactAssessment(
        level=level,
        level_name=LEVEL_NAMES[level],
        level_summary=q.level_summaries.get(level, ""),
        raw_score=raw,
        mitigation_score=mitigation,
        max_mitigation=q.max_mitigation,
        mitigation_applied=applied,
        final_score=final,
        max_score=q.max_risk,
        contributions=tuple(contributions),
        unanswered=tuple(unanswered),
        obligations=q.obligations[level],
        questionnaire_version=q.version,
    )


def check_answers(d: Any) -> list[tuple[str, str, str]]:
    """Problems with a disclosure's impact_answers (used by the disclosure parser)."""
    q = load_questionnaire()
    problems = []
    answerable = [x.id for x in q.questions if not x.derived]
    for qid, answer in d.impact_answers.items():
        question = q.question(qid)
        path = f"impact_answers.{qid}"
        if question is None:
            guess = closest_name(qid, answerable)
            problems.append(
                (
                    path,
                    f"unknown question '{qid}'",
                    (f"did you mean '{guess}'? " if guess else "") + "questions: " + ", ".join(answerable),
                )
            )
        elif question.derived:
            problems.append(
                (
                    path,
                    "this question is answered from the disclosure itself",
                    f"remove it; it is read from {_DERIVED_FROM[question.derived]}",
                )
            )
        elif question.choice(answer) is None:
            problems.append(
                (
                    path,
                    f"'{answer}' is not a choice of this question",
                    "use one of: " + ", ".join(c.id for c in question.choices),
                )
            )
    return problems


def answers_json_schema() -> dict[str, Any]:
    """JSON Schema of ``impact_answers``: each answerable question with its allowed choices."""
    q = load_questionnaire()
    return {
        "type": "object",
        "description": "Answers to the impact questionnaire: question id to choice id. Questions answered from "
        "the disclosure itself are not accepted here.",
        "properties": {
            x.id: {"type": "string", "enum": [c.id for c in x.choices], "description": x.text}
            for x in q.questions
            if not x.derived
        },
        "additionalProperties": False,
    }
