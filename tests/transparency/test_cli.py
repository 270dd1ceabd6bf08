"""The log from the command line: register events written by CLI commands are integrated before they exit."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from assay.cli import app

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
