"""``assay mark``, ``assay check``, ``assay marks``, ``assay ca`` and ``assay keys``: provenance from the shell.

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
import sys
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from assay.cli._common import (
    console,
    env_option,
    err_console,
    get_config,
    json_flag,
    open_db,
    print_json,
    print_json_line,
)
from assay.cli.remote import ca_bundle_option, server_option, token_option, unsafe_http_option
from assay.config import Config
from assay.errors import AssayError, InvalidInput, NotFound

ca_app = typer.Typer(help="The register's certificate authority for C2PA signing certificates.", no_args_is_help=True)
keys_app = typer.Typer(help="Marking keys: namespaces and offline marking kits.", no_args_is_help=True)
marks_app = typer.Typer(help="Mark records: list them, record offline batches.", no_args_is_help=True)

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".avif", ".heic", ".heif"}


def install(app: typer.Typer) -> None:
    app.command("mark")(mark)
    app.command("check")(check)
    app.add_typer(marks_app, name="marks")
    app.add_typer(ca_app, name="ca")
    app.add_typer(keys_app, name="keys")


def _operator() -> Any:
    from assay.register.access import Principal

    return Principal.local_operator()


def _env(ctx: typer.Context) -> Any:
    from assay.provenance.environment import ProvenanceEnv

    return ProvenanceEnv.open(get_config(ctx))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"there is no file {str(path)!r}", hint="check the path") from None
    except IsADirectoryError:
        raise InvalidInput(f"{str(path)!r} is a folder", hint="give image files") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {str(path)!r}: {exc.strerror}", hint="check the permissions") from None


def _integrate(ctx: typer.Context, db: Any) -> None:
    # Integrate the new log entries now, so the marks' proofs exist when this command returns.
    from assay.transparency import integrate

    integrate(db, get_config(ctx))


_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


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
        from assay.cli import remote

        if offline or kit or batch:
            raise InvalidInput(
                "--server marks on the register; --offline, --kit and --batch mark here with a kit",
                hint="leave out --server (ASSAY_SERVER) to mark with a kit, or the kit options to mark remotely",
            )
        target = remote.Remote(server, token, ca_bundle, unsafe_http)
        return remote.mark(
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
        )
        return
    if kit or batch:
        raise InvalidInput("--kit and --batch only apply with --offline", hint="add --offline, or leave them out")
    from assay.provenance.marking import mark_images

    _plan_targets(images, out)
    db = open_db(ctx)
    env = _env(ctx)
    data = [_read(p) for p in images]
    results = mark_images(
        db,
        env,
        images=data,
        system_id=system,
        principal=_operator(),
        visible_label=visible_label,
        names=[str(p) for p in images],
        remark=remark,
    )
    _integrate(ctx, db)
    for path, r in zip(images, results, strict=True):
        written = _target(path, out, r.media_type)
        written.write_bytes(r.data)
        if as_json:
            print_json_line(r.as_dict() | {"input": str(path), "output": str(written)})
        else:
            console.print(
                f"[green]marked[/green] {escape(str(path))} -> {escape(str(written))}  mark "
                f"[bold]{r.mark.hex}[/bold]  log entry {r.log_index}",
                highlight=False,
            )


def _target(path: Path, out: Path | None, media_type: str) -> Path:
    suffix = _SUFFIX.get(media_type, path.suffix)
    if out is None:
        return path.with_name(f"{path.stem}.marked{suffix}")
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{path.stem}{suffix}"


def _plan_targets(images: list[Path], out: Path | None) -> None:
    """Before anything is marked: the output folder exists and every input gets its own writable output file,
    so a run never records marks whose files it then cannot write (or writes over each other)."""
    from assay.provenance.media import MARKABLE_TYPES, sniff_media_type

    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "it is a file" if out.exists() and not out.is_dir() else exc.strerror
            raise InvalidInput(
                f"cannot use {str(out)!r} as the folder for the marked files: {reason}",
                hint="give --out a folder (it is created if missing), or leave it out to write NAME.marked.EXT",
            ) from None
    seen: dict[Path, Path] = {}
    for path in images:
        try:
            with open(path, "rb") as fh:
                media_type = sniff_media_type(fh.read(32))
        except OSError:
            continue  # reported when the file is read
        if media_type is None:
            continue  # reported when the file is decoded
        target = _target(path, out, media_type if media_type in MARKABLE_TYPES else "image/png")
        if target in seen:
            raise InvalidInput(
                f"{str(seen[target])!r} and {str(path)!r} would both be written to {str(target)!r}",
                hint="rename one of them, or mark them in separate runs with different --out folders",
            )
        seen[target] = path
        if target.is_dir() or not os.access(target.parent, os.W_OK):
            raise InvalidInput(
                f"cannot write the marked file {str(target)!r}",
                hint="check the folder's permissions, or choose another with --out",
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
) -> None:
    from assay.provenance.marking import OfflineMarker

    if kit is None or batch is None:
        raise InvalidInput(
            "offline marking needs --kit FILE and --batch FILE",
            hint="get a kit with 'assay keys kit --provider ID --out kit.json'",
        )
    try:
        kit_data = json.loads(_read(kit))
    except ValueError:
        raise InvalidInput(
            f"{kit} is not a marking kit (not JSON)", hint="use the file 'assay keys kit' wrote"
        ) from None
    _plan_targets(images, out)
    marker = OfflineMarker(kit_data, kit.with_name(kit.name + ".counter"))
    for path in images:
        data, entry = marker.mark(
            _read(path),
            system_id=system,
            visible_label=visible_label,
            name=str(path),
            max_bytes=config.max_upload_bytes,
            max_pixels=config.max_pixels,
        )
        target = _target(path, out, entry["media_type"])
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
    for n, line in enumerate(_read(batch).decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise InvalidInput(f"line {n} of {batch} is not JSON", hint="fix or remove that line") from None
    if remote:
        from assay.cli.remote import Remote

        with Remote(remote, token, ca_bundle, unsafe_http).client() as register:
            result = register.record_batch(entries)
    else:
        from assay.provenance.marking import record_batch

        db = open_db(ctx)
        results = record_batch(db, _env(ctx), entries=entries, principal=_operator())
        _integrate(ctx, db)
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


# ---------------------------------------------------------------------------------------------- assay check


def is_text_name(name: str) -> bool:
    from assay.provenance.textfiles import is_text_name as text_name

    return name == "-" or text_name(name)


_TEXT_TYPES = {".html": "text/html", ".htm": "text/html", ".md": "text/markdown", ".markdown": "text/markdown"}
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def content_type(path: str) -> str:
    """The type a file is sent to ``POST /api/v1/check`` as: a text by its name, any other file as bytes."""
    if not is_text_name(Path(path).name):
        return "application/octet-stream"
    suffix = Path(path).suffix.lower()
    return _DOCX if suffix == ".docx" else _TEXT_TYPES.get(suffix, "text/plain") + "; charset=utf-8"


def read_input(path: str) -> bytes:
    """A file's bytes; ``-`` is standard input."""
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _expand(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    fp = Path(root) / f
                    if fp.suffix.lower() in _IMAGE_SUFFIXES or is_text_name(fp.name):
                        yield fp
        else:
            yield p


_worker: dict[str, Any] = {}


def _worker_init(material: Any) -> None:
    # A worker holds only the verifier material (detection keys, trust anchors, registered certificates):
    # no database connection, no private key.
    _worker["material"] = material


def _examine_one(path: str) -> Any:
    """Runs in a worker: examine one file; its Evidence, or its error as a plain dict."""
    from assay.provenance.evidence import examine

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {
            "file": path,
            "status": "error",
            "error": {
                "code": "unreadable",
                "message": f"cannot read {path}: {exc.strerror}",
                "hint": "check the path and permissions",
            },
        }
    try:
        return examine(data, _worker["material"], name=path)
    except AssayError as exc:
        return {"file": path, "status": "error", "error": exc.as_dict()}
    except Exception as exc:  # noqa: BLE001 - a bug must cost one file's verdict, not the whole run
        return _internal_error(path, exc)
    finally:
        del data  # checked media is dropped at once


def _internal_error(path: str, exc: BaseException) -> dict[str, Any]:
    return {
        "file": path,
        "status": "error",
        "error": {
            "code": "internal_error",
            "message": f"checking {path} failed: {type(exc).__name__}",
            "hint": "run again with --workers 1 --verbose and report the traceback",
            "problems": [],
        },
    }


def check(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        None,
        help="Files, folders (searched recursively for images and .txt/.md/.html/.docx texts) or object-storage "
        "prefixes (s3://bucket/dir/); - reads a text from standard input.",
    ),
    workers: int = env_option(
        0, "--workers", "-j", envvar="ASSAY_CHECK_WORKERS", help="Parallel processes (0 = one per CPU core)."
    ),
    remote: str = env_option(
        None,
        "--remote",
        envvar="ASSAY_REMOTE",
        help="The older name of --server: check with this register's API instead of the local database.",
    ),
    log_key: str = env_option(
        None,
        "--log-key",
        envvar="ASSAY_LOG_KEY",
        help="The log's verifier key, to verify proofs offline (default: the local log's).",
    ),
    from_list: str = env_option(
        None,
        "--from-list",
        envvar="ASSAY_CHECK_FROM_LIST",
        help="Also check the files or URLs listed in this file, one a line ('-': standard input).",
    ),
    out: Path = env_option(
        None,
        "--out",
        "-o",
        envvar="ASSAY_CHECK_OUT",
        help="Write the results to this folder (JSON lines and Parquet); run again with it to resume.",
    ),
    scheduler: str = env_option(
        None,
        "--scheduler",
        envvar="ASSAY_DASK_SCHEDULER",
        help="Check on this Dask cluster (tcp://host:8786); default: a local one, or a process pool for few files.",
    ),
    engine: str = env_option(
        "auto", "--engine", envvar="ASSAY_CHECK_ENGINE", help="auto, dask (a local cluster) or pool (processes)."
    ),
    chunk_size: int = env_option(8, "--chunk-size", envvar="ASSAY_CHECK_CHUNK_SIZE", help="Files per task."),
    resolve_batch: int = env_option(
        500, "--resolve-batch", envvar="ASSAY_CHECK_RESOLVE_BATCH", help="Marks resolved with one database query."
    ),
    send_bytes: bool = env_option(
        False,
        "--send-bytes",
        envvar="ASSAY_CHECK_SEND_BYTES",
        help="Read the files here and send them to the workers (when the workers cannot reach them).",
    ),
    storage_options: str = env_option(
        None,
        "--storage-options",
        envvar="ASSAY_CHECK_STORAGE_OPTIONS",
        help='fsspec options for object storage, as JSON, e.g. \'{"endpoint_url": "http://minio:9000"}\'.',
    ),
    server: str | None = server_option(),
    ca_bundle: Path | None = ca_bundle_option(),
    unsafe_http: bool = unsafe_http_option(),
    as_json: bool = json_flag(),
) -> None:
    """Check images and texts for Assay marks and Content Credentials.

    Exit 1: a file is attributed to a registered system or provider; 3: a mark was found but cannot be
    attributed (copied from another picture, or unknown to the register); 0: neither; 2: errors.

    One file (or - for standard input) prints its whole verdict; folders, lists and object-storage prefixes
    are checked as a batch (a process pool or a Dask cluster, results to --out, resumable)."""
    paths = list(paths or [])
    if server or remote:  # --remote is the older name of --server; checking is public: no token is sent
        from assay.cli import remote as remote_mode

        target = remote_mode.Remote(server or remote, None, ca_bundle, unsafe_http)
        code = remote_mode.check(target, [Path(p) for p in paths], workers=workers, log_key=log_key, as_json=as_json)
        raise typer.Exit(code)
    from assay.cli.check_batch import check_batch, is_batch

    if is_batch(paths, from_list=from_list, out=out, scheduler=scheduler):
        vkey = log_key
        if vkey is None:
            from assay.transparency import verifier_key

            vkey = verifier_key(open_db(ctx))

        def finish(verdict: dict[str, Any]) -> dict[str, Any]:
            if not _verify_log_proof(verdict, vkey) and log_key is not None and verdict.get("status") != "error":
                # Asked to verify against a given log key: a mark whose proof is missing or wrong fails closed.
                reason = str((verdict.get("log") or {}).get("verification") or "no proof")
                return {
                    "seq": verdict.get("seq"),
                    "file": verdict.get("file"),
                    "status": "error",
                    "error": {
                        "kind": "log_proof",
                        "code": "verification_failed",
                        "message": f"the mark's transparency-log proof did not verify: {reason}",
                        "hint": "check that --log-key is this register's log key; if it is, report the file",
                    },
                }
            return verdict

        check_batch(
            ctx,
            paths,
            from_list=from_list,
            out=out,
            scheduler=scheduler,
            engine=engine,
            workers=workers,
            chunk_size=chunk_size,
            resolve_batch=resolve_batch,
            send_bytes=send_bytes,
            storage_options=storage_options,
            as_json=as_json,
            finish=finish,
            print_verdict=_print_verdict,
        )
        return
    if not paths:
        raise InvalidInput(
            "nothing to check", hint="give images or texts, folders, - for standard input, or --from-list"
        )
    files = [str(p) for p in _expand([Path(p) for p in paths])]
    if not files:
        raise InvalidInput(
            "no files to check",
            hint="give images, texts (.txt, .md, .html, .docx), folders that contain them, or - for standard input",
        )
    texts = [f for f in files if is_text_name(Path(f).name)]
    files = [f for f in files if f not in texts]
    config = get_config(ctx)
    vkey = log_key
    db = open_db(ctx)  # creates/upgrades the schema once, before the workers start
    if vkey is None:
        from assay.transparency import verifier_key

        vkey = verifier_key(db)
    db.dispose()  # workers open their own connections
    n_workers = workers if workers > 0 else (os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(files) or 1))
    verdicts = _chain(_run_text_checks(texts, config), _run_checks(files, config, n_workers))
    raise typer.Exit(
        report_verdicts(verdicts, len(files) + len(texts), vkey=vkey, strict=log_key is not None, as_json=as_json)
    )


