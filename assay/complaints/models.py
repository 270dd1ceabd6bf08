"""The complaints channel's tables. Schema changes go through the Alembic branch ``complaints``.

What is stored is chosen to be useless to anyone without the oversight body's private key or a receipt:

- no plaintext of any complaint, reply or attachment: only sealed boxes (``ciphertext``);
- no IP address, user agent, cookie or precise time: dates are days (``*_on``), never datetimes;
- no receipt: only ``lookup`` = HMAC(pepper, Argon2id(receipt)), where the pepper lives in the data folder,
  not in the database (see :mod:`assay.complaints.receipts`);
- complaint ids are random, so they reveal no order or count.

Rows of ``complaint_messages`` and ``complaint_status_changes`` are appended, never updated or deleted.
``complaints.status`` and its ``*_on`` days are denormalised from those rows by :mod:`assay.complaints.service`,
in the same transaction.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from assay.db import Base

__all__ = [
    "AbuseCounter",
    "ChannelSettings",
    "Complaint",
    "ComplaintKey",
    "ComplaintMessage",
    "SpentToken",
    "StatusChange",
]

_Seq = BigInteger().with_variant(Integer(), "sqlite")


class ChannelSettings(Base):
    """One row (id 1): the public salt and Argon2id parameters every receipt of this installation uses.

    Fixed when the channel is first set up, because changing them would make every receipt unusable.
    """

    __tablename__ = "complaints_channel"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    kdf_opslimit: Mapped[int] = mapped_column(Integer)
    kdf_memlimit: Mapped[int] = mapped_column(BigInteger)
    created_on: Mapped[date] = mapped_column(Date)


class ComplaintKey(Base):
    """A public key of the oversight body. The newest one not retired receives new complaints."""

    __tablename__ = "complaints_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    published_on: Mapped[date] = mapped_column(Date)
    retired_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Index of the "complaints.key.published"/"complaints.key.rotated" entry on the transparency log.
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The demo key 'assay demo load' publishes, whose passphrase is public: shown as such everywhere.
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Complaint(Base):
    __tablename__ = "complaints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    system_id: Mapped[str] = mapped_column(String(64), index=True)
    lookup: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    reply_public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    acknowledged_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # First feedback: the first reply of the oversight body, or the day it closed the complaint.
    answered_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class ComplaintMessage(Base):
    """A sealed message: the complaint itself, information added later, or a reply of the oversight body."""

    __tablename__ = "complaint_messages"

    # Also the cursor of 'assay complaints pull': only order, no time.
    id: Mapped[int] = mapped_column(_Seq, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # "complainant" or "body"
    kind: Mapped[str] = mapped_column(String(16))  # "complaint", "information" or "reply"
    day: Mapped[date] = mapped_column(Date)
    # Complainant's messages: sealed to this key of the body. Replies: sealed to the complaint's reply key.
    key_id: Mapped[str | None] = mapped_column(ForeignKey("complaints_keys.key_id"), nullable=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # SHA-256 of the ciphertext; unique, so a replayed submission is refused.
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # Replies only: the same text sealed to the body's own key, so the body can read its own replies.
    body_copy: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    body_copy_key_id: Mapped[str | None] = mapped_column(ForeignKey("complaints_keys.key_id"), nullable=True)
    # The complainant's messages: the same text (fields and attachment list, not the files) encrypted under a key
    # derived from the receipt, so its holder can re-read what was sent (see crypto.seal_own_copy). Optional.
    own_copy: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class StatusChange(Base):
    __tablename__ = "complaint_status_changes"

    id: Mapped[int] = mapped_column(_Seq, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)


# --- Shared abuse state (owned by assay.complaints.abuse): counters and spent tokens, never an address -------
#
# Kept in the database so that every worker process and every machine of one register share them. Nothing here
# names a person: keys are random challenge bytes or keyed hashes, and rows expire within hours.


class SpentToken(Base):
    """A proof-of-work challenge or form token that was used, kept until it expires (so it works once)."""

    __tablename__ = "abuse_spent"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "pow" or "form"
    token: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)  # SHA-256 of the token, first 16 bytes
    expires: Mapped[int] = mapped_column(BigInteger, index=True)  # Unix seconds


class AbuseCounter(Base):
    """How many requests of a kind arrived in a time window (``window_no`` = Unix seconds // window length)."""

    __tablename__ = "abuse_counters"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)  # b"" for everyone together
    window_no: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
