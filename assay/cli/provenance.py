"""``assay mark``, ``assay check``, ``assay marks``, ``assay ca`` and ``assay keys``: provenance from the shell.

This module holds marking and the shared helpers; ``assay check`` is :mod:`assay.cli.check`, ``assay ca`` and
``assay keys`` are :mod:`assay.cli.ca`.

``assay check`` is for everyone: it checks files or whole folders in parallel (one process per core) and
exits 1 when a file is attributed to a registered system, 3 when a mark was found that cannot be attributed
(copied from another picture, or unknown), 2 on errors, 0 otherwise. ``--json`` prints one JSON object per
file (JSON lines). With the register's database at hand it checks locally; with ``--server URL`` (older name
``--remote``) it asks a register's API (:mod:`assay.cli.remote`). Either way, a mark's transparency-log proof is
verified offline against the log's key.

The other commands run next to the register's database, as the local operator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from assay.cli import remote as remote_mode
from assay.cli._common import (
    console,
    env_option,
    err_console,
    get_config,
    integrate_log,
    json_flag,
    open_db,
    operator,
    print_json,
    print_json_line,
    provenance_env,
)
from assay.cli._files import marked_path, plan_marked_paths, read_file
from assay.cli.ca import ca_app, keys_app
from assay.cli.check import check
from assay.cli.remote import ca_bundle_option, server_option, token_option, unsafe_http_option
from assay.config import Config
from assay.errors import InvalidInput

marks_app = typer.Typer(help="Mark records: list them, record offline batches.", no_args_is_help=True)


def install(app: typer.Typer) -> None:
    app.command("mark")(mark)
    app.command("check")(check)
    app.add_typer(marks_app, name="marks")
    app.add_typer(ca_app, name="ca")
    app.add_typer(keys_app, name="keys")


# ---------------------------------------------------------------------------------------------- assay mark


def mark(
    ctx: typer.Context,
    images: list[Path] = typer.Argument(..., help="Image files made by the system (JPEG, PNG, WebP, ...)."),
    system: str = env_option(
        ...,
        "--system",
        "-s",
        envvar="ASSAY_MARK_SYSTEM",
        help="The registered system that made the images, e.g. acme-imagegen.",
    ),
    out: Path = env_option(
        None,
        "--out",
        "-o",
        envvar="ASSAY_MARK_OUT",
        help="Folder for the marked files (default: next to each input, as NAME.marked.EXT).",
    ),
    visible_label: bool = env_option(
        False,
        "--visible-label",
        envvar="ASSAY_MARK_VISIBLE_LABEL",
        help="Also draw a small visible 'AI-generated' badge.",
    ),
    offline: bool = env_option(
        False,
        "--offline",
        envvar="ASSAY_MARK_OFFLINE",
        help="Mark with a marking kit, without the register; append records to --batch.",
    ),
    kit: Path = env_option(None, "--kit", envvar="ASSAY_MARK_KIT", help="The marking kit (with --offline)."),
    remark: bool = env_option(
        False,
        "--remark",
        envvar="ASSAY_MARK_REMARK",
        help="Mark again an image that already carries this system's own mark (another system's: always refused).",
    ),
    batch: Path = env_option(
        None,
        "--batch",
        envvar="ASSAY_MARK_BATCH",
        help="JSON-lines file the offline records are appended to (with --offline).",
    ),
    server: str | None = server_option(),
    token: str | None = token_option(),
    ca_bundle: Path | None = ca_bundle_option(),
    unsafe_http: bool = unsafe_http_option(),
    as_json: bool = json_flag(),
) -> None:
    """Mark images: invisible watermark + signed Content Credentials + a record in the register."""
    if server:
        if offline or kit or batch:
            raise InvalidInput(
                "--server marks on the register; --offline, --kit and --batch mark here with a kit",
                hint="leave out --server (ASSAY_SERVER) to mark with a kit, or the kit options to mark remotely",
            )
        target = remote_mode.Remote(server, token, ca_bundle, unsafe_http)
        return remote_mode.mark(
            target, images, system=system, out=out, visible_label=visible_label, as_json=as_json, remark=remark
        )
    if offline:
        _mark_offline(
            images,
            system=system,
            out=out,
            visible_label=visible_label,
            kit=kit,
            batch=batch,
            as_json=as_json,
            config=get_config(ctx),
            remark=remark,
        )
        return
    if kit or batch:
        raise InvalidInput("--kit and --batch only apply with --offline", hint="add --offline, or leave them out")
    from assay.provenance.marking import mark_images

    plan_marked_paths(images, out)
    db = open_db(ctx)
    env = provenance_env(ctx)
    data = [read_file(p, what="an image", give="give image files") for p in images]
    results = mark_images(
        db,
        env,
        images=data,
        system_id=system,
        principal=operator(),
        visible_label=visible_label,
        names=[str(p) for p in images],
        remark=remark,
    )
    integrate_log(ctx, db)
    for path, r in zip(images, results, strict=True):
        written = marked_path(path, out, r.media_type)
        written.write_bytes(r.data)
        if as_json:
            print_json_line(r.as_dict() | {"input": str(path), "output": str(written)})
        else:
            console.print(
                f"[green]marked[/green] {escape(str(path))} -> {escape(str(written))}  mark "
                f"[bold]{r.mark.hex}[/bold]  log entry {r.log_index}",
                highlight=False,
            )


def _mark_offline(
    images: list[Path],
    *,
    system: str,
    out: Path | None,
    visible_label: bool,
    kit: Path | None,
    batch: Path | None,
    as_json: bool,
    config: Config,
    remark: bool = False,
) -> None:
    from assay.provenance.marking import OfflineMarker

    if kit is None or batch is None:
        raise InvalidInput(
            "offline marking needs --kit FILE and --batch FILE",
            hint="get a kit with 'assay keys kit --provider ID --out kit.json'",
        )
    try:
        kit_data = json.loads(read_file(kit))
    except ValueError:
        raise InvalidInput(
            f"{kit} is not a marking kit (not JSON)", hint="use the file 'assay keys kit' wrote"
        ) from None
    plan_marked_paths(images, out)
    marker = OfflineMarker(kit_data, kit.with_name(kit.name + ".counter"))
    if marker.version_2:
        err_console.print(
            f"[yellow]note:[/] {escape(str(kit))} is a kit of format 2: it marks with watermark version 2, whose"
            " tile can be removed from the picture's own fold. Ask the register for a new kit ('assay keys kit')."
        )
    for path in images:
        data, entry = marker.mark(
            read_file(path, what="an image", give="give image files"),
            system_id=system,
            visible_label=visible_label,
            name=str(path),
            max_bytes=config.max_upload_bytes,
            max_pixels=config.max_pixels,
            remark=remark,
        )
        target = marked_path(path, out, entry["media_type"])
        target.write_bytes(data)
        # Appended with a flush per line, so a crash loses at most the image being marked.
        with open(batch, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if as_json:
            print_json_line(
                {
                    "input": str(path),
                    "output": str(target),
                    "mark_id": entry["mark_id"],
                    "recorded": False,
                    "batch": str(batch),
                }
            )
        else:
            console.print(
                f"[green]marked offline[/green] {escape(str(path))} -> {escape(str(target))}  mark "
                f"[bold]{entry['mark_id']}[/bold] (record it with 'assay marks record {escape(str(batch))}')",
                highlight=False,
            )


# ---------------------------------------------------------------------------------------------- assay marks


@marks_app.command("record")
def marks_record(
    ctx: typer.Context,
    batch: Path = typer.Argument(..., help="The JSON-lines batch 'assay mark --offline' wrote."),
    remote: str = env_option(
        None, "--remote", envvar="ASSAY_REMOTE", help="Record at this register's API instead of the local database."
    ),
    token: str | None = token_option(),
    ca_bundle: Path | None = ca_bundle_option(),
    unsafe_http: bool = unsafe_http_option(),
    as_json: bool = json_flag(),
) -> None:
    """Record a batch of marks made offline (all or nothing; safe to repeat)."""
    entries = []
    for n, line in enumerate(read_file(batch).decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise InvalidInput(f"line {n} of {batch} is not JSON", hint="fix or remove that line") from None
    if remote:
        with remote_mode.Remote(remote, token, ca_bundle, unsafe_http).client() as register:
            result = register.record_batch(entries)
    else:
        from assay.provenance.marking import record_batch

        db = open_db(ctx)
        results = record_batch(db, provenance_env(ctx), entries=entries, principal=operator())
        integrate_log(ctx, db)
        result = {"recorded": sum(r["status"] == "recorded" for r in results), "results": results}
    if as_json:
        print_json(result)
    else:
        console.print(
            f"recorded {result['recorded']} of {len(entries)} marks "
            f"({len(entries) - result['recorded']} were already recorded)"
        )


@marks_app.command("list")
def marks_list(
    ctx: typer.Context,
    system: str = env_option(None, "--system", envvar="ASSAY_MARKS_SYSTEM", help="Only this system's marks."),
    limit: int = env_option(20, "--limit", envvar="ASSAY_MARKS_LIMIT", help="How many, newest first."),
    as_json: bool = json_flag(),
) -> None:
    """List recorded marks, newest first."""
    from assay.provenance.records import list_marks

    items = list_marks(
        open_db(ctx), system_id=system, per_page=max(1, min(limit, 10_000)), count=False, oversight=True
    ).items  # the local operator
    if as_json:
        print_json(items)
        return
    _print_marks(items)


def _print_marks(items: list[dict[str, Any]]) -> None:
    """A table that stays readable at 80 columns: the system id column takes what the others leave."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("mark", no_wrap=True)
    table.add_column("made (UTC)", no_wrap=True)
    table.add_column("system", overflow="fold")
    table.add_column("size", no_wrap=True)
    table.add_column("log", justify="right", no_wrap=True)
    for m in items:
        table.add_row(
            m["mark_id"],
            m["created_at"].replace("T", " ")[:16],
            escape(m["system_id"]),
            f"{m['width']}x{m['height']}",
            "" if m["log_index"] is None else str(m["log_index"]),
        )
    console.print(table, highlight=False)
