"""Reading what the register recorded about marks and signing credentials, as plain views for the shells.

The web routes and the CLI call these instead of querying: each opens its own read transaction and returns
dicts, dataclasses or bytes, never a row bound to a session.

    page = list_marks(db, system_id="acme-imagegen", page=1, per_page=20)   # MarkPage(items, total, ...)
    view = mark_record(db, "0123456789abcdef")                             # NotFound when not recorded
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from assay.db import Database
from assay.errors import NotFound
from assay.provenance.credentials import list_certificates, revoked_serials
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.keys import MarkId
from assay.provenance.markkeys import list_namespaces, list_watermark_keys
from assay.provenance.models import MarkRecord
from assay.provenance.verdict import mark_view
from assay.register.service import ProviderView, SystemView, get_provider, get_system, get_version

__all__ = [
    "MarkPage",
    "MarkPageView",
    "ProviderCredentials",
    "crl_der",
    "list_marks",
    "mark_page_view",
    "mark_record",
    "provider_credentials",
]


@dataclass(frozen=True)
class MarkPage:
    """One page of recorded marks, newest first (``items``: public mark views)."""

    items: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "page": self.page, "per_page": self.per_page, "total": self.total}


def list_marks(
    db: Database,
    *,
    page: int = 1,
    per_page: int = 20,
    system_id: str | None = None,
    provider_id: str | None = None,
    count: bool = True,
    oversight: bool = False,
) -> MarkPage:
    """A page of recorded marks, newest first; ``count=False`` skips counting them all (``total`` is then -1).
    ``oversight``: the views keep what only the oversight body sees (the perceptual hash)."""
    q = select(MarkRecord)
    count_q = select(func.count()).select_from(MarkRecord)
    if system_id:
        q, count_q = q.where(MarkRecord.system_id == system_id), count_q.where(MarkRecord.system_id == system_id)
    if provider_id:
        q = q.where(MarkRecord.provider_id == provider_id)
        count_q = count_q.where(MarkRecord.provider_id == provider_id)
    with db.read() as session:
        total = (session.scalar(count_q) or 0) if count else -1
        rows = session.scalars(
            q.order_by(MarkRecord.created_at.desc(), MarkRecord.mark_id).offset((page - 1) * per_page).limit(per_page)
        )
        items = [mark_view(r, oversight=oversight) for r in rows]
    return MarkPage(items=items, page=page, per_page=per_page, total=total)


def mark_record(db: Database, mark_id: str, *, oversight: bool = False) -> dict[str, Any]:
    """The public view of one recorded mark (``oversight``: with the perceptual hash); :class:`NotFound` (with
    the fix) when it is not recorded."""
    mark = MarkId.parse(mark_id)
    with db.read() as session:
        row = session.get(MarkRecord, mark.hex)
        if row is None:
            raise NotFound(
                f"there is no recorded mark {mark.hex}",
                hint="a mark made offline appears once its provider records the batch",
            )
        return mark_view(row, oversight=oversight)


@dataclass(frozen=True)
class MarkPageView:
    """What a mark's public page shows: the mark, its system now, and the system's version when it marked."""

    mark: dict[str, Any]
    system: SystemView | None
    version_then: str


def mark_page_view(db: Database, mark_id: str) -> MarkPageView:
    view = mark_record(db, mark_id)
    with db.read() as session:
        system = get_system(session, view["system_id"])
        then = (
            get_version(session, view["system_id"], view["system_version_number"])
            if system is not None and system.version_number != view["system_version_number"]
            else None
        )
    version_then = then.version if then else (system.version if system else "")
    return MarkPageView(mark=view, system=system, version_then=version_then)


@dataclass(frozen=True)
class ProviderCredentials:
    """A provider's public signing and marking facts: certificates, mark namespaces, watermark key ids."""

    provider: ProviderView
    certificates: list[Any]
    namespaces: list[dict[str, Any]]
    watermark_keys: list[dict[str, Any]]


def provider_credentials(db: Database, provider_id: str) -> ProviderCredentials:
    with db.read() as session:
        provider = get_provider(session, provider_id)
        if provider is None:
            raise NotFound(f"there is no provider {provider_id!r}", hint="see the list of providers at /providers")
        return ProviderCredentials(
            provider=provider,
            certificates=list_certificates(session, provider_id=provider_id),
            namespaces=list_namespaces(session, provider_id=provider_id),
            watermark_keys=list_watermark_keys(session, provider_id=provider_id),
        )


def crl_der(db: Database, env: ProvenanceEnv) -> bytes:
    """The CA's current CRL (DER) of revoked provider signing certificates."""
    with db.read() as session:
        revoked = revoked_serials(session)
    return env.ca.crl_der(revoked)
