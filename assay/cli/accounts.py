"""``assay providers`` and ``assay tokens``: the organisations that answer for systems, and their API tokens.

Run next to the register's database as its operator (the oversight body). Every command that prints results
takes ``--json``; a token's secret is printed once, alone on standard output.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.table import Table

from assay.cli._common import console, env_option, err_console, get_config, json_flag, open_db, operator, print_json
from assay.cli._show import page_json
from assay.register.access import create_token, list_tokens, revoke_token
from assay.register.service import add_provider, list_providers, to_dict

providers_app = typer.Typer(
    help="Providers and deployers: the organisations that answer for systems.", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="API tokens: providers publish with them, the oversight body administers.", no_args_is_help=True
)


def install(app: typer.Typer) -> None:
    app.add_typer(providers_app, name="providers")
    app.add_typer(tokens_app, name="tokens")


# ------------------------------------------------------------------------------------------- providers


@providers_app.command("add")
def providers_add(
    ctx: typer.Context,
    provider_id: str = typer.Argument(..., help="Short public id: lower-case letters, digits, '-' (e.g. acme)."),
    name: str = env_option(..., "--name", envvar="ASSAY_REGISTER_NAME", help="Legal name."),
    jurisdiction: str = env_option(
        "", "--jurisdiction", envvar="ASSAY_REGISTER_JURISDICTION", help="Country or region (e.g. DE, EU, US-CA)."
    ),
    website: str = env_option("", "--website", envvar="ASSAY_REGISTER_WEBSITE", help="Public website."),
    as_json: bool = json_flag(),
) -> None:
    """Register a provider or deployer."""
    with open_db(ctx).write() as session:
        view = add_provider(
            session, id=provider_id, name=name, jurisdiction=jurisdiction, website=website, principal=operator()
        )
    if as_json:
        print_json(to_dict(view))
        return
    console.print(
        f"[green]added[/green] provider {view.id} ({escape(view.name)}). "
        f"Give it a token: assay tokens create --provider {view.id}",
        highlight=False,
    )


@providers_app.command("list")
def providers_list(
    ctx: typer.Context,
    page: int = env_option(1, "--page", envvar="ASSAY_REGISTER_PAGE", min=1, help="Page number, from 1."),
    per_page: int = env_option(
        None,
        "--per-page",
        envvar="ASSAY_REGISTER_PER_PAGE",
        min=1,
        help="Providers per page (default ASSAY_PAGE_SIZE).",
    ),
    as_json: bool = json_flag(),
) -> None:
    """List providers."""
    config = get_config(ctx)
    with open_db(ctx).read() as session:
        result = list_providers(session, page=page, per_page=min(per_page or config.page_size, config.max_page_size))
    if as_json:
        print_json(page_json(result))
        return
    table = Table("id", "name", "jurisdiction", "systems", title=f"{result.total} providers")
    for p in result.items:
        table.add_row(p.id, escape(p.name), escape(p.jurisdiction), str(p.system_count))
    console.print(table)


# ------------------------------------------------------------------------------------------- tokens


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    provider: str = env_option(
        None, "--provider", envvar="ASSAY_REGISTER_PROVIDER", help="Make a token for this provider."
    ),
    admin: bool = env_option(
        False, "--admin", envvar="ASSAY_REGISTER_ADMIN", help="Make an admin token for the oversight body."
    ),
    label: str = env_option(
        "", "--label", envvar="ASSAY_REGISTER_LABEL", help="A note to recognise the token by (e.g. 'CI pipeline')."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Make an API token. The secret is printed once; only its hash is stored."""
    with open_db(ctx).write() as session:
        issued = create_token(session, provider_id=provider, admin=admin, label=label, actor=operator())
    if as_json:
        print_json({"token": issued.secret, **issued.info.as_dict()})
        return
    err_console.print(
        f"[green]created[/green] {issued.info.role} token {issued.info.id}"
        + (f" for provider {issued.info.provider_id}" if issued.info.provider_id else "")
        + ". Store it now: it is not shown again.",
        highlight=False,
    )
    if issued.info.provider_id:
        err_console.print(
            f"The provider uses it from its own machine: ASSAY_SERVER={get_config(ctx).base_url} ASSAY_TOKEN=<token> "
            "assay systems publish FILE / assay mark IMAGES --system ID (docs/register.md, "
            '"Working from another machine").',
            highlight=False,
            soft_wrap=True,
        )
    # The secret alone on stdout, so `TOKEN=$(assay tokens create ...)` works.
    sys.stdout.write(issued.secret + "\n")


@tokens_app.command("list")
def tokens_list(
    ctx: typer.Context,
    provider: str = env_option(
        None, "--provider", envvar="ASSAY_REGISTER_PROVIDER", help="Only this provider's tokens."
    ),
    active: bool = env_option(False, "--active", envvar="ASSAY_REGISTER_ACTIVE", help="Leave out revoked tokens."),
    as_json: bool = json_flag(),
) -> None:
    """List tokens (ids, prefixes, roles; never secrets)."""
    with open_db(ctx).read() as session:
        tokens = list_tokens(session, provider_id=provider, include_revoked=not active)
    if as_json:
        print_json([t.as_dict() for t in tokens])
        return
    table = Table("id", "prefix", "role", "provider", "label", "created", "state")
    for t in tokens:
        state = "[green]active[/]" if t.active else f"[red]revoked {t.revoked_at:%Y-%m-%d}[/]"
        table.add_row(
            str(t.id), t.prefix + "…", t.role, t.provider_id or "", escape(t.label), f"{t.created_at:%Y-%m-%d}", state
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    token: str = typer.Argument(..., help="The token's id or prefix (from 'assay tokens list')."),
    as_json: bool = json_flag(),
) -> None:
    """Revoke a token: it stops working at once."""
    with open_db(ctx).write() as session:
        info = revoke_token(session, token, actor=operator())
    if as_json:
        print_json(info.as_dict())
        return
    console.print(f"[green]revoked[/green] token {info.id} ({info.prefix}…)", highlight=False)
