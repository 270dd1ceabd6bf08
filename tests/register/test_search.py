"""Search and filters give the same answers on SQLite (FTS5) and PostgreSQL (tsvector), with exact totals."""

from __future__ import annotations

from typing import Any

import pytest

from assay.db import Database
from assay.errors import InvalidInput
from assay.register import service
from assay.register.search import SystemQuery, query_words

from .conftest import DELETE, OPERATOR, example, variant

DEMO = (
    "acme-imagegen",
    "borealis-visa-triage",
    "lindenholt-assistant",
    "moodpulse-call-centre",
    "skyguard-controller-wellbeing",
    "talentsift-cv-screening",
)


@pytest.fixture
def corpus(db: Database, publish) -> dict[str, Any]:
    ids = {name: publish(example(name)).id for name in DEMO}
    base = example()
    extra = {
        "credit": variant(
            base,
            **{
                "system.id": DELETE,
                "system.name": "Crédit Évaluation",
                "system.summary": "Scores loan applicants for a cooperative bank.",
            },
        ),
        "planned": variant(
            base,
            **{
                "system.id": DELETE,
                "system.name": "Sketch Helper",
                "system.status": "planned",
                "system.summary": "Turns rough sketches into finished drawings.",
            },
        ),
    }
    for key, d in extra.items():
        ids[key] = publish(d).id
    return ids


def _ids(db: Database, **query: Any) -> list[str]:
    with db.read() as session:
        page = service.search(session, SystemQuery(**query).validated())
    assert page.total == len(page.items) or page.total > page.per_page
    return [s.id for s in page.items]


def test_full_text_search_matches_names_providers_and_disclosure_text(db: Database, corpus) -> None:
    # The variants mention "ImageGen" deep in their disclosures (a DPIA title); the name match ranks first.
    found = _ids(db, q="ImageGen")
    assert found[0] == corpus["acme-imagegen"] and set(found) == {
        corpus["acme-imagegen"],
        corpus["credit"],
        corpus["planned"],
    }
    assert _ids(db, q="imagege")[0] == corpus["acme-imagegen"]  # words match as prefixes
    assert _ids(db, q="imagegen", sort="name") == [corpus["acme-imagegen"], corpus["credit"], corpus["planned"]]
    assert set(_ids(db, q="acme")) == {corpus["acme-imagegen"], corpus["credit"], corpus["planned"]}
    assert _ids(db, q="credit evaluation") == [corpus["credit"]]  # accents folded, every word must match
    assert _ids(db, q="CRÉDIT") == [corpus["credit"]]
    assert _ids(db, q="cooperative bank") == [corpus["credit"]]  # text from deep in the disclosure
    assert _ids(db, q="credit nonexistentword") == []
    # A match in the name ranks above a match elsewhere in the disclosure.
    ranked = _ids(db, q="visatriage")
    assert ranked and ranked[0] == corpus["borealis-visa-triage"]


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "*",
        "OR AND NOT",
        "NEAR(a b)",
        "'; DROP TABLE systems; --",
        "a:* & !b",
        "\x00",
        "(((",
        "-",
        "^name",
        "systems_fts",
        "ü" * 600,
    ],
)
def test_hostile_search_strings_are_plain_words(sqlite_db: Database, q: str) -> None:
    # FTS syntax in the input is never interpreted: no error, no injection (SQLite; PostgreSQL below).
    if len(q) > 500:
        with pytest.raises(InvalidInput), sqlite_db.read() as session:
            service.search(session, SystemQuery(q=q).validated())
        return
    with sqlite_db.read() as session:
        assert service.search(session, SystemQuery(q=q).validated()).total == 0


def test_hostile_search_strings_on_both_engines(db: Database, corpus) -> None:
    # Operators and quotes are dropped: each query finds exactly what its plain words find.
    for q in (
        '"',
        "*",
        "OR AND NOT",
        "NEAR(acme)",
        "'; DROP TABLE systems; --",
        "acme:* | !x",
        "acme & !",
        "\x00",
        'acme" OR "x',
    ):
        plain = " ".join(query_words(q))
        assert _ids(db, q=q, per_page=100) == _ids(db, q=plain, per_page=100), q
    assert len(_ids(db, q='"*"', per_page=100)) == len(corpus)  # no words: no text filter
    assert _ids(db, q='acme" OR "x') == []  # every word must match, and nothing has the word "x"


def test_filters_combine_with_each_other_and_with_text(db: Database, corpus) -> None:
    assert set(_ids(db, outcome="prohibited")) == {
        corpus["moodpulse-call-centre"],
        corpus["skyguard-controller-wellbeing"],
    }
    assert set(_ids(db, capability="synthetic_image")) == {corpus["acme-imagegen"], corpus["credit"], corpus["planned"]}
    assert _ids(db, capability="synthetic_image", status="planned") == [corpus["planned"]]
    assert _ids(db, capability="synthetic_image", q="sketch") == [corpus["planned"]]
    assert set(_ids(db, context="workplace")) >= {corpus["talentsift-cv-screening"], corpus["moodpulse-call-centre"]}
    assert corpus["acme-imagegen"] not in _ids(db, context="workplace")
    assert _ids(db, context="migration_border") == [corpus["borealis-visa-triage"]]
    assert _ids(db, provider="talentsift") == [corpus["talentsift-cv-screening"]]
    assert _ids(db, provider="talentsift", outcome="minimal") == []
    with db.read() as session:
        levels = {s.id: s.impact_level for s in service.search(session, SystemQuery(per_page=100)).items}
    for level in (1, 2, 3, 4):
        assert set(_ids(db, impact_level=level, per_page=100)) == {i for i, lv in levels.items() if lv == level}


