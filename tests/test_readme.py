"""The README's command examples name real commands and real options (checked against the CLI itself)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.main import get_command

from assay.cli import app

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
    command = get_command(app)
    path = ["assay"]
    while words and hasattr(command, "commands") and words[0] in command.commands:
        command = command.commands[words[0]]
        path.append(words.pop(0))
    assert not hasattr(command, "commands"), f"{line!r}: {' '.join(path)} needs a subcommand"
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for word in words:
        if word.startswith("-"):
            assert word.split("=", 1)[0] in known, f"{line!r}: {' '.join(path)} has no option {word}"
