"""One public URL per register: recorded in the data folder on first run, used by every later process.

The bug this guards against: `assay mark` run in another terminal without ASSAY_PORT signed
http://127.0.0.1:8000/marks/... into Content Credentials while the server ran on another port.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assay.cli import app
from assay.config import Config, read_public_url, record_public_url, settle_public_url
from assay.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent / "assay" / "register" / "examples" / "acme-imagegen.yaml"


def _run(data: Path, *args: str, env: dict[str, str] | None = None, code: int = 0):  # type: ignore[no-untyped-def]
    base = {"ASSAY_PUBLIC_URL": "", "ASSAY_PORT": None, "ASSAY_HOST": None, "ASSAY_REPLACE_PUBLIC_URL": None}
    result = CliRunner().invoke(app, ["--data-dir", str(data), *args], env={**base, **(env or {})})
    if code == 2:  # an AssayError: `assay` (main) prints its message and hint and exits 2
        assert isinstance(result.exception, ConfigError), (args, result.output, result.exception)
        return f"{result.exception.message}\nhint: {result.exception.hint}"
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def test_the_first_run_records_the_url_and_a_terminal_without_assay_port_uses_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The first run (as `ASSAY_PORT=8765 make run` does) records http://127.0.0.1:8765.
    _run(
        data,
        "providers",
        "add",
        "acme",
        "--name",
        "Acme Imaging B.V.",
        "--jurisdiction",
        "NL",
        env={"ASSAY_PORT": "8765"},
    )
    recorded = read_public_url(data)
    assert recorded is not None and recorded.url == "http://127.0.0.1:8765" and recorded.derived
    # Another terminal, no ASSAY_PORT: the links it prints and signs use the recorded address, not :8000.
    published = _run(data, "systems", "publish", str(EXAMPLE))
    assert "http://127.0.0.1:8765/systems/acme-imagegen" in published.output
    assert "8000" not in published.output
    schema = json.loads(_run(data, "schema").stdout)
    assert schema["$id"] == "http://127.0.0.1:8765/schema/disclosure/v1.json"


def test_marks_carry_the_recorded_url(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    _run(
        data,
        "providers",
        "add",
        "acme",
        "--name",
        "Acme Imaging B.V.",
        "--jurisdiction",
        "NL",
        env={"ASSAY_PORT": "8765"},
    )
    _run(data, "systems", "publish", str(EXAMPLE))
    picture = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (256, 320, 3), dtype=np.uint8)).save(picture)
    _run(data, "mark", str(picture), "--system", "acme-imagegen")
    marked = (tmp_path / "picture.marked.png").read_bytes()
    # The manifest is signed into the file: the register's address is in it as text, the wrong one is not.
    assert b"http://127.0.0.1:8765" in marked and b"127.0.0.1:8000" not in marked
    checked = json.loads(_run(data, "check", str(tmp_path / "picture.marked.png"), "--json", code=1).stdout)
    assert "http://127.0.0.1:8765/" in json.dumps(checked) and "127.0.0.1:8000" not in json.dumps(checked)


def test_a_different_explicit_url_is_refused_unless_told_to_replace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _run(data, "providers", "add", "acme", "--name", "Acme", env={"ASSAY_PUBLIC_URL": "https://register.example"})
    refused = _run(data, "systems", "list", env={"ASSAY_PUBLIC_URL": "https://elsewhere.example"}, code=2)
    assert "https://register.example" in refused and "--replace-public-url" in refused
    # The same URL, or none at all, is fine.
    _run(data, "systems", "list", env={"ASSAY_PUBLIC_URL": "https://register.example/"})
    _run(data, "systems", "list", env={"ASSAY_PORT": "9999"})
    # Told explicitly, the register moves; from then on the new address is the one.
    _run(
        data, "systems", "list", env={"ASSAY_PUBLIC_URL": "https://elsewhere.example", "ASSAY_REPLACE_PUBLIC_URL": "1"}
    )
    recorded = read_public_url(data)
    assert recorded is not None and recorded.url == "https://elsewhere.example" and not recorded.derived


def test_settling_rules(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, port=8765)
    assert settle_public_url(config).base_url == "http://127.0.0.1:8765"  # nothing recorded yet
    assert read_public_url(tmp_path) is None  # settling writes nothing
    assert record_public_url(settle_public_url(config), derived=True)
    assert not record_public_url(settle_public_url(config), derived=True)  # once only
    # A server on another port than the recorded http://host:port is refused: its links would be dead.
    with pytest.raises(ConfigError) as err:
        settle_public_url(Config(data_dir=tmp_path, port=8000), serving=True)
    assert "8765" in err.value.message and "--replace-public-url" in (err.value.hint or "")
    # Other commands ignore --port and use the record.
    assert settle_public_url(Config(data_dir=tmp_path, port=8000)).base_url == "http://127.0.0.1:8765"
    # A proxy: serve on 8000, reached at the recorded URL, said explicitly.
    proxied = Config(data_dir=tmp_path, port=8000, public_url="http://127.0.0.1:8765")
    assert settle_public_url(proxied, serving=True).base_url == "http://127.0.0.1:8765"
    (tmp_path / "public-url.json").write_text("{not json")
    with pytest.raises(ConfigError, match="public-url.json"):
        settle_public_url(config)
    with pytest.raises(ConfigError, match="http"):
        Config.from_env({}, public_url="register.example")


def test_serve_on_another_port_than_the_recorded_one_refuses_with_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    record_public_url(Config(data_dir=data, port=8765), derived=True)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ASSAY_")}
    r = subprocess.run(
        [sys.executable, "-m", "assay", "--data-dir", str(data), "serve", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "http://127.0.0.1:8765" in r.stderr and "--replace-public-url" in r.stderr
    assert "Traceback" not in r.stderr and "serving on" not in r.stderr
