"""``assay systems``, ``assay providers``, ``assay tokens`` and ``assay schema``: the register from the shell.

The CLI runs on the server, next to the database, so it acts as the local operator (the oversight body):
it may publish for any provider (``--provider``), suspend, reinstate and review. Every command that prints
results takes ``--json``; errors go to stderr with a hint and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from assay.cli._common import console, env_option, err_console, get_config, json_flag, open_db, print_json
from assay.cli.remote import ca_bundle_option, server_option, token_option, unsafe_http_option
from assay.errors import InvalidInput

systems_app = typer.Typer(help="Publish, update, list and review AI systems in the register.", no_args_is_help=True)
providers_app = typer.Typer(
    help="Providers and deployers: the organisations that answer for systems.", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="API tokens: providers publish with them, the oversight body administers.", no_args_is_help=True
)

_OUTCOME_STYLE = {"prohibited": "bold red", "high_risk": "yellow", "transparency": "cyan", "minimal": "green"}
_OUTCOME_TEXT = {
    "prohibited": "PROHIBITED",
    "high_risk": "high-risk",
    "transparency": "transparency obligations",
    "minimal": "minimal",
}


def install(app: typer.Typer) -> None:
    app.add_typer(systems_app, name="systems")
    app.add_typer(providers_app, name="providers")
    app.add_typer(tokens_app, name="tokens")
    app.command("schema")(schema)


def _operator() -> Any:
    from assay.register.access import Principal

    return Principal.local_operator()


def _read_file(path: Path) -> tuple[bytes, str]:
    if str(path) == "-":
        return sys.stdin.buffer.read(), "standard input"
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise InvalidInput(f"there is no file {str(path)!r}", hint="check the path") from None
    except IsADirectoryError:
        raise InvalidInput(
            f"{str(path)!r} is a folder, not a disclosure file", hint="give a .yaml or .json file"
        ) from None
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {str(path)!r}: {exc.strerror}", hint="check the path and permissions"
        ) from None


def _load(path: Path) -> tuple[bytes, str]:
    # The raw bytes go to the disclosure parser, which checks size and UTF-8 and reads YAML or JSON strictly.
    return _read_file(path)


def _outcome(outcome: str) -> str:
    return f"[{_OUTCOME_STYLE.get(outcome, 'bold')}]{_OUTCOME_TEXT.get(outcome, outcome)}[/]"


def _print_findings(findings: list[dict[str, Any]]) -> None:
    if not findings:
        console.print("No red-line findings.")
        return
    for f in findings:
        rule = f.get("rule_id") or f.get("rule") or "?"
        outcome = f.get("outcome", "")
        text = f.get("explanation") or f.get("message") or f.get("title") or ""
        console.print(f"- {_outcome(outcome)} [bold]{escape(str(rule))}[/bold]: {escape(str(text))}", highlight=False)
        review = f.get("review") or f.get("review_status")
        if review:
            console.print(f"    review: {escape(str(review))}", highlight=False)


def _print_system(view: Any) -> None:
    console.print(
        f"[bold]{escape(view.name)}[/bold] ({view.id}) by {escape(view.provider_name)} — version {view.version_number}",
        highlight=False,
    )
    state = _outcome(view.outcome)
    if view.suspended:
        state += " · [bold red]SUSPENDED[/]"
    if view.needs_review:
        state += " · awaiting review"
    console.print(f"Screening: {state} · impact level {_roman(view.impact_level)}", highlight=False)
    if view.training_data_headline:
        console.print(f"Training data: {escape(view.training_data_headline)}", highlight=False)
    for dep in getattr(view, "deployers", None) or []:
        style = "" if dep["confirmed"] else "[yellow]"
        console.print(
            f"Deployer: {escape(str(dep['legal_name']))}"
            + (f" ({dep['id']})" if dep["id"] else "")
            + f" — {style}{escape(dep['status_label'])}{'[/]' if style else ''}",
            highlight=False,
        )
    _print_findings(view.findings)
    _warn_same_name(view)


def _warn_same_name(view: Any) -> None:
    # A provider publishing under a name another provider registered first is told so, at once.
    first = next((o for o in getattr(view, "same_name", None) or [] if o["first"]), None)
    if getattr(view, "name_copy", False) and first is not None:
        err_console.print(
            f"[bold yellow]warning:[/bold yellow] provider {first['provider_id']!r} ({escape(first['provider_name'])}) "
            f"registered a system named {escape(first['name'])!r} first ({first['id']}); this one is shown as "
            "bearing another provider's name and ranks after it in search",
            highlight=False,
            soft_wrap=True,
        )
        err_console.print("[bold]hint:[/bold] give the system a name of its own (system.name)", highlight=False)


def _roman(level: int) -> str:
    return {1: "I", 2: "II", 3: "III", 4: "IV"}.get(level, str(level))


# ------------------------------------------------------------------------------------------- systems


@systems_app.command("validate")
def systems_validate(
    file: Path = typer.Argument(..., help="The disclosure, YAML or JSON ('-' reads standard input)."),
    as_json: bool = json_flag(),
) -> None:
    """Check a disclosure and show its screening and impact level, without writing anything."""
    from assay.register.service import validate

    document, source = _load(file)
    preview = validate(document, source=source)
    if as_json:
        print_json(preview)
        return
    console.print(
        f"[green]valid[/green]: {escape(preview['name'])} — screening {_outcome(preview['outcome'])}, "
        f"impact level {_roman(preview['impact_level'])}",
        highlight=False,
    )
    _print_findings(preview["findings"])


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
    if server:
        from assay.cli import remote

        target = remote.Remote(server, token, ca_bundle, unsafe_http)
        return remote.publish(target, file, provider=provider, reason=reason, as_json=as_json)
    from assay.register.service import publish, to_dict

    document, source = _load(file)
    db = open_db(ctx)
    with db.write() as session:
        view = publish(session, document, principal=_operator(), provider_id=provider, reason=reason, source=source)
    if as_json:
        print_json(to_dict(view))
        return
    console.print(f"[green]published[/green] {get_config(ctx).base_url}{view.url_path}", highlight=False)
    _print_system(view)


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
    server: str = env_option(
        None,
        "--server",
        envvar="ASSAY_SERVER",
        help="The register's base URL, when it runs on another machine (default: the local database).",
    ),
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
        out = _remote_post(server, token, f"/api/v1/systems/{system_id}/deployer-confirmation", {"decision": decision})
        if as_json:
            print_json(out)
            return
        deps = [d for d in out.get("deployers", []) if d.get("status") == decision]
        console.print(f"[green]{decision}[/green] on {escape(server.rstrip('/'))}{out.get('url', '')}", highlight=False)
        for d in deps:
            console.print(f"Deployer: {escape(str(d['legal_name']))} — {escape(d['status_label'])}", highlight=False)
        return
    from assay.register.access import authenticate
    from assay.register.service import confirm_deployer, to_dict

    db = open_db(ctx)
    with db.write() as session:
        principal = authenticate(session, token)
        view = confirm_deployer(session, system_id, principal=principal, decision=decision)
    if as_json:
        print_json(to_dict(view))
        return
    console.print(f"[green]{decision}[/green] {get_config(ctx).base_url}{view.url_path}", highlight=False)
    _print_system(view)


def _remote_post(server: str, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON to a register's API with a token; its one error shape becomes an AssayError with the hint."""
    import httpx

    from assay.errors import AssayError

    url = server.rstrip("/") + path
    try:
        r = httpx.post(url, json=body, headers={"authorization": f"Bearer {token}"}, timeout=60)
    except httpx.HTTPError as exc:
        raise InvalidInput(
            f"cannot reach {server}: {exc}", hint="check --server (ASSAY_SERVER) and the network"
        ) from None
    try:
        data = r.json()
    except ValueError:
        raise InvalidInput(f"{url} did not answer with JSON", hint="check --server: is it an Assay register?") from None
    if r.status_code >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        raise AssayError(str(error.get("message") or f"the register answered {r.status_code}"), hint=error.get("hint"))
    return data


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
    from assay.register.service import rescreen
    from assay.register.service import system_ids as all_system_ids

    if not system_ids and not all_systems:
        raise InvalidInput("name the systems to screen again, or pass --all", hint="assay systems rescreen --all")
    db = open_db(ctx)
    if not system_ids:
        with db.read() as session:
            system_ids = all_system_ids(session)
    changed = []
    for system_id in system_ids:
        with db.write() as session:
            view = rescreen(session, system_id, principal=_operator())
            if view is not None:
                changed.append({"id": view.id, "outcome": view.outcome, "outcome_basis": view.outcome_basis})
    if as_json:
        print_json({"rescreened": changed, "checked": len(system_ids)})
        return
    for c in changed:
        console.print(f"{c['id']}: now {_outcome(c['outcome'])}", highlight=False)
    console.print(f"{len(changed)} of {len(system_ids)} systems screened again under the rules in force")


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
    if server:
        from assay.cli import remote

        target = remote.Remote(server, token, ca_bundle, unsafe_http)
        return remote.update(target, system_id, file, expected_version=expected_version, reason=reason, as_json=as_json)
    from assay.register.service import current_version, to_dict, update

    document, source = _load(file)
    db = open_db(ctx)
    with db.write() as session:
        if expected_version is None:
            expected_version = current_version(session, system_id)
        view = update(
            session,
            system_id,
            document,
            expected_version=expected_version,
            principal=_operator(),
            reason=reason,
            source=source,
        )
    if as_json:
        print_json(to_dict(view))
        return
    console.print(f"[green]updated[/green] {view.id} to version {view.version_number}", highlight=False)
    _print_system(view)


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
    from assay.register.search import SystemQuery
    from assay.register.service import search, to_dict

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
        result = search(session, query)
    if as_json:
        print_json(
            {
                "items": [to_dict(s) for s in result.items],
                "page": result.page,
                "per_page": result.per_page,
                "total": result.total,
                "pages": result.pages,
            }
        )
        return
    total = f"{result.total:,}" + ("" if result.total_is_exact else "+")
    table = Table(title=f"{total} systems")
    table.add_column("id", no_wrap=True)  # the id is what the other commands take: never cut it
    for heading in ("name", "provider", "screening", "level", "status"):
        table.add_column(heading)
    for s in result.items:
        screening = _outcome(s.outcome) + (" [red](suspended)[/]" if s.suspended else "")
        table.add_row(s.id, escape(s.name), escape(s.provider_name), screening, _roman(s.impact_level), s.status)
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
    from assay.errors import NotFound
    from assay.register.service import get_system, get_version, to_dict

    with open_db(ctx).read() as session:
        view: Any = get_system(session, system_id)
        if view is None:
            raise NotFound(f"there is no system {system_id!r}", hint="list them with 'assay systems list'")
        if version is not None:
            view = get_version(session, system_id, version)
            if view is None:
                raise NotFound(
                    f"system {system_id!r} has no version {version}", hint=f"see 'assay systems history {system_id}'"
                )
    if as_json:
        print_json(to_dict(view))
        return
    if version is not None:
        console.print(
            f"[bold]{escape(view.name)}[/bold] version {view.number} ({view.created_at:%Y-%m-%d}, "
            f"by {view.actor}): {escape(view.reason)}",
            highlight=False,
        )
        console.print(f"Screening: {_outcome(view.outcome)} · impact level {_roman(view.impact_level)}")
        _print_findings(view.findings)
    else:
        _print_system(view)


