"""The CLI's remote mode: ``systems publish``, ``systems update``, ``mark`` and ``check`` against a register's
API from another machine, with ``--server``/``ASSAY_SERVER`` and ``--token``/``ASSAY_TOKEN``.

Each of those commands branches here at its top when a server is given; the local commands stay as they are.
Output is the local commands' own: the register's answers are turned back into the views the local code
prints (``SystemView`` for systems, the mark record for ``mark``, the verdict for ``check``), so text and
``--json`` are the same whichever way a command ran. The HTTP side is :mod:`assay.client`.

``mark`` runs on the register: the image is uploaded and comes back marked and signed. Offline marking kits
(``assay mark --offline``) carry the register-wide watermark key; a provider who only needs to mark uses its
token, and no key ever leaves the register (docs/register.md, "Working from another machine").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.markup import escape

from assay.cli._common import console, env_option, print_json, print_json_line
from assay.client import RegisterClient, RemoteError
from assay.errors import InvalidInput

__all__ = [
    "Remote",
    "ca_bundle_option",
    "check",
    "mark",
    "publish",
    "server_option",
    "token_option",
    "unsafe_http_option",
    "update",
]


# ------------------------------------------------------------------------------------------------ options


def server_option() -> Any:
    return env_option(
        None,
        "--server",
        envvar="ASSAY_SERVER",
        help="Work on the register at this address (https://...) through its API, instead of the local "
        "database; for providers on their own machines.",
    )


def token_option() -> Any:
    return env_option(
        None,
        "--token",
        envvar="ASSAY_TOKEN",
        help="Your API token for --server (from the register's operator: 'assay tokens create --provider ID'). "
        "Prefer the ASSAY_TOKEN variable: a flag shows in the process list. Never printed.",
    )


def ca_bundle_option() -> Any:
    return env_option(
        None,
        "--ca-bundle",
        envvar="ASSAY_CA_BUNDLE",
        help="PEM file of the CA certificates to trust for --server instead of the system's (a register "
        "whose certificate comes from a private CA). TLS is always verified.",
    )


def unsafe_http_option() -> Any:
    return env_option(
        False,
        "--unsafe-http",
        envvar="ASSAY_UNSAFE_HTTP",
        help="UNSAFE: allow a plain http:// --server on another machine (the token crosses the network "
        "unencrypted). Plain http to this machine (localhost) needs no flag.",
    )


@dataclass(frozen=True)
class Remote:
    """Where a remote command goes, and with what. ``repr`` hides the token."""

    server: str
    token: str | None = None
    ca_bundle: Path | None = None
    unsafe_http: bool = False

    def __repr__(self) -> str:
        return f"Remote(server={self.server!r}, token={'<hidden>' if self.token else None})"

    def client(self) -> RegisterClient:
        return RegisterClient(self.server, token=self.token, ca_bundle=self.ca_bundle, unsafe_http=self.unsafe_http)


# ------------------------------------------------------------------------------------------------ systems


def _media_type(path: Path, raw: bytes) -> str:
    if path.suffix.lower() == ".json" or raw.lstrip()[:1] in (b"{", b"["):
        return "application/json"
    return "application/yaml"


def _system_view(api: dict[str, Any]) -> Any:
    """The register's answer as the ``SystemView`` the local command prints (the same text, the same --json)."""
    from assay.register.service import SystemView

    values: dict[str, Any] = {}
    for f in fields(SystemView):
        key = "url" if f.name == "url_path" else f.name
        if key in api:
            values[f.name] = api[key]
    for key in ("created_at", "updated_at"):
        if isinstance(values.get(key), str):
            values[key] = datetime.fromisoformat(values[key])
    try:
        return SystemView(**values)
    except TypeError:
        raise RemoteError(
            "the register's answer lacks fields of a system",
            hint="the register runs another version of Assay; compare 'assay --version' with its /api/docs",
            unreachable=True,
        ) from None


def _print_published(verb: str, remote: Remote, view: Any, as_json: bool) -> None:
    from assay.cli.register import _print_system
    from assay.register.service import to_dict

    if as_json:
        print_json(to_dict(view))
        return
    if verb == "published":
        console.print(f"[green]published[/green] {remote.server}{view.url_path}", highlight=False)
    else:
        console.print(f"[green]updated[/green] {view.id} to version {view.version_number}", highlight=False)
    _print_system(view)


