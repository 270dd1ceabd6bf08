"""``assay check`` over folders, file lists and object-storage prefixes: the shell around :mod:`assay.batch`.

Without ``--out`` each result is printed as it is resolved (text, or JSON lines with ``--json``) and a summary
goes to stderr; with ``--out FOLDER`` results go to the folder (JSON lines and Parquet, resumable), a
progress bar to stderr and the summary to stdout (JSON with ``--json``). Exit 0: nothing marked; 1: a mark
found; 2: errors (counted over the whole output folder, so a resumed run ends as an uninterrupted one would).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from assay.cli._common import console, err_console, get_config, open_db, print_json
from assay.errors import InvalidInput


def is_batch(paths: list[str], *, from_list: str | None, out: Path | None, scheduler: str | None) -> bool:
    """Anything but one plain local file (or ``-``, a text on standard input) is a batch (the single-file check
    prints the whole verdict)."""
    import os

    from assay.batch.inputs import is_url

    if "-" in paths:
        if from_list is not None or out is not None or scheduler:
            raise InvalidInput(
                "'-' (a text from standard input) cannot be part of a batch run",
                hint="save the text to a file and list it, or check it alone without --out/--from-list/--scheduler",
            )
        return False
    if from_list is not None or out is not None or scheduler or len(paths) != 1:
        return True
    return is_url(paths[0]) or os.path.isdir(paths[0])


def check_batch(
    ctx: typer.Context,
    paths: list[str],
    *,
    from_list: str | None,
    out: Path | None,
    scheduler: str | None,
    engine: str,
    workers: int,
    chunk_size: int,
    resolve_batch: int,
    send_bytes: bool,
    storage_options: str | None,
    as_json: bool,
    finish: Callable[[dict[str, Any]], dict[str, Any]],
    print_verdict: Callable[[dict[str, Any], bool], None],
) -> None:
    from assay.batch import BatchOptions, ResultStore, iter_inputs, run_batch

    if not paths and from_list is None:
        raise InvalidInput("nothing to check", hint="give files, folders, s3:// prefixes or --from-list FILE")
    options = BatchOptions(
        scheduler=scheduler or None,
        engine=engine,
        workers=workers,
        chunk_size=chunk_size,
        resolve_batch=resolve_batch,
        send_bytes=send_bytes,
        storage_options=_storage_options(storage_options),
    )
    config = get_config(ctx)
    db = open_db(ctx)
    store = ResultStore(out) if out is not None else None
    progress = Progress(
        SpinnerColumn(),
        TextColumn("checked {task.completed:,.0f} files"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[errors]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=store is None or not err_console.is_terminal,
    )

    def on_results(records: list[dict[str, Any]]) -> None:
        if store is None:
            for r in records:
                print_verdict(r, as_json)

    with progress:
        task = progress.add_task("check", total=None, rate="", errors="")

        def on_progress(examined: int, tally: Any) -> None:
            elapsed = progress.tasks[0].elapsed or 0.0
            progress.update(
                task,
                completed=examined,
                rate=f"{examined / elapsed:,.1f} files/s" if elapsed > 1 else "",
                errors=f"{tally.errors:,} errors" if tally.errors else "",
            )

        names = iter_inputs(paths, from_list=from_list, storage_options=options.storage_options)
        summary = run_batch(
            names,
            db=db,
            config=config,
            options=options,
            store=store,
            finish=finish,
            on_results=on_results,
            on_progress=on_progress,
        )
    report = summary.as_dict() | ({"out": str(out)} if out is not None else {})
    if store is None and summary.total.checked == 0:
        raise InvalidInput(
            "no files to check",
            hint="give images, texts (.txt, .md, .html, .docx), folders or prefixes that contain them, or a list",
        )
    if as_json and store is not None:
        print_json(report)
    elif store is not None:
        _print_summary(report)
    else:
        err_console.print(
            f"{summary.run.checked} checked: {summary.run.attributed} attributed, {summary.run.errors} errors "
            f"({summary.files_per_second:.1f} files/s)",
            highlight=False,
        )
    raise typer.Exit(summary.total.exit_code)


def _storage_options(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput(
            "--storage-options must be a JSON object",
            hint='e.g. \'{"endpoint_url": "http://minio:9000"}\'; credentials are better left to AWS_* variables',
        )
    return value


def _print_summary(report: dict[str, Any]) -> None:
    total, run = report["total"], report["run"]
    console.print(
        f"{total['checked']:,} files in {escape(report['out'])}: {total['attributed']:,} attributed, "
        f"{total['ai_generated']:,} AI-generated, {total['errors']:,} errors",
        highlight=False,
    )
    console.print(
        f"this run: {run['checked']:,} checked in {report['seconds']:.1f} s ({report['files_per_second']:.1f} "
        f"files/s, {report['engine']}, {report['workers']} workers), {report['skipped_already_done']:,} done before; "
        f"{report['database_queries']:,} database queries",
        highlight=False,
    )
    for title, key in (
        ("verdict", "by_status"),
        ("system", "by_system"),
        ("provider", "by_provider"),
        ("error kind", "errors_by_kind"),
    ):
        if total[key]:
            table = Table(title=None, show_header=True, header_style="bold", box=None)
            table.add_column(title)
            table.add_column("files", justify="right")
            for name, count in list(total[key].items())[:20]:
                table.add_row(escape(name), f"{count:,}")
            console.print(table)
