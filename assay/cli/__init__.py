# ruff: noqa: E402  (BLAS threads must be set before numpy is first imported)
"""The ``assay`` command line. A thin shell: every command calls into the parts of the package.

Errors: every :class:`assay.errors.AssayError` is caught once here, printed with its hint to stderr, and
the process exits with the error's exit code (2); ``--verbose`` also prints the traceback.
"""

from __future__ import annotations

import os

# One BLAS thread per process: the CLI parallelises over processes (assay check), and on a small machine
# multithreaded small matrix products in the watermark detector are many times slower, not faster.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import logging
import sys
from pathlib import Path

import typer

from assay.cli._common import err_console, get_config, json_flag, opt
from assay.config import Config
from assay.errors import AssayError

app = typer.Typer(
    name="assay",
    help="Assay: a public register of AI systems, provenance marks, complaints and a transparency log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Path = opt("data_dir"),
    database_url: str = opt("database_url"),
    public_url: str = opt("public_url"),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", envvar="ASSAY_VERBOSE", help="Show tracebacks and debug logs."
    ),
) -> None:
    """Global options apply to every command."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["config"] = Config.from_env(data_dir=data_dir, database_url=database_url, public_url=public_url)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr)
    # Log entries a command committed get their tiles and signed checkpoint before it exits (assay.cli.log).
    ctx.call_on_close(lambda: _integrate_new_log_entries(ctx))


def _integrate_new_log_entries(ctx: typer.Context) -> None:
    from assay.cli.log import integrate_new_entries

    integrate_new_entries(ctx)


@app.command()
def serve(
    ctx: typer.Context,
    host: str = opt("host"),
    port: int = opt("port"),
) -> None:
    """Serve the web app (pages, API, log) with uvicorn. Access logs are off: no client address is logged."""
    import uvicorn

    from assay.transparency import open_log
    from assay.web.app import create_app

    config = get_config(ctx, host=host, port=port)
    web_app = create_app(config)
    # What the app's startup would refuse (a log key for another origin...) fails here, as a message with its
    # hint, instead of a traceback from inside uvicorn. The log opened here is the one the app then uses.
    open_log(web_app.state.db, config)
    _check_port_is_free(config.host, config.port)
    err_console.print(f"Assay is serving on [bold]{config.base_url}[/bold] (Ctrl+C stops it)")
    uvicorn.run(
        web_app,
        host=config.host,
        port=config.port,
        access_log=False,
        log_level="warning",
        server_header=False,
    )


def _check_port_is_free(host: str, port: int) -> None:
    """Refuse early, with the fix, when another server holds the port (uvicorn would only log errno 98)."""
    import socket

    from assay.errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host!r}: {exc}", hint="set ASSAY_HOST (--host) to an address of this machine"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint=f"stop what is using port {port}, or choose another port: --port {port + 1} or "
                f"ASSAY_PORT={port + 1} (make run reads it too)",
            ) from None


db_app = typer.Typer(help="The database: create or migrate its schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: bool = json_flag()) -> None:
    """Create the schema, or bring it to the newest migration."""
    from assay.cli._common import open_db, print_json

    db = open_db(ctx)
    if as_json:
        print_json({"database": db.engine.url.render_as_string(hide_password=True), "up_to_date": True})
        return
    err_console.print(f"schema up to date at {db.engine.url.render_as_string(hide_password=True)}")


def _register_subcommands() -> None:
    # Each part of Assay adds its commands in its own module of assay.cli.
    import importlib

    for name in ("register", "provenance", "text", "log", "complaints", "demo"):
        try:
            module = importlib.import_module(f"assay.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name is None or not (
                f"assay.cli.{name}" == exc.name or f"assay.cli.{name}".startswith(exc.name + ".")
            ):
                raise
            continue
        module.install(app)


_register_subcommands()


def main() -> None:
    verbose = "--verbose" in sys.argv or "-v" in sys.argv
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int):
            sys.exit(rc)
    except AssayError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        from rich.markup import escape

        # Messages quote paths and user input: printed as text (a "[1]" is not markup), one line each (no
        # wrapping inside a file name, so the message can be searched and copied).
        out = {"highlight": False, "soft_wrap": True}
        err_console.print(f"[bold red]error:[/bold red] {escape(exc.message)}", **out)
        if exc.hint:
            err_console.print(f"[bold]hint:[/bold] {escape(exc.hint)}", **out)
        for p in exc.problems:
            err_console.print(escape(f"  - {p.path}: {p.message}" + (f" — {p.fix}" if p.fix else "")), **out)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors come through here in non-standalone mode
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if verbose:
            raise
        from rich.markup import escape

        err_console.print(f"[bold red]internal error:[/bold red] {escape(repr(exc))}", highlight=False, soft_wrap=True)
        err_console.print("hint: run again with --verbose and report the traceback", highlight=False)
        sys.exit(3)


def _is_usage_error(exc: BaseException) -> bool:
    """A click usage error (bad option value, missing argument, unknown command): click's own, or the copy of
    click that newer Typer versions vendor (typer._click), which is not a click.ClickException."""
    import click

    if isinstance(exc, click.ClickException):
        return True
    return any(c.__name__ == "ClickException" for c in type(exc).__mro__) and callable(getattr(exc, "show", None))
