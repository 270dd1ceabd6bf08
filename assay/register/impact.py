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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from assay.register._conditions import closest_name
from assay.register._derivations import DERIVATIONS, DERIVED_FROM
from assay.register._questionnaire import Choice, Obligation, Question, Questionnaire, load_questionnaire
from assay.register.labels import LEVEL_NUMERALS, level_name

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

LEVEL_NAMES = {n: level_name(n) for n in LEVEL_NUMERALS}


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
                    f"remove it; it is read from {DERIVED_FROM[question.derived]}",
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
