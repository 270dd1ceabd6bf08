"""Impact levels: derived answers, cautious scoring of unanswered questions, the mitigation reduction, levels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.errors import ConfigError
from assay.register.impact import (
    Choice,
    Question,
    Questionnaire,
    assess_impact,
    load_questionnaire,
)

from .helpers import example, example_names, make, parsed

Q = load_questionnaire()
ANSWERABLE = [q for q in Q.questions if not q.derived]


def best_mitigation_answers() -> dict[str, str]:
    """Lowest risk and highest mitigation for every question the provider answers."""
    out = {}
    for q in ANSWERABLE:
        pick = min if q.kind == "risk" else max
        out[q.id] = pick(q.choices, key=lambda c: c.points).id
    return out


@pytest.mark.parametrize("name", example_names())
def test_scores_add_up_for_every_example(name: str) -> None:
    a = assess_impact(example(name))
    assert a.raw_score == sum(c.points for c in a.contributions if c.kind == "risk")
    assert a.mitigation_score == sum(c.points for c in a.contributions if c.kind == "mitigation")
    assert a.max_score == Q.max_risk and a.max_mitigation == Q.max_mitigation
    expected = a.raw_score * (1 - Q.mitigation_reduction) if a.mitigation_applied else a.raw_score
    assert a.final_score == pytest.approx(expected)
    assert a.mitigation_applied == (a.mitigation_score >= Q.mitigation_threshold * Q.max_mitigation)
    assert a.level == 1 + sum(a.final_score / a.max_score > b for b in Q.level_bounds)
    assert len(a.contributions) == len(Q.questions)
    assert {o.area for o in a.obligations} == {o.area for o in Q.obligations[1]}
    assert a.level_name == ["Level I", "Level II", "Level III", "Level IV"][a.level - 1]


def test_unanswered_questions_are_scored_cautiously_and_listed() -> None:
    a = assess_impact(parsed(make()))
    assert set(a.unanswered) == {q.id for q in ANSWERABLE}
    for c in a.contributions:
        q = Q.question(c.question_id)
        assert q is not None
        if c.basis == "unanswered":
            assert c.points == (q.max_points if q.kind == "risk" else 0)
            assert "Not answered" in c.why
    answered = assess_impact(parsed(make(answers=best_mitigation_answers())))
    assert answered.unanswered == () and answered.raw_score < a.raw_score
    assert answered.level < a.level


def test_derived_answers_follow_the_disclosure_not_the_provider() -> None:
    answers = best_mitigation_answers()
    base = assess_impact(parsed(make(answers=answers)))
    vulnerable = assess_impact(parsed(make(answers=answers, groups=["general_public", "children"])))
    by_id = {c.question_id: c for c in vulnerable.contributions}
    assert by_id["vulnerable_groups"].answer == "yes" and by_id["vulnerable_groups"].basis == "derived"
    assert "\u201cChildren\u201d" in by_id["vulnerable_groups"].why
    assert vulnerable.raw_score == base.raw_score + 3
    law = assess_impact(parsed(make(answers=answers, contexts=["law_enforcement"])))
    assert {c.question_id: c.answer for c in law.contributions}["context_sensitivity"] == "very_sensitive"
    work = assess_impact(parsed(make(answers=answers, contexts=["workplace"])))
    assert {c.question_id: c.answer for c in work.contributions}["context_sensitivity"] == "sensitive"
    caps = assess_impact(parsed(make(answers=answers, capabilities=["gender_inference"])))
    assert {c.question_id: c.answer for c in caps.contributions}["red_line_capabilities"] == "yes"


def full_mitigation(**facts: Any) -> dict[str, Any]:
    """A disclosure whose due diligence earns every derived mitigation point."""
    data = make(answers=best_mitigation_answers(), **facts)
    data["system"]["human_oversight"]["decision_role"] = "human_decides_on_recommendation"
    data["system"]["contest"]["url"] = "https://example.org/contest"
    data["models"] = [
        {
            "name": "m",
            "version": "1",
            "provider": "p",
            "architecture_family": "trees",
            "licence": "MIT",
            "intended_use": "x",
            "limitations": "y",
            "evaluation": [{"metric": "accuracy", "value": 0.9, "group": "women"}],
        }
    ]
    data["training_data"] = {
        "modalities": [{"modality": "tabular", "size": "small"}],
        "sources": {"operational_records": {"description": "Past cases."}},
        "processing": {"tdm_opt_out": "n/a", "illegal_content_removal": "n/a"},
        "personal_data_used": False,
        "biometric_data_used": False,
    }
    data["due_diligence"] = {
        "fria": {
            k: "Described."
            for k in (
                "process",
                "period_and_frequency",
                "affected_groups",
                "risks_of_harm",
                "human_oversight_measures",
                "measures_if_risks_materialise",
                "complaint_mechanism",
            )
        },
        "consultation": {
            "groups": data["system"]["affected_groups"],
            "how": "Panels.",
            "when": "2026",
            "outcome": "Changes made.",
        },
        "dpia": {"reference": "DPIA 1"},
    }
    return data


def test_mitigation_of_80_percent_reduces_the_score_by_15_percent() -> None:
    facts = dict(purposes=["benefits_eligibility"], contexts=["essential_services"], groups=["benefit_claimants"])
    data = full_mitigation(**facts)
    a = assess_impact(parsed(data))
    assert a.mitigation_score == Q.max_mitigation and a.mitigation_applied
    assert a.final_score == pytest.approx(a.raw_score * 0.85)
    # Without the fundamental-rights assessment, consultation and DPIA, mitigation falls below 80%.
    data["due_diligence"] = {}
    b = assess_impact(parsed(data))
    assert b.raw_score == a.raw_score and b.mitigation_score == Q.max_mitigation - 8
    assert not b.mitigation_applied and b.final_score == b.raw_score


def test_consulting_other_groups_than_those_affected_counts_less() -> None:
    data = full_mitigation(groups=["workers"])
    data["due_diligence"]["consultation"]["groups"] = ["consumers"]
    c = {x.question_id: x for x in assess_impact(parsed(data)).contributions}["affected_groups_consulted"]
    assert c.answer == "other_groups" and c.points == 1


def tiny_questionnaire(bounds: tuple[float, float, float] = (0.25, 0.5, 0.75)) -> Questionnaire:
    risk = Question("q", "risk", "s", "How much?", tuple(Choice(f"p{i}", str(i), i) for i in range(9)))
    mitigation = Question("m", "mitigation", "s", "Mitigated?", (Choice("no", "No", 0), Choice("yes", "Yes", 1)))
    return Questionnaire("test", (risk, mitigation), 0.8, 0.15, bounds, Q.obligations, {1: "", 2: "", 3: "", 4: ""})


@pytest.mark.parametrize(
    ("points", "mitigated", "level"),
    [
        (0, False, 1),
        (2, False, 1),
        (3, False, 2),
        (4, False, 2),
        (5, False, 3),
        (6, False, 3),
        (7, False, 4),
        (8, False, 4),
        (7, True, 3),
        (3, True, 2),
        (8, True, 4),
    ],
)
def test_level_boundaries_are_shares_of_the_maximum(points: int, mitigated: bool, level: int) -> None:
    d = parsed(make()).model_copy(update={"impact_answers": {"q": f"p{points}", "m": "yes" if mitigated else "no"}})
    a = assess_impact(d, questionnaire=tiny_questionnaire())
    assert a.max_score == 8 and a.raw_score == points
    assert a.final_score == pytest.approx(points * (0.85 if mitigated else 1))
    assert a.level == level


def test_every_level_states_every_obligation_with_sources() -> None:
    areas = {o.area for o in Q.obligations[1]}
    assert areas >= {
        "notice",
        "explanation",
        "peer_review",
        "human_involvement",
        "approval",
        "monitoring",
        "publication",
    }
    for level in (1, 2, 3, 4):
        assert {o.area for o in Q.obligations[level]} == areas
        assert all(o.sources and o.text for o in Q.obligations[level])
    texts = {lvl: {o.area: o.text for o in Q.obligations[lvl]} for lvl in (1, 2, 3, 4)}
    assert texts[1]["human_involvement"] != texts[4]["human_involvement"]


def test_questionnaire_as_data_lists_derivations() -> None:
    data = Q.as_data()
    assert data["max_risk"] == Q.max_risk
    derived = [q for q in data["questions"] if q["derived_from"]]
    assert derived and all(isinstance(q["derived_from"], str) for q in derived)


@pytest.mark.parametrize(
    ("old", "new", "path", "words"),
    [
        (
            "points: 4}\n\n  - id: vulnerable_groups",
            "points: 11}\n\n  - id: vulnerable_groups",
            "questions[0].choices[2].points",
            "0 to 10",
        ),
        ("derived: profiling\n", "derived: profilng\n", "questions[4].derived", "unknown derivation"),
        ("  - id: dpia_done\n", "  - id: fria_done\n", "questions[20].id", "duplicate"),
        ("mitigation_threshold: 0.80", "mitigation_threshold: 80", "scoring.mitigation_threshold", "(0, 1]"),
        ("level_bounds: [0.25, 0.50, 0.75]", "level_bounds: [0.5, 0.25, 0.75]", "scoring.level_bounds", "increasing"),
        (
            "      - {id: very_sensitive,",
            "      - {id: extremely_sensitive,",
            "questions.context_sensitivity.choices",
            "very_sensitive",
        ),
    ],
)
def test_a_bad_questionnaire_fails_with_a_precise_error(
    tmp_path: Path, old: str, new: str, path: str, words: str
) -> None:
    from assay.register import impact

    text = (Path(impact.__file__).parent / "data" / "questionnaire.yaml").read_text()
    assert old in text
    bad = tmp_path / "q.yaml"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_questionnaire(bad)
    found = {p.path: f"{p.message} {p.fix}" for p in info.value.problems}
    assert path in found, found
    assert words in found[path]


def test_obligations_must_cover_every_area_at_every_level(tmp_path: Path) -> None:
    from assay.register import impact

    text = (Path(impact.__file__).parent / "data" / "obligations.yaml").read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("      publication:")]
    bad = tmp_path / "o.yaml"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_questionnaire(obligations=bad)
    assert any("publication" in p.message for p in info.value.problems)
