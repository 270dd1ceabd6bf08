"""``assay check``: images and texts, one file or a whole batch, locally or against a register's API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from assay.cli import remote as remote_mode
from assay.cli._common import (
    console,
    env_option,
    err_console,
    get_config,
    json_flag,
    open_db,
    print_json_line,
)
from assay.cli._files import expand, is_text_name, read_input
from assay.cli.remote import ca_bundle_option, server_option, unsafe_http_option
from assay.config import Config
from assay.errors import AssayError, InvalidInput

# ---------------------------------------------------------------------------------------------- assay check


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
    chunk_size: int = env_option(32, "--chunk-size", envvar="ASSAY_CHECK_CHUNK_SIZE", help="Files per task."),
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
        target = remote_mode.Remote(server or remote, None, ca_bundle, unsafe_http)
        code = remote_mode.check(
            target,
            [Path(p) for p in paths],
            workers=workers,
            report=lambda verdicts, n: report_verdicts(
                verdicts, n, vkey=log_key, strict=log_key is not None, as_json=as_json
            ),
        )
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
    files = [str(p) for p in expand([Path(p) for p in paths])]
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
        # Workers examine (the CPU work); this process resolves what they found, a batch at a time. They get no
        # index of field messages: it reads the database, which stays in this process.
        shipped = replace(material, field_index=None)
        with ProcessPoolExecutor(max_workers=n_workers, initializer=_worker_init, initargs=(shipped,)) as pool:
            yield from _resolved(db, config, _completed(pool, _examine_one, files), batch=32)
    finally:
        db.dispose()


def _resolved(db: Any, config: Config, examined: Iterator[Any], *, batch: int = 1) -> Iterator[dict[str, Any]]:
    """Verdicts for examined files, resolved ``batch`` at a time (one query per batch); errors pass through."""
    from assay.provenance.resolving import resolve_many

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
