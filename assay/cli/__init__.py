# ruff: noqa: E402  (BLAS threads must be set before numpy is first imported)
"""The ``assay`` command line. A thin shell: every command calls into the parts of the package.

Start-up is kept cheap (``assay --help`` in well under 0.3 s): the commands of each part live in their own
module of ``assay.cli`` and are imported only when one of them runs; ``--help`` lists them from
:data:`LAZY_COMMANDS` (a test keeps those one-line helps equal to the commands' own).

Errors: every :class:`assay.errors.AssayError` is caught once here, printed with its hint to stderr, and
the process exits with the error's exit code (2); ``--verbose`` also prints the traceback.
"""

from __future__ import annotations

import os

# One BLAS (and OpenCV) thread per process: the CLI parallelises over processes (assay check), and on a small
# machine multithreaded small matrix products in the watermark detector are many times slower, not faster.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
    os.environ.setdefault(_var, "1")

import logging
import sys
from pathlib import Path

import typer
from typer.core import TyperCommand, TyperGroup

from assay.cli._common import err_console, json_flag, open_db, opt
from assay.config import REPLACE_PUBLIC_URL_ENV, Config
from assay.errors import AssayError

# The commands each part adds (its module of assay.cli has ``install(app)``), in the order --help lists them,
# each with the first paragraph of its help. Importing a part's module costs tenths of a second (SQLAlchemy,
# numpy, cryptography...), so it happens only when one of its commands runs.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "systems": ("register", "Publish, update, list and review AI systems in the register."),
    "providers": ("accounts", "Providers and deployers: the organisations that answer for systems."),
    "tokens": ("accounts", "API tokens: providers publish with them, the oversight body administers."),
    "schema": (
        "register",
        "Print the JSON Schema of the disclosure format (also served at /schema/disclosure/v1.json).",
    ),
    "mark": ("provenance", "Mark images: invisible watermark + signed Content Credentials + a record in the register."),
    "check": ("provenance", "Check images and texts for Assay marks and Content Credentials."),
    "marks": ("provenance", "Mark records: list them, record offline batches."),
    "ca": ("provenance", "The register's certificate authority for C2PA signing certificates."),
    "keys": ("provenance", "Marking keys: namespaces and offline marking kits."),
    "text": ("text", "Text provenance: systems' text watermark keys and records."),
    "log": ("log", "The transparency log: integrate, show, prove, verify, monitor."),
    "complaints": ("complaints", "The encrypted complaints channel: keys, pulling and answering complaints."),
    "demo": ("demo", "The demo register that 'make run' loads."),
}


class _LazyGroup(TyperGroup):
    """The root command group: a part's commands are stand-ins (name and one-line help) until one is run."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for name, (_, short_help) in LAZY_COMMANDS.items():
            self.commands.setdefault(name, _Placeholder(name=name, help=short_help, callback=None))

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and isinstance(self.commands.get(args[0]), _Placeholder):
            self.load(LAZY_COMMANDS[args[0]][0])
        return super().resolve_command(ctx, args)

    def load(self, module_name: str) -> None:
        """Import ``assay.cli.<module_name>`` and put its real commands in place of the stand-ins."""
        import importlib

        part = typer.Typer()
        importlib.import_module(f"assay.cli.{module_name}").install(part)
        for name, command in typer.main.get_group(part).commands.items():
            self.commands[name] = command


def command_tree() -> TyperGroup:
    """The root command with every part's commands loaded (for tests and docs that walk all commands)."""
    group = typer.main.get_command(app)
    assert isinstance(group, _LazyGroup)
    for module_name in dict.fromkeys(m for m, _ in LAZY_COMMANDS.values()):
        group.load(module_name)
    return group


class _Placeholder(TyperCommand):
    """A command not imported yet: only its name and help, for ``assay --help``."""


app = typer.Typer(
    name="assay",
    cls=_LazyGroup,
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
    replace_public_url: bool = typer.Option(
        False,
        "--replace-public-url",
        envvar=REPLACE_PUBLIC_URL_ENV,
        help="Record --public-url (or http://<host>:<port>) as the register's new public URL, replacing the one "
        "recorded in the data folder. Only when the register moved: links in earlier marks keep the old address.",
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", envvar="ASSAY_VERBOSE", help="Show tracebacks and debug logs."
    ),
) -> None:
    """Global options apply to every command."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["config"] = Config.from_env(data_dir=data_dir, database_url=database_url, public_url=public_url)
    ctx.obj["replace_public_url"] = replace_public_url
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr)
    # Log entries a command committed get their tiles and signed checkpoint before it exits (assay.cli.log).
    ctx.call_on_close(lambda: _integrate_new_log_entries(ctx))


def _integrate_new_log_entries(ctx: typer.Context) -> None:
    if "assay.transparency._record" not in sys.modules:  # nothing was logged: no need to import the log part
        return
    from assay.cli.log import integrate_new_entries

    integrate_new_entries(ctx)


@app.command()
def serve(
    ctx: typer.Context,
    host: str = opt("host"),
    port: int = opt("port"),
    workers: int = opt("workers"),
) -> None:
    """Serve the web app (pages, API, log) with uvicorn. Access logs are off: no client address is logged.

    With --workers N, N processes share the port: the schema is migrated once first (under a lock), every
    worker shares the complaint channel's limits and keys (database and data folder), and one of them,
    elected by a lease, integrates the log.
    """
    import uvicorn

    from assay.transparency import open_log
    from assay.web.app import create_app

    config = _serving_config(ctx, host=host, port=port, workers=workers)
    # Migrations are a step of their own, before any worker starts (and under a lock, for other machines).
    # Opening the database also records the public URL on a first run: the address every later process links to.
    db = open_db(ctx)
    # What the app's startup would refuse (a log key for another origin...) fails here, as a message with its
    # hint, instead of a traceback from inside uvicorn. The log opened here is the one the app then uses.
    open_log(db, config)
    _check_port_is_free(config.host, config.port)
    err_console.print(
        f"Assay is serving on [bold]{config.base_url}[/bold]"
        + (f" with {config.workers} workers" if config.workers > 1 else "")
        + " (Ctrl+C stops it)"
    )
    if config.workers == 1:
        uvicorn.run(
            create_app(config, db, migrate=False),
            host=config.host,
            port=config.port,
            access_log=False,
            log_level="warning",
            server_header=False,
        )
        return
    # Workers are new processes that build the app from the environment: hand them this command's settings.
    os.environ.update(config.as_environment())
    uvicorn.run(
        "assay.web.app:create_app_for_worker",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        access_log=False,
        log_level="warning",
        server_header=False,
    )


def _serving_config(ctx: typer.Context, *, host: str | None, port: int | None, workers: int | None) -> Config:
    """The settings of ``serve``: its --host/--port/--workers, held to the register's recorded public URL."""
    from assay.config import settle_public_url

    root = ctx.find_root()
    raw: Config = root.obj["config"].with_overrides(host=host, port=port, workers=workers)
    config = settle_public_url(raw, replace=root.obj["replace_public_url"], serving=True)
    root.obj["settled_config"] = config
    return config


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
        def say(line: str) -> None:
            err_console.print(line, highlight=False, soft_wrap=True)

        say(f"[bold red]error:[/bold red] {escape(exc.message)}")
        if exc.hint:
            say(f"[bold]hint:[/bold] {escape(exc.hint)}")
        for p in exc.problems:
            say(escape(f"  - {p.path}: {p.message}" + (f" — {p.fix}" if p.fix else "")))
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
