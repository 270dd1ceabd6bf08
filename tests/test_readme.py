"""The README's command examples name real commands and real options (checked against the CLI itself)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from assay.cli import app, command_tree

README = Path(__file__).parent.parent / "README.md"


def _examples() -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith(".venv/bin/assay "):
                lines.append(line.removeprefix(".venv/bin/"))
    return lines


def test_the_readme_has_command_examples() -> None:
    assert len(_examples()) >= 10


@pytest.mark.parametrize("line", _examples())
def test_readme_example_uses_existing_commands_and_options(line: str) -> None:
    words = shlex.split(line)[1:]
    command = command_tree()
    path = ["assay"]
    while words and hasattr(command, "commands") and words[0] in command.commands:
        command = command.commands[words[0]]
        path.append(words.pop(0))
    assert not hasattr(command, "commands"), f"{line!r}: {' '.join(path)} needs a subcommand"
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for word in words:
        if word.startswith("-"):
            assert word.split("=", 1)[0] in known, f"{line!r}: {' '.join(path)} has no option {word}"


def _block_after(text: str, marker: str, lang: str = "sh") -> str:
    """The first ```lang block after ``marker`` in the README."""
    return text.split(marker, 1)[1].split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def _merge(base: dict, changes: dict) -> dict:  # type: ignore[type-arg]
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def test_the_readme_provider_walkthrough_works_as_described(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Following the README: the operator registers the provider and makes its token; the provider changes the
    example as the README says and runs its commands as written. (Here against the local register: the remote
    mode sends the same requests to the server's API.) The README's old advice -- change only the two ids --
    published a system speaking as another provider; the register now refuses that."""
    import numpy as np
    import yaml
    from PIL import Image
    from typer.testing import CliRunner

    from assay.errors import InvalidInput

    text = README.read_text()
    operator = _block_after(text, "hands it a token, once:", "sh")
    changes = yaml.safe_load(_block_after(text, "### A provider:", "yaml"))
    provider = _block_after(text, "with the register's address and your token in the environment", "sh")
    example = yaml.safe_load((README.parent / "assay/register/examples/acme-imagegen.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSAY_DATA_DIR", str(tmp_path / "data"))
    for var in ("ASSAY_SERVER", "ASSAY_TOKEN", "ASSAY_PUBLIC_URL", "ASSAY_PORT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "out").mkdir()
    pixels = np.random.default_rng(7).integers(0, 256, (384, 512, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "out" / "picture.png")
    runner = CliRunner()

    def run(line: str):  # type: ignore[no-untyped-def]
        args = [str(p) for w in shlex.split(line)[1:] for p in (sorted(tmp_path.glob(w)) if "*" in w else [w])]
        return runner.invoke(app, args)

    def assay_lines(block: str, *, only: tuple[str, ...] = ()) -> list[str]:
        lines = [ln.split("  #", 1)[0].strip() for ln in block.splitlines()]
        return [ln for ln in lines if ln.startswith(".venv/bin/assay") and (not only or any(o in ln for o in only))]

    for line in assay_lines(operator, only=("providers add", "tokens create")):
        result = run(line)
        assert result.exit_code == 0, (line, result.output, result.exception)
    # The old advice: copy the example and change only the two ids. Refused, naming the fields to fix.
    (tmp_path / "my-system.yaml").write_text(
        yaml.safe_dump(
            _merge(
                yaml.safe_load(yaml.safe_dump(example)), {"provider": {"id": "acme2"}, "system": {"id": "my-system"}}
            )
        )
    )
    refused = run(".venv/bin/assay systems publish my-system.yaml")
    assert isinstance(refused.exception, InvalidInput)
    assert {p.path for p in refused.exception.problems} == {"provider.legal_name", "provider.jurisdiction"}
    # The README's advice.
    (tmp_path / "my-system.yaml").write_text(yaml.safe_dump(_merge(example, changes)))
    for line in assay_lines(provider):
        if " update " in line:  # "after you changed the file"
            changed = yaml.safe_load((tmp_path / "my-system.yaml").read_text())
            changed["system"]["version"] = "3.3"
            (tmp_path / "my-system.yaml").write_text(yaml.safe_dump(changed))
        result = run(line)
        assert result.exit_code == 0, (line, result.output, result.exception)
        assert "registered a system named" not in result.output  # a name of its own: no copy warning
    assert (tmp_path / "out" / "picture.marked.png").exists()
