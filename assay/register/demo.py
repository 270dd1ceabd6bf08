"""The demo register: the example disclosures in ``assay/register/examples`` loaded idempotently.

``make run`` calls ``assay demo load``, which calls :func:`load_demo`. Running it again changes nothing: a
provider that exists is kept, a system whose disclosure is unchanged is skipped (same SHA-256), and a system
whose example file changed since gets a new version (history is never rewritten)::

    result = load_demo(db, config)
    result.published, result.updated, result.unchanged

A second ``make run`` must start serving within seconds, so an unchanged demo is skipped without even opening
the database: after a load, :func:`write_stamp` records a fingerprint of everything the load depends on (the
example files, the rules, the demo code, the migrations, the database file and the public URL) in
``<data_dir>/demo/loaded.json``, and :func:`loaded_stamp` returns it while it still matches. Only the embedded
SQLite database is fingerprinted; with PostgreSQL every load takes the full (idempotent) path. This module
imports nothing heavy at the top for that reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.config import Config
from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay.db import Database
    from assay.register.models import System

__all__ = ["EXAMPLES", "DemoResult", "load_demo", "loaded_stamp", "write_stamp"]

EXAMPLES = Path(__file__).parent / "examples"


@dataclass
class DemoResult:
    providers_added: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rescreened: list[str] = field(default_factory=list)  # unchanged, screened again under new rules
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.providers_added or self.published or self.updated or self.rescreened)

    def as_dict(self) -> dict[str, Any]:
        return {
            "providers_added": self.providers_added,
            "published": self.published,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rescreened": self.rescreened,
            **self.extra,
        }


def load_demo(
    db: Database,
    config: Config | None = None,
    *,
    examples: Path = EXAMPLES,
    provenance: bool = True,
    complaints: bool = True,
) -> DemoResult:
    """Load every ``*.yaml`` example (in name order); each system in its own write transaction.

    With ``provenance`` (the default), the provenance part's demo (marked images) is loaded afterwards; with
    ``complaints`` (the default), a demo oversight key is published unless a key is published already.
    """
    from sqlalchemy import select

    from assay.register import service
    from assay.register.access import Principal
    from assay.register.disclosure import parse_disclosure
    from assay.register.models import Provider, SystemVersion

    operator = Principal.local_operator()
    result = DemoResult()
    files = sorted(examples.glob("*.yaml"))
    if not files:
        raise InvalidInput(f"there are no example disclosures in {examples}", hint="reinstall Assay")
    for path in files:
        raw = path.read_bytes()
        d = parse_disclosure(raw, source=path.name)
        provider_id = d.provider.id
        if provider_id is None:
            raise InvalidInput(f"{path.name}: the example has no provider.id", hint="give provider.id in the example")
        with db.write() as session:
            if session.get(Provider, provider_id) is None:
                service.add_provider(
                    session,
                    id=provider_id,
                    name=d.provider.legal_name,
                    jurisdiction=d.provider.jurisdiction,
                    website=d.provider.website or "",
                    principal=operator,
                )
                result.providers_added.append(provider_id)
            system = _existing(session, provider_id, d)
            if system is None:
                view = service.publish(
                    session, d, principal=operator, provider_id=provider_id, reason="demo data", source=path.name
                )
                result.published.append(view.id)
                continue
            current = session.scalars(
                select(SystemVersion).where(
                    SystemVersion.system_id == system.id, SystemVersion.number == system.current_version
                )
            ).one()
            if service.disclosure_sha256(d) == current.disclosure_sha256:
                # Unchanged, but screened under earlier rules: screen it under the rules in force.
                if service.rescreen(session, system.id, principal=operator) is not None:
                    result.rescreened.append(system.id)
                result.unchanged.append(system.id)
                continue
            service.update(
                session,
                system.id,
                d,
                expected_version=system.current_version,
                principal=operator,
                reason="demo data updated",
                source=path.name,
            )
            result.updated.append(system.id)
    if provenance:
        _load_provenance_demo(db, config, result)
    if complaints:
        from assay.complaints.demo import load_demo as load_complaints_demo

        # A demo oversight key, so the "File a complaint" forms work at once (marked as a demo everywhere).
        result.extra["complaints"] = load_complaints_demo(db, config or Config.from_env())
    return result


def _existing(session: Any, provider_id: str, d: Any) -> System | None:
    from sqlalchemy import select

    from assay.register._assess import name_key
    from assay.register.models import System

    if d.system.id is not None:
        found = session.get(System, d.system.id)
        if found is not None:
            return found
    return session.scalars(
        select(System).where(System.provider_id == provider_id, System.name_key == name_key(d.system.name))
    ).first()


def _load_provenance_demo(db: Database, config: Config | None, result: DemoResult) -> None:
    # The provenance part adds marked demo images for the demo systems, when it is installed.
    try:
        from assay.provenance.demo import load_demo as load_provenance_demo
    except ModuleNotFoundError as exc:
        # Only a missing provenance part is expected; a broken one must not pass silently.
        if exc.name not in ("assay.provenance", "assay.provenance.demo"):
            raise
        return
    outcome = load_provenance_demo(db, config or Config.from_env())
    if outcome is not None:
        result.extra["provenance"] = outcome if isinstance(outcome, (dict, list, str, int)) else str(outcome)


# --- The fingerprint of a loaded demo --------------------------------------------------------------------------

STAMP = Path("demo") / "loaded.json"
_PACKAGE = Path(__file__).resolve().parent.parent
# What a load reads besides the examples: the rules it screens with, the demo code, the migrations it runs.
_INPUTS = (
    "register/data/red_lines.yaml",
    "register/data/obligations.yaml",
    "register/data/questionnaire.yaml",
    "register/demo.py",
    "provenance/demo.py",
    "complaints/demo.py",
)
_DEMO_IMAGES = Path("demo") / "images"


def fingerprint(config: Config, *, examples: Path = EXAMPLES) -> str | None:
    """A digest of everything an unchanged demo load depends on, or None when it cannot be had cheaply
    (a database other than the data folder's SQLite file, or none yet)."""
    from assay import __version__

    if config.database_url and not config.database_url.startswith("sqlite:"):
        return None
    db_path = Path(config.resolved_database_url.removeprefix("sqlite:///"))
    try:
        db_stat = db_path.stat()
    except OSError:
        return None
    h = hashlib.sha256()

    def add(*parts: object) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else str(part).encode()
            h.update(len(data).to_bytes(8, "big") + data)

    add(__version__, config.base_url, config.resolved_database_url, db_stat.st_dev, db_stat.st_ino)
    for path in sorted(examples.glob("*.yaml")):
        add(path.name, path.read_bytes())
    for name in _INPUTS:
        path = _PACKAGE / name
        add(name, path.read_bytes() if path.exists() else b"")
    add(*sorted(os.listdir(_PACKAGE / "db" / "migrations" / "versions")))
    images = Path(config.data_dir) / _DEMO_IMAGES
    add(*sorted(p.name for p in images.iterdir()) if images.is_dir() else ["(no images)"])
    return h.hexdigest()


def loaded_stamp(config: Config, *, examples: Path = EXAMPLES) -> dict[str, Any] | None:
    """The record of the last demo load, if nothing it depends on changed since; else None."""
    try:
        stamp = json.loads((Path(config.data_dir) / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("fingerprint") != fingerprint(config, examples=examples):
        return None
    return stamp


def write_stamp(config: Config, result: DemoResult, *, examples: Path = EXAMPLES) -> None:
    """Record that the demo is loaded (after a successful load), for :func:`loaded_stamp`."""
    import secrets
    from datetime import UTC, datetime

    from assay.files import fsync_dir, write_new

    digest = fingerprint(config, examples=examples)
    if digest is None:
        return
    path = Path(config.data_dir) / STAMP
    path.parent.mkdir(parents=True, exist_ok=True)
    systems = sorted({*result.published, *result.updated, *result.unchanged})
    data = json.dumps(
        {
            "fingerprint": digest,
            "systems": systems,
            "loaded_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        indent=2,
    ).encode()
    tmp = write_new(path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"), data, mode=0o644)
    os.replace(tmp, path)
    fsync_dir(path.parent)
