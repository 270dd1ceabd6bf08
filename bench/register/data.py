"""A generated register of any size for the benchmark: realistic disclosures, loaded in bulk.

Every generated system is one of the example disclosures (``assay/register/examples``) with its own provider,
name and summary. Each example is validated, screened and assessed once by the real code; a generated system
reuses that screening and impact assessment (they do not depend on names) and gets its own canonical JSON and
SHA-256. Rows are written with the same columns, search index entries and denormalised facets as
:mod:`assay.register.service` writes, in batches (the transparency log is left out: reading never touches it).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from sqlalchemy import insert, text

from assay.db import Database
from assay.register import service
from assay.register.demo import EXAMPLES
from assay.register.models import (
    ImpactRecord,
    Provider,
    ScreeningRecord,
    System,
    SystemCapability,
    SystemContext,
    SystemVersion,
)
from assay.register.search import _body_text, facet_tokens, fold

ADJECTIVES = (
    "Adaptive Agile Amber Arc Astra Aurora Azure Beacon Bright Civic Clear Cobalt Coral Crystal Delta Echo Ember "
    "Fair First Fleet Forward Golden Granite Harbor Helix Horizon Indigo Iron Jade Keen Kestrel Lumen Lunar Maple "
    "Meridian Mosaic Nimbus Noble North Nova Onyx Open Orbit Pacific Pioneer Polar Prism Quantum Quartz Radiant "
    "Rapid Red Ridge River Sage Scarlet Sentinel Signal Silver Solar Sonic Spark Spruce Steady Stellar Summit Swift "
    "Tidal True Unity Vector Velvet Verde Vivid Willow Zenith"
).split()
NOUNS = (
    "Assist Atlas Bridge Compass Console Core Desk Engine Flow Forge Gate Guard Guide Hub Insight Lens Link Loop "
    "Map Matrix Mentor Mind Monitor Navigator Nexus Pilot Portal Pulse Radar Relay Scope Scout Screen Sense Shield "
    "Sight Signal Sort Spot Studio Suite Sync Track Triage Vault View Vision Watch Wave Wise Works"
).split()
DOMAINS = (
    "housing benefits tax recruitment payroll policing traffic schools exams hospitals clinics insurance lending "
    "credit fraud customs borders asylum visas libraries courts elections welfare pensions childcare transport "
    "energy water retail banking newsrooms advertising marketing logistics farming fisheries tourism museums "
    "parking permits licensing inspections emergencies ambulances firefighters prisons probation universities"
).split()
VERBS = "screen rank route score summarise translate detect flag match forecast triage review".split()
COMPANY = ("Systems", "Labs", "Analytics", "Technologies", "Solutions", "AI", "Digital", "Data", "Software")
LEGAL = ("B.V.", "GmbH", "Ltd", "Inc.", "SAS", "Oy", "AB", "S.p.A.", "AG", "ApS")


@dataclass(frozen=True)
class Template:
    """One example disclosure, assessed once: what every system generated from it shares."""

    data: dict[str, Any]
    screening: dict[str, Any]
    impact: dict[str, Any]
    capabilities: list[str]
    contexts: list[str]
    status: str
    version_label: str
    headline: str


def templates() -> list[Template]:
    out = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        a = service._assess(path.read_bytes(), source=path.name)
        out.append(
            Template(
                data=a.document,
                screening=a.screening,
                impact=a.impact,
                capabilities=a.capabilities,
                contexts=a.contexts,
                status=a.status,
                version_label=a.version_label,
                headline=a.headline,
            )
        )
    return out


def providers(n: int, rng: random.Random) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    while len(out) < n:
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(COMPANY)} {rng.choice(LEGAL)}"
        pid = service.slugify(name.rsplit(" ", 1)[0], max_len=50)
        if pid in seen:
            pid = f"{pid}-{len(out)}"
        seen.add(pid)
        out.append((pid, name))
    return out


def load(
    db: Database, *, systems: int, n_providers: int, seed: int = 7, batch: int = 2000, progress: Any = None
) -> dict[str, Any]:
    """Load ``systems`` generated systems from ``n_providers`` providers into an empty, migrated database."""
    rng = random.Random(seed)
    tpls = templates()
    provs = providers(n_providers, rng)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    with db.write() as session:
        session.execute(
            insert(Provider),
            [
                {
                    "id": pid,
                    "name": name,
                    "jurisdiction": rng.choice(["NL", "DE", "FR", "FI", "SE", "IT", "EU", "GB"]),
                    "website": "",
                    "created_at": now - timedelta(days=400),
                    "created_by": "bench",
                }
                for pid, name in provs
            ],
        )
    names = {pid: name for pid, name in provs}
    sqlite = db.is_sqlite
    done = 0
    for chunk in _chunks(_generate(systems, provs, tpls, rng, now), batch):
        with db.write() as session:
            session.execute(insert(System), [r["system"] for r in chunk])
            session.execute(insert(SystemVersion), [r["version"] for r in chunk])
            session.execute(insert(ScreeningRecord), [r["screening"] for r in chunk])
            session.execute(insert(ImpactRecord), [r["impact"] for r in chunk])
            caps = [{"system_id": r["system"]["id"], "capability": c} for r in chunk for c in r["capabilities"]]
            ctxs = [{"system_id": r["system"]["id"], "context": c} for r in chunk for c in r["contexts"]]
            if caps:
                session.execute(insert(SystemCapability), caps)
            if ctxs:
                session.execute(insert(SystemContext), ctxs)
            rows = [
                {
                    "r": r["version"]["id"],
                    "id": r["system"]["id"],
                    "n": r["system"]["name"],
                    "p": names[r["system"]["provider_id"]],
                    "b": _body_text(r["document"]),
                    "f": " ".join(
                        facet_tokens(
                            provider=r["system"]["provider_id"],
                            capabilities=r["capabilities"],
                            contexts=r["contexts"],
                            outcome=r["system"]["outcome"],
                            impact_level=r["system"]["impact_level"],
                            status=r["system"]["status"],
                            suspended=r["system"]["suspended"],
                        )
                    ),
                }
                for r in chunk
            ]
            if sqlite:
                session.execute(
                    text(
                        "INSERT INTO systems_fts(rowid, system_id, name, provider, body, facets) "
                        "VALUES (:r, :id, :n, :p, :b, :f)"
                    ),
                    rows,
                )
            else:
                # The same documents index_system() writes, for many rows in one statement per batch.
                session.execute(
                    text(
                        "UPDATE systems SET search_document = setweight(to_tsvector('simple', :n), 'A') || "
                        "setweight(to_tsvector('simple', :p), 'B') || setweight(to_tsvector('simple', :b), 'D') || "
                        "array_to_tsvector(CAST(:f AS text[])), "
                        "name_document = setweight(to_tsvector('simple', :n), 'A') || "
                        "setweight(to_tsvector('simple', :p), 'B') "
                        "WHERE id = :id"
                    ),
                    [
                        {
                            "id": row["id"],
                            "n": fold(row["n"]),
                            "p": fold(row["p"]),
                            "b": fold(row["b"]),
                            "f": ["_" + t for t in row["f"].split()],
                        }
                        for row in rows
                    ],
                )
        done += len(chunk)
        if progress:
            progress(done)
    if not sqlite:
        with db.write() as session:
            for table in ("system_versions", "system_screenings", "system_impacts"):
                session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("INSERT INTO systems_fts(systems_fts) VALUES ('optimize')")
    return {"systems": systems, "providers": n_providers, "templates": len(tpls)}


def _generate(
    n: int, provs: list[tuple[str, str]], tpls: list[Template], rng: random.Random, now: datetime
) -> Iterator[dict[str, Any]]:
    used: set[tuple[str, str]] = set()
    for i in range(1, n + 1):
        pid, pname = rng.choice(provs)
        t = rng.choice(tpls)
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        if (pid, name.casefold()) in used:
            name = f"{name} {i}"
        used.add((pid, name.casefold()))
        sid = f"{pid}-{service.slugify(name)}"[:72] + f"-{i}"
        summary = (
            f"Helps {rng.choice(DOMAINS)} teams {rng.choice(VERBS)} {rng.choice(DOMAINS)} cases; "
            f"used in {rng.choice(DOMAINS)} and {rng.choice(DOMAINS)}."
        )
        data = json.loads(json.dumps(t.data))
        data["system"].update(name=name, summary=summary, id=sid)
        data["provider"].update(id=pid, legal_name=pname)
        canonical = rfc8785.dumps(data)
        updated = now - timedelta(minutes=rng.randrange(0, 525_600))
        yield {
            "document": data,
            "capabilities": t.capabilities,
            "contexts": t.contexts,
            "system": {
                "id": sid,
                "provider_id": pid,
                "name": name,
                "name_key": service.name_key(name),
                "current_version": 1,
                "version_label": t.version_label,
                "status": t.status,
                "summary": summary,
                "outcome": t.screening["outcome"],
                "impact_level": t.impact["level"],
                "needs_review": t.screening["needs_review"],
                "suspended": rng.random() < 0.01,
                "training_data_headline": t.headline,
                "created_at": updated,
                "created_by": "bench",
                "updated_at": updated,
                "search_key": i,
            },
            "version": {
                "id": i,
                "system_id": sid,
                "number": 1,
                "disclosure": canonical.decode(),
                "disclosure_sha256": hashlib.sha256(canonical).hexdigest(),
                "name": name,
                "version_label": t.version_label,
                "status": t.status,
                "reason": "generated for the benchmark",
                "actor": "bench",
                "actor_token_id": None,
                "created_at": updated,
                "log_index": None,
            },
            "screening": {
                "id": i,
                "version_id": i,
                "outcome": t.screening["outcome"],
                "needs_review": t.screening["needs_review"],
                "findings": t.screening["findings"],
                "rules_version": t.screening["rules_version"],
                "cause": "submitted",
                "actor": "bench",
                "created_at": updated,
            },
            "impact": {
                "id": i,
                "version_id": i,
                "level": t.impact["level"],
                "assessment": t.impact,
                "created_at": updated,
            },
        }


def _chunks(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
