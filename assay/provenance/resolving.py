"""The second half of a check: :class:`~assay.provenance.evidence.Evidence` in, :class:`~assay.provenance.Verdict` out.

:func:`resolve_many` looks up every mark of a batch of evidences in **one query** (the mark records with
their namespace, provider, system, the system's version at marking and the log entry, and the log's head),
builds the inclusion proofs from the log's tiles, and has :func:`assay.provenance.judging.judge` build and word
each verdict. The cost per batch does not grow with the number of systems or providers, and a batch of
unmarked files costs no query at all::

    verdicts = resolve_many([examine(b, material) for b in files], db, config)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, select

from assay.config import Config
from assay.db import Database
from assay.errors import AssayError
from assay.provenance.evidence import Evidence
from assay.provenance.judging import MarkNamespaceFacts, MarkRecordFacts, judge
from assay.provenance.keys import MarkId, existing_register_keys
from assay.provenance.models import MarkNamespace, MarkRecord
from assay.provenance.share import share_url
from assay.provenance.verdict import Verdict
from assay.register.models import Provider, System, SystemVersion
from assay.transparency import Head, proof_for, proofs_at
from assay.transparency.models import LogEntry, LogHead

__all__ = ["resolve", "resolve_many"]

log = logging.getLogger("assay.provenance")

# Mark ids per query: well under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500


def resolve(evidence: Evidence, db: Database, config: Config) -> Verdict:
    """The verdict for one evidence (one query if it carries a mark, none otherwise)."""
    return resolve_many([evidence], db, config)[0]


def resolve_many(evidences: Sequence[Evidence], db: Database, config: Config) -> list[Verdict]:
    """Verdicts for many evidences, in order: one query per 500 distinct marks (none when nothing is marked)."""
    marks = sorted({ev.mark for ev in evidences if ev.mark is not None})
    namespaces: dict[int, MarkNamespaceFacts] = {}
    records: dict[str, MarkRecordFacts] = {}
    head: Head | None = None
    for i in range(0, len(marks), _CHUNK):
        h = _lookup(db, marks[i : i + _CHUNK], namespaces, records)
        head = head or h
    proofs = _proofs(db, head, records)
    verdicts = [judge(ev, namespaces, records, proofs, config) for ev in evidences]
    return _with_share_links(verdicts, config)


def _with_share_links(verdicts: list[Verdict], config: Config) -> list[Verdict]:
    """Each verdict with its signed share link (none on a data folder without the register's keys)."""
    keys = existing_register_keys(config.data_dir)
    if keys is None:
        return verdicts
    now = dt.datetime.now(dt.UTC)
    return [
        replace(
            v,
            share_url=share_url(
                config.base_url, keys.master, status=v.status, mark_id=v.mark_id, sha256=v.file_sha256, at=now
            ),
        )
        if v.file_sha256
        else v
        for v in verdicts
    ]


# ---------------------------------------------------------------------------------------------- the one query

_RECORD_COLUMNS: list[Any] = [
    MarkRecord.mark_id,
    MarkRecord.namespace,
    MarkRecord.system_id,
    MarkRecord.provider_id,
    MarkRecord.system_version_number,
    MarkRecord.created_at,
    MarkRecord.recorded_at,
    MarkRecord.sha256,
    MarkRecord.phash,
    MarkRecord.width,
    MarkRecord.height,
    MarkRecord.media_type,
    MarkRecord.alg,
    MarkRecord.manifest_id,
    MarkRecord.certificate_fingerprint,
    MarkRecord.visible_label,
    MarkRecord.origin,
    MarkRecord.log_index,
    MarkRecord.key_id,
    MarkRecord.binding,
]
_SYSTEM_COLUMNS: list[Any] = [
    System.id.label("s_id"),
    System.name.label("s_name"),
    System.version_label.label("s_version"),
    System.current_version.label("s_number"),
    System.status.label("s_status"),
    System.outcome.label("s_outcome"),
    System.impact_level.label("s_impact_level"),
    System.suspended.label("s_suspended"),
    System.training_data_headline.label("s_training_data_headline"),
]
_HEAD_COLUMNS: list[Any] = [
    LogHead.generation.label("h_generation"),
    LogHead.tree_size.label("h_size"),
    LogHead.root_hash.label("h_root"),
    LogHead.checkpoint.label("h_checkpoint"),
    LogHead.vkey.label("h_vkey"),
    LogHead.tiles_dir.label("h_tiles_dir"),
    LogHead.published_at.label("h_published_at"),
]


def _lookup(
    db: Database, marks: list[MarkId], namespaces: dict[int, MarkNamespaceFacts], records: dict[str, MarkRecordFacts]
) -> Head | None:
    """One statement: every namespace the marks name, with the marks' records (if recorded) and all the
    record needs (system now and then, provider, log entry), and the log's head."""
    ids = [m.hex for m in marks]
    numbers = sorted({m.namespace for m in marks})
    q = (
        select(
            MarkNamespace.number.label("ns_number"),
            MarkNamespace.revoked_at.label("ns_revoked_at"),
            Provider.id.label("p_id"),
            Provider.name.label("p_name"),
            Provider.jurisdiction.label("p_jurisdiction"),
            *_RECORD_COLUMNS,
            *_SYSTEM_COLUMNS,
            SystemVersion.version_label.label("v_then"),
            LogEntry.data.label("entry"),
            *_HEAD_COLUMNS,
        )
        .select_from(MarkNamespace)
        .join(Provider, Provider.id == MarkNamespace.provider_id)
        .outerjoin(MarkRecord, and_(MarkRecord.namespace == MarkNamespace.number, MarkRecord.mark_id.in_(ids)))
        .outerjoin(System, System.id == MarkRecord.system_id)
        .outerjoin(
            SystemVersion,
            and_(
                SystemVersion.system_id == MarkRecord.system_id,
                SystemVersion.number == MarkRecord.system_version_number,
            ),
        )
        .outerjoin(LogEntry, LogEntry.idx == MarkRecord.log_index)
        .outerjoin(LogHead, LogHead.id == 1)
        .where(MarkNamespace.number.in_(numbers))
    )
    head = None
    with db.engine.connect() as conn:
        rows = conn.execute(q).all()
    for r in rows:
        namespaces[r.ns_number] = MarkNamespaceFacts(
            number=r.ns_number,
            provider={"id": r.p_id, "name": r.p_name, "jurisdiction": r.p_jurisdiction},
            revoked=r.ns_revoked_at is not None,
        )
        if r.mark_id is not None:
            records[r.mark_id] = MarkRecordFacts(
                row=r,
                system=r if r.s_id is not None else None,
                version_then=r.v_then,
                entry=bytes(r.entry) if r.entry is not None else None,
            )
        if head is None and r.h_size is not None:
            head = Head(
                int(r.h_generation),
                int(r.h_size),
                bytes(r.h_root),
                r.h_checkpoint,
                r.h_vkey,
                r.h_tiles_dir,
                r.h_published_at,
            )
    return head


def _proofs(db: Database, head: Head | None, records: dict[str, MarkRecordFacts]) -> dict[int, Any]:
    entries = {rec.row.log_index: rec.entry for rec in records.values() if rec.row.log_index is not None and rec.entry}
    if head is None or not entries:
        return dict.fromkeys(entries)
    # The proof is evidence on top of the record, not the verdict itself: a log that cannot hand it out right
    # now (its tiles being rewritten by an integrator in another process, or damaged) is said, not a crash.
    proofs: dict[int, Any] = proofs_at(db, head, entries)
    for index, proof in proofs.items():
        if isinstance(proof, AssayError):
            try:  # once more, against the head as it is now
                proofs[index] = proof_for(db, index)
            except (AssayError, OSError) as exc:
                log.warning("no inclusion proof for log entry %d: %s", index, type(exc).__name__)
    return proofs
