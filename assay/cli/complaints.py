"""``assay complaints``: the oversight body's side of the encrypted complaints channel.

Typical use, with the private key on the body's own machine and the server reached through its API::

    assay complaints keygen --out body-2026.key.json
    assay complaints publish-key --key body-2026.key.json --server https://register.example --token ast_...
    assay complaints pull --key body-2026.key.json --inbox ~/complaints --server ... --token ...
    assay complaints status 3f9c... acknowledged
    assay complaints reply 3f9c... --message "Thank you; we are looking into it."

Without ``--server`` the commands work on the database of ``--database-url``/``--data-dir`` directly.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from assay.cli._common import console, env_option, err_console, json_flag, open_db, print_json
from assay.complaints import crypto, keyfile
from assay.complaints.client import (
    ApiBackend,
    Backend,
    KeyRing,
    LocalBackend,
    current_key,
    default_inbox,
    pull,
    seal_reply,
)
from assay.complaints.stats import LABELS, STATUSES
from assay.errors import InvalidInput

app = typer.Typer(
    help="The encrypted complaints channel: keys, pulling and answering complaints.", no_args_is_help=True
)


def install(root: typer.Typer) -> None:
    root.add_typer(app, name="complaints")


def _server() -> Any:
    return env_option(
        None,
        "--server",
        envvar="ASSAY_COMPLAINTS_SERVER",
        help="Base URL of the register's server; without it, the local database is used.",
    )


def _token() -> Any:
    return env_option(
        None,
        "--token",
        envvar="ASSAY_COMPLAINTS_TOKEN",
        help="Admin API token for --server (made with 'assay tokens create --admin').",
    )


def _backend(ctx: typer.Context, server: str | None, token: str | None) -> Backend:
    if server:
        return ApiBackend(server, token or "")
    db = open_db(ctx)
    config = ctx.find_root().obj["config"]
    return LocalBackend(db, max_bytes=config.complaints_max_bytes)


def _passphrase_for(path: Path) -> str:
    env = os.environ.get("ASSAY_COMPLAINTS_PASSPHRASE")
    if env:
        return env
    return getpass.getpass(f"Passphrase for {path}: ")


def _inbox_option() -> Any:
    return env_option(
        None,
        "--inbox",
        envvar="ASSAY_COMPLAINTS_INBOX",
        help="Local folder the decrypted complaints are written to (keep it on an encrypted disk, outside any "
        "git checkout); 'reply' and 'status --reason' check the complaint's reply key in it.",
        show_default="$XDG_DATA_HOME/assay/complaints-inbox (~/.local/share/assay/complaints-inbox)",
    )


def _inbox(inbox: Path | None) -> Path:
    return inbox if inbox is not None else default_inbox()


def _keys_option() -> Any:
    return env_option(
        [],
        "--key",
        "-k",
        envvar="ASSAY_COMPLAINTS_KEY",
        help="A key file of the oversight body (repeat for old keys after a rotation).",
    )


@app.command()
def keygen(
    out: Path = env_option(
        ...,
        "--out",
        "-o",
        envvar="ASSAY_COMPLAINTS_KEY_OUT",
        help="Where to write the encrypted key file (keep it off the server).",
    ),
    kdf_memlimit: int = env_option(
        keyfile.KeyFileKdf().memlimit,
        "--kdf-memlimit",
        envvar="ASSAY_COMPLAINTS_KEY_KDF_MEMLIMIT",
        help="Argon2id memory in bytes to protect the key file (default 256 MiB).",
    ),
    as_json: bool = json_flag(),
) -> None:
    """Make the oversight body's key pair; the private key is encrypted with a passphrase you choose."""
    passphrase = os.environ.get("ASSAY_COMPLAINTS_PASSPHRASE")
    if not passphrase:
        passphrase = getpass.getpass("Choose a passphrase (12 characters or more): ")
        if getpass.getpass("Type it again: ") != passphrase:
            raise InvalidInput("the two passphrases differ", hint="run the command again")
    private, _ = crypto.generate_body_key()
    doc = keyfile.write_key_file(
        out, private, passphrase, kdf=keyfile.KeyFileKdf(opslimit=keyfile.KeyFileKdf().opslimit, memlimit=kdf_memlimit)
    )
    public = crypto.b64decode(doc["public_key"])
    result = {
        "key_id": doc["key_id"],
        "public_key": doc["public_key"],
        "fingerprint": crypto.fingerprint(public),
        "file": str(out),
    }
    if as_json:
        print_json(result)
        return
    console.print(
        f"Wrote [bold]{out}[/bold] (mode 0600). Keep it, and a backup, off the server; "
        "without it and its passphrase no complaint sealed to this key can be read."
    )
    console.print(
        f"key id       {result['key_id']}\nfingerprint  {result['fingerprint']}\npublic key   {result['public_key']}"
    )
    console.print("Next: [bold]assay complaints publish-key --key " + str(out) + "[/bold]")


