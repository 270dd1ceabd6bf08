"""One spelling of outcomes and impact levels (assay.register.labels) wherever the register shows them, and the
rescreening service the CLI calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from assay.cli import app as cli_app
from assay.db import Database
from assay.errors import Forbidden
from assay.register import labels, service
from assay.register.access import Principal
from assay.register.models import ScreeningRecord

from .conftest import EXAMPLES, OPERATOR, example, variant

# Labels the register spelled otherwise before it had one table (prose may still say "high-risk" in a sentence).
OLD = ("High risk", "PROHIBITED", "Prohibited,", "screening high-risk")


def test_the_domain_the_check_and_the_pages_share_one_table() -> None:
    from assay.provenance import wording
    from assay.register import _rules, impact

    assert _rules.OUTCOME_LABELS is labels.OUTCOME_LABELS and wording.OUTCOME_LABELS is labels.OUTCOME_LABELS
    assert impact.LEVEL_NAMES[3] == "Level III" and labels.impact_label(3) == "Impact level III of IV"
    assert set(labels.OUTCOME_LABELS) == set(_rules.OUTCOMES)


def test_the_systems_page_names_every_outcome_as_the_table_does(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/systems").text
    for value, label in labels.OUTCOME_LABELS.items():
        assert f'<option value="{value}">{label}</option>' in page
    assert not any(old in page for old in OLD)


def test_the_cli_says_each_examples_outcome_and_level_as_the_table_does(tmp_path: Path) -> None:
    runner = CliRunner()
    seen = set()
    for source in sorted(EXAMPLES.glob("*.yaml")):
        args = ["--data-dir", str(tmp_path / "data"), "systems", "validate", str(source)]
        facts = json.loads(runner.invoke(cli_app, [*args, "--json"]).stdout)
        text = " ".join(runner.invoke(cli_app, args).stdout.split())  # Rich wraps lines at the terminal's width
        assert labels.outcome_label(facts["outcome"]) in text, (source.name, text)
        assert labels.impact_label(facts["impact_level"]) in text, (source.name, text)
        assert not any(old in text for old in OLD), (source.name, text)
        seen.add(facts["outcome"])
    assert {"prohibited", "high_risk", "transparency"} <= seen  # the examples cover the outcomes that matter


def _publish_two(db: Database) -> None:
    with db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", principal=OPERATOR)
    for name in ("acme-imagegen", "acme-imagegen-2"):
        d = variant(example(), **{"system.id": name, "system.name": name})
        with db.write() as session:
            service.publish(session, d, principal=OPERATOR)


def test_rescreen_many_screens_only_what_other_rules_screened(db: Database) -> None:
    _publish_two(db)
    report = service.rescreen_many(db, None, principal=OPERATOR)
    assert report.checked == 2 and report.changed == ()  # screened under today's rules already: nothing written
    with db.write() as session:
        session.execute(update(ScreeningRecord).values(rules_version="old"))
    report = service.rescreen_many(db, None, principal=OPERATOR)
    assert sorted(v.id for v in report.changed) == ["acme-imagegen", "acme-imagegen-2"]
    assert report.as_dict()["rescreened"][0]["outcome"] == report.changed[0].outcome
    assert service.rescreen_many(db, ["acme-imagegen"], principal=OPERATOR).changed == ()  # once


def test_rescreen_many_asks_for_the_oversight_body_before_reading(db: Database) -> None:
    _publish_two(db)
    provider: Any = Principal(provider_id="acme", is_admin=False, token_id=1)
    with pytest.raises(Forbidden):
        service.rescreen_many(db, None, principal=provider)
