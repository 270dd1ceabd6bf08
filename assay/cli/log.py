"""``assay log``: integrate, show, prove, verify and monitor the transparency log.

Without ``--url`` the commands work on this register's own log (its database and data folder). With
``--url`` they read any log in the C2SP tlog-tiles layout over HTTP and trust nothing but the verifier key you
give (``--key`` or ``ASSAY_LOG_KEY``). ``verify`` and ``monitor`` exit with 1 on an inconsistency (a fork, a
rollback, altered data) and 2 on any other error, so they can run from cron or CI.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from assay.cli._common import console, env_option, err_console, get_config, json_flag, open_db, print_json
from assay.errors import AssayError, InvalidInput, NotFound

log_app = typer.Typer(help="The transparency log: integrate, show, prove, verify, monitor.", no_args_is_help=True)


witness_app = typer.Typer(help="This register as a C2SP tlog-witness: the logs it cosigns.", no_args_is_help=True)
log_app.add_typer(witness_app, name="witness")


def install(app: typer.Typer) -> None:
    app.add_typer(log_app, name="log")


def _dir_option() -> Any:
    return env_option(
        None, "--dir", envvar="ASSAY_LOG_DIR", help="Read a log folder (default: this register's <data-dir>/log)."
    )


def _url_option() -> Any:
    return env_option(
        None,
        "--url",
        envvar="ASSAY_LOG_URL",
        help="Read the log served at this URL prefix (e.g. https://register.example/log) instead of "
        "this register's own log.",
    )


def _key_option() -> Any:
    return env_option(
        None,
        "--key",
        envvar="ASSAY_LOG_KEY",
        help="The log's verifier key (vkey), from a source you trust. Needed with --url.",
    )


def _source(ctx: typer.Context, url: str | None, folder: Path | None):  # type: ignore[no-untyped-def]
    from assay.transparency.audit import FolderSource, HttpSource

    if url and folder:
        raise InvalidInput("give --url or --dir, not both", hint="--url reads over HTTP, --dir reads a folder")
    if url:
        return HttpSource(url)
    config = get_config(ctx)
    if folder is None and config.log_storage:  # this register's log on object storage (ASSAY_LOG_STORAGE)
        from assay.transparency.audit import StorageSource
        from assay.transparency.service import open_storage

        return StorageSource(*open_storage(config))
    return FolderSource(folder or config.data_dir / "log")


def _local_key(ctx: typer.Context) -> str:
    from assay.transparency import integrate, verifier_key

    db = open_db(ctx)
    key = verifier_key(db)
    if key is None:
        key = integrate(db, get_config(ctx)).vkey
    return key


def integrate_new_entries(ctx: typer.Context) -> None:
    """Integrate the log entries this command committed, as it exits (the CLI root calls this).

    Register events written from the command line (a system published or suspended, a token issued...) get
    their tiles and signed checkpoint at once, so their proofs exist when the command returns, as the web
    app's background integrator does within a second. Only when this process committed log entries.
    """
    import sys

    recorded = sys.modules.get("assay.transparency._record")
    db = (ctx.find_root().obj or {}).get("db")
    if recorded is None or db is None or not recorded.entries_committed.is_set():
        return
    from assay.transparency import integrate

    try:
        integrate(db, get_config(ctx))
    except AssayError as exc:  # the command itself succeeded; say why its entries wait, without failing it
        err_console.print(
            f"[bold yellow]warning:[/bold yellow] the log entries were recorded but not integrated yet: "
            f"{escape(exc.message)}",
            highlight=False,
            soft_wrap=True,
        )
        if exc.hint:
            err_console.print(f"[bold]hint:[/bold] {escape(exc.hint)}", highlight=False, soft_wrap=True)
        return
    recorded.entries_committed.clear()


def _alarm(exc: Exception, as_json: bool) -> None:
    from assay.transparency.audit import Inconsistency

    assert isinstance(exc, Inconsistency)
    if as_json:
        print_json({"ok": False, "alarm": exc.message, "hint": exc.hint})
    err_console.print(f"[bold red]ALARM:[/bold red] {escape(exc.message)}", highlight=False, soft_wrap=True)
    if exc.hint:
        err_console.print(f"[bold]hint:[/bold] {escape(exc.hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@log_app.command("integrate")
def integrate_cmd(ctx: typer.Context, as_json: bool = json_flag()) -> None:
    """Integrate every recorded entry now: write tiles and sign a new checkpoint."""
    from assay.transparency import integrate

    head = integrate(open_db(ctx), get_config(ctx))
    if as_json:
        print_json(
            {
                "tree_size": head.size,
                "root_hash": head.root_hash.hex(),
                "checkpoint": head.checkpoint,
                "vkey": head.vkey,
            }
        )
    else:
        console.print(
            f"the log holds [bold]{head.size}[/bold] entries; checkpoint signed", highlight=False, soft_wrap=True
        )


@log_app.command("show")
def show_cmd(
    ctx: typer.Context,
    url: str = _url_option(),
    key: str = _key_option(),
    as_json: bool = json_flag(),
) -> None:
    """Show the latest checkpoint (verified against the key) and the log's verifier key."""
    from assay.tlog import verify_checkpoint

    if url:
        if not key:
            raise InvalidInput("--key is needed with --url", hint="pass the log's vkey from a source you trust")
        source = _source(ctx, url, None)
        note = source.checkpoint().decode()
        vkey = key
    else:
        from assay.transparency import integrate, latest_checkpoint

        db = open_db(ctx)
        note = latest_checkpoint(db) or integrate(db, get_config(ctx)).checkpoint
        vkey = key or _local_key(ctx)
    cp = verify_checkpoint(note, vkey)
    if as_json:
        print_json(
            {
                "origin": cp.origin,
                "tree_size": cp.size,
                "root_hash": cp.root_hash.hex(),
                "vkey": vkey,
                "checkpoint": note,
            }
        )
        return
    console.print(
        f"origin     {escape(cp.origin)}\nentries    {cp.size}\nroot hash  {cp.root_hash.hex()}\n"
        f"key        {escape(vkey)}\n",
        highlight=False,
        soft_wrap=True,
    )
    typer.echo(note, nl=False)


