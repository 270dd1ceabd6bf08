"""``assay text``: text watermark keys and records, run next to the register's database as its operator.

    assay text register --system lindenholt-assistant --tokenizer ./models/lumen-chat     # folder or tokenizer.json
    assay text key export --system lindenholt-assistant --out lumen.textkey.json          # for the generation servers
    assay text record --system lindenholt-assistant answer1.txt answer2.txt               # optional records

Checking text is ``assay check`` (files, folders, or ``-`` for standard input).
"""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli._common import (
    console,
    env_option,
    err_console,
    json_flag,
    open_db,
    operator,
    print_json,
    provenance_env,
)
from assay.errors import InvalidInput

text_app = typer.Typer(help="Text provenance: systems' text watermark keys and records.", no_args_is_help=True)
key_app = typer.Typer(help="Text watermark keys.", no_args_is_help=True)
text_app.add_typer(key_app, name="key")


def install(app: typer.Typer) -> None:
    app.add_typer(text_app, name="text")


def _system_option() -> str:
    return env_option(..., "--system", "-s", envvar="ASSAY_TEXT_SYSTEM", help="The registered system's id.")


@text_app.command("register")
def register(
    ctx: typer.Context,
    system: str = _system_option(),
    tokenizer: Path = env_option(
        ...,
        "--tokenizer",
        "-t",
        envvar="ASSAY_TEXT_TOKENIZER",
        help="The system's tokenizer.json, or the local model folder that holds it.",
    ),
    context_width: int | None = env_option(
        None,
        "--context-width",
        envvar="ASSAY_TEXT_CONTEXT_WIDTH",
        help="Preceding tokens that seed the mark (1-8; default 2, assay.textmark's DEFAULT_CONTEXT_WIDTH).",
        show_default=False,
    ),
    as_json: bool = json_flag(),
) -> None:
    """Register the tokenizer a text system generates with and issue its text key (replacing any previous key)."""
    from assay.provenance.text import register_text_watermark
    from assay.textmark import DEFAULT_CONTEXT_WIDTH, TextTokenizer

    path = tokenizer / "tokenizer.json" if tokenizer.is_dir() else tokenizer
    TextTokenizer.from_path(tokenizer)  # a clear error for a folder without tokenizer.json, before anything else
    info = register_text_watermark(
        open_db(ctx),
        provenance_env(ctx),
        system_id=system,
        tokenizer_json=path.read_bytes(),
        principal=operator(),
        context_width=DEFAULT_CONTEXT_WIDTH if context_width is None else context_width,
    )
    if as_json:
        print_json(info.as_dict())
        return
    console.print(f"text key {info.key_id} (number {info.number}) issued for {system}; log entry {info.log_index}")
    console.print(f"next: assay text key export --system {system} --out {system}.textkey.json", style="dim")


@key_app.command("export")
def key_export(
    ctx: typer.Context,
    system: str = _system_option(),
    out: Path = env_option(..., "--out", "-o", envvar="ASSAY_TEXT_KEY_OUT", help="Where to write the key file."),
    as_json: bool = json_flag(),
) -> None:
    """Write the system's current text key (secret) for its generation servers (mode 0600)."""
    from assay.files import create_once
    from assay.provenance.text import export_text_key

    key = export_text_key(open_db(ctx), provenance_env(ctx), system_id=system, principal=operator())
    if out.exists():
        raise InvalidInput(f"{out} already exists", hint="choose another --out (an old key file is not overwritten)")
    create_once(out, key.to_json().encode() + b"\n")  # mode 0600
    if as_json:
        print_json({"key_id": key.key_id, "system_id": system, "file": str(out)})
        return
    console.print(f"wrote text key {key.key_id} for {system} to {out}: keep it secret (like a password)")
    err_console.print(
        "load it with TextKey.from_json(...) and WatermarkLogitsProcessor, or ASSAY_TEXT_KEY_FILE for vLLM",
        style="dim",
    )


@key_app.command("list")
def key_list(
    ctx: typer.Context,
    system: str = env_option(None, "--system", "-s", envvar="ASSAY_TEXT_SYSTEM", help="Only this system's keys."),
    as_json: bool = json_flag(),
) -> None:
    """Text keys issued (public facts only)."""
    from assay.provenance.text import list_text_keys

    with open_db(ctx).read() as s:
        keys = [k.as_dict() for k in list_text_keys(s, system_id=system)]
    if as_json:
        print_json(keys)
        return
    for k in keys:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "current"
        console.print(
            f"{k['key_id']}  {k['system_id']}  #{k['number']}  {state}  tokenizer {k['tokenizer_sha256'][:12]}"
        )


@key_app.command("revoke")
def key_revoke(
    ctx: typer.Context,
    system: str = _system_option(),
    reason: str = env_option("", "--reason", envvar="ASSAY_TEXT_REVOKE_REASON", help="Why (shown publicly)."),
    as_json: bool = json_flag(),
) -> None:
    """Revoke the system's current text key (after a leak); issue a new one with 'assay text register'."""
    from assay.provenance.text import revoke_text_key

    info = revoke_text_key(open_db(ctx), system_id=system, principal=operator(), reason=reason)
    if as_json:
        print_json(info.as_dict())
        return
    console.print(f"text key {info.key_id} of {system} revoked")


@text_app.command("record")
def record(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Generated texts (.txt, .md, .html, .docx), one text per file."),
    system: str = _system_option(),
    as_json: bool = json_flag(),
) -> None:
    """Record generated texts (their SHA-256 only) so that a check of the exact text finds them in the log."""
    from assay.provenance.text import record_texts
    from assay.provenance.textfiles import extract_text

    texts = []
    for f in files:
        try:
            texts.append(extract_text(f.read_bytes(), str(f)))
        except OSError as exc:
            raise InvalidInput(f"cannot read {f}: {exc.strerror}", hint="check the path") from None
    out = record_texts(open_db(ctx), provenance_env(ctx), system_id=system, texts=texts, principal=operator())
    if as_json:
        print_json(out)
        return
    for f, r in zip(files, out, strict=True):
        console.print(f"{f}: recorded (sha256 {r['sha256'][:16]}..., log entry {r['log_index']})")
