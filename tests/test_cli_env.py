"""Every CLI option can also be set from an ASSAY_* environment variable, and every command has --help."""

from __future__ import annotations

import click
from typer.main import get_command

from assay.cli import app

# Options of the shell itself, not of Assay.
NOT_SETTINGS = {"help", "install_completion", "show_completion"}


def _commands(command: click.Command, path: str = "assay"):  # type: ignore[no-untyped-def]
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_option_has_an_assay_environment_variable() -> None:
    missing = []
    checked = 0
    for path, command in _commands(get_command(app)):
        for param in command.params:
            checked += param.param_type_name == "option"
            # By its kind, not its class: Typer's options are not click.Option instances in every version.
            if param.param_type_name == "option" and param.name not in NOT_SETTINGS:
                if not (param.envvar and str(param.envvar).startswith("ASSAY_")):
                    missing.append(f"{path} {param.opts[0]}")
    assert missing == [], f"options without an ASSAY_* variable: {missing}"
    assert checked > 100  # the walk saw the options (a test that finds none passes vacuously)


def test_every_command_has_help_text() -> None:
    undocumented = [path for path, command in _commands(get_command(app)) if not (command.help or "").strip()]
    assert undocumented == []


# Commands whose output is not a result to parse: the web server, and the schema (JSON Schema already).
NO_JSON_NEEDED = {"assay serve", "assay schema"}


def test_every_command_that_prints_results_has_json_output() -> None:
    leaves = [(path, c) for path, c in _commands(get_command(app)) if not getattr(c, "commands", None)]
    missing = [
        path
        for path, c in leaves
        if path not in NO_JSON_NEEDED and not any("--json" in getattr(p, "opts", ()) for p in c.params)
    ]
    assert missing == [], f"commands without --json: {missing}"