def report_verdicts(
    verdicts: Iterator[dict[str, Any]], total: int, *, vkey: str | None, strict: bool, as_json: bool
) -> int:
    """Print each verdict as it comes (with its log proof verified against ``vkey``), and answer the exit code:
    2 on errors, 1 when a file is attributed, 3 when a mark was found that cannot be attributed, 0 otherwise.
    ``strict`` (a log key was given): a mark whose proof is missing or wrong is an error, failing closed.
    Images and texts alike (a text verdict has ``kind: text`` and its own exit codes)."""
    from assay.provenance.textcheck import TEXT_EXIT_CODES
    from assay.provenance.verdict import EXIT_CODES

    found = errors = 0
    codes: set[int] = set()
    progress = Progress(
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=total < 2 or not err_console.is_terminal,
    )
    with progress:
        task = progress.add_task("check", total=total)
        for verdict in verdicts:
            verified = _verify_log_proof(verdict, vkey)
            if verdict.get("status") == "error":
                errors += 1
            elif strict and not verified:
                errors += 1
                err_console.print(
                    f"[bold red]error[/bold red] {escape(str(verdict.get('file')))}: the mark's "
                    f"transparency-log proof did not verify: {escape(verdict['log']['verification'])}",
                    highlight=False,
                )
            else:
                codes.add((TEXT_EXIT_CODES if verdict.get("kind") == "text" else EXIT_CODES).get(verdict["status"], 0))
                found += bool(verdict.get("attributed"))
            _print_verdict(verdict, as_json)
            progress.advance(task)
    if not as_json and total > 1:
        err_console.print(f"{total} checked: {found} attributed, {errors} errors")
    return 2 if errors else (1 if 1 in codes else (3 if 3 in codes else 0))


