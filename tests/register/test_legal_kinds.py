"""Legal precision on pages, the API and the export (issue 11, item 9): the law's prohibitions, its conditions,
its obligations and the register's own policy lines are never presented as one another."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select, update

from assay.register import service
from assay.demo import load_demo
from assay.register.models import ScreeningRecord, System, SystemVersion

from .conftest import OPERATOR, example, variant


@pytest.fixture
def demo(app):  # type: ignore[no-untyped-def]
    load_demo(app.state.db, app.state.config, provenance=False)
    return app


def test_api_and_export_carry_each_findings_kind(client, demo) -> None:  # type: ignore[no-untyped-def]
    eastmark = client.get("/api/v1/systems/eastmark-police-face-search").json()
    assert eastmark["outcome"] == "high_risk" and eastmark["legal_outcome"] == "high_risk"
    assert eastmark["outcome_basis"] == "law" and eastmark["needs_review"]
    kinds = {f["rule_id"]: f["kind"] for f in eastmark["findings"]}
    assert kinds["eu-art26-10-untargeted-post-rbi"] == "condition"
    assert (
        kinds["un-biometric-surveillance"] == "policy"
        and kinds["eu-annex3-1a-remote-biometric-identification"] == "obligation"
    )
    moodpulse = client.get("/api/v1/systems/moodpulse-call-centre").json()
    [art5] = [f for f in moodpulse["findings"] if f["kind"] == "prohibition"]
    assert art5["prohibits"] == ["placing_on_the_market", "putting_into_service", "use"]
    assert art5["kind_label"] == "Prohibited by law"
    rules = {r["id"]: r for r in client.get("/api/v1/rules").json()["rules"]}
    assert rules["eu-art5-1h-realtime-rbi-law-enforcement"]["prohibits"] == ["use"]
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(client.get("/api/v1/export/systems.csv").text))}
    row = rows["eastmark-police-face-search"]
    assert row["outcome"] == "high_risk" and row["outcome_basis"] == "law"
    assert (
        dict(zip(row["finding_rules"].split(";"), row["finding_kinds"].split(";"), strict=True))[
            "eu-art26-10-untargeted-post-rbi"
        ]
        == "condition"
    )
    exported = {s["id"]: s for s in client.get("/api/v1/export/systems.json").json()["systems"]}
    assert {f["kind"] for f in exported["moodpulse-call-centre"]["findings"]} >= {"prohibition", "policy"}


def test_a_policy_only_outcome_is_labelled_as_the_registers_policy(client) -> None:  # type: ignore[no-untyped-def]
    # Gender inference from text: high-risk by the register's UN-based policy, minimal under the law.
    d = variant(example(), **{"capabilities": ["gender_inference"], "system.input_modalities": ["text"]})
    d["system"]["output_modalities"] = ["text"]
    with client.app.state.db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", jurisdiction="NL", principal=OPERATOR)
        view = service.publish(session, d, principal=OPERATOR)
    assert view.outcome == "high_risk" and view.outcome_basis == "register_policy" and view.legal_outcome == "minimal"
    page = client.get(f"/systems/{view.id}").text
    assert 'id="policy-notice"' in page and "register policy, not law" in page
    listing = client.get("/systems").text
    assert "register policy, not law" in listing
    assert client.get(f"/api/v1/systems/{view.id}").json()["outcome_basis"] == "register_policy"


def test_systems_screened_under_earlier_rules_are_screened_again(client, demo) -> None:  # type: ignore[no-untyped-def]
    # A register that screened Eastmark under the rules that counted Art. 26(10) as a prohibition.
    db = client.app.state.db
    with db.write() as session:
        system = session.get(System, "eastmark-police-face-search")
        version = session.scalars(select(SystemVersion.id).where(SystemVersion.system_id == system.id)).one()
        session.execute(
            update(ScreeningRecord)
            .where(ScreeningRecord.version_id == version)
            .values(rules_version="2026-11-29.2+old")
        )
        system.outcome = "prohibited"
    with db.write() as session:
        view = service.rescreen(session, "eastmark-police-face-search", principal=OPERATOR)
    assert view is not None and view.outcome == "high_risk"
    with db.write() as session:
        assert service.rescreen(session, "eastmark-police-face-search", principal=OPERATOR) is None  # once
    entries = client.get("/log").text
    assert "Screened under new rules" in entries
    # The demo loader does the same for an existing data folder (make run after an upgrade).
    with db.write() as session:
        session.execute(update(ScreeningRecord).values(rules_version="old"))
    again = load_demo(db, client.app.state.config, provenance=False)
    assert len(again.rescreened) == 9 and not again.published


@pytest.mark.browser
def test_pages_tell_a_prohibition_from_a_condition(browser, demo, live_server) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(f"{live_server}/systems/eastmark-police-face-search")
    assert page.locator("#prohibited-notice").count() == 0
    assert "Prohibited" not in page.locator(".badges").first.inner_text()
    finding = page.locator("#finding-eu-art26-10-untargeted-post-rbi")
    assert "Allowed by law only under conditions" in finding.locator(".finding-head").inner_text()
    assert "Claims the law's conditions are met" in finding.inner_text()
    policy = page.locator("#finding-un-biometric-surveillance .finding-head")
    assert "Register policy, not law" in policy.inner_text()
    page.goto(f"{live_server}/systems/moodpulse-call-centre")
    notice = page.locator("#prohibited-notice").inner_text()
    assert "Prohibited by law" in notice and "Art. 5(1)(f)" in notice
    assert "placing on the market, putting into service and use" in notice
    page.goto(f"{live_server}/rules")
    rule = page.locator("#rule-eu-art5-1h-realtime-rbi-law-enforcement")
    assert "the law forbids its use" in rule.inner_text() and "placing" not in rule.locator(".hint").inner_text()
    page.close()
