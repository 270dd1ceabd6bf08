"""The demo register: the example disclosures in ``assay/register/examples`` loaded idempotently.

``assay demo load`` calls :func:`assay.demo.load_demo`, which calls :func:`load_demo` here first. Running it
again changes nothing: a provider that exists is kept, a system whose disclosure is unchanged is skipped (same
SHA-256), and a system whose example file changed since gets a new version (history is never rewritten)::

    result = load_demo(db)
    result.published, result.updated, result.unchanged

The register's demo knows nothing of the other parts (provenance and complaints build on the register, not
the other way round). This module imports nothing heavy at the top: ``assay demo load`` reads it to decide
whether anything changed before it opens the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay.db import Database
    from assay.register.models import System

__all__ = ["EXAMPLES", "DemoResult", "load_demo"]

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


def load_demo(db: Database, *, examples: Path = EXAMPLES) -> DemoResult:
    """Load every ``*.yaml`` example (in name order); each system in its own write transaction.

    The register's part only; :func:`assay.demo.load_demo` adds the other parts' demos (marked images, a demo
    oversight key) after it.
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
