"""Complaints work right after ``make run``, with a demo key that says it is one; without a key, no page offers
a complaint form that cannot send (issue 11 item 4)."""

from __future__ import annotations

import json
from pathlib import Path

from assay.cli.demo import _describe
from assay.complaints import crypto, keyfile, service
from assay.complaints.demo import DEMO_PASSPHRASE, load_demo
from assay.demo import load_demo as load_register_demo


def test_without_a_key_no_page_offers_the_complaint_form(client, system_id) -> None:  # type: ignore[no-untyped-def]
    page = client.get(f"/systems/{system_id}").text
    assert f"/systems/{system_id}/complaints/new" not in page and 'id="complaints-closed"' in page
    stats = client.get(f"/systems/{system_id}/complaints").text
    assert f"/systems/{system_id}/complaints/new" not in stats
    # Someone who has the link still learns why, and the fix is the oversight body's.
    assert "Complaints cannot be received yet" in client.get(f"/systems/{system_id}/complaints/new").text
    assert client.get("/api/v1/complaints/channel").json()["error"]["code"] == "complaints_not_ready"


def test_the_demo_key_is_published_marked_and_said_everywhere(client, app, system_id, config, run) -> None:  # type: ignore[no-untyped-def]
    db = app.state.db
    first = load_demo(db, config)
    assert first["changed"] and first["passphrase"] == DEMO_PASSPHRASE
    key_file = Path(first["key_file"])
    assert key_file == config.data_dir / "demo" / "oversight-body-DEMO.key.json"
    # The printed passphrase opens the key file: the demo operator can read the demo complaints.
    private, public = keyfile.load_key_file(key_file, DEMO_PASSPHRASE)
    assert crypto.key_id(public) == first["key_id"]
    assert DEMO_PASSPHRASE in first["message"] and "assay complaints pull --key" in first["message"]
    again = load_demo(db, config)
    assert again == first | {"changed": False, "message": again["message"]}
    assert "in place" in again["message"]

    # The pages: the button leads to a form that says DEMO before anything else.
    system_page = client.get(f"/systems/{system_id}").text
    assert f"/systems/{system_id}/complaints/new" in system_page and "Demo register:" in system_page
    form = client.get(f"/systems/{system_id}/complaints/new").text
    assert 'id="demo-key"' in form and "do not file a real complaint here" in form
    assert form.index('id="demo-key"') < form.index('id="complaint-form"')
    # The key's log entry says it too.
    entry = client.get(f"/log/entries/{first['log_index']}", headers={"accept": "application/json"}).json()
    assert entry["body"]["demo"] is True and "passphrase is public" in entry["body"]["note"]
    assert client.get("/api/v1/complaints/keys").json()["keys"][0]["demo"] is True
    # The CLI: the key list and a pull say so.
    data = config.data_dir
    keys = run(data, "complaints", "keys")
    assert "DEMO" in keys.stdout and "passphrase is public" in " ".join(keys.stderr.split())
    inbox = data / "in"
    pulled = json.loads(run(data, "complaints", "pull", "--key", str(key_file), "--inbox", str(inbox), "--json").stdout)
    assert any("DEMO key" in w for w in pulled["warnings"])

    # The oversight body's own key replaces the demo key without --rotate; the demo loader then leaves it alone.
    own = data.parent / "offline" / "body.key.json"
    run(data, "complaints", "keygen", "--out", str(own), "--kdf-memlimit", str(8 * 1024 * 1024))
    out = run(data, "complaints", "publish-key", "--key", str(own))
    assert f"Replaced the DEMO key {first['key_id']}" in " ".join(out.stdout.split())
    with db.read() as s:
        current = service.current_key(s)
    assert current is not None and not current.demo and current.public_key == keyfile.read_key_file_public(own)
    assert "skipped" in load_demo(db, config)
    assert 'id="demo-key"' not in client.get(f"/systems/{system_id}/complaints/new").text


def test_assay_demo_load_publishes_the_demo_key_and_prints_its_passphrase(app, config) -> None:  # type: ignore[no-untyped-def]
    result = load_register_demo(app.state.db, config, provenance=False)
    outcome = result.extra["complaints"]
    assert outcome["demo_key"] and DEMO_PASSPHRASE in _describe(outcome)
    again = load_register_demo(app.state.db, config, provenance=False)
    assert again.extra["complaints"]["key_id"] == outcome["key_id"] and not again.extra["complaints"]["changed"]
