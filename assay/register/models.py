"""The register's tables (SQLAlchemy 2). Schema changes go through the Alembic branch ``register``.

Versioning contract: a system's disclosures live in ``system_versions``, one row per version, never updated
or deleted. ``systems`` holds the public identity of a system plus *denormalised* copies of its current
version's facts (name, status, outcome, impact level, capabilities, contexts) so lists and filters are index
scans; those copies are owned by :mod:`assay.register.service`, which rewrites them in the same transaction
that appends a version, a screening, a review or a suspension. Every row that records a write carries the
actor and the time.

Full-text search lives outside these models, because it is dialect specific: an FTS5 table ``systems_fts`` on
SQLite (rowid = ``systems.search_key``), ``search_document`` and ``name_document`` tsvector columns with GIN
indexes on PostgreSQL (see ``assay.register.search`` and the migrations ``register_0001``, ``register_0003``
and ``register_0006``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from assay.db import Base
from assay.db.types import UTCDateTime

__all__ = [
    "ApiToken",
    "DeployerConfirmation",
    "ExceptionReview",
    "ImpactRecord",
    "Provider",
    "ScreeningRecord",
    "System",
    "SystemCapability",
    "SystemContext",
    "SystemSuspension",
    "SystemVersion",
]

_TZ = UTCDateTime()  # aware UTC datetimes on SQLite and PostgreSQL alike


class Provider(Base):
    """A provider or deployer: the organisation that answers for its systems."""

    __tablename__ = "providers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    jurisdiction: Mapped[str] = mapped_column(String(100), default="")
    website: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(_TZ)
    created_by: Mapped[str] = mapped_column(String(100))
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ApiToken(Base):
    """An API token. Only the SHA-256 of the secret is stored; ``prefix`` identifies it in lists."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(
            "(is_admin AND provider_id IS NULL) OR (NOT is_admin AND provider_id IS NOT NULL)",
            name="ck_api_tokens_role",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id"), nullable=True, index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(_TZ)
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoke_log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class System(Base):
    """A registered AI system: its stable public id, and copies of its current version's facts."""

    __tablename__ = "systems"
    __table_args__ = (
        UniqueConstraint("provider_id", "name_key", name="uq_systems_provider_name"),
        Index("ix_systems_name_key", "name_key", "id"),
        Index("ix_systems_updated_at", "updated_at", "id"),
        Index("ix_systems_search_key", "search_key", unique=True),
        Index("ix_systems_outcome", "outcome", "name_key"),
        Index("ix_systems_impact_level", "impact_level", "name_key"),
        Index("ix_systems_status", "status", "name_key"),
        Index("ix_systems_provider", "provider_id", "name_key"),
        Index("ix_systems_outcome_updated", "outcome", "updated_at", "id"),
        Index("ix_systems_impact_level_updated", "impact_level", "updated_at", "id"),
        Index("ix_systems_status_updated", "status", "updated_at", "id"),
        Index("ix_systems_provider_updated", "provider_id", "updated_at", "id"),
        # Only the (rare) copies of another provider's system name: search ranks them last by probing it.
        Index(
            "ix_systems_name_copy",
            "search_key",
            sqlite_where=text("name_copy"),
            postgresql_where=text("name_copy"),
        ),
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    # Owned by service.py: copies of the current version (and its latest screening), for fast lists.
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300))
    current_version: Mapped[int] = mapped_column(Integer)
    version_label: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(30))
    summary: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(20))
    # "law", or "register_policy" when only the register's own policy lines (UN red lines) reach the outcome.
    outcome_basis: Mapped[str] = mapped_column(String(20), default="law", server_default="law")
    impact_level: Mapped[int] = mapped_column(SmallInteger)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    training_data_headline: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(_TZ)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(_TZ)
    # The system's integer key in the full-text index (the id of its first version; never changes).
    search_key: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Owned by service.py: another provider registered a system of the same name first (search ranks it after).
    name_copy: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SystemCapability(Base):
    """A declared capability of a system's current version (denormalised for the capability filter)."""

    __tablename__ = "system_capabilities"
    __table_args__ = (Index("ix_system_capabilities_capability", "capability", "system_id"),)

    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True)
    capability: Mapped[str] = mapped_column(String(80), primary_key=True)


class SystemContext(Base):
    """A deployment context of a system's current version (denormalised for the context filter)."""

    __tablename__ = "system_contexts"
    __table_args__ = (Index("ix_system_contexts_context", "context", "system_id"),)

    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True)
    context: Mapped[str] = mapped_column(String(80), primary_key=True)


class SystemVersion(Base):
    """One version of a system's disclosure. Append-only: never updated, never deleted."""

    __tablename__ = "system_versions"
    __table_args__ = (UniqueConstraint("system_id", "number", name="uq_system_versions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"))
    number: Mapped[int] = mapped_column(Integer)
    # The canonical JSON of the disclosure, exactly as hashed: its SHA-256 is what the log records.
    disclosure: Mapped[str] = mapped_column(Text)
    disclosure_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    version_label: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    actor_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(_TZ)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ScreeningRecord(Base):
    """A red-line screening of one version. A review adds a new one; the newest is the version's current one."""

    __tablename__ = "system_screenings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("system_versions.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    rules_version: Mapped[str] = mapped_column(String(64), default="", server_default="")
    cause: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(_TZ)


class ImpactRecord(Base):
    """The impact assessment of one version: its level (1–4) and how the score was reached."""

    __tablename__ = "system_impacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("system_versions.id"), unique=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    assessment: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(_TZ)


class ExceptionReview(Base):
    """The oversight body's decision on an exception claimed against a red-line rule, for one version."""

    __tablename__ = "exception_reviews"
    __table_args__ = (
        CheckConstraint("decision IN ('upheld', 'rejected')", name="ck_exception_reviews_decision"),
        Index("ix_exception_reviews_system", "system_id", "version_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"))
    version_number: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(10))
    # SHA-256 of the exact claim decided (screening's claim_digest): a changed claim needs a new review.
    claim_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    actor_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(_TZ)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class SystemSuspension(Base):
    """A suspension or reinstatement of a system by the oversight body (an event; the newest one counts)."""

    __tablename__ = "system_suspensions"
    __table_args__ = (
        CheckConstraint("action IN ('suspended', 'reinstated')", name="ck_system_suspensions_action"),
        Index("ix_system_suspensions_system", "system_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"))
    action: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    actor_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(_TZ)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class DeployerConfirmation(Base):
    """A registered organisation's answer to being named as a deployer of a system: an event, never updated.

    The newest decision of a deployer about a system counts while ``entry_sha256`` is the digest of what the
    current disclosure says about it; a changed deployer entry is unconfirmed again."""

    __tablename__ = "deployer_confirmations"
    __table_args__ = (
        CheckConstraint("decision IN ('confirmed', 'denied')", name="ck_deployer_confirmations_decision"),
        Index("ix_deployer_confirmations_system", "system_id", "deployer_id", "id"),
        Index("ix_deployer_confirmations_deployer", "deployer_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"))
    deployer_id: Mapped[str] = mapped_column(ForeignKey("providers.id"))
    decision: Mapped[str] = mapped_column(String(10))
    entry_sha256: Mapped[str] = mapped_column(String(64))
    version_number: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    actor_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(_TZ)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
