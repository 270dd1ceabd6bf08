"""The log from the command line: register events written by CLI commands are integrated before they exit."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from assay.cli import app
from assay.errors import NotFound

EXAMPLE = Path(__file__).resolve().parents[2] / "assay" / "register" / "examples" / "acme-imagegen.yaml"


def test_register_commands_leave_their_entries_integrated_and_provable(tmp_path: Path) -> None:
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), *args])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    cli("providers", "add", "acme", "--name", "Acme Imaging B.V.", "--jurisdiction", "NL")
    cli("systems", "publish", str(EXAMPLE))
    cli("log", "integrate")  # the log exists and has a checkpoint before the event below
    suspended = json.loads(cli("systems", "suspend", "acme-imagegen", "--reason", "under review", "--json"))
    index = suspended["suspension"]["log_index"]
    # No server ran and nobody called 'assay log integrate': the commands integrated their own entries.
    shown = json.loads(cli("log", "show", "--json"))
    assert shown["tree_size"] == index + 1
    proof = tmp_path / "suspension.tlog-proof"
    entry = tmp_path / "suspension.json"
    proof.write_text(cli("log", "proof", str(index), "--entry-out", str(entry)))
    assert json.loads(entry.read_text())["kind"] == "system.suspended"
    checked = json.loads(cli("log", "check-proof", str(proof), "--entry", str(entry), "--key", shown["vkey"], "--json"))
    assert checked["ok"] and checked["tree_size"] == index + 1
    # An index past the end is named as missing, not as "not integrated" with a hint to integrate.
    missing = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), "log", "proof", str(index + 100)])
    assert isinstance(missing.exception, NotFound)
    assert missing.exception.message == f"there is no entry {index + 100} in the log"
    assert "assay log integrate" not in missing.exception.hint


def test_assay_check_refuses_a_verdict_that_contradicts_the_marks_log_entry(tmp_path: Path) -> None:
    # What 'assay check' does with a verdict (local or from a remote register): the tlog-proof must verify
    # against the log's key, and the verdict's mark, system and file hash must be the logged ones.
    import base64

    from assay.cli.check import _verify_log_proof
    from assay.config import Config
    from assay.db import Database
    from assay.transparency import entry_at, integrate, proof_for, record, verifier_key

    config = Config(data_dir=tmp_path / "data", public_url="https://register.example")
    db = Database(f"sqlite:///{tmp_path / 'assay.db'}")
    db.upgrade()
    with db.write() as s:
        index = record(s, "mark.recorded", {"mark": "00001", "system": "acme-imagegen", "sha256": "ab" * 32})
    integrate(db, config)
    log = {
        "index": index,
        "entry": base64.b64encode(entry_at(db, index) or b"").decode(),
        "proof": proof_for(db, index),
    }
    vkey = verifier_key(db)

    def verdict(**changes: object) -> dict:
        v = {"mark_id": "00001", "system": {"id": "acme-imagegen"}, "record": {"sha256": "ab" * 32}, "log": dict(log)}
        v.update(changes)
        _verify_log_proof(v, vkey)
        return v

    assert verdict()["log"]["verified"] is True
    lied = verdict(system={"id": "other-system"})
    assert lied["log"]["verified"] is False and "its log entry says 'acme-imagegen'" in lied["log"]["verification"]
    assert verdict(record={"sha256": "cd" * 32})["log"]["verified"] is False
    assert verdict(mark_id="00002")["log"]["verified"] is False
    # A resolved mark with no log entry at all fails closed; a verdict without a mark has nothing to verify.
    unlogged = verdict(status="marked", log=None)
    assert unlogged["log"]["verified"] is False and "no transparency-log entry" in unlogged["log"]["verification"]
    assert _verify_log_proof({"status": "no_mark"}, vkey) is True
    db.dispose()