def test_pages_cover_everything_once_with_exact_totals(db: Database, corpus) -> None:
    seen: list[str] = []
    for page_number in range(1, 10):
        with db.read() as session:
            page = service.search(session, SystemQuery(sort="name", page=page_number, per_page=3))
        assert page.total == len(corpus) and page.pages == 3
        seen += [s.id for s in page.items]
        if not page.has_next:
            break
    assert len(seen) == len(set(seen)) == len(corpus)
    with db.read() as session:
        names = [s.name.casefold() for s in service.search(session, SystemQuery(sort="name", per_page=50)).items]
        past_end = service.search(session, SystemQuery(page=99, per_page=3))
    assert names == sorted(names)
    assert past_end.items == [] and past_end.total == len(corpus)


def test_index_follows_updates(db: Database, corpus) -> None:
    assert _ids(db, q="sketch helper") == [corpus["planned"]]
    renamed = variant(
        example(),
        **{
            "system.id": DELETE,
            "system.name": "Pixel Forge",
            "system.status": "planned",
            "system.summary": "Makes pixel art.",
            "capabilities": ["synthetic_image", "deep_fake"],
        },
    )
    with db.write() as session:
        service.update(session, corpus["planned"], renamed, expected_version=1, principal=OPERATOR)
    assert _ids(db, q="sketch helper") == []
    assert _ids(db, q="pixel forge") == [corpus["planned"]]
    assert _ids(db, capability="deep_fake") == [corpus["planned"]]
    assert _ids(db, sort="updated")[0] == corpus["planned"]


def test_invalid_queries_name_the_parameter() -> None:
    with pytest.raises(InvalidInput) as info:
        SystemQuery(outcome="approved", impact_level=7, page=0, per_page=10_000, sort="random").validated()
    assert {p.path for p in info.value.problems} == {"outcome", "impact_level", "page", "per_page", "sort"}


@pytest.fixture
def tools(db: Database, publish) -> list[str]:
    """Nine systems whose disclosures all say "tool"; three of them have it in their names. Published in order."""
    names = ["Alpha", "Tool Kit", "Beta", "Gamma", "Power Tool", "Delta", "Epsilon", "Toolbox Pro", "Zeta"]
    ids = []
    for name in names:
        d = variant(
            example(),
            **{"system.id": DELETE, "system.name": name, "system.summary": f"{name} is a tool that draws pictures."},
        )
        ids.append(publish(d).id)
    return ids


def _all_pages(db: Database, **query: Any) -> list[str]:
    out: list[str] = []
    for page in range(1, 20):
        with db.read() as session:
            result = service.search(session, SystemQuery(page=page, per_page=2, **query).validated())
        out += [s.id for s in result.items]
        if not result.has_next:
            return out
    raise AssertionError("too many pages")


def test_many_matches_put_name_matches_first_then_the_most_recent(db: Database, tools, monkeypatch) -> None:
    import assay.register.search as search

    monkeypatch.setattr(search, "RANK_LIMIT", 2)  # the corpus is small; exercise the path for many matches
    by_id = dict(
        zip(
            ["Alpha", "Tool Kit", "Beta", "Gamma", "Power Tool", "Delta", "Epsilon", "Toolbox Pro", "Zeta"],
            tools,
            strict=True,
        )
    )
    ranked = _all_pages(db, q="tool")
    named = {by_id["Tool Kit"], by_id["Power Tool"], by_id["Toolbox Pro"]}
    assert set(ranked[:3]) == named and len(ranked) == len(set(ranked)) == 9
    rest = [i for i in reversed(tools) if i not in named]  # most recently updated first
    assert ranked[3:] == rest
    by_name = _all_pages(db, q="tool", sort="name")
    assert by_name == [by_id[n] for n in sorted(by_id, key=str.casefold)]
    assert _all_pages(db, q="tool", sort="updated") == list(reversed(tools))
    # Filters narrow a search with many matches the same way.
    with db.write() as session:
        service.suspend(session, by_id["Power Tool"], reason="test", principal=OPERATOR)
    assert _all_pages(db, q="tool", suspended=True) == [by_id["Power Tool"]]
    assert by_id["Power Tool"] not in _all_pages(db, q="tool", suspended=False)


def test_a_search_counts_and_pages_through_a_window_of_matches(db: Database, tools, monkeypatch) -> None:
    import assay.register.search as search

    monkeypatch.setattr(search, "SEARCH_WINDOW", 4)
    with db.read() as session:
        first = service.search(session, SystemQuery(q="tool", per_page=2).validated())
        plain = service.search(session, SystemQuery(per_page=2).validated())
    assert first.total == 4 and not first.total_is_exact and first.pages == 2
    assert plain.total == 9 and plain.total_is_exact  # lists without words count exactly
    with pytest.raises(InvalidInput, match="first 4 matches"):
        SystemQuery(q="tool", page=3, per_page=2).validated()
