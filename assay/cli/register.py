"""``assay systems`` and ``assay schema``: the register's systems from the shell.

The CLI runs on the server, next to the database, so it acts as the local operator (the oversight body):
it may publish for any provider (``--provider``), suspend, reinstate and review. With ``--server`` a provider
publishes and updates from its own machine through the API (:mod:`assay.cli.remote`). Every command that prints
results takes ``--json``; errors go to stderr with a hint and exit code 2. Providers and tokens are
:mod:`assay.cli.accounts`; how a system is printed is :mod:`assay.cli._show`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from assay.cli import remote
from assay.cli._common import console, env_option, get_config, json_flag, open_db, operator, print_json
from assay.cli._files import read_file
from assay.cli._show import outcome_markup, page_json, print_findings, print_published, print_system
from assay.cli.remote import ca_bundle_option, server_option, token_option, unsafe_http_option
from assay.errors import InvalidInput, NotFound
from assay.register import service
from assay.register.access import authenticate
from assay.register.disclosure import disclosure_json_schema
from assay.register.labels import impact_label, level_numeral
from assay.register.search import SystemQuery

systems_app = typer.Typer(help="Publish, update, list and review AI systems in the register.", no_args_is_help=True)


def install(app: typer.Typer) -> None:
    app.add_typer(systems_app, name="systems")
    app.command("schema")(schema)


def _media_type(path: Path, raw: bytes) -> str:
    """How a disclosure file is sent to the API: JSON by its name or first character, else YAML."""
    if path.suffix.lower() == ".json" or raw.lstrip()[:1] in (b"{", b"["):
        return "application/json"
    return "application/yaml"


def _load(path: Path) -> tuple[bytes, str]:
    # The raw bytes go to the disclosure parser, which checks size and UTF-8 and reads YAML or JSON strictly.
    data = read_file(path, what="a disclosure file", give="give a .yaml or .json file", stdin=True)
    return data, "standard input" if str(path) == "-" else str(path)


# ------------------------------------------------------------------------------------------- systems


@systems_app.command("validate")
def systems_validate(
    file: Path = typer.Argument(..., help="The disclosure, YAML or JSON ('-' reads standard input)."),
    as_json: bool = json_flag(),
) -> None:
    """Check a disclosure and show its screening and impact level, without writing anything."""
    document, source = _load(file)
    preview = service.validate(document, source=source)
    if as_json:
        print_json(preview)
        return
    console.print(
        f"[green]valid[/green]: {escape(preview['name'])} — screening {outcome_markup(preview['outcome'])}, "
        f"{impact_label(preview['impact_level'])}",
        highlight=False,
    )
    print_findings(preview["findings"])


@systems_app.command("publish")
def systems_publish(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The disclosure, YAML or JSON ('-' reads standard input)."),
    provider: str = env_option(
        None,
        "--provider",
        envvar="ASSAY_REGISTER_PROVIDER",
        help="Provider id to publish for (default: provider.id in the disclosure; see 'assay providers list').",
    ),
    reason: str = env_option(
        "", "--reason", envvar="ASSAY_REGISTER_REASON", help="Why this is published (shown in the version history)."
    ),
    server: str | None = server_option(),
    token: str | None = token_option(),
    ca_bundle: Path | None = ca_bundle_option(),
    unsafe_http: bool = unsafe_http_option(),
    as_json: bool = json_flag(),
) -> None:
    """Publish a new system from a disclosure file: validate, screen, assess, record (version 1)."""
    document, source = _load(file)
    if server:
        target = remote.Remote(server, token, ca_bundle, unsafe_http)
        view = remote.publish(
            target, document, media_type=_media_type(file, document), provider=provider, reason=reason
        )
        return print_published("published", target.server, view, as_json)
    with open_db(ctx).write() as session:
        view = service.publish(
            session, document, principal=operator(), provider_id=provider, reason=reason, source=source
        )
    print_published("published", get_config(ctx).base_url, view, as_json)


@systems_app.command("confirm-deployer")
def systems_confirm_deployer(
    ctx: typer.Context,
    system_id: str = typer.Argument(..., help="The system whose disclosure names you as a deployer."),
    token: str = env_option(
        None,
        "--token",
        envvar="ASSAY_TOKEN",
        help="Your organisation's API token (the deployer is the token's provider; 'assay tokens create').",
    ),
    server: str | None = server_option(),
    ca_bundle: Path | None = ca_bundle_option(),
    unsafe_http: bool = unsafe_http_option(),
    deny: bool = env_option(
        False, "--deny", envvar="ASSAY_REGISTER_DENY", help="Say you do not deploy this system, instead of confirming."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Confirm, as the organisation a disclosure names as deployer, that you deploy the system (or --deny it).

    Until you do, pages, the API and the export show you as "named by the provider, not confirmed". Only your
    own token can answer; if the provider later changes what it says about you, confirm again.
    """
    if not token:
        raise InvalidInput(
            "confirming a deployer needs that organisation's own API token",
            hint="pass --token ast_... (or set ASSAY_TOKEN); the register's operator makes it with "
            "'assay tokens create --provider YOUR-ID'",
        )
    decision = "denied" if deny else "confirmed"
    if server:
        target = remote.Remote(server, token, ca_bundle, unsafe_http)
        out = remote.confirm_deployer(target, system_id, decision=decision)
        if as_json:
            print_json(out)
            return
        deps = [d for d in out.get("deployers", []) if d.get("status") == decision]
        console.print(f"[green]{decision}[/green] on {escape(server.rstrip('/'))}{out.get('url', '')}", highlight=False)
        for d in deps:
            console.print(f"Deployer: {escape(str(d['legal_name']))} — {escape(d['status_label'])}", highlight=False)
        return
    with open_db(ctx).write() as session:
        principal = authenticate(session, token)
        view = service.confirm_deployer(session, system_id, principal=principal, decision=decision)
    if as_json:
        print_json(service.to_dict(view))
        return
    console.print(f"[green]{decision}[/green] {get_config(ctx).base_url}{view.url_path}", highlight=False)
    print_system(view)