@log_app.command("proof")
def proof_cmd(
    ctx: typer.Context,
    index: int = typer.Argument(..., min=0, help="The entry's index in the log."),
    url: str = _url_option(),
    key: str = _key_option(),
    entry_out: Path = env_option(
        None, "--entry-out", envvar="ASSAY_LOG_ENTRY_OUT", help="Also write the entry's exact bytes to this file."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Print an entry's c2sp.org/tlog-proof (with --url: built from the log's public tiles)."""
    if url:
        from assay.transparency.audit import proof_from_tiles

        if not key:
            raise InvalidInput("--key is needed with --url", hint="pass the log's vkey from a source you trust")
        proof, entry = proof_from_tiles(_source(ctx, url, None), key, index)
    else:
        from assay.transparency import entry_at, proof_for

        db = open_db(ctx)
        found = proof_for(db, index)
        stored = entry_at(db, index)
        if stored is None:
            raise NotFound(
                f"there is no entry {index} in the log",
                hint="indexes count from 0; 'assay log show' gives the number of entries",
            )
        if found is None:
            raise InvalidInput(
                f"entry {index} is not integrated into the log", hint="check the index, or run 'assay log integrate'"
            )
        proof = found
        entry = stored
    if entry_out is not None:
        entry_out.write_bytes(entry)
    if as_json:
        print_json({"index": index, "proof": proof, "entry": entry.decode()})
    else:
        typer.echo(proof, nl=False)


@log_app.command("check-proof")
def check_proof_cmd(
    proof_file: Path = typer.Argument(..., help="The .tlog-proof file."),
    entry: Path = env_option(
        ..., "--entry", envvar="ASSAY_LOG_ENTRY", help="The file holding the entry's exact bytes."
    ),
    key: str = _key_option(),
    as_json: bool = json_flag(),
) -> None:
    """Check offline that an entry is in the log, with its tlog-proof and the log's key."""
    from assay.tlog import verify_proof

    if not key:
        raise InvalidInput("--key is needed", hint="pass the log's vkey from a source you trust")
    try:
        proof_text, entry_bytes = proof_file.read_bytes(), entry.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {exc.filename}: {exc.strerror}", hint="check the path") from None
    cp = verify_proof(proof_text, entry_bytes, key)
    if as_json:
        print_json({"ok": True, "origin": cp.origin, "tree_size": cp.size, "root_hash": cp.root_hash.hex()})
    else:
        console.print(
            f"[green]OK[/green]: the entry is in {escape(cp.origin)} (tree of {cp.size} entries)", highlight=False
        )


@log_app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    url: str = _url_option(),
    folder: Path = _dir_option(),
    key: str = _key_option(),
    checkpoints: list[Path] = env_option(
        [],
        "--checkpoint",
        envvar="ASSAY_LOG_CHECKPOINTS",
        help="A checkpoint seen before (a file); must be a prefix of the latest. Repeatable.",
    ),
    as_json: bool = json_flag(),
) -> None:
    """Recompute the whole log from its entries and check every checkpoint seen against the latest."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from assay.transparency.audit import Inconsistency, verify_log

    seen: list[bytes] = []
    for path in checkpoints:
        try:
            seen.append(path.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}", hint="check the path") from None
    database_entries = None
    if not url and folder is None:
        # This register's own log: also every checkpoint it ever published, and its database's entries.
        from assay.transparency.reading import checkpoints_published, entries_between

        db = open_db(ctx)
        key = key or _local_key(ctx)
        seen.extend(c.encode() for c in checkpoints_published(db))

        def database_entries(start: int, end: int) -> list[bytes]:
            return entries_between(db, start, end)

    if not key:
        raise InvalidInput("--key is needed", hint="pass the log's vkey from a source you trust")
    source = _source(ctx, url, folder)
    with Progress(
        "verifying",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("entries", total=None)
        try:
            report = verify_log(
                source,
                key,
                seen=seen,
                database_entries=database_entries,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except Inconsistency as exc:
            _alarm(exc, as_json)
            return
        finally:
            source.close()
    if as_json:
        print_json(report.as_dict())
        return
    console.print(
        f"[green]OK[/green]: {escape(report.origin)}: {report.tree_size} entries recomputed, root "
        f"{report.root_hash}; {report.tiles_checked} tiles match; "
        f"{len(report.checkpoints_checked)} earlier checkpoint(s) are prefixes of the latest",
        highlight=False,
        soft_wrap=True,
    )


@log_app.command("monitor")
def monitor_cmd(
    ctx: typer.Context,
    url: str = _url_option(),
    folder: Path = _dir_option(),
    key: str = _key_option(),
    state: Path = env_option(
        None,
        "--state",
        envvar="ASSAY_LOG_MONITOR_STATE",
        help="The file remembering the last checkpoint seen (default: <data-dir>/monitor/<log>.json).",
    ),
    as_json: bool = json_flag(),
) -> None:
    """Check the log has only grown since the last run (no fork, no rollback), then remember its checkpoint."""
    from assay.transparency.audit import Inconsistency, monitor_log

    source = _source(ctx, url, folder)
    if state is None:
        name = hashlib.sha256(source.description.encode()).hexdigest()[:16]
        state = get_config(ctx).data_dir / "monitor" / f"{name}.json"
    if not key and not url and folder is None:
        key = _local_key(ctx)
    try:
        result = monitor_log(source, state, key)
    except Inconsistency as exc:
        _alarm(exc, as_json)
        return
    finally:
        source.close()
    if as_json:
        print_json(result.as_dict())
        return
    if result.status == "first":
        text = f"first look: remembered the checkpoint of {result.new_size} entries in {state}"
    elif result.status == "unchanged":
        text = f"unchanged: {result.new_size} entries"
    else:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.new_entries.items()))
        text = f"grew from {result.old_size} to {result.new_size} entries, consistently" + (
            f" ({kinds})" if kinds else ""
        )
    console.print(f"[green]OK[/green]: {escape(result.origin)}: {escape(text)}", highlight=False, soft_wrap=True)


@log_app.command("witnesses")
def witnesses_cmd(ctx: typer.Context, as_json: bool = json_flag()) -> None:
    """The witnesses asked to cosign this log's checkpoints (ASSAY_LOG_WITNESSES) and what each has cosigned."""
    from assay.transparency import open_log
    from assay.transparency.cosigning import witness_status

    db, config = open_db(ctx), get_config(ctx)
    size = open_log(db, config).head().size
    witnesses = witness_status(db, list(config.log_witness_list))
    if as_json:
        print_json({"tree_size": size, "witnesses": witnesses})
        return
    if not witnesses:
        console.print("no witnesses: set ASSAY_LOG_WITNESSES to have this log's checkpoints cosigned", highlight=False)
        return
    for w in witnesses:
        cosigned = w["cosigned_size"]
        state = "never cosigned" if cosigned is None else f"cosigned {cosigned} of {size} entries ({w['updated_at']})"
        where = w["url"] if w["configured"] else "no longer configured"
        console.print(f"{escape(str(w['name']))}  {escape(str(where))}  {state}", highlight=False, soft_wrap=True)