@app.command("publish-key")
def publish_key(
    ctx: typer.Context,
    key: Path = env_option(
        ..., "--key", "-k", envvar="ASSAY_COMPLAINTS_KEY", help="The key file made by 'assay complaints keygen'."
    ),
    rotate: bool = env_option(
        False,
        "--rotate",
        envvar="ASSAY_COMPLAINTS_ROTATE",
        help="Replace the current key (complaints sealed to the old key stay readable with the old key file).",
    ),
    server: str = _server(),
    token: str = _token(),
    as_json: bool = json_flag(),
) -> None:
    """Publish the public key new complaints are sealed to, and record it on the transparency log."""
    public = keyfile.read_key_file_public(key)
    backend = _backend(ctx, server, token)
    kid = crypto.key_id(public)
    current = [k for k in backend.keys() if not k.get("retired_on")]
    # The demo key of 'assay demo load' is there to be replaced: the body's own key needs no --rotate for it.
    replacing_demo = bool(current) and bool(current[-1].get("demo")) and current[-1]["key_id"] != kid
    if current and current[-1]["key_id"] != kid and not rotate and not replacing_demo:
        raise InvalidInput(
            f"key {current[-1]['key_id']} is already published",
            hint="add --rotate to replace it; keep the old key file to read older complaints",
        )
    view = backend.publish_key(public)
    if as_json:
        print_json(view | {"replaced_demo_key": current[-1]["key_id"] if replacing_demo else None})
        return
    if replacing_demo:
        verb = f"Replaced the DEMO key {current[-1]['key_id']} with"
    else:
        verb = "Rotated to" if current and current[-1]["key_id"] != kid else "Published"
    console.print(
        f"{verb} key {view['key_id']} (fingerprint {view['fingerprint']}); transparency log entry {view['log_index']}."
    )


@app.command("keys")
def list_keys(ctx: typer.Context, server: str = _server(), token: str = _token(), as_json: bool = json_flag()) -> None:
    """List every key the oversight body published, newest last."""
    keys = _backend(ctx, server, token).keys()
    if as_json:
        print_json({"keys": keys})
        return
    table = Table()
    table.add_column("key id", no_wrap=True, min_width=16)  # never shortened: it names the key file to use
    for title in ("fingerprint", "published", "retired", "log entry", "kind"):
        table.add_column(title)
    for k in keys:
        table.add_row(
            k["key_id"],
            k["fingerprint"],
            k["published_on"],
            k["retired_on"] or "current",
            str(k["log_index"]),
            "[bold red]DEMO[/]" if k.get("demo") else "own",
        )
    console.print(table)
    if any(k.get("demo") and not k["retired_on"] for k in keys):
        _warn(
            "the current key is the DEMO key of 'assay demo load': its passphrase is public. "
            "Before real complaints arrive, publish the oversight body's own key (assay complaints keygen, publish-key)"
        )


@app.command("list")
def list_complaints(
    ctx: typer.Context,
    status: str = env_option(
        None, "--status", envvar="ASSAY_COMPLAINTS_STATUS", help=f"Only this status: {', '.join(STATUSES)}."
    ),
    system: str = env_option(
        None, "--system", envvar="ASSAY_COMPLAINTS_SYSTEM", help="Only complaints about this system id."
    ),
    overdue: bool = env_option(
        False, "--overdue", envvar="ASSAY_COMPLAINTS_OVERDUE", help="Only complaints past a deadline."
    ),
    server: str = _server(),
    token: str = _token(),
    as_json: bool = json_flag(),
) -> None:
    """List complaints with their status, days and deadline flags (no content: use 'pull' to read them)."""
    data = _backend(ctx, server, token).cases(status=status, system_id=system)
    rows = [c for c in data["complaints"] if c["overdue"] or not overdue]
    if as_json:
        print_json({"as_of": data["as_of"], "complaints": rows})
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=20)  # never shortened: 'reply' and 'status' need it whole
    for title in ("system", "status", "received", "acknowledge by", "answer by", "flags"):
        table.add_column(title, overflow="fold")
    for c in rows:
        table.add_row(
            c["id"],
            c["system_id"],
            LABELS.get(c["status"], c["status"]),
            c["received_on"],
            c["acknowledge_by"],
            c["answer_by"],
            "; ".join(c["flags"]) or "-",
            style="red" if c["overdue"] else None,
        )
    console.print(table)
    err_console.print(f"{len(rows)} complaint(s) as of {data['as_of']}")


