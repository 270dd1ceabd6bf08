"""The CLI shell: errors become a message and a hint on stderr with exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "assay", *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_help_lists_commands() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert "serve" in r.stdout and "db" in r.stdout


def test_bad_setting_is_reported_with_hint_and_exit_code_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run("--data-dir", str(tmp_path), "db", "upgrade", env={"ASSAY_PORT": "eighty"})
    assert r.returncode == 2
    assert "ASSAY_PORT" in r.stderr and "hint:" in r.stderr
    assert "Traceback" not in r.stderr


def test_unreachable_database_is_a_storage_error_not_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run("--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none", "db", "upgrade")
    assert r.returncode == 2, r.stderr
    assert "hint:" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_that_cannot_start_says_why_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from assay.config import Config
    from assay.transparency.keys import load_or_create_signer

    # A log whose key was made for another public address: the server must refuse to start, with the hint.
    load_or_create_signer(Config(data_dir=tmp_path, public_url="https://register.example"))
    r = run(
        "--data-dir",
        str(tmp_path),
        "serve",
        "--port",
        "1",  # never bound: the check comes first
        env={"ASSAY_PUBLIC_URL": "https://other.example"},
    )
    assert r.returncode == 2, r.stderr
    assert "register.example/log" in r.stderr and "hint:" in r.stderr
    assert "Traceback" not in r.stderr and "serving on" not in r.stderr


def test_usage_errors_name_the_problem_with_exit_code_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Typer vendors its own click, so its usage errors are not click.ClickException instances.
    for args, words in (
        (("systems", "list", "--per-page", "0"), "--per-page"),
        (("systems", "list", "--per-page", "many"), "--per-page"),
        (("systems", "publish"), "Missing argument"),
        (("systems", "list", "--bogus"), "--bogus"),
        (("nosuchcommand",), "No such command"),
    ):
        r = run("--data-dir", str(tmp_path), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "internal error" not in r.stderr, (args, r.stderr)


def test_serve_on_a_port_in_use_says_so_and_how_to_choose_another(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run("--data-dir", str(tmp_path), "serve", "--port", str(port))
    assert r.returncode == 2, r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and f"ASSAY_PORT={port + 1}" in r.stderr
    assert "serving on" not in r.stderr and "Traceback" not in r.stderr


def test_error_messages_print_as_plain_text_on_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A message that quotes a path or user input is printed as it is: a "[1]" is not markup, and a long path is
    # not wrapped in the middle (the line can be searched and copied).
    import os
    import subprocess
    import sys

    long = tmp_path / ("[bold]" + "x" * 150) / "disclosure.yaml"
    env = dict(os.environ, ASSAY_DATA_DIR=str(tmp_path / "data"), COLUMNS="80")
    run = subprocess.run(
        [sys.executable, "-m", "assay", "systems", "validate", str(long)], capture_output=True, text=True, env=env
    )
    assert run.returncode == 2
    first = run.stderr.splitlines()[0]
    assert first.startswith("error: ") and str(long) in first
