"""``assay ca`` and ``assay keys``: the register's certificate authority and marking keys, as the local operator."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

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
    provenance_env,
)
from assay.cli._files import read_file
from assay.errors import InvalidInput

ca_app = typer.Typer(help="The register's certificate authority for C2PA signing certificates.", no_args_is_help=True)
keys_app = typer.Typer(help="Marking keys: namespaces and offline marking kits.", no_args_is_help=True)


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
    provenance_env(ctx)  # creates what is still missing (the whole hierarchy, without --root-dir) and the marking keys
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

    env = provenance_env(ctx)
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
        provenance_env(ctx),
        provider_id=provider,
        principal=operator(),
        public_key_pem=read_file(public_key) if public_key else None,
    )
    integrate_log(ctx, db)
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
        provenance_env(ctx),
        provider_id=provider,
        principal=operator(),
        chain_pem=read_file(cert),
        private_key_pem=read_file(key) if key else None,
    )
    integrate_log(ctx, db)
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

    env = provenance_env(ctx)
    accepted = []
    for cert in load_chain(read_file(anchor), what=str(anchor)):
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
    view = revoke_certificate(db, fingerprint_or_serial=ref, principal=operator(), reason=reason)
    integrate_log(ctx, db)
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
        kit = issue_kit(db, provenance_env(ctx), provider_id=provider, principal=operator(), sequences=sequences)
    except BaseException:
        os.close(fd)
        out.unlink(missing_ok=True)
        raise
    with os.fdopen(fd, "w") as fh:
        json.dump(kit, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    integrate_log(ctx, db)
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
    info = revoke_namespace(db, number=namespace, principal=operator(), reason=reason)
    integrate_log(ctx, db)
    if as_json:
        print_json(info)
        return
    console.print(f"revoked namespace {namespace}")


@keys_app.command("index")
def keys_index(ctx: typer.Context, as_json: bool = json_flag()) -> None:
    """Index the field messages of marks recorded without one (e.g. by an older process, mid-upgrade)."""
    from assay.provenance.fieldindex import index_missing

    db = open_db(ctx)
    done = index_missing(db, get_config(ctx).data_dir)
    if as_json:
        print_json({"indexed": done})
        return
    console.print(f"indexed the field messages of {done} marks", highlight=False)
