"""Provenance tables (SQLAlchemy 2). Schema changes go through the Alembic branch ``provenance``.

What is stored about a mark: its identifier (the 64-bit watermark payload), the system and record version
it was made for, times, the SHA-256 of the marked file, a perceptual hash of its pixels, the size, and the
signed C2PA manifest store (made without a thumbnail, so no picture of the image is ever kept). Never the
image itself. Secrets are never stored here either: namespace keys are derived from the register's master
key in the data folder, private signing keys live in files in the data folder.

Mark records are append-only: a recorded mark is never updated or deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from assay.db import Base
from assay.db.types import UTCDateTime

__all__ = ["FieldMessage", "MarkNamespace", "MarkRecord", "SequenceLease", "SigningCertificate", "WatermarkKeyRecord"]

_TZ = UTCDateTime()  # aware UTC datetimes on SQLite and PostgreSQL alike


class MarkNamespace(Base):
    """A 20-bit number a provider mints marks under, with its own MAC key (derived, never stored).

    ``next_sequence`` is owned by :mod:`assay.provenance.marking`: it only grows, inside write transactions.
    """

    __tablename__ = "provenance_namespaces"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", name="fk_prov_ns_provider"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "online" (marked by the register) or "kit" (offline)
    key_id: Mapped[str] = mapped_column(String(16))  # public fingerprint of the derived key
    next_sequence: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(_TZ)
    revoked_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(300), default="")
    issued_log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class SequenceLease(Base):
    """A range of sequence numbers handed out in a marking kit, for offline marking: [start, end)."""

    __tablename__ = "provenance_leases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[int] = mapped_column(
        ForeignKey("provenance_namespaces.number", name="fk_prov_lease_ns"), index=True
    )
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(_TZ)


class SigningCertificate(Base):
    """A provider's C2PA claim-signing certificate: issued by the register's CA, or brought by the provider."""

    __tablename__ = "provenance_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", name="fk_prov_cert_provider"), index=True)
    serial: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    chain_pem: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))  # "issued" or "imported"
    not_before: Mapped[datetime] = mapped_column(_TZ)
    not_after: Mapped[datetime] = mapped_column(_TZ)
    key_file: Mapped[str] = mapped_column(String(300), default="")  # relative to the data folder; "" = not held
    created_at: Mapped[datetime] = mapped_column(_TZ)
    revoked_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(300), default="")
    issued_log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class MarkRecord(Base):
    """One marked output, as its provider recorded it. Append-only."""

    __tablename__ = "provenance_marks"
    __table_args__ = (UniqueConstraint("namespace", "sequence", name="uq_prov_mark_ns_seq"),)

    mark_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the payload, 16 lower-case hex digits
    namespace: Mapped[int] = mapped_column(ForeignKey("provenance_namespaces.number", name="fk_prov_mark_ns"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id", name="fk_prov_mark_system"), index=True)
    system_version_number: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", name="fk_prov_mark_provider"), index=True)
    created_at: Mapped[datetime] = mapped_column(_TZ, index=True)
    recorded_at: Mapped[datetime] = mapped_column(_TZ)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(40))
    alg: Mapped[str] = mapped_column(String(100))
    manifest_id: Mapped[str | None] = mapped_column(String(120), unique=True, nullable=True)
    manifest: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    certificate_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    visible_label: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str] = mapped_column(String(16))  # "online" or "batch"
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    recorded_by_token: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", name="fk_prov_mark_token"), nullable=True
    )
    # The system's watermark key the mark was embedded with; None: the legacy register-wide key (every kit
    # held it, so such a mark proves less; see docs/provenance.md).
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The keyed fingerprint of the marked picture (assay.provenance.binding). Server-only: never shown on a page,
    # in the API or on the log, since it is what tells the recorded picture from a copy of its mark.
    binding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class FieldMessage(Base):
    """The message a mark's version-3 field carries, beside the key that encrypted it: a field read names no
    key, and this index names it at once (:mod:`assay.provenance.fieldindex`) instead of a decryption under
    every key. Written with the mark's record (the record itself stays as it was made); server-only, like the
    binding: a field's message tells which of a remover's reads were right. Every mark made with a system key
    has one (version 2's tile carries the same encryption), the legacy key's marks none."""

    __tablename__ = "provenance_field_messages"
    __table_args__ = (Index("ix_prov_field_message", "message", "key_id"),)  # the lookup reads the index alone

    mark_id: Mapped[str] = mapped_column(
        ForeignKey("provenance_marks.mark_id", name="fk_prov_field_message_mark"), primary_key=True
    )
    message: Mapped[str] = mapped_column(String(16))  # assay.watermark.field_message, 16 lower-case hex digits
    key_id: Mapped[str] = mapped_column(String(16))


class WatermarkKeyRecord(Base):
    """A system's watermark key, by id. The key itself is derived from the register's master key (never stored);
    the register holds it, and only its own provider's offline kits carry it."""

    __tablename__ = "provenance_watermark_keys"
    __table_args__ = (UniqueConstraint("system_id", "generation", name="uq_prov_wmkey_system_generation"),)

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id", name="fk_prov_wmkey_system"), index=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", name="fk_prov_wmkey_provider"), index=True)
    generation: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(_TZ)
    revoked_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
