"""Identities that cannot be borrowed (issue 11, item 2).

The attack, with only what Assay publishes: copy the original's disclosure (acme-imagegen.yaml), change the two
ids, and publish it under your own provider. Before, the copy named "Acme Imaging B.V.", NL, listed the real
acme as its deployer and outranked the original in search.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from assay.db import Database
from assay.errors import Forbidden, InvalidInput
from assay.register import service
from assay.register.access import authenticate, create_token
from assay.register.search import SystemQuery
from assay.register.service import get_system, search

from .conftest import OPERATOR, example, variant


@pytest.fixture
def two(db: Database) -> dict[str, Any]:
    """The original (acme, its system published) and a newcomer (acme2), each with a token."""
    with db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", jurisdiction="NL", principal=OPERATOR)
        service.add_provider(session, id="acme2", name="Acme Two Ltd", jurisdiction="IE", principal=OPERATOR)
        tokens = {p: create_token(session, provider_id=p, actor=OPERATOR).secret for p in ("acme", "acme2")}
    with db.write() as session:
        service.publish(session, example(), principal=authenticate(session, tokens["acme"]))
    return tokens


def _as(db: Database, token: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    with db.write() as session:
        return fn(session, *args, principal=authenticate(session, token), **kwargs)


def _copy(**changes: Any) -> dict[str, Any]:
    return variant(example(), **{"provider.id": "acme2", "system.id": "my-system", **changes})


def test_a_copied_disclosure_cannot_speak_as_the_original_provider(db: Database, two) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as err:
        _as(db, two["acme2"], service.publish, _copy())
    problems = {p.path: p for p in err.value.problems}
    assert set(problems) == {"provider.legal_name", "provider.jurisdiction"}
    assert "'Acme Two Ltd'" in problems["provider.legal_name"].fix and "'IE'" in problems["provider.jurisdiction"].fix
    # Naming the real acme as deployer under another name is refused too; its registered name is accepted.
    own = {"provider.legal_name": "Acme Two Ltd", "provider.jurisdiction": "IE"}
    wrong_deployer = _copy(**own)
    wrong_deployer["deployers"][0]["legal_name"] = "Acme Imaging"
    with pytest.raises(InvalidInput) as err:
        _as(db, two["acme2"], service.publish, wrong_deployer)
    assert [p.path for p in err.value.problems] == ["deployers[0].legal_name"]
    # Case and spacing are how people read names, not a difference.
    view = _as(db, two["acme2"], service.publish, _copy(**{**own, "provider.legal_name": "ACME  two ltd"}))
    assert view.provider_id == "acme2"
    with db.read() as session:
        assert get_system(session, "acme-imagegen") is not None  # nothing of the original changed


def test_a_named_deployer_shows_as_unconfirmed_until_its_own_token_confirms(db: Database, two) -> None:  # type: ignore[no-untyped-def]
    own = {"provider.legal_name": "Acme Two Ltd", "provider.jurisdiction": "IE", "system.name": "Two's Images"}
    view = _as(db, two["acme2"], service.publish, _copy(**own))
    [acme] = view.deployers
    assert acme["id"] == "acme" and acme["status"] == "pending" and not acme["confirmed"]
    assert acme["status_label"] == "named by the provider, not confirmed"
    # Neither the provider that named it nor the oversight body can answer for the deployer.
    with pytest.raises(InvalidInput, match="is the provider"):
        _as(db, two["acme2"], service.confirm_deployer, "my-system")
    with db.write() as session, pytest.raises(Forbidden):
        service.confirm_deployer(session, "my-system", principal=OPERATOR)
    # Acme's own token can: confirm, and the log records it.
    confirmed = _as(db, two["acme"], service.confirm_deployer, "my-system")
    [acme] = confirmed.deployers
    assert acme["status"] == "confirmed" and acme["confirmed"] and acme["log_index"] is not None
    # The provider changes what it says about acme: acme's confirmation no longer holds.
    changed = _copy(**own)
    changed["deployers"][0]["use"] = "Resells the generator to newsrooms."
    updated = _as(db, two["acme2"], service.update, "my-system", changed, expected_version=1)
    assert updated.deployers[0]["status"] == "pending"
    denied = _as(db, two["acme"], service.confirm_deployer, "my-system", decision="denied")
    assert denied.deployers[0]["status"] == "denied" and not denied.deployers[0]["confirmed"]
    # The acme example lists acme itself: the provider needs no confirmation.
    with db.read() as session:
        original = get_system(session, "acme-imagegen")
    assert original is not None and [d["status"] for d in original.deployers] == ["provider"]


def test_a_copy_of_another_providers_system_name_is_flagged_and_never_outranks_it(db: Database, two) -> None:  # type: ignore[no-untyped-def]
    own = {"provider.legal_name": "Acme Two Ltd", "provider.jurisdiction": "IE", "deployers": []}
    # The impersonator stuffs its summary with the searched words to outrank the original.
    stuffed = _copy(**own, **{"system.summary": "Acme ImageGen " * 20})
    copy = _as(db, two["acme2"], service.publish, stuffed)
    assert copy.name == "Acme ImageGen" and copy.name_copy
    assert [(o["id"], o["first"]) for o in copy.same_name] == [("acme-imagegen", True)]
    with db.read() as session:
        original = get_system(session, "acme-imagegen")
        assert original is not None and not original.name_copy
        assert [o["id"] for o in original.same_name] == ["my-system"]
        for q in ("Acme ImageGen", "acme", "imagegen", "images"):
            ids = [s.id for s in search(session, SystemQuery(q=q)).items]
            assert ids.index("acme-imagegen") < ids.index("my-system"), (q, ids)
    # Renamed to a name of its own, it is no copy any more.
    renamed = _as(
        db, two["acme2"], service.update, "my-system", variant(stuffed, **{"system.name": "Two"}), expected_version=1
    )
    assert not renamed.name_copy and renamed.same_name == []


def test_the_api_and_the_export_say_who_confirmed(client) -> None:  # type: ignore[no-untyped-def]
    db = client.app.state.db
    with db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", jurisdiction="NL", principal=OPERATOR)
        service.add_provider(session, id="acme2", name="Acme Two Ltd", jurisdiction="IE", principal=OPERATOR)
        tokens = {p: create_token(session, provider_id=p, actor=OPERATOR).secret for p in ("acme", "acme2")}
        tokens["admin"] = create_token(session, admin=True, actor=OPERATOR).secret
    with db.write() as session:
        service.publish(session, example(), principal=OPERATOR)
    copy = _copy(**{"provider.legal_name": "Acme Two Ltd", "provider.jurisdiction": "IE"})
    r = client.post("/api/v1/systems", json=copy, headers={"authorization": f"Bearer {tokens['acme2']}"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name_copy"] and body["deployers"][0]["status"] == "pending"
    assert body["same_name"][0]["id"] == "acme-imagegen"
    url = "/api/v1/systems/my-system/deployer-confirmation"
    for who, status in (("admin", 403), ("acme2", 422)):
        r = client.post(url, json={"decision": "confirmed"}, headers={"authorization": f"Bearer {tokens[who]}"})
        assert r.status_code == status and "error" in r.json(), (who, r.text)
    export = client.get("/api/v1/export/systems.json").json()
    [record] = [s for s in export["systems"] if s["id"] == "my-system"]
    assert record["deployers"][0]["status_label"] == "named by the provider, not confirmed" and record["name_copy"]
    r = client.post(url, json={"decision": "confirmed"}, headers={"authorization": f"Bearer {tokens['acme']}"})
    assert r.status_code == 200 and r.json()["deployers"][0]["status"] == "confirmed"
    entry = client.get(f"/log/entries/{r.json()['deployers'][0]['log_index']}").text
    assert "system.deployer.confirmed" in entry and "acme" in entry
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(client.get("/api/v1/export/systems.csv").text))}
    assert rows["my-system"]["deployers"] == "Acme Imaging B.V. (confirmed by the deployer)"
    assert rows["my-system"]["name_copy"] == "true" and rows["acme-imagegen"]["name_copy"] == "false"


@pytest.mark.browser
def test_the_page_warns_about_a_copy_and_an_unconfirmed_deployer(browser, app, live_server) -> None:  # type: ignore[no-untyped-def]
    db = app.state.db
    with db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", jurisdiction="NL", principal=OPERATOR)
        service.add_provider(session, id="acme2", name="Acme Two Ltd", jurisdiction="IE", principal=OPERATOR)
        service.publish(session, example(), principal=OPERATOR)
    with db.write() as session:
        service.publish(
            session, _copy(**{"provider.legal_name": "Acme Two Ltd", "provider.jurisdiction": "IE"}), principal=OPERATOR
        )
    page = browser.new_page()
    page.goto(f"{live_server}/systems/my-system")
    notice = page.locator("#name-copy-notice")
    assert notice.is_visible() and "Acme Imaging B.V." in notice.inner_text()
    deployer = page.locator("#deployers li")
    assert deployer.count() == 1 and "named by the provider, not confirmed" in deployer.inner_text()
    page.goto(f"{live_server}/systems?q=acme+imagegen")
    cards = page.locator(".system-card")
    assert cards.count() == 2
    assert "/systems/acme-imagegen" in (cards.nth(0).locator("h2 a").get_attribute("href") or "")
    assert "registered first by another provider" in cards.nth(1).inner_text()
    page.close()


def test_the_cli_confirms_with_the_deployers_own_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    import yaml
    from typer.testing import CliRunner

    from assay.cli import app
    from assay.errors import AssayError

    runner = CliRunner()
    base = ["--data-dir", str(tmp_path / "data"), "--public-url", "http://testserver"]

    def run(*args: str) -> Any:
        result = runner.invoke(app, [*base, *args], env={"ASSAY_TOKEN": None, "ASSAY_SERVER": None})
        if isinstance(result.exception, AssayError):
            return result.exception
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    run("providers", "add", "acme", "--name", "Acme Imaging B.V.", "--jurisdiction", "NL")
    run("providers", "add", "acme2", "--name", "Acme Two Ltd", "--jurisdiction", "IE")
    token = {p: run("tokens", "create", "--provider", p).stdout.strip().splitlines()[-1] for p in ("acme", "acme2")}
    mine = tmp_path / "my-system.yaml"
    mine.write_text(yaml.safe_dump(_copy(**{"provider.legal_name": "Acme Two Ltd", "provider.jurisdiction": "IE"})))
    published = run("systems", "publish", str(mine))
    assert "named by the provider, not confirmed" in published.output
    assert "registered a system named 'Acme ImageGen' first" not in published.output  # no original here yet
    refused = run("systems", "confirm-deployer", "my-system", "--token", token["acme2"])
    assert isinstance(refused, InvalidInput) and "is the provider" in refused.message
    assert isinstance(run("systems", "confirm-deployer", "my-system"), InvalidInput)  # no token at all
    out = json.loads(run("systems", "confirm-deployer", "my-system", "--token", token["acme"], "--json").stdout)
    assert out["deployers"][0]["status"] == "confirmed"
    shown = json.loads(run("systems", "show", "my-system", "--json").stdout)
    assert shown["deployers"][0]["status"] == "confirmed"


def test_the_new_columns_migrate_a_register_that_has_data(db: Database, two) -> None:  # type: ignore[no-untyped-def]
    # register_0007/0008 add columns to "systems", which other tables point at: a batch copy of the table (drop and
    # re-create) fails on SQLite once it holds rows. Down to register_0006 and up again, with data.
    from alembic import command

    from assay.db.migrate import alembic_config

    _as(
        db,
        two["acme2"],
        service.publish,
        _copy(**{"provider.legal_name": "Acme Two Ltd", "provider.jurisdiction": "IE"}),
    )
    cfg = alembic_config(db)
    for target, action in (("register_0006", command.downgrade), ("heads", command.upgrade)):
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            action(cfg, target)
    with db.read() as session:
        copy = get_system(session, "my-system")
        assert copy is not None and copy.name_copy  # backfilled: acme's system of that name came first
        assert copy.outcome_basis == "law" and copy.deployers[0]["status"] == "pending"