@app.command("pull")
def pull_command(
    ctx: typer.Context,
    keys: list[Path] = _keys_option(),
    inbox: Path | None = _inbox_option(),
    server: str = _server(),
    token: str = _token(),
    as_json: bool = json_flag(),
) -> None:
    """Download new complaints, added information and replies, decrypt them here, write them to the inbox."""
    if not keys:
        raise InvalidInput("pulling needs the body's key file", hint="give --key FILE (repeat it for older keys)")
    result = pull(_backend(ctx, server, token), KeyRing(list(keys), _passphrase_for), _inbox(inbox))
    for warning in result.warnings:
        _warn(warning)
    if as_json:
        print_json(
            {
                "inbox": str(result.inbox),
                "cursor": result.cursor,
                "written": result.written,
                "warnings": result.warnings,
            }
        )
        return
    for w in result.written:
        console.print(f"{w['day']}  {w['complaint_id']}  {w['kind']:<11}  {w['path']}")
        if "undecryptable" in w:
            _warn(
                f"message {w['id']} of complaint {w['complaint_id']} could not be read ({w['undecryptable']}); "
                "its ciphertext is kept beside it"
            )
    unread = sum("undecryptable" in w for w in result.written)
    err_console.print(
        f"{len(result.written) - unread} new message(s) decrypted into {result.inbox}"
        + (f", {unread} could not be read" if unread else "")
    )


@app.command("reply")
def reply(
    ctx: typer.Context,
    complaint_id: str = typer.Argument(..., help="The complaint's id (see 'assay complaints list')."),
    message: str = env_option(None, "--message", "-m", envvar="ASSAY_COMPLAINTS_MESSAGE", help="The reply's text."),
    message_file: Path = env_option(
        None, "--message-file", envvar="ASSAY_COMPLAINTS_MESSAGE_FILE", help="Read the reply's text from this file."
    ),
    inbox: Path | None = _inbox_option(),
    server: str = _server(),
    token: str = _token(),
    as_json: bool = json_flag(),
) -> None:
    """Send a reply only the complainant's receipt can open (and a copy sealed to the body's own key)."""
    text = _text(message, message_file)
    backend = _backend(ctx, server, token)
    result = backend.reply(complaint_id, seal_reply(backend, complaint_id, text, inbox=_inbox(inbox), warn=_warn))
    if as_json:
        print_json({k: v for k, v in result.items() if k not in ("ciphertext", "body_copy")})
        return
    console.print(f"Reply sealed and stored for complaint {complaint_id} ({result['day']}).")


@app.command("status")
def status(
    ctx: typer.Context,
    complaint_id: str = typer.Argument(..., help="The complaint's id (see 'assay complaints list')."),
    new_status: str = typer.Argument(..., help=f"One of: {', '.join(STATUSES[1:])}."),
    reason: str = env_option(
        None, "--reason", envvar="ASSAY_REASON", help="Why (required for 'rejected'); sent sealed to the complainant."
    ),
    inbox: Path | None = _inbox_option(),
    server: str = _server(),
    token: str = _token(),
    as_json: bool = json_flag(),
) -> None:
    """Move a complaint forward: acknowledged, under_review, referred_to_provider, resolved or rejected."""
    backend = _backend(ctx, server, token)
    sealed = seal_reply(backend, complaint_id, reason, inbox=_inbox(inbox), warn=_warn) if reason else None
    result = backend.set_status(complaint_id, new_status, sealed)
    if as_json:
        print_json(result)
        return
    console.print(f"Complaint {complaint_id} is now {LABELS.get(result['status'], result['status'])}.")


def _warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {message}")


def _text(message: str | None, message_file: Path | None) -> str:
    if (message is None) == (message_file is None):
        raise InvalidInput("give the reply's text once", hint="use either --message TEXT or --message-file FILE")
    if message_file is not None:
        try:
            return message_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {message_file}: {exc}", hint="give a UTF-8 text file") from None
    return message or ""


# Re-exported for tests that drive the CLI against a server they start themselves.
__all__ = ["app", "current_key", "install"]
