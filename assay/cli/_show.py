"""How the CLI shows the register's systems: the same text for local and remote commands (``--json`` aside).

Outcomes and impact levels are said in the register's words (:mod:`assay.register.labels`), as on its pages.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from assay.cli._common import console, err_console, print_json
from assay.register.labels import impact_label, outcome_label
from assay.register.views import to_dict

__all__ = ["outcome_markup", "page_json", "print_findings", "print_published", "print_system"]

_OUTCOME_STYLE = {"prohibited": "bold red", "high_risk": "yellow", "transparency": "cyan", "minimal": "green"}


def outcome_markup(outcome: str) -> str:
    """The outcome in the register's words (:mod:`assay.register.labels`), coloured by severity."""
    return f"[{_OUTCOME_STYLE.get(outcome, 'bold')}]{outcome_label(outcome)}[/]"


def print_findings(findings: list[dict[str, Any]]) -> None:
    """A screening's findings, one a line (rule, outcome, why, and its review if any)."""
    if not findings:
        console.print("No red-line findings.")
        return
    for f in findings:
        rule = f.get("rule_id") or f.get("rule") or "?"
        outcome = f.get("outcome", "")
        text = f.get("explanation") or f.get("message") or f.get("title") or ""
        console.print(
            f"- {outcome_markup(outcome)} [bold]{escape(str(rule))}[/bold]: {escape(str(text))}", highlight=False
        )
        review = f.get("review") or f.get("review_status")
        if review:
            console.print(f"    review: {escape(str(review))}", highlight=False)


def print_system(view: Any) -> None:
    """A system as ``systems show`` prints it: name, provider, version, screening, impact, deployers, findings."""
    console.print(
        f"[bold]{escape(view.name)}[/bold] ({view.id}) by {escape(view.provider_name)} — version {view.version_number}",
        highlight=False,
    )
    state = outcome_markup(view.outcome)
    if view.suspended:
        state += " · [bold red]SUSPENDED[/]"
    if view.needs_review:
        state += " · awaiting review"
    console.print(f"Screening: {state} · {impact_label(view.impact_level)}", highlight=False)
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
    print_findings(view.findings)
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


def print_published(verb: str, base_url: str, view: Any, as_json: bool) -> None:
    """What ``systems publish`` and ``systems update`` print once the register has the new version."""
    if as_json:
        print_json(to_dict(view))
        return
    if verb == "published":
        console.print(f"[green]published[/green] {base_url}{view.url_path}", highlight=False)
    else:
        console.print(f"[green]updated[/green] {view.id} to version {view.version_number}", highlight=False)
    print_system(view)


def page_json(result: Any) -> dict[str, Any]:
    """A page of a listing (``assay.register.search.Page``) as ``--json`` prints it, in the API's shape."""
    return {
        "items": [to_dict(item) for item in result.items],
        "page": result.page,
        "per_page": result.per_page,
        "total": result.total,
        "pages": result.pages,
    }
