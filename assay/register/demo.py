"""The demo register: the example disclosures in ``assay/register/examples`` loaded idempotently.

``make run`` calls ``assay demo load``, which calls :func:`load_demo`. Running it again changes nothing: a
provider that exists is kept, a system whose disclosure is unchanged is skipped (same SHA-256), and a system
whose example file changed since gets a new version (history is never rewritten)::

    result = load_demo(db, config)
    result.published, result.updated, result.unchanged
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from assay.config import Config
from assay.db import Database
from assay.errors import InvalidInput
from assay.register.access import Principal
from assay.register.models import Provider, System, SystemVersion

__all__ = ["EXAMPLES", "DemoResult", "load_demo"]

EXAMPLES = Path(__file__).parent / "examples"


@dataclass
class DemoResult:
    providers_added: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.providers_added or self.published or self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "providers_added": self.providers_added,
            "published": self.published,
            "updated": self.updated,
            "unchanged": self.unchanged,
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
    from assay.register import service
    from assay.register.disclosure import parse_disclosure

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
    from assay.register.service import name_key

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
