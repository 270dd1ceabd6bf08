"""The register's CLI: systems, providers, tokens, schema and the demo loader, with --json everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from assay.cli import app

from .conftest import EXAMPLES, example, variant

N = len(list(EXAMPLES.glob("*.yaml")))


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    data = tmp_path / "data"

    def run(*args: str, ok: bool = True, input: str | None = None):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, ["--data-dir", str(data), *args], input=input, catch_exceptions=not ok)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run


def test_providers_tokens_publish_update_and_history(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("providers", "add", "acme", "--name", "Acme Imaging B.V.", "--jurisdiction", "NL")
    listed = json.loads(cli("providers", "list", "--json").stdout)
    assert listed["total"] == 1 and listed["items"][0]["id"] == "acme"

    created = cli("tokens", "create", "--provider", "acme", "--label", "CI")
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("ast_") and len(secret) == 47
    tokens = json.loads(cli("tokens", "list", "--json").stdout)
    assert tokens[0]["prefix"] == secret[:12] and secret not in json.dumps(tokens)

    source = EXAMPLES / "acme-imagegen.yaml"
    preview = json.loads(cli("systems", "validate", str(source), "--json").stdout)
    assert preview["outcome"] == "transparency" and preview["valid"]
    assert json.loads(cli("systems", "list", "--json").stdout)["total"] == 0  # validate wrote nothing

    published = json.loads(cli("systems", "publish", str(source), "--json").stdout)
    assert published["id"] == "acme-imagegen" and published["version_number"] == 1

    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(variant(example(), **{"system.version": "3.3"})))
    updated = json.loads(
        cli("systems", "update", "acme-imagegen", str(changed), "--reason", "point release", "--json").stdout
    )
    assert updated["version_number"] == 2 and updated["version"] == "3.3"
    history = json.loads(cli("systems", "history", "acme-imagegen", "--json").stdout)
    assert [(v["number"], v["reason"]) for v in history] == [(2, "point release"), (1, "first publication")]
    v1 = json.loads(cli("systems", "show", "acme-imagegen", "--version", "1", "--json").stdout)
    assert v1["version"] == "3.2" and v1["disclosure"]["system"]["version"] == "3.2"
    text = cli("systems", "show", "acme-imagegen").stdout
    assert "Acme ImageGen" in text and "eu-art50-2-synthetic-content" in text

    suspended = json.loads(cli("systems", "suspend", "acme-imagegen", "--reason", "Unmarked images.", "--json").stdout)
    assert suspended["suspended"] is True
    listed = json.loads(cli("systems", "list", "--capability", "synthetic_image", "--json").stdout)
    assert listed["items"][0]["suspended"] is True
    assert not json.loads(cli("systems", "reinstate", "acme-imagegen", "--reason", "Fixed.", "--json").stdout)[
        "suspended"
    ]
    revoked = json.loads(cli("tokens", "revoke", secret[:12], "--json").stdout)
    assert revoked["active"] is False


def test_review_from_the_cli(cli) -> None:  # type: ignore[no-untyped-def]
    source = EXAMPLES / "skyguard-controller-wellbeing.yaml"
    d = yaml.safe_load(source.read_text())
    cli("providers", "add", d["provider"]["id"], "--name", d["provider"]["legal_name"])
    view = json.loads(cli("systems", "publish", str(source), "--json").stdout)
    assert view["outcome"] == "prohibited" and view["needs_review"]
    rule = d["exception_claims"][0]["rule"]
    reviewed = json.loads(
        cli("systems", "review", view["id"], "--rule", rule, "--uphold", "--reason", "Shown.", "--json").stdout
    )
    assert reviewed["outcome"] != "prohibited" and reviewed["reviews"][0]["decision"] == "upheld"


def test_schema_prints_the_json_schema(cli) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads(cli("--public-url", "https://register.example", "schema").stdout)
    assert schema["$id"] == "https://register.example/schema/disclosure/v1.json"


def test_demo_load_is_idempotent(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import assay.demo as demo

    monkeypatch.setattr(demo, "_load_provenance_demo", lambda *a: None)  # the provenance part tests its own demo
    first = json.loads(cli("demo", "load", "--json").stdout)
    assert len(first["published"]) == N and not first["unchanged"]
    second = json.loads(cli("demo", "load", "--json").stdout)
    assert second["published"] == [] and second["updated"] == [] and len(second["unchanged"]) == N
    assert "already loaded" in cli("demo", "load").stdout
    history = json.loads(cli("systems", "history", "acme-imagegen", "--json").stdout)
    assert len(history) == 1


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSAY_DATA_DIR": str(cwd / "data")}
    return subprocess.run(
        [sys.executable, "-m", "assay", *args], capture_output=True, text=True, env=env, timeout=60, cwd=cwd
    )


def test_errors_are_a_message_a_hint_and_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('schema_version: "1"\nsystem: {name: X, status: live}\ncapabilities: [emotion_recogniton]\n')
    r = _run("systems", "validate", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "hint:" in r.stderr and "system.status" in r.stderr and "emotion_recognition" in r.stderr
    missing = _run("systems", "publish", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert missing.returncode == 2 and "there is no file" in missing.stderr


def test_an_unchanged_demo_is_skipped_without_opening_the_database(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A second `make run` must serve within seconds: `assay demo load` then reads a fingerprint, nothing more.
    import shutil

    import assay.demo as demo
    from assay.config import Config
    from assay.db import Database

    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples)
    config = Config(data_dir=tmp_path / "data", public_url="http://127.0.0.1:8765")
    config.data_dir.mkdir()
    db = Database(config.resolved_database_url)
    db.upgrade()
    assert demo.loaded_stamp(config, examples=examples) is None  # never loaded
    result = demo.load_demo(db, config, examples=examples, provenance=False)
    demo.write_stamp(config, result, examples=examples)
    db.dispose()
    stamp = demo.loaded_stamp(config, examples=examples)
    assert stamp is not None and len(stamp["systems"]) == N
    # Anything the load depends on changes: the stamp no longer holds, and the full (idempotent) load runs.
    assert demo.loaded_stamp(config.with_overrides(public_url="http://127.0.0.1:9000"), examples=examples) is None
    first = sorted(examples.glob("*.yaml"))[0]
    first.write_text(first.read_text() + "\n# edited\n")
    assert demo.loaded_stamp(config, examples=examples) is None
    first.write_text(first.read_text().removesuffix("\n# edited\n"))
    assert demo.loaded_stamp(config, examples=examples) is not None
    database = config.data_dir / "assay.db"
    shutil.copyfile(database, tmp_path / "copy.db")
    (tmp_path / "copy.db").replace(database)  # a new database file (deleted and made again): load again
    assert demo.loaded_stamp(config, examples=examples) is None
    # PostgreSQL (no file to fingerprint): always the full load.
    assert demo.fingerprint(config.with_overrides(database_url="postgresql+psycopg://x@h/db")) is None

    # And the CLI's fast path imports neither the database layer nor the register's service.
    demo.write_stamp(config, result)  # with the real examples, which the CLI reads
    code = (
        "import sys\nfrom assay.cli import main\n"
        f"sys.argv = ['assay', '--data-dir', {str(config.data_dir)!r}, 'demo', 'load', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'assay.db'))), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env["ASSAY_PUBLIC_URL"] = "http://127.0.0.1:8765"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "HEAVY []" in r.stderr, r.stderr[-2000:]
    assert len(json.loads(r.stdout)["unchanged"]) == N
