"""The foundation: configuration, the error shape, limits and headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.config import SETTINGS, Config
from assay.errors import ConfigError


def test_every_setting_has_an_env_var_and_is_documented() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for s in SETTINGS:
        assert s.env.startswith("ASSAY_")
        assert s.env in docs, f"{s.env} is not documented in docs/configuration.md"
        assert s.help


def test_config_reads_environment_and_flags_win() -> None:
    c = Config.from_env({"ASSAY_PORT": "9000", "ASSAY_DATA_DIR": "/tmp/x"}, port=9100)
    assert c.port == 9100
    assert str(c.data_dir) == "/tmp/x"
    assert c.resolved_database_url == "sqlite:////tmp/x/assay.db"


def test_config_rejects_bad_numbers_with_a_hint() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env({"ASSAY_PORT": "eighty"})
    assert "ASSAY_PORT" in info.value.message and info.value.hint


def test_request_over_the_body_limit_is_refused_with_the_error_shape(client) -> None:  # type: ignore[no-untyped-def]
    big = b"x" * (client.app.state.config.max_body_bytes + 1)
    r = client.post("/api/v1/health", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


def test_security_headers_on_every_page(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/")
    assert r.status_code == 200
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"


def _make_dry_run(tmp_path: Path, target: str) -> bool:
    """Whether `make -n TARGET` runs scripts/pg.sh (here a stand-in that leaves a mark)."""
    import shutil
    import subprocess

    root = Path(__file__).parent.parent
    shutil.copy(root / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "scripts").mkdir()
    fake = tmp_path / "scripts" / "pg.sh"
    fake.write_text(
        f"#!/bin/sh\ntouch {tmp_path / 'pg-ran'}\necho postgresql+psycopg://postgres@127.0.0.1:1/postgres\n"
    )
    fake.chmod(0o755)
    subprocess.run(["make", "-n", target], cwd=tmp_path, check=True, capture_output=True)
    return (tmp_path / "pg-ran").exists()


@pytest.mark.parametrize(("target", "runs_pg"), [("run", False), ("demo", False), ("test", True)])
def test_only_make_test_touches_postgresql(tmp_path: Path, target: str, runs_pg: bool) -> None:
    # scripts/pg.sh installs PostgreSQL with apt-get where it is missing: `make run` must never call it.
    assert _make_dry_run(tmp_path, target) is runs_pg


def test_pg_script_prints_its_url_without_postgresql() -> None:
    import os
    import subprocess

    script = Path(__file__).parent.parent / "scripts" / "pg.sh"
    env = {**os.environ, "ASSAY_TEST_PG_PORT": "54999", "PATH": "/nonexistent"}
    out = subprocess.run(["/bin/bash", str(script), "url"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "postgresql+psycopg://postgres@127.0.0.1:54999/postgres"


def test_a_form_over_the_limit_gets_a_page_not_json(client) -> None:  # type: ignore[no-untyped-def]
    big = b"x" * (client.app.state.config.max_body_bytes + 1)
    r = client.post(
        "/rules", content=big, headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/html"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html")
    assert "larger than the limit" in r.text and "Nothing was stored" in r.text


def test_a_streamed_body_without_length_is_cut_at_the_limit(client) -> None:  # type: ignore[no-untyped-def]
    limit = client.app.state.config.max_body_bytes

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536

    r = client.post("/api/v1/validate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