@systems_app.command("history")
def systems_history(
    ctx: typer.Context,
    system_id: str = typer.Argument(..., help="The system's id."),
    as_json: bool = json_flag(),
) -> None:
    """Every version of a system: who, when, why, and its screening then."""
    from assay.register.service import history, to_dict

    with open_db(ctx).read() as session:
        versions = history(session, system_id)
    if as_json:
        print_json([to_dict(v) for v in versions])
        return
    table = Table("version", "when", "who", "why", "screening", "level", "log", title=system_id)
    for v in versions:
        table.add_row(
            str(v.number),
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.actor,
            escape(v.reason),
            _outcome(v.outcome),
            _roman(v.impact_level),
            "" if v.log_index is None else str(v.log_index),
        )
    console.print(table)


def _admin_action(ctx: typer.Context, action: str, system_id: str, reason: str, as_json: bool, **kw: Any) -> None:
    from assay.register import service

    with open_db(ctx).write() as session:
        fn = getattr(service, action)
        view = fn(session, system_id, reason=reason, principal=_operator(), **kw)
    if as_json:
        print_json(service.to_dict(view))
        return
    _print_system(view)


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
    from assay.register.service import add_provider, to_dict

    with open_db(ctx).write() as session:
        view = add_provider(
            session, id=provider_id, name=name, jurisdiction=jurisdiction, website=website, principal=_operator()
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
    from assay.register.service import list_providers, to_dict

    config = get_config(ctx)
    with open_db(ctx).read() as session:
        result = list_providers(session, page=page, per_page=min(per_page or config.page_size, config.max_page_size))
    if as_json:
        print_json(
            {
                "items": [to_dict(p) for p in result.items],
                "page": result.page,
                "per_page": result.per_page,
                "total": result.total,
                "pages": result.pages,
            }
        )
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
    from assay.register.access import create_token

    with open_db(ctx).write() as session:
        issued = create_token(session, provider_id=provider, admin=admin, label=label, actor=_operator())
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
    from assay.register.access import list_tokens

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
    from assay.register.access import revoke_token

    with open_db(ctx).write() as session:
        info = revoke_token(session, token, actor=_operator())
    if as_json:
        print_json(info.as_dict())
        return
    console.print(f"[green]revoked[/green] token {info.id} ({info.prefix}…)", highlight=False)


# ------------------------------------------------------------------------------------------- schema


def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of the disclosure format (also served at /schema/disclosure/v1.json)."""
    from assay.register.disclosure import disclosure_json_schema

    print_json(disclosure_json_schema(get_config(ctx).base_url))
