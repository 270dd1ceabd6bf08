"""Every CLI option can also be set from an ASSAY_* environment variable, and every command has --help."""

from __future__ import annotations

import click

from assay.cli import command_tree

# Options of the shell itself, not of Assay.
NOT_SETTINGS = {"help", "install_completion", "show_completion"}


def _commands(command: click.Command, path: str = "assay"):  # type: ignore[no-untyped-def]
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_option_has_an_assay_environment_variable() -> None:
    missing = []
    checked = 0
    for path, command in _commands(command_tree()):
        for param in command.params:
            checked += param.param_type_name == "option"
            # By its kind, not its class: Typer's options are not click.Option instances in every version.
            if param.param_type_name == "option" and param.name not in NOT_SETTINGS:
                if not (param.envvar and str(param.envvar).startswith("ASSAY_")):
                    missing.append(f"{path} {param.opts[0]}")
    assert missing == [], f"options without an ASSAY_* variable: {missing}"
    assert checked > 100  # the walk saw the options (a test that finds none passes vacuously)


def test_every_command_has_help_text() -> None:
    undocumented = [path for path, command in _commands(command_tree()) if not (command.help or "").strip()]
    assert undocumented == []


# Commands whose output is not a result to parse: the web server, and the schema (JSON Schema already).
NO_JSON_NEEDED = {"assay serve", "assay schema"}


def test_every_command_that_prints_results_has_json_output() -> None:
    leaves = [(path, c) for path, c in _commands(command_tree()) if not getattr(c, "commands", None)]
    missing = [
        path
        for path, c in leaves
        if path not in NO_JSON_NEEDED and not any("--json" in getattr(p, "opts", ()) for p in c.params)
    ]
    assert missing == [], f"commands without --json: {missing}"


def test_the_help_of_every_lazily_loaded_command_is_its_own() -> None:
    # `assay --help` lists the parts' commands without importing them (assay.cli.LAZY_COMMANDS); their
    # one-line helps must stay what the commands themselves say.
    from assay.cli import LAZY_COMMANDS

    tree = command_tree()
    for name, (_, short_help) in LAZY_COMMANDS.items():
        first = " ".join((tree.commands[name].help or "").split("\n\n", 1)[0].split())
        assert first == short_help, f"assay {name}: LAZY_COMMANDS says {short_help!r}, the command {first!r}"
    assert set(tree.commands) == {"serve", "db", *LAZY_COMMANDS}


def test_assay_help_imports_no_part_of_assay() -> None:
    # The no-op paths stay fast: listing the commands imports neither the database layer nor any part.
    import subprocess
    import sys

    code = (
        "import sys\nfrom assay.cli import main\nsys.argv = ['assay', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'numpy', 'assay.register', "
        "'assay.provenance', 'assay.complaints', 'assay.transparency', 'assay.db')))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in r.stderr, r.stderr[-2000:]
    assert "systems" in r.stdout and "complaints" in r.stdout
