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


def test_the_readme_provider_walkthrough_works_as_described(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README says where my-system.yaml comes from; following it, its provider commands run as written."""
    import numpy as np
    import yaml
    from PIL import Image
    from typer.testing import CliRunner

    text = README.read_text()
    block = text.split("A provider publishes a system and marks its images", 1)[1].split("```sh\n", 1)
    advice, commands = block[0], block[1].split("```", 1)[0]
    assert "assay/register/examples/" in advice and "provider.id: acme2" in advice and "system.id: my-system" in advice
    disclosure = yaml.safe_load((README.parent / "assay/register/examples/acme-imagegen.yaml").read_text())
    disclosure["provider"]["id"] = "acme2"
    disclosure["system"]["id"] = "my-system"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-system.yaml").write_text(yaml.safe_dump(disclosure))
    (tmp_path / "out").mkdir()
    pixels = np.random.default_rng(7).integers(0, 256, (384, 512, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "out" / "picture.png")
    monkeypatch.setenv("ASSAY_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    for line in commands.splitlines():
        line = line.split("  #", 1)[0].strip()
        if not line:
            continue
        args = [str(p) for w in shlex.split(line)[1:] for p in (sorted(tmp_path.glob(w)) if "*" in w else [w])]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (line, result.output, result.exception)
    assert (tmp_path / "out" / "picture.marked.png").exists()