def _chain(*its: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for it in its:
        yield from it


def _run_text_checks(texts: list[str], config: Config) -> Iterator[dict[str, Any]]:
    """Texts are checked in this process (tokenising and screening the key ring takes milliseconds)."""
    if not texts:
        return
    from assay.provenance.textfiles import extract_text

    db = None
    try:
        for path in texts:
            name = "standard input" if path == "-" else path
            try:
                data = read_input(path)
                from assay.db import Database
                from assay.provenance.textcheck import check_text

                db = db or Database(config.resolved_database_url)
                yield check_text(db, config, extract_text(data, name), name=name).as_dict(oversight=True) | {
                    "file": name
                }
            except OSError as exc:
                yield {
                    "file": name,
                    "status": "error",
                    "error": {
                        "code": "unreadable",
                        "message": f"cannot read {name}: {exc.strerror}",
                        "hint": "check the path and permissions",
                    },
                }
            except AssayError as exc:
                yield {"file": name, "status": "error", "error": exc.as_dict()}
    finally:
        if db is not None:
            db.dispose()


def _run_checks(files: list[str], config: Config, n_workers: int) -> Iterator[dict[str, Any]]:
    if not files:
        return
    from assay.db import Database
    from assay.provenance.evidence import VerifierMaterial

    db = Database(config.resolved_database_url)
    try:
        material = VerifierMaterial.from_register(db, config)
        if n_workers == 1:
            _worker_init(material)
            yield from _resolved(db, config, map(_examine_one, files))
            return
        # Workers examine (the CPU work); this process resolves what they found, a batch at a time.
        with ProcessPoolExecutor(max_workers=n_workers, initializer=_worker_init, initargs=(material,)) as pool:
            yield from _resolved(db, config, _completed(pool, _examine_one, files), batch=32)
    finally:
        db.dispose()


def _resolved(db: Any, config: Config, examined: Iterator[Any], *, batch: int = 1) -> Iterator[dict[str, Any]]:
    """Verdicts for examined files, resolved ``batch`` at a time (one query per batch); errors pass through."""
    from assay.provenance.verdict import resolve_many

    pending: list[Any] = []

    def flush() -> Iterator[dict[str, Any]]:
        try:
            verdicts = resolve_many(pending, db, config)
        except AssayError as exc:
            verdicts = None
            errors = [{"file": ev.name, "status": "error", "error": exc.as_dict()} for ev in pending]
        if verdicts is not None:
            # The register's own operator runs this next to its database: the raw scores are shown.
            errors = [v.as_dict(oversight=True) | {"file": ev.name} for ev, v in zip(pending, verdicts, strict=True)]
        pending.clear()
        yield from errors

    for item in examined:
        if isinstance(item, dict):
            yield item
            continue
        pending.append(item)
        if len(pending) >= batch:
            yield from flush()
    if pending:
        yield from flush()


def _completed(pool: Executor, fn: Any, files: list[str]) -> Iterator[Any]:
    """Results as they complete; a worker that dies (out of memory, a crash in a decoder) is one file's error."""
    futures = {pool.submit(fn, f): f for f in files}
    for fut in as_completed(futures):
        try:
            yield fut.result()
        except Exception as exc:  # noqa: BLE001 - BrokenProcessPool and the like
            yield _internal_error(futures[fut], exc)


def _verify_log_proof(verdict: dict[str, Any], vkey: str | None) -> bool:
    """Verify the mark's tlog-proof offline with :func:`assay.provenance.verify_verdict`, and write the outcome
    into ``verdict["log"]`` (``verified``, ``verification``).

    Returns False when a resolved mark's proof is missing or does not verify (True when there is nothing to
    verify: no mark, or a mark the register has not resolved to a record). Fails closed: a resolved mark
    without a log entry is a failure, since every recorded mark is logged in the same transaction.
    """
    from assay.errors import VerificationError
    from assay.provenance.verify import verify_verdict

    if verdict.get("kind") == "text":
        return _verify_text_log_proof(verdict, vkey)
    log: dict[str, Any] | None = verdict.get("log")
    if not log and verdict.get("status") != "marked":
        return True
    if log and not (log.get("proof") and log.get("entry")):
        log["verified"] = False
        log["verification"] = (
            log.get("proof_error") or "the log has not integrated this entry yet; check again in a moment"
        )
        return False
    try:
        if not vkey:
            raise VerificationError("no log key to verify with (give --log-key)", hint="")
        inclusion = verify_verdict(verdict, log_key=vkey)
    except VerificationError as exc:
        log = verdict["log"] = log or {"index": None}
        log["verified"] = False
        if not vkey:
            log["verification"] = exc.message
            return False
        log["verification"] = f"FAILED: {exc.message}"
        verdict.setdefault("notes", []).append(
            "The register did not show this mark's transparency-log entry."
            if "no transparency-log entry" in exc.message
            else "The transparency-log proof of this mark did not verify."
        )
        return False
    assert log is not None  # a verified proof came from the verdict's log entry
    log["verified"] = True
    log["verification"] = f"included in {inclusion.origin} at tree size {inclusion.tree_size}"
    return True


def _verify_text_log_proof(verdict: dict[str, Any], vkey: str | None) -> bool:
    from assay.errors import VerificationError
    from assay.provenance.textcheck import verify_text_verdict

    log = verdict.get("log")
    if not log:
        return verdict.get("status") not in ("marked", "recorded")
    try:
        if not vkey:
            raise VerificationError("no log key to verify with (give --log-key)", hint="")
        inclusion = verify_text_verdict(verdict, log_key=vkey)
    except VerificationError as exc:
        log["verified"] = False
        log["verification"] = exc.message if not vkey else f"FAILED: {exc.message}"
        return False
    log["verified"] = True
    log["verification"] = f"included in {inclusion.origin} at tree size {inclusion.tree_size}"
    return True


def _print_verdict(v: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json_line(v)
        return
    name = escape(str(v.get("file")))
    if v.get("status") == "error":
        e = v.get("error", {})
        err_console.print(
            f"[bold red]error[/bold red] {name}: {escape(e.get('message', ''))}"
            + (f" (hint: {escape(e.get('hint'))})" if e.get("hint") else ""),
            highlight=False,
        )
        return
    style = "bold red" if v.get("ai_generated") else ("yellow" if v.get("found") else "green")
    console.print(f"[{style}]{name}[/{style}]: {escape(v.get('headline', ''))}", highlight=False)
    if v.get("kind") == "text":
        _print_text_verdict(v)
        return
    ev = v.get("evidence", {})
    m, w = ev.get("manifest", {}), ev.get("watermark", {})
    parts = [
        f"credentials {m.get('state')}",
        "watermark " + ("found" if w.get("found") else "not found"),
    ]
    if ev.get("match"):
        parts.append(f"picture {ev['match']['assessment']}")
    log = v.get("log")
    if log:
        parts.append(
            (f"log entry {log['index']}: " if log.get("index") is not None else "log: ")
            + ("proof verified" if log.get("verified") else log.get("verification", ""))
        )
    console.print("  " + "; ".join(parts), highlight=False, style="dim")
    if v.get("confidence"):
        console.print(f"  {escape(v['confidence'])}", highlight=False)
    if v.get("system"):
        s = v["system"]
        console.print(
            f"  training data: {escape(s['training_data_headline'])} ({s['training_data_url']})", highlight=False
        )
        from assay.provenance.wording import OUTCOME_LABELS, impact_label

        outcome = OUTCOME_LABELS.get(s["outcome"], str(s["outcome"]))
        console.print(
            f"  red lines and impact: {outcome}, {impact_label(s['impact_level'])}"
            + ("; suspended" if s.get("suspended") else ""),
            highlight=False,
        )
    for note in v.get("notes", []):
        console.print(f"  note: {escape(note)}", highlight=False)
    if v.get("share_url"):
        console.print(f"  share this verdict: {v['share_url']}", highlight=False, overflow="fold")


def _print_text_verdict(v: dict[str, Any]) -> None:
    w = v["evidence"]["watermark"]
    parts = [f"{w['tokens']} tokens, {w['keys_screened']} system key(s) screened"]
    if v.get("confidence"):
        parts.append(v["confidence"])
    log = v.get("log")
    if log:
        parts.append(
            f"log entry {log['index']}: " + ("proof verified" if log.get("verified") else log.get("verification", ""))
        )
    console.print("  " + "; ".join(parts), highlight=False, style="dim")
    s = v.get("system")
    if s:
        models = ", ".join(" ".join(filter(None, (m.get("name"), m.get("version")))) for m in s.get("models", []))
        if models:
            console.print(f"  model: {escape(models)}", highlight=False)
        console.print(
            f"  training data: {escape(s['training_data_headline'])} ({s['training_data_url']})", highlight=False
        )
    for note in v.get("notes", []):
        console.print(f"  note: {escape(note)}", highlight=False)


# ---------------------------------------------------------------------------------------------- assay ca


def _ca_name(ctx: typer.Context) -> str:
    from urllib.parse import urlsplit

    return f"Assay register {urlsplit(get_config(ctx).base_url).hostname or 'localhost'}"


def _root_dir_option(help_text: str, *, required: bool) -> Any:
    return env_option(... if required else None, "--root-dir", envvar="ASSAY_CA_ROOT_DIR", help=help_text)


def _print_ca(ctx: typer.Context, as_json: bool, what: str) -> None:
    from assay.provenance.ca import CertificateAuthority, fingerprint

    ca = CertificateAuthority.open(get_config(ctx).data_dir, create=False)
    info = {
        "folder": str(ca.folder),
        "root_fingerprint": fingerprint(ca.root),
        "intermediate_fingerprint": fingerprint(ca.intermediate),
        "root_key": "online" if ca.root_key_online else "offline",
    }
    if as_json:
        print_json(info)
        return
    console.print(
        f"{what}: certificate authority in {ca.folder}; root fingerprint {info['root_fingerprint']}, "
        f"root key {info['root_key']}",
        highlight=False,
    )


@ca_app.command("init")
def ca_init(
    ctx: typer.Context,
    root_dir: Path = _root_dir_option(
        "Keep the root offline: create it (or use the one) in this folder, e.g. on removable media, and put "
        "only an intermediate signed by it into the data folder.",
        required=False,
    ),
    as_json: bool = json_flag(),
) -> None:
    """Create the register's root, intermediate and marking keys in the data folder (if absent)."""
    from assay.errors import ConfigError
    from assay.provenance.ca import ca_folder, create_offline_root, install_intermediate

    config = get_config(ctx)
    if root_dir is not None:
        folder = ca_folder(config.data_dir)
        if (folder / "root.key.pem").exists():
            raise ConfigError(
                f"the data folder's CA ({folder}) already keeps its root key online",
                hint=f"move it out instead: 'assay ca move-root --root-dir {root_dir}'",
            )
        create_offline_root(root_dir, name=_ca_name(ctx))
        if not (folder / "intermediate.pem").exists():
            install_intermediate(config.data_dir, root_dir, name=_ca_name(ctx))
    _env(ctx)  # creates what is still missing (the whole hierarchy, without --root-dir) and the marking keys
    _print_ca(ctx, as_json, "ready")


@ca_app.command("move-root")
def ca_move_root(
    ctx: typer.Context,
    root_dir: Path = _root_dir_option(
        "An empty folder, e.g. on removable media, to move the root's key into.", required=True
    ),
    as_json: bool = json_flag(),
) -> None:
    """Take the root's private key out of the data folder (the server needs only the intermediate)."""
    from assay.provenance.ca import move_root_offline

    move_root_offline(get_config(ctx).data_dir, root_dir)
    _print_ca(ctx, as_json, f"root key moved to {root_dir}")


@ca_app.command("install-intermediate")
def ca_install_intermediate(
    ctx: typer.Context,
    root_dir: Path = _root_dir_option("The folder holding the register's root key (root.key.pem).", required=True),
    as_json: bool = json_flag(),
) -> None:
    """Sign a new intermediate with the offline root and install it in the data folder (restart the server)."""
    from assay.provenance.ca import install_intermediate

    install_intermediate(get_config(ctx).data_dir, root_dir, name=_ca_name(ctx))
    _print_ca(ctx, as_json, "new intermediate installed")


@ca_app.command("show")
def ca_show(ctx: typer.Context, as_json: bool = json_flag()) -> None:
    """Show the trust anchor (what /trust/anchors.pem serves) and the CA's certificates."""
    from assay.provenance.ca import fingerprint

    env = _env(ctx)
    info = {
        "root": {
            "subject": env.ca.root.subject.rfc4514_string(),
            "fingerprint": fingerprint(env.ca.root),
            "not_after": env.ca.root.not_valid_after_utc.isoformat(),
            "key": "online" if env.ca.root_key_online else "offline",
        },
        "intermediate": {
            "subject": env.ca.intermediate.subject.rfc4514_string(),
            "fingerprint": fingerprint(env.ca.intermediate),
            "not_after": env.ca.intermediate.not_valid_after_utc.isoformat(),
        },
        "accepted_anchors": [fingerprint(c) for c in env.ca.extra_anchors],
        "anchors_pem": env.anchors_pem().decode(),
    }
    if as_json:
        print_json(info)
    else:
        sys.stdout.write(info["anchors_pem"])
        err_console.print(f"root {info['root']['fingerprint']} ({info['root']['subject']}), key {info['root']['key']}")


@ca_app.command("issue")
def ca_issue(
    ctx: typer.Context,
    provider: str = env_option(..., "--provider", "-p", envvar="ASSAY_PROVIDER", help="The provider's id."),
    public_key: Path = env_option(
        None,
        "--public-key",
        envvar="ASSAY_CA_PUBLIC_KEY",
        help="The provider's own EC P-256 public key (PEM); default: the register "
        "generates the key and keeps it in the data folder.",
    ),
    as_json: bool = json_flag(),
) -> None:
    """Issue a C2PA claim-signing certificate for a provider."""
    from assay.provenance.credentials import issue_certificate

    db = open_db(ctx)
    view = issue_certificate(
        db,
        _env(ctx),
        provider_id=provider,
        principal=_operator(),
        public_key_pem=_read(public_key) if public_key else None,
    )
    _integrate(ctx, db)
    if as_json:
        print_json(view.as_dict() | {"chain_pem": view.chain_pem})
    else:
        console.print(
            f"issued certificate {view.serial} for {provider} (fingerprint {view.fingerprint}), "
            f"valid until {view.not_after:%Y-%m-%d}; log entry {view.issued_log_index}",
            highlight=False,
        )


@ca_app.command("import")
def ca_import(
    ctx: typer.Context,
    provider: str = env_option(..., "--provider", "-p", envvar="ASSAY_PROVIDER", help="The provider's id."),
    cert: Path = env_option(..., "--cert", envvar="ASSAY_CA_CERT", help="The chain (leaf first), PEM."),
    key: Path = env_option(
        None,
        "--key",
        envvar="ASSAY_CA_KEY",
        help="Its private key (PEM), if the register should sign for this provider.",
    ),
    as_json: bool = json_flag(),
) -> None:
    """Bring your own certificate: validated against the C2PA profile and the accepted anchors."""
    from assay.provenance.credentials import import_certificate

    db = open_db(ctx)
    view = import_certificate(
        db,
        _env(ctx),
        provider_id=provider,
        principal=_operator(),
        chain_pem=_read(cert),
        private_key_pem=_read(key) if key else None,
    )
    _integrate(ctx, db)
    if as_json:
        print_json(view.as_dict())
    else:
        console.print(f"imported certificate {view.serial} for {provider} ({view.subject})", highlight=False)


@ca_app.command("accept-anchor")
def ca_accept_anchor(
    ctx: typer.Context,
    anchor: Path = typer.Argument(..., help="A root CA certificate (PEM)."),
    as_json: bool = json_flag(),
) -> None:
    """Trust another root for providers who bring their own certificates (it is published in anchors.pem)."""
    from assay.provenance.ca import fingerprint, load_chain

    env = _env(ctx)
    accepted = []
    for cert in load_chain(_read(anchor), what=str(anchor)):
        env.ca.accept_anchor(cert)
        accepted.append({"subject": cert.subject.rfc4514_string(), "fingerprint": fingerprint(cert)})
    if as_json:
        print_json(accepted)
        return
    for a in accepted:
        console.print(f"accepted {a['subject']} ({a['fingerprint']})", highlight=False)


@ca_app.command("revoke")
def ca_revoke(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Certificate fingerprint or serial (see 'assay ca list')."),
    reason: str = env_option("", "--reason", envvar="ASSAY_REASON", help="Why (recorded on the log)."),
    as_json: bool = json_flag(),
) -> None:
    """Revoke a provider's signing certificate (listed in /trust/crl.der)."""
    from assay.provenance.credentials import revoke_certificate

    db = open_db(ctx)
    view = revoke_certificate(db, fingerprint_or_serial=ref, principal=_operator(), reason=reason)
    _integrate(ctx, db)
    if as_json:
        print_json(view.as_dict())
        return
    console.print(f"revoked certificate {view.serial} of {view.provider_id}", highlight=False)


@ca_app.command("list")
def ca_list(
    ctx: typer.Context,
    provider: str = env_option(None, "--provider", "-p", envvar="ASSAY_PROVIDER", help="Only this provider's."),
    as_json: bool = json_flag(),
) -> None:
    """List providers' signing certificates."""
    from assay.provenance.credentials import list_certificates

    db = open_db(ctx)
    with db.read() as session:
        views = list_certificates(session, provider_id=provider)
    if as_json:
        print_json([v.as_dict() for v in views])
        return
    for v in views:
        state = "revoked" if v.revoked_at else "active"
        console.print(
            f"{v.serial}  {v.provider_id}  {v.origin}  {state}  until {v.not_after:%Y-%m-%d}  {v.fingerprint}",
            highlight=False,
        )


# ---------------------------------------------------------------------------------------------- assay keys


@keys_app.command("kit")
def keys_kit(
    ctx: typer.Context,
    provider: str = env_option(..., "--provider", "-p", envvar="ASSAY_PROVIDER", help="The provider's id."),
    out: Path = env_option(..., "--out", "-o", envvar="ASSAY_KIT_OUT", help="Where to write the kit (0600)."),
    sequences: int = env_option(100_000, "--marks", envvar="ASSAY_KIT_MARKS", help="How many marks the kit may make."),
    as_json: bool = json_flag(),
) -> None:
    """Issue an offline marking kit for a provider. It holds secrets: hand it over securely."""
    from assay.provenance.marking import issue_kit

    # The file is made (empty, 0600) before the kit is issued: a kit whose file cannot be written would be a
    # namespace and a lease nobody can use.
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{out} exists already", hint="choose a new file; kits are never overwritten") from None
    except OSError as exc:
        raise InvalidInput(
            f"cannot create {out}: {exc.strerror}", hint="give a file in an existing folder you can write to"
        ) from None
    try:
        db = open_db(ctx)
        kit = issue_kit(db, _env(ctx), provider_id=provider, principal=_operator(), sequences=sequences)
    except BaseException:
        os.close(fd)
        out.unlink(missing_ok=True)
        raise
    with os.fdopen(fd, "w") as fh:
        json.dump(kit, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    _integrate(ctx, db)
    if as_json:  # what the kit is, never its secrets
        print_json(
            {
                "file": str(out),
                "provider_id": provider,
                "namespace": kit["namespace"]["number"],
                "marks": sequences,
                "systems": len(kit["systems"]),
            }
        )
        return
    console.print(
        f"wrote marking kit for {provider} to {out}: namespace {kit['namespace']['number']}, "
        f"{sequences:,} marks, {len(kit['systems'])} systems",
        highlight=False,
    )


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    provider: str = env_option(None, "--provider", "-p", envvar="ASSAY_PROVIDER", help="Only this provider's."),
    as_json: bool = json_flag(),
) -> None:
    """List mark namespaces (their key ids, never the keys)."""
    from assay.provenance.marking import list_namespaces

    db = open_db(ctx)
    with db.read() as session:
        items = list_namespaces(session, provider_id=provider)
    if as_json:
        print_json(items)
        return
    for n in items:
        console.print(
            f"{n['namespace']:>7}  {n['provider_id']}  {n['purpose']}  key {n['key_id']}  used "
            f"{n['used']}  {'revoked' if n['revoked_at'] else 'active'}",
            highlight=False,
        )


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    namespace: int = typer.Argument(..., help="The namespace number."),
    reason: str = env_option("", "--reason", envvar="ASSAY_REASON", help="Why (on the log)."),
    as_json: bool = json_flag(),
) -> None:
    """Revoke a namespace's key: marks not yet recorded under it can no longer be recorded."""
    from assay.provenance.marking import revoke_namespace

    db = open_db(ctx)
    info = revoke_namespace(db, number=namespace, principal=_operator(), reason=reason)
    _integrate(ctx, db)
    if as_json:
        print_json(info)
        return
    console.print(f"revoked namespace {namespace}")