@systems_app.command("rescreen")
def systems_rescreen(
    ctx: typer.Context,
    system_ids: list[str] = typer.Argument(None, help="Systems to screen again (default with --all: every one)."),
    all_systems: bool = env_option(
        False, "--all", envvar="ASSAY_REGISTER_ALL", help="Every system screened under other rules than today's."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Screen systems again under the red-line rules in force (after the rules changed); logged, history kept."""
    if not system_ids and not all_systems:
        raise InvalidInput("name the systems to screen again, or pass --all", hint="assay systems rescreen --all")
    report = service.rescreen_many(open_db(ctx), system_ids or None, principal=operator())
    if as_json:
        print_json(report.as_dict())
        return
    for view in report.changed:
        console.print(f"{view.id}: now {outcome_markup(view.outcome)}", highlight=False)
    console.print(f"{len(report.changed)} of {report.checked} systems screened again under the rules in force")


@systems_app.command("update")
def systems_update(
    ctx: typer.Context,
    system_id: str = typer.Argument(..., help="The system's id."),
    file: Path = typer.Argument(..., help="The new disclosure, YAML or JSON ('-' reads standard input)."),
    expected_version: int = env_option(
        None,
        "--expected-version",
        envvar="ASSAY_REGISTER_EXPECTED_VERSION",
        help="Fail if the system is no longer at this version (default: current).",
    ),
    reason: str = env_option(
        "", "--reason", envvar="ASSAY_REGISTER_REASON", help="Why it changed (shown in the version history)."
    ),
    server: str | None = server_option(),
    token: str | None = token_option(),
    ca_bundle: Path | None = ca_bundle_option(),
    unsafe_http: bool = unsafe_http_option(),
    as_json: bool = json_flag(),
) -> None:
    """Add a new version to a system; earlier versions stay on record."""
    document, source = _load(file)
    if server:
        target = remote.Remote(server, token, ca_bundle, unsafe_http)
        view = remote.update(
            target,
            system_id,
            document,
            media_type=_media_type(file, document),
            expected_version=expected_version,
            reason=reason,
        )
        return print_published("updated", target.server, view, as_json)
    with open_db(ctx).write() as session:
        if expected_version is None:  # the version it is at now (read in this same write transaction)
            expected_version = service.current_version(session, system_id)
        view = service.update(
            session,
            system_id,
            document,
            expected_version=expected_version,
            principal=operator(),
            reason=reason,
            source=source,
        )
    print_published("updated", get_config(ctx).base_url, view, as_json)


@systems_app.command("list")
def systems_list(
    ctx: typer.Context,
    q: str = env_option(
        "", "--q", "-q", envvar="ASSAY_REGISTER_Q", help="Words to search for (names, providers, the whole disclosure)."
    ),
    provider: str = env_option(
        None, "--provider", envvar="ASSAY_REGISTER_PROVIDER", help="Only this provider's systems."
    ),
    capability: str = env_option(
        None, "--capability", envvar="ASSAY_REGISTER_CAPABILITY", help="Only systems declaring this capability."
    ),
    context: str = env_option(
        None, "--context", envvar="ASSAY_REGISTER_CONTEXT", help="Only systems used in this deployment context."
    ),
    outcome: str = env_option(
        None, "--outcome", envvar="ASSAY_REGISTER_OUTCOME", help="prohibited, high_risk, transparency or minimal."
    ),
    impact_level: int = env_option(None, "--impact-level", envvar="ASSAY_REGISTER_IMPACT_LEVEL", help="1 to 4."),
    status: str = env_option(None, "--status", envvar="ASSAY_REGISTER_STATUS", help="planned, in_use or withdrawn."),
    suspended: bool = env_option(
        None, "--suspended/--not-suspended", envvar="ASSAY_REGISTER_SUSPENDED", help="Only (not) suspended systems."
    ),
    sort: str = env_option("relevance", "--sort", envvar="ASSAY_REGISTER_SORT", help="relevance, name or updated."),
    page: int = env_option(1, "--page", envvar="ASSAY_REGISTER_PAGE", min=1, help="Page number, from 1."),
    per_page: int = env_option(
        None,
        "--per-page",
        envvar="ASSAY_REGISTER_PER_PAGE",
        min=1,
        help="Systems per page (default ASSAY_PAGE_SIZE).",
    ),
    as_json: bool = json_flag(),
) -> None:
    """List and search the register."""
    config = get_config(ctx)
    query = SystemQuery(
        q=q,
        provider=provider,
        capability=capability,
        context=context,
        outcome=outcome,
        impact_level=impact_level,
        status=status,
        suspended=suspended,
        sort=sort,
        page=page,
        per_page=per_page or config.page_size,
    ).validated(max_per_page=config.max_page_size)
    with open_db(ctx).read() as session:
        result = service.search(session, query)
    if as_json:
        print_json(page_json(result))
        return
    total = f"{result.total:,}" + ("" if result.total_is_exact else "+")
    table = Table(title=f"{total} systems")
    table.add_column("id", no_wrap=True)  # the id is what the other commands take: never cut it
    for heading in ("name", "provider", "screening", "level", "status"):
        table.add_column(heading)
    for s in result.items:
        screening = outcome_markup(s.outcome) + (" [red](suspended)[/]" if s.suspended else "")
        table.add_row(s.id, escape(s.name), escape(s.provider_name), screening, level_numeral(s.impact_level), s.status)
    console.print(table)
    if result.pages > 1:
        console.print(f"page {result.page} of {result.pages} (--page N for more)")


@systems_app.command("show")
def systems_show(
    ctx: typer.Context,
    system_id: str = typer.Argument(..., help="The system's id."),
    version: int = env_option(
        None, "--version", envvar="ASSAY_REGISTER_VERSION", help="Show this version instead of the current one."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Show a system: its screening, impact level and (with --json) its whole disclosure."""
    with open_db(ctx).read() as session:
        view: Any = service.get_system(session, system_id)
        if view is None:
            raise NotFound(f"there is no system {system_id!r}", hint="list them with 'assay systems list'")
        if version is not None:
            view = service.get_version(session, system_id, version)
            if view is None:
                raise NotFound(
                    f"system {system_id!r} has no version {version}", hint=f"see 'assay systems history {system_id}'"
                )
    if as_json:
        print_json(service.to_dict(view))
        return
    if version is not None:
        console.print(
            f"[bold]{escape(view.name)}[/bold] version {view.number} ({view.created_at:%Y-%m-%d}, "
            f"by {view.actor}): {escape(view.reason)}",
            highlight=False,
        )
        console.print(f"Screening: {outcome_markup(view.outcome)} · {impact_label(view.impact_level)}", highlight=False)
        print_findings(view.findings)
    else:
        print_system(view)


@systems_app.command("history")
def systems_history(
    ctx: typer.Context,
    system_id: str = typer.Argument(..., help="The system's id."),
    as_json: bool = json_flag(),
) -> None:
    """Every version of a system: who, when, why, and its screening then."""
    with open_db(ctx).read() as session:
        versions = service.history(session, system_id)
    if as_json:
        print_json([service.to_dict(v) for v in versions])
        return
    table = Table("version", "when", "who", "why", "screening", "level", "log", title=system_id)
    for v in versions:
        table.add_row(
            str(v.number),
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.actor,
            escape(v.reason),
            outcome_markup(v.outcome),
            level_numeral(v.impact_level),
            "" if v.log_index is None else str(v.log_index),
        )
    console.print(table)


def _admin_action(ctx: typer.Context, action: str, system_id: str, reason: str, as_json: bool, **kw: Any) -> None:
    with open_db(ctx).write() as session:
        fn = getattr(service, action)
        view = fn(session, system_id, reason=reason, principal=operator(), **kw)
    if as_json:
        print_json(service.to_dict(view))
        return
    print_system(view)


@systems_app.command("suspend")
def systems_suspend(
    ctx: typer.Context,
    system_id: str = typer.Argument(..., help="The system's id."),
    reason: str = env_option(
        ..., "--reason", envvar="ASSAY_REGISTER_REASON", help="Why (shown publicly on the system's page)."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Suspend a system (the oversight body): its page says so until it is reinstated."""
    _admin_action(ctx, "suspend", system_id, reason, as_json)


@systems_app.command("reinstate")
def systems_reinstate(
    ctx: typer.Context,
    system_id: str = typer.Argument(..., help="The system's id."),
    reason: str = env_option(
        ..., "--reason", envvar="ASSAY_REGISTER_REASON", help="Why (shown publicly on the system's page)."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Lift a suspension."""
    _admin_action(ctx, "reinstate", system_id, reason, as_json)


@systems_app.command("review")
def systems_review(
    ctx: typer.Context,
    system_id: str = typer.Argument(..., help="The system's id."),
    rule: str = env_option(
        ...,
        "--rule",
        envvar="ASSAY_REGISTER_RULE",
        help="The red-line rule whose exception is reviewed (see its findings).",
    ),
    accept: bool = env_option(
        None, "--uphold/--reject", envvar="ASSAY_REGISTER_UPHOLD", help="Uphold or reject the claimed exception."
    ),
    reason: str = env_option(
        ..., "--reason", envvar="ASSAY_REGISTER_REASON", help="Why (shown publicly on the system's page)."
    ),
    version: int | None = env_option(
        None,
        "--version",
        envvar="ASSAY_REGISTER_VERSION",
        min=1,
        help="The version whose claim you read; if the provider has published another since, nothing is "
        "recorded (default: the current version).",
    ),
    as_json: bool = json_flag(),
) -> None:
    """Decide on an exception a system claims against a red-line rule; it is screened again."""
    if accept is None:
        raise InvalidInput("say whether the exception is upheld or rejected", hint="add --uphold or --reject")
    _admin_action(
        ctx,
        "review_exception",
        system_id,
        reason,
        as_json,
        rule_id=rule,
        decision="upheld" if accept else "rejected",
        version=version,
    )


# ------------------------------------------------------------------------------------------- schema


def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of the disclosure format (also served at /schema/disclosure/v1.json)."""
    print_json(disclosure_json_schema(get_config(ctx).base_url))
