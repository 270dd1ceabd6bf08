"""The CLI's remote mode: ``systems publish``, ``systems update``, ``mark`` and ``check`` against a register's
API from another machine, with ``--server``/``ASSAY_SERVER`` and ``--token``/``ASSAY_TOKEN``.

Each of those commands branches here at its top when a server is given; the local commands stay as they are.
Output is the local commands' own: the register's answers are turned back into the views the local code
prints (``SystemView`` for systems, the mark record for ``mark``, the verdict for ``check``), and the command
prints them as it prints its own, so text and ``--json`` are the same whichever way a command ran. This module
imports no other command module (they import it). The HTTP side is :mod:`assay.client`.

``mark`` runs on the register: the image is uploaded and comes back marked and signed. Offline marking kits
(``assay mark --offline``) carry the register-wide watermark key; a provider who only needs to mark uses its
token, and no key ever leaves the register (docs/register.md, "Working from another machine").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.markup import escape

from assay.cli._common import console, env_option, print_json_line
from assay.cli._files import content_type, expand, marked_path, plan_marked_paths, read_file, read_input
from assay.client import RegisterClient, RemoteError
from assay.errors import InvalidInput
from assay.register.views import SystemView

__all__ = [
    "Remote",
    "ca_bundle_option",
    "check",
    "confirm_deployer",
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


def _system_view(api: dict[str, Any]) -> SystemView:
    """The register's answer as the ``SystemView`` the local command prints (the same text, the same --json)."""
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


def publish(remote: Remote, document: bytes, *, media_type: str, provider: str | None, reason: str) -> SystemView:
    """Publish a disclosure on the register (``systems publish --server``); the system as recorded."""
    with remote.client() as register:
        answer = register.publish(document, media_type=media_type, provider=provider, reason=reason)
    return _system_view(answer)


def update(
    remote: Remote,
    system_id: str,
    document: bytes,
    *,
    media_type: str,
    expected_version: int | None,
    reason: str,
) -> SystemView:
    """Add a version on the register (``systems update --server``); the system as recorded."""
    with remote.client() as register:
        answer = register.update(
            system_id, document, media_type=media_type, expected_version=expected_version, reason=reason
        )
    return _system_view(answer)


def confirm_deployer(remote: Remote, system_id: str, *, decision: str) -> dict[str, Any]:
    """Confirm or deny deploying a system, as the token's organisation (``systems confirm-deployer --server``)."""
    with remote.client() as register:
        return register.confirm_deployer(system_id, decision=decision)


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
    plan_marked_paths(images, out)
    done = 0
    with remote.client() as register:
        for path in images:
            data = read_file(path, what="an image", give="give image files")
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
            target = marked_path(path, out, marked.record.get("media_type", ""))
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


def check(
    remote: Remote, paths: list[Path], *, workers: int, report: Callable[[Iterator[dict[str, Any]], int], int]
) -> int:
    """``assay check`` against a register's ``POST /api/v1/check``: the verdicts, as they come, go to ``report``
    (the local command's, :func:`assay.cli.check.report_verdicts`, which verifies the proofs and picks the exit
    code) with the number of files. A register that cannot be reached stops the run with one error instead of
    one per file."""
    files = [str(p) for p in expand(paths)]
    if not files:
        raise InvalidInput(
            "no files to check",
            hint="give images, texts (.txt, .md, .html, .docx), folders that contain them, or - for standard input",
        )
    n_threads = max(1, min(workers if workers > 0 else (os.cpu_count() or 1) * 2, len(files), 16))
    with remote.client() as register:
        return report(_verdicts(register, files, n_threads), len(files))


def _verdicts(register: RegisterClient, files: list[str], n_threads: int) -> Iterator[dict[str, Any]]:
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
