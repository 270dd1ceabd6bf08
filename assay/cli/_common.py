"""What every CLI command shares: options built from the settings table, the config, the database, output."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from assay.config import Config, setting
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
    root = ctx.find_root()
    base: Config = root.obj["config"]
    return base.with_overrides(**overrides) if overrides else base


def open_db(ctx: typer.Context, *, migrate: bool = True) -> Database:
    """The database of the configured URL, with its schema brought up to date (created on first use)."""
    root = ctx.find_root()
    cached = root.obj.get("db")
    if cached is not None:
        return cached
    config = get_config(ctx)
    db = Database(config.resolved_database_url)
    if migrate:
        db.upgrade()
    root.obj["db"] = db
    return db


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
