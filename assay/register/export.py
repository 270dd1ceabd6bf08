"""Open data: the whole register as JSON or CSV, streamed in batches so memory stays flat at any size.

Both exports read one consistent snapshot (one read transaction) and walk the systems in id order with
keyset pagination (``WHERE id > last``), so a 100,000-system register costs the same per row as a small one::

    for chunk in iter_csv(db, base_url="https://register.example"):
        out.write(chunk)

JSON: ``{"format": "assay-register", "format_version": 1, "generated_at", "schema", "systems": [...],
"count"}`` where each system carries its current disclosure in full, its findings and impact assessment.
Each finding carries its ``kind`` (prohibition, condition, obligation or the register's own policy) and each
system its ``outcome_basis`` ("law" or "register_policy"). Each system's ``deployers`` say whether each
organisation named as a deployer confirmed it (only "provider" and "confirmed" are the organisation's own
word), and ``name_copy`` whether another provider registered a system of the same name first.
CSV: one row per system with the columns of :data:`CSV_COLUMNS`; list cells are joined with ``;``. Cells
that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) are prefixed
with ``'`` (OWASP's advice against CSV injection); nothing else is altered.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from assay.db import Database
from assay.db.types import iso_z as _iso
from assay.register.models import (
    ImpactRecord,
    Provider,
    ScreeningRecord,
    System,
    SystemCapability,
    SystemContext,
    SystemVersion,
)
from assay.register.queries import deployer_decisions, deployer_statuses
from assay.register.screening import finding_kind

__all__ = ["CSV_COLUMNS", "iter_csv", "iter_json", "iter_records"]

CSV_COLUMNS = (
    "id",
    "name",
    "version",
    "status",
    "provider_id",
    "provider_name",
    "provider_jurisdiction",
    "capabilities",
    "contexts",
    "outcome",
    "outcome_basis",
    "impact_level",
    "needs_review",
    "suspended",
    "finding_rules",
    "finding_kinds",
    "deployers",
    "name_copy",
    "summary",
    "training_data_headline",
    "version_number",
    "updated_at",
    "disclosure_sha256",
    "log_index",
    "url",
)
_BATCH = 500
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iter_records(db: Database, *, base_url: str, batch: int = _BATCH) -> Iterator[dict[str, Any]]:
    """Every system as one export record (in id order), from one read snapshot."""
    with db.read() as session:
        providers = {p.id: p for p in session.scalars(select(Provider))}
        last = ""
        while True:
            systems = list(session.scalars(select(System).where(System.id > last).order_by(System.id).limit(batch)))
            if not systems:
                return
            yield from _records(session, systems, providers, base_url)
            last = systems[-1].id


def _records(
    session: Session, systems: list[System], providers: dict[str, Provider], base_url: str
) -> Iterator[dict[str, Any]]:
    ids = [s.id for s in systems]
    versions = {
        v.system_id: v
        for v in session.scalars(
            select(SystemVersion).where(
                tuple_(SystemVersion.system_id, SystemVersion.number).in_([(s.id, s.current_version) for s in systems])
            )
        )
    }
    version_ids = [v.id for v in versions.values()]
    screenings: dict[int, ScreeningRecord] = {}
    for record in session.scalars(
        select(ScreeningRecord).where(ScreeningRecord.version_id.in_(version_ids)).order_by(ScreeningRecord.id)
    ):
        screenings[record.version_id] = record  # ascending: the newest one wins
    impacts = {
        r.version_id: r for r in session.scalars(select(ImpactRecord).where(ImpactRecord.version_id.in_(version_ids)))
    }
    caps: dict[str, list[str]] = {i: [] for i in ids}
    for sid, cap in session.execute(
        select(SystemCapability.system_id, SystemCapability.capability)
        .where(SystemCapability.system_id.in_(ids))
        .order_by(SystemCapability.capability)
    ):
        caps[sid].append(cap)
    ctxs: dict[str, list[str]] = {i: [] for i in ids}
    for sid, ctx in session.execute(
        select(SystemContext.system_id, SystemContext.context)
        .where(SystemContext.system_id.in_(ids))
        .order_by(SystemContext.context)
    ):
        ctxs[sid].append(ctx)
    decisions = deployer_decisions(session, ids)
    for s in systems:
        v = versions[s.id]
        screening = screenings[v.id]
        provider = providers.get(s.provider_id)
        disclosure = json.loads(v.disclosure)
        deployers = deployer_statuses(disclosure, s.provider_id, decisions.get(s.id, {}), providers)
        yield {
            "id": s.id,
            "url": f"{base_url}/systems/{s.id}",
            "name": s.name,
            "version": s.version_label,
            "status": s.status,
            "provider": {
                "id": s.provider_id,
                "name": provider.name if provider else "",
                "jurisdiction": provider.jurisdiction if provider else "",
            },
            "capabilities": caps[s.id],
            "contexts": ctxs[s.id],
            "outcome": s.outcome,
            # "law", or "register_policy" when only the register's own policy lines reach the outcome.
            "outcome_basis": s.outcome_basis or "law",
            "impact_level": s.impact_level,
            "needs_review": s.needs_review,
            "suspended": s.suspended,
            "summary": s.summary,
            "training_data_headline": s.training_data_headline,
            "version_number": s.current_version,
            "updated_at": _iso(s.updated_at),
            "disclosure_sha256": v.disclosure_sha256,
            "log_index": v.log_index,
            # Each finding with its kind: prohibition, condition, obligation or policy (screening.RULE_KINDS).
            "findings": [{**f, "kind": finding_kind(f)} for f in screening.findings],
            "impact": impacts[v.id].assessment,
            # Only "provider" and "confirmed" are the organisation's own word; see DEPLOYER_STATUSES.
            "deployers": [{**d, "decided_at": _iso(d["decided_at"]) if d["decided_at"] else None} for d in deployers],
            "name_copy": bool(s.name_copy),
            "disclosure": disclosure,
        }


def iter_json(db: Database, *, base_url: str) -> Iterator[bytes]:
    """The whole register as one JSON document, in chunks."""
    head = {
        "format": "assay-register",
        "format_version": 1,
        "generated_at": _iso(datetime.now(UTC)),
        "schema": f"{base_url}/schema/disclosure/v1.json",
        "licence": "CC0-1.0",
    }
    yield json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "systems": ['
    count = 0
    buffer: list[str] = []
    for record in iter_records(db, base_url=base_url):
        buffer.append(("\n" if count == 0 else ",\n") + json.dumps(record, ensure_ascii=False, sort_keys=True))
        count += 1
        if len(buffer) >= 50:
            yield "".join(buffer).encode()
            buffer.clear()
    if buffer:
        yield "".join(buffer).encode()
    yield f'\n], "count": {count}}}\n'.encode()


def iter_csv(db: Database, *, base_url: str) -> Iterator[bytes]:
    """The whole register as CSV (RFC 4180, UTF-8 with a header row), in chunks."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    n = 0
    for r in iter_records(db, base_url=base_url):
        row = {
            **r,
            "provider_id": r["provider"]["id"],
            "provider_name": r["provider"]["name"],
            "provider_jurisdiction": r["provider"]["jurisdiction"],
            "capabilities": ";".join(r["capabilities"]),
            "contexts": ";".join(r["contexts"]),
            "finding_rules": ";".join(str(f.get("rule_id") or f.get("rule") or "") for f in r["findings"]),
            "finding_kinds": ";".join(str(f.get("kind") or "") for f in r["findings"]),
            "needs_review": "true" if r["needs_review"] else "false",
            "deployers": ";".join(f"{d['legal_name']} ({d['status_label']})" for d in r["deployers"]),
            "name_copy": "true" if r["name_copy"] else "false",
            "suspended": "true" if r["suspended"] else "false",
            "log_index": "" if r["log_index"] is None else r["log_index"],
        }
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
        n += 1
        if n % 200 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