@witness_app.command("trust")
def witness_trust_cmd(
    ctx: typer.Context,
    vkey: str = typer.Argument(..., help="The log's verifier key (its /log/vkey), from a source you trust."),
    origin: str = env_option(
        None, "--origin", envvar="ASSAY_WITNESS_LOG_ORIGIN", help="The log's origin, if it differs from the key's name."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Witness a log: cosign its checkpoints (POST /witness/add-checkpoint) when they are consistent."""
    from assay.transparency.witness import trust_log

    row = trust_log(open_db(ctx), vkey, origin=origin)
    if as_json:
        print_json({"origin": row.origin, "vkeys": row.vkeys.split("\n"), "size": row.size})
    else:
        console.print(
            f"witnessing {escape(row.origin)} (cosigned up to {row.size} entries)", highlight=False, soft_wrap=True
        )


@witness_app.command("list")
def witness_list_cmd(ctx: typer.Context, as_json: bool = json_flag()) -> None:
    """The logs this register witnesses, with the size it last cosigned."""
    from assay.transparency.witness import list_logs

    logs = list_logs(open_db(ctx))
    if as_json:
        print_json(logs)
        return
    for entry in logs:
        console.print(
            f"{escape(str(entry['origin']))}  {entry['size']} entries  {entry['updated_at'] or 'never'}",
            highlight=False,
            soft_wrap=True,
        )
    if not logs:
        console.print("no logs yet: add one with 'assay log witness trust <vkey>'", highlight=False)


@witness_app.command("key")
def witness_key_cmd(ctx: typer.Context, as_json: bool = json_flag()) -> None:
    """Print this witness's cosignature verifier key (give it to the logs you witness and their users)."""
    from assay.transparency.witness import load_or_create_witness_key

    vkey = load_or_create_witness_key(get_config(ctx)).vkey
    if as_json:
        print_json({"vkey": vkey})
        return
    typer.echo(vkey)
