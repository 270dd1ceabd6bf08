"""The register's pages, server-rendered: content, escaping, prohibited and suspended systems, versions."""

from __future__ import annotations

import re

import pytest

from assay.register import service
from assay.demo import load_demo

from .conftest import DELETE, EXAMPLES, OPERATOR, example, variant

N = len(list(EXAMPLES.glob("*.yaml")))
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def demo(client):  # type: ignore[no-untyped-def]
    return load_demo(client.app.state.db, client.app.state.config, provenance=False)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_register_page_lists_filters_and_paginates(client, demo) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/systems")
    assert page.status_code == 200 and f"{N} systems" in _text(page.text)
    prohibited = client.get("/systems?outcome=prohibited")
    n_prohibited = client.get("/api/v1/systems?outcome=prohibited").json()["total"]
    assert n_prohibited >= 2 and f"{n_prohibited} systems" in _text(prohibited.text)
    assert "MoodPulse" in prohibited.text and "Acme ImageGen" not in prohibited.text
    # A form submitted with empty selects, and values nobody could have meant, still give a page.
    empty = client.get("/systems?q=&provider=&capability=&context=&outcome=&impact_level=&status=&sort=")
    assert empty.status_code == 200 and f"{N} systems" in _text(empty.text)
    odd = client.get("/systems?impact_level=banana&outcome=approved&page=-3")
    assert odd.status_code == 200 and "Ignored the unknown impact level" in odd.text
    none = client.get("/systems?q=zzzqqq")
    assert "No system matches" in none.text


def test_system_page_shows_disclosure_findings_impact_and_history(client, demo) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/systems/talentsift-cv-screening").text
    text = _text(html)
    assert "High-risk" in text and "Annex III" in text  # the finding, with its legal source
    assert "Impact level" in text and "What follows from level" in text
    assert "Version history" in text and 'href="/log/entries/' in html
    assert 'href="/systems/talentsift-cv-screening/complaints/new"' in html
    d = example("talentsift-cv-screening")
    assert d["system"]["intended_purpose"][:60] in html.replace("&#39;", "'").replace("&#34;", '"')
    for model in d["models"]:
        assert model["name"] in html
    assert "<main" in html and 'lang="en"' in html and 'name="viewport"' in html


def test_prohibited_system_is_never_shown_as_approved(client, demo) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/systems/moodpulse-call-centre").text
    assert 'id="prohibited-notice"' in html and "does not mean it is approved" in html
    assert "approved." not in _text(html).replace("does not mean it is approved", "")
    pending = client.get("/systems/skyguard-controller-wellbeing").text
    assert 'id="review-notice"' in pending and "awaits review" in pending and 'id="prohibited-notice"' in pending


def test_suspended_system_says_so(client, demo) -> None:  # type: ignore[no-untyped-def]
    with client.app.state.db.write() as session:
        service.suspend(session, "acme-imagegen", reason="Marks missing on outputs.", principal=OPERATOR)
    html = client.get("/systems/acme-imagegen").text
    assert 'id="suspended-notice"' in html and "Marks missing on outputs." in html
    assert "Suspended" in client.get("/systems").text


def test_version_pages_show_each_version_and_what_changed(client, demo) -> None:  # type: ignore[no-untyped-def]
    changed = variant(example(), **{"system.version": "4.0", "system.summary": "Now with video."})
    with client.app.state.db.write() as session:
        service.update(
            session, "acme-imagegen", changed, expected_version=1, principal=OPERATOR, reason="Major release"
        )
    v2 = client.get("/systems/acme-imagegen/versions/2").text
    assert "What changed since version 1" in v2 and "system.summary" in v2 and "Now with video." in v2
    assert "Major release" in v2
    v1 = client.get("/systems/acme-imagegen/versions/1").text
    assert "This is an earlier version" in v1 and "Now with video." not in v1
    missing = client.get("/systems/acme-imagegen/versions/9")
    assert missing.status_code == 404 and "<h1>" in missing.text


def test_user_text_is_escaped_everywhere(client) -> None:  # type: ignore[no-untyped-def]
    with client.app.state.db.write() as session:
        service.add_provider(session, id="acme", name=HOSTILE, principal=OPERATOR)
    hostile = variant(
        example(),
        **{
            "system.id": DELETE,
            "system.name": 'Evil <b>bold</b> "quote"',
            "system.summary": HOSTILE,
            "system.version": "<i>1</i>",
            "provider.legal_name": HOSTILE,  # a disclosure names its provider as the register knows it
            "deployers": [],
        },
    )
    with client.app.state.db.write() as session:
        view = service.publish(session, hostile, principal=OPERATOR)
    for url in (
        "/systems",
        f"/systems/{view.id}",
        f"/systems/{view.id}/versions/1",
        "/providers",
        "/providers/acme",
        f"/systems?q={view.name}",
    ):
        html = client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold</b>" not in html, url
    assert "&lt;script&gt;" in client.get(f"/systems/{view.id}").text


def test_providers_rules_and_about(client, demo) -> None:  # type: ignore[no-untyped-def]
    providers = client.get("/providers").text
    assert "TalentSift Ltd" in providers and 'href="/providers/talentsift"' in providers
    provider = client.get("/providers/talentsift").text
    assert "TalentSift Screen" in provider
    assert client.get("/providers/nobody").status_code == 404
    rules = client.get("/rules").text
    assert "Art. 5(1)(f)" in rules and "un-emotion-recognition" in rules and "Level IV" in rules
    about = client.get("/about").text
    n_prohibited = client.get("/api/v1/systems?outcome=prohibited").json()["total"]
    assert f"{N} systems" in _text(about) and f"{n_prohibited} prohibited" in _text(about)
