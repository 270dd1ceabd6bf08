"""The impact questionnaire's files (``data/questionnaire.yaml``, ``data/obligations.yaml``): format and loading.

:func:`load_questionnaire` reads and validates both files once (the default files are cached) and returns a
:class:`Questionnaire`; every problem is reported at once, with its path, as a ``ConfigError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from assay.errors import ConfigError, FieldProblem
from assay.register._derivations import DERIVATIONS, DERIVED_FROM
from assay.register._yaml import StrictLoader  # strict: no duplicate keys, no aliases, YAML 1.2 scalars
from assay.register.vocabulary import (
    DecisionRole,
)

__all__ = ["Choice", "Obligation", "Question", "Questionnaire", "load_questionnaire"]

_DATA = Path(__file__).parent / "data"


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
                    "derived_from": DERIVED_FROM.get(q.derived or ""),
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
