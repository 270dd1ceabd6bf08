"""Mark namespaces and the systems' watermark keys: handing out fresh marks, revoking, listing (register side)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assay import watermark
from assay.db import Database
from assay.errors import Conflict, NotFound
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.keys import (
    MAX_NAMESPACE,
    MAX_SEQUENCE,
    MarkId,
    WatermarkKey,
    namespace_key_id,
    system_watermark_key,
    watermark_key_id,
)
from assay.provenance.markcore import iso, utcnow
from assay.provenance.models import MarkNamespace, WatermarkKeyRecord
from assay.register.access import Principal
from assay.transparency import record

__all__ = [
    "allocate",
    "list_namespaces",
    "list_watermark_keys",
    "new_namespace",
    "revoke_namespace",
    "system_key",
]


def system_key(db: Database, env: ProvenanceEnv, *, system_id: str, provider_id: str, now: dt.datetime) -> WatermarkKey:
    """The system's current watermark key; made (and logged, by id) the first time the system marks."""
    with db.read() as session:
        row = _current_key(session, system_id)
    if row is None:
        with db.write() as session:
            row = _current_key(session, system_id)
            if row is None:
                row = _new_system_key(session, env, system_id=system_id, provider_id=provider_id, now=now)
    key = system_watermark_key(env.keys.master, system_id, row.generation)
    return WatermarkKey(row.key_id, key, row.algorithm, provider_id=row.provider_id, system_id=system_id)


def _current_key(session: Session, system_id: str) -> Any:
    return session.execute(
        select(
            WatermarkKeyRecord.key_id,
            WatermarkKeyRecord.generation,
            WatermarkKeyRecord.algorithm,
            WatermarkKeyRecord.provider_id,
        )
        .where(WatermarkKeyRecord.system_id == system_id, WatermarkKeyRecord.revoked_at.is_(None))
        .order_by(WatermarkKeyRecord.generation.desc())
    ).first()


def _new_system_key(session: Session, env: ProvenanceEnv, *, system_id: str, provider_id: str, now: dt.datetime) -> Any:
    generation = (
        session.scalar(select(func.max(WatermarkKeyRecord.generation)).where(WatermarkKeyRecord.system_id == system_id))
        or 0
    ) + 1
    key_id = watermark_key_id(system_watermark_key(env.keys.master, system_id, generation))
    row = WatermarkKeyRecord(
        key_id=key_id,
        system_id=system_id,
        provider_id=provider_id,
        generation=generation,
        algorithm=watermark.ALGORITHM,
        created_at=now,
    )
    session.add(row)
    session.flush()
    row.log_index = record(
        session,
        "provider.key.issued",
        {
            "provider": provider_id,
            "system": system_id,
            "key_id": key_id,
            "purpose": "watermark",
            "algorithm": watermark.ALGORITHM,
        },
    )
    return row


def allocate(db: Database, env: ProvenanceEnv, *, provider_id: str, count: int, now: dt.datetime) -> list[MarkId]:
    """Hand out ``count`` fresh marks from the provider's online namespace (a new one when it runs out)."""
    with db.write() as session:
        ns = session.scalars(
            select(MarkNamespace)
            .where(
                MarkNamespace.provider_id == provider_id,
                MarkNamespace.purpose == "online",
                MarkNamespace.revoked_at.is_(None),
            )
            .order_by(MarkNamespace.number.desc())
            .with_for_update()
        ).first()
        if ns is None or ns.next_sequence + count - 1 > MAX_SEQUENCE:
            ns = new_namespace(session, env, provider_id=provider_id, purpose="online", now=now)
        start = ns.next_sequence
        ns.next_sequence = start + count
        key = env.keys.namespace_key(ns.number)
        return [MarkId.mint(namespace=ns.number, sequence=s, key=key) for s in range(start, start + count)]


def new_namespace(
    session: Session, env: ProvenanceEnv, *, provider_id: str, purpose: str, now: dt.datetime
) -> MarkNamespace:
    # Under the single writer (SQLite) or the unique primary key (PostgreSQL), max+1 never hands out twice.
    number = (session.scalar(select(func.max(MarkNamespace.number))) or 0) + 1
    if number > MAX_NAMESPACE:
        raise Conflict(
            "the register has used all mark namespaces",
            hint="this register is full; start a new one with a new watermark algorithm id",
        )
    key_id = namespace_key_id(env.keys.namespace_key(number))
    ns = MarkNamespace(
        number=number,
        provider_id=provider_id,
        purpose=purpose,
        key_id=key_id,
        next_sequence=1,
        created_at=now,
        revoked_reason="",
    )
    session.add(ns)
    session.flush()
    ns.issued_log_index = record(
        session,
        "provider.key.issued",
        {"provider": provider_id, "namespace": number, "key_id": key_id, "purpose": purpose},
    )
    return ns


def revoke_namespace(
    db: Database, *, number: int, principal: Principal, reason: str = "", now: dt.datetime | None = None
) -> dict[str, Any]:
    """Stop a namespace: no new marks can be recorded under it (marks already recorded still resolve)."""
    now = now or utcnow()
    with db.write() as session:
        ns = session.scalars(select(MarkNamespace).where(MarkNamespace.number == number).with_for_update()).first()
        if ns is None:
            raise NotFound(f"there is no mark namespace {number}", hint="see 'assay keys list'")
        principal.require_provider(ns.provider_id, action="revoke marking keys")
        if ns.revoked_at is not None:
            raise Conflict(f"namespace {number} is already revoked", hint="nothing to do")
        ns.revoked_at = now
        ns.revoked_reason = (reason or "revoked")[:300]
        ns.revoked_log_index = record(
            session,
            "provider.key.revoked",
            {"provider": ns.provider_id, "namespace": number, "key_id": ns.key_id, "revoked_at": iso(now)},
        )
        return _ns_dict(ns)


def list_namespaces(session: Session, *, provider_id: str | None = None) -> list[dict[str, Any]]:
    q = select(MarkNamespace).order_by(MarkNamespace.number)
    if provider_id:
        q = q.where(MarkNamespace.provider_id == provider_id)
    return [_ns_dict(n) for n in session.scalars(q)]


def list_watermark_keys(session: Session, *, provider_id: str | None = None) -> list[dict[str, Any]]:
    """The systems' watermark keys, by id (public facts; the keys themselves are derived, never stored)."""
    q = select(WatermarkKeyRecord).order_by(WatermarkKeyRecord.system_id, WatermarkKeyRecord.generation)
    if provider_id:
        q = q.where(WatermarkKeyRecord.provider_id == provider_id)
    return [
        {
            "key_id": k.key_id,
            "system_id": k.system_id,
            "provider_id": k.provider_id,
            "generation": k.generation,
            "algorithm": k.algorithm,
            "created_at": iso(k.created_at),
            "revoked_at": iso(k.revoked_at) if k.revoked_at else None,
            "log_index": k.log_index,
        }
        for k in session.scalars(q)
    ]


def _ns_dict(ns: MarkNamespace) -> dict[str, Any]:
    return {
        "namespace": ns.number,
        "provider_id": ns.provider_id,
        "purpose": ns.purpose,
        "key_id": ns.key_id,
        "used": ns.next_sequence - 1,
        "created_at": iso(ns.created_at),
        "revoked_at": iso(ns.revoked_at) if ns.revoked_at else None,
        "log_index": ns.issued_log_index,
    }
