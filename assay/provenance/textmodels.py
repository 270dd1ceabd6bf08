"""Text provenance tables (Alembic branch ``provenance``, revision provenance_0020).

- ``provenance_text_keys``: one row per text watermark key a system was given (the secret itself is derived
  from the register's master key and never stored); a system has at most one current key.
- ``provenance_tokenizers``: the tokenizer.json files detection needs, by SHA-256 (public files of the
  provider's model; kept in the database so that a check never depends on a file outside a backup).
- ``provenance_text_records``: generations a provider chose to record (hash of the normalised text, never
  the text). Append-only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from assay.db import Base
from assay.db.types import UTCDateTime

__all__ = ["TextKeyRecord", "TextRecord", "TokenizerFile"]

_TZ = UTCDateTime()  # aware UTC datetimes on SQLite and PostgreSQL alike


class TokenizerFile(Base):
    __tablename__ = "provenance_tokenizers"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    vocab_size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_TZ)


class TextKeyRecord(Base):
    """A system's text watermark key (number ``number``), as issued. Revoked keys stay: their texts still check."""

    __tablename__ = "provenance_text_keys"
    __table_args__ = (UniqueConstraint("system_id", "number", name="uq_prov_text_key_system_number"),)

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # public fingerprint of the secret
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id", name="fk_prov_text_key_system"), index=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", name="fk_prov_text_key_provider"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    alg: Mapped[str] = mapped_column(String(100))
    context_width: Mapped[int] = mapped_column(Integer)
    tokenizer_sha256: Mapped[str] = mapped_column(
        ForeignKey("provenance_tokenizers.sha256", name="fk_prov_text_key_tokenizer")
    )
    created_at: Mapped[datetime] = mapped_column(_TZ)
    revoked_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(300), default="")
    issued_log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class TextRecord(Base):
    """One generated text a provider recorded: the SHA-256 of its normalised form, never the text."""

    __tablename__ = "provenance_text_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id", name="fk_prov_text_rec_system"), index=True)
    system_version_number: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", name="fk_prov_text_rec_provider"))
    key_id: Mapped[str] = mapped_column(ForeignKey("provenance_text_keys.key_id", name="fk_prov_text_rec_key"))
    tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(_TZ)
    recorded_at: Mapped[datetime] = mapped_column(_TZ)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    recorded_by_token: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", name="fk_prov_text_rec_token"), nullable=True
    )