def publish(remote: Remote, file: Path, *, provider: str | None, reason: str, as_json: bool) -> None:
    from assay.cli.register import _load

    document, _ = _load(file)
    with remote.client() as register:
        answer = register.publish(document, media_type=_media_type(file, document), provider=provider, reason=reason)
    _print_published("published", remote, _system_view(answer), as_json)


def update(
    remote: Remote, system_id: str, file: Path, *, expected_version: int | None, reason: str, as_json: bool
) -> None:
    from assay.cli.register import _load

    document, _ = _load(file)
    with remote.client() as register:
        answer = register.update(
            system_id,
            document,
            media_type=_media_type(file, document),
            expected_version=expected_version,
            reason=reason,
        )
    _print_published("updated", remote, _system_view(answer), as_json)


# ------------------------------------------------------------------------------------------------ mark


def mark(
    remote: Remote,
    images: list[Path],
    *,
    system: str,
    out: Path | None,
    visible_label: bool,
    as_json: bool,
    remark: bool = False,
) -> None:
    """Mark on the register, one image per request; each marked file is written as soon as it comes back.

    Unlike the local command (one transaction for the whole run), each image is its own record: a failure
    stops the run, and the error says how many were marked and written before it."""
    from assay.cli.provenance import _plan_targets, _read, _target

    _plan_targets(images, out)
    done = 0
    with remote.client() as register:
        for path in images:
            data = _read(path)
            try:
                marked = register.mark(data, system_id=system, visible_label=visible_label, remark=remark)
            except RemoteError as exc:
                if exc.http_status in (409, 413, 415, 422):  # about this file (not the token, the system or the server)
                    exc.message = f"{path}: {exc.message}"
                if done:
                    exc.message += f" ({done} of {len(images)} images were marked and written before it)"
                raise
            finally:
                del data
            target = _target(path, out, marked.record.get("media_type", ""))
            target.write_bytes(marked.data)
            done += 1
            record = marked.record
            if as_json:
                print_json_line(record | {"input": str(path), "output": str(target)})
            else:
                console.print(
                    f"[green]marked[/green] {escape(str(path))} -> {escape(str(target))}  mark "
                    f"[bold]{record.get('mark_id')}[/bold]  log entry {record.get('log_index')}",
                    highlight=False,
                )


# ------------------------------------------------------------------------------------------------ check


def check(remote: Remote, paths: list[Path], *, workers: int, log_key: str | None, as_json: bool) -> int:
    """``assay check`` against a register's ``POST /api/v1/check``: the local command's verdicts, proofs
    verified here against ``--log-key``, the same exit codes (:func:`assay.cli.check.report_verdicts`).
    A register that cannot be reached stops the run with one error instead of one per file."""
    from assay.cli.check import _expand, report_verdicts

    files = [str(p) for p in _expand(paths)]
    if not files:
        raise InvalidInput(
            "no files to check",
            hint="give images, texts (.txt, .md, .html, .docx), folders that contain them, or - for standard input",
        )
    n_threads = max(1, min(workers if workers > 0 else (os.cpu_count() or 1) * 2, len(files), 16))
    with remote.client() as register:
        verdicts = _verdicts(register, files, n_threads)
        return report_verdicts(verdicts, len(files), vkey=log_key, strict=log_key is not None, as_json=as_json)


def _verdicts(register: RegisterClient, files: list[str], n_threads: int) -> Iterator[dict[str, Any]]:
    from assay.cli.check import content_type, read_input

    def one(path: str) -> dict[str, Any]:
        name = "standard input" if path == "-" else path
        try:
            data = read_input(path)
        except OSError as exc:
            return _error(name, "unreadable", f"cannot read {name}: {exc.strerror}", "check the path and permissions")
        try:
            return register.check(data, content_type(path)) | {"file": name}
        except RemoteError as exc:
            if exc.unreachable:
                raise
            return {"file": name, "status": "error", "error": exc.as_dict()}
        finally:
            del data

    # Threads overlap the uploads and the waiting; the register does the work.
    with ThreadPoolExecutor(max_workers=n_threads) as threads:
        futures = [threads.submit(one, f) for f in files]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except RemoteError:
            for fut in futures:
                fut.cancel()
            raise


def _error(path: str, code: str, message: str, hint: str) -> dict[str, Any]:
    return {"file": path, "status": "error", "error": {"code": code, "message": message, "hint": hint, "problems": []}}
