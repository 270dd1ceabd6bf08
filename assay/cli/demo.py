"""``assay demo load``: the demo register (example systems, and marked demo images when provenance is installed)."""

from __future__ import annotations

import typer

from assay.cli._common import console, get_config, json_flag, open_db, print_json

demo_app = typer.Typer(help="The demo register that 'make run' loads.", no_args_is_help=True)


def install(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")


@demo_app.command("load")
def demo_load(ctx: typer.Context, as_json: bool = json_flag()) -> None:
    """Load the example systems into the register. Idempotent: a second run changes nothing."""
    from assay.demo import loaded_stamp

    config = get_config(ctx)
    # The common case, a second `make run`: nothing changed since the last load, so not even the database is
    # opened (it would cost a second of imports and a migration check).
    stamp = loaded_stamp(config)
    if stamp is not None:
        if as_json:
            print_json(
                {"providers_added": [], "published": [], "updated": [], "unchanged": stamp["systems"], "rescreened": []}
            )
        else:
            console.print(f"demo register already loaded ({len(stamp['systems'])} systems unchanged)")
        return
    from assay.demo import load_demo, write_stamp

    result = load_demo(open_db(ctx), config)
    write_stamp(config, result)
    if as_json:
        print_json(result.as_dict())
        return
    if not result.changed:
        console.print(f"demo register already loaded ({len(result.unchanged)} systems unchanged)")
    else:
        for label, items in (
            ("providers added", result.providers_added),
            ("published", result.published),
            ("updated", result.updated),
            ("screened under new rules", result.rescreened),
            ("unchanged", result.unchanged),
        ):
            if items:
                console.print(f"{label}: {', '.join(items)}", highlight=False)
    for key, value in result.extra.items():
        console.print(f"{key}: {_describe(value)}", highlight=False)


def _describe(value: object) -> str:
    # The provenance demo reports {"folder", "marked": [...], "skipped"?}; the complaints demo a "message" (the
    # demo key's public passphrase); anything else is printed as it is.
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    if isinstance(value, dict) and isinstance(value.get("marked"), list):
        if value.get("skipped"):
            return str(value["skipped"])
        return f"{len(value['marked'])} demo images marked in {value.get('folder', '')}"
    return str(value)
