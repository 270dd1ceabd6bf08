"""What every CLI command shares: options built from the settings table, the config, the database, output."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from assay.config import Config, setting

if TYPE_CHECKING:
    from assay.db import Database

console = Console()
err_console = Console(stderr=True)


def opt(name: str, *flags: str, **kwargs: Any) -> Any:
    """A Typer option for a setting of ``assay.config.SETTINGS``: its help text and its ASSAY_* variable."""
    s = setting(name)
    flags = flags or ("--" + name.replace("_", "-"),)
    return typer.Option(None, *flags, envvar=s.env, help=s.help, show_default=str(s.default), **kwargs)


def env_option(default: Any, *flags: str, envvar: str, help: str, **kwargs: Any) -> Any:
    """A command option that is not a global setting, still readable from its own ASSAY_* variable."""
    assert envvar.startswith("ASSAY_"), envvar
    return typer.Option(default, *flags, envvar=envvar, help=help, **kwargs)


def json_flag() -> Any:
    return typer.Option(False, "--json", envvar="ASSAY_JSON", help="Print results as JSON instead of text.")


def get_config(ctx: typer.Context, **overrides: Any) -> Config:
    """The settings, with the register's one public URL (recorded in the data folder; assay.config)."""
    root = ctx.find_root()
    base: Config | None = root.obj.get("settled_config")
    if base is None:
        from assay.config import settle_public_url

        base = settle_public_url(root.obj["config"], replace=root.obj.get("replace_public_url", False))
        root.obj["settled_config"] = base
    return base.with_overrides(**overrides) if overrides else base


def record_public_url(ctx: typer.Context, config: Config | None = None) -> None:
    """Record the public URL in the data folder if this is its first run (or --replace-public-url)."""
    from assay.config import record_public_url as record

    root = ctx.find_root()
    raw: Config = root.obj["config"]
    record(
        config or get_config(ctx),
        derived=not raw.public_url,
        replace=root.obj.get("replace_public_url", False),
    )


def open_db(ctx: typer.Context, *, migrate: bool = True) -> Database:
    """The database of the configured URL, with its schema brought up to date (created on first use).

    Using the local register also records its public URL on the first run (see assay.config)."""
    from assay.db import Database

    root = ctx.find_root()
    cached = root.obj.get("db")
    if cached is not None:
        return cached
    config = get_config(ctx)
    record_public_url(ctx, config)
    db = Database(config.resolved_database_url)
    if migrate:
        from assay.provenance.fieldindex import migration_steps

        db.upgrade(migration_steps(config.data_dir))
    root.obj["db"] = db
    return db


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def operator() -> Any:
    """The principal local commands act as: the register's operator (the oversight body), next to its database."""
    from assay.register.access import Principal

    return Principal.local_operator()


def provenance_env(ctx: typer.Context) -> Any:
    """The provenance part's environment (CA, keys, storage) for the configured data folder."""
    from assay.provenance.environment import ProvenanceEnv

    return ProvenanceEnv.open(get_config(ctx))


def integrate_log(ctx: typer.Context, db: Database) -> None:
    """Integrate the new log entries now, so what a command just recorded has its proof when it returns."""
    from assay.transparency import integrate

    integrate(db, get_config(ctx))
