"""The documentation covers the format, the rules and the questionnaire as they are (checked, not hoped)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from assay.register.disclosure import Disclosure, _unwrap
from assay.register.impact import load_questionnaire
from assay.register.screening import load_rules
from assay.register.vocabulary import VOCABULARIES

from .helpers import EXAMPLES

DOCS = Path(__file__).parents[2] / "docs"


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for f in model.model_fields.values():
        sub = _unwrap(f.annotation)
        if isinstance(sub, type) and issubclass(sub, BaseModel) and sub not in seen:
            _models(sub, seen)
    return seen


def test_disclosure_format_documents_every_field_and_value_and_shows_a_real_example() -> None:
    text = (DOCS / "disclosure-format.md").read_text()
    for model in _models(Disclosure, set()):
        assert f"### {model.__name__}" in text
        for name in model.model_fields:
            assert f"`{name}`" in text, f"{model.__name__}.{name} is not documented"
    for vocab in VOCABULARIES.values():
        for member in vocab:
            assert f"`{member.value}`" in text, f"{member.value} is not documented"
    example = (EXAMPLES / "borealis-visa-triage.yaml").read_text().rstrip()
    assert f"```yaml\n{example}\n```" in text, "the full example in the docs differs from the example file"
    for path in EXAMPLES.glob("*.yaml"):
        assert path.name in text


def test_red_lines_doc_lists_every_rule_and_exception() -> None:
    text = (DOCS / "red-lines.md").read_text()
    rules = load_rules()
    for rule in rules.rules:
        assert f"`{rule.id}`" in text and rule.title in text
        for source in rule.sources:
            assert source.url in text
    for exc in rules.exceptions:
        assert f"Exception `{exc}`" in text


def test_impact_doc_lists_every_question_and_obligation() -> None:
    text = (DOCS / "impact-levels.md").read_text()
    q = load_questionnaire()
    for question in q.questions:
        assert f"`{question.id}`" in text
        for choice in question.choices:
            assert f"`{choice.id}` {choice.label} ({choice.points})" in text
    for level in (1, 2, 3, 4):
        for o in q.obligations[level]:
            assert o.text in text
    assert f"maximum {q.max_risk}" in text and f"maximum {q.max_mitigation}" in text


def test_module_docstring_examples_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import doctest

    from assay.register import disclosure, impact, screening, vocabulary

    monkeypatch.chdir(Path(__file__).parents[2])  # the examples use paths relative to the repository
    for module in (vocabulary, disclosure, screening, impact):
        result = doctest.testmod(module, raise_on_error=False, verbose=False)
        assert result.attempted > 0 and result.failed == 0, module.__name__
