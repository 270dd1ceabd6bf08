"""Storing and reading sealed complaints. Every function runs inside the caller's session.

Write functions expect a session from ``Database.write()`` (one transaction: all or nothing); read functions
work in ``Database.read()``. Nothing here ever sees plaintext: complaints, added information and replies
arrive sealed (:mod:`assay.complaints.crypto`), and receipts arrive as their ``lookup`` hash
(:mod:`assay.complaints.receipts`). Days are given by the caller (``today``), so tests inject the clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assay.complaints.crypto import MAX_OWN_COPY_BYTES, SEAL_OVERHEAD, KdfParams, b64, key_id
from assay.complaints.models import ChannelSettings, Complaint, ComplaintKey, ComplaintMessage, StatusChange
from assay.complaints.stats import FINAL, STATUSES, ComplaintDates, SystemStats, system_stats
from assay.complaints.views import ComplaintView, KeyView, MessageView
from assay.errors import Conflict, FieldProblem, InvalidInput, NotFound

__all__ = [
    "ChannelNotReady",
    "ComplaintView",
    "KeyView",
    "MessageView",
    "add_information",
    "add_reply",
    "change_status",
    "channel_params",
    "current_key",
    "find_by_lookup",
    "get_complaint",
    "inbox",
    "list_complaints",
    "list_keys",
    "publish_key",
    "stats_for_system",
    "submit_complaint",
]


class ChannelNotReady(Conflict):
    """No key of the oversight body is published, so nothing can be sealed to it.

    A state of the register that its operator fixes, not a server failure: 409, with the fix as the hint."""

    code = "complaints_not_ready"

    def __init__(self) -> None:
        super().__init__(
            "the oversight body has not published its complaints key yet, so complaints cannot be received safely",
            hint="the oversight body runs 'assay complaints keygen' and 'assay complaints publish-key'",
        )


# A secret box's nonce and MAC, and one byte of padding.
OWN_COPY_MIN_BYTES = 24 + 16 + 1
NOT_FOUND_BY_RECEIPT = "no complaint matches this receipt"
NOT_FOUND_HINT = "check the twelve words against your note; a receipt works only on the register where it was made"


# ---------------------------------------------------------------------------------------------------------
# The channel: salt and keys


def channel_params(session: Session, *, opslimit: int, memlimit: int, today: date) -> KdfParams:
    """The installation's receipt salt and Argon2id parameters; created (write session) on first use."""
    row = session.get(ChannelSettings, 1)
    if row is None:
        row = ChannelSettings(
            id=1, salt=secrets.token_bytes(16), kdf_opslimit=opslimit, kdf_memlimit=memlimit, created_on=today
        )
        session.add(row)
        session.flush()
    return KdfParams(salt=row.salt, opslimit=row.kdf_opslimit, memlimit=row.kdf_memlimit)


def _key_view(k: ComplaintKey) -> KeyView:
    return KeyView(k.key_id, k.public_key, k.published_on, k.retired_on, k.log_index, bool(k.demo))


def current_key(session: Session) -> KeyView | None:
    """The key new complaints are sealed to: the newest one not retired."""
    row = session.scalars(
        select(ComplaintKey).where(ComplaintKey.retired_on.is_(None)).order_by(ComplaintKey.published_on.desc())
    ).first()
    return _key_view(row) if row else None


def list_keys(session: Session) -> list[KeyView]:
    rows = session.scalars(select(ComplaintKey).order_by(ComplaintKey.published_on, ComplaintKey.log_index))
    return [_key_view(k) for k in rows]


DEMO_NOTE = "DEMO key of 'assay demo load': its passphrase is public, anyone can read what is sealed to it"


def publish_key(session: Session, public_key: bytes, *, today: date, demo: bool = False) -> KeyView:
    """Make ``public_key`` the key new complaints are sealed to, and record it on the transparency log.

    The first key is recorded as ``complaints.key.published``; a new key retires the current one and is
    recorded as ``complaints.key.rotated``. Complaints sealed to a retired key stay readable with its private
    key. Publishing the current key again changes nothing; a retired key cannot come back. ``demo`` marks the
    demo key (``assay demo load``), in the database and in its log entry, so that pages and commands say so.
    """
    from assay.transparency import record

    if len(public_key) != 32:
        raise InvalidInput(
            "a complaints public key is 32 bytes (X25519)",
            hint="give the public key printed by 'assay complaints keygen'",
        )
    kid = key_id(public_key)
    existing = session.get(ComplaintKey, kid)
    if existing is not None:
        if existing.retired_on is None:
            return _key_view(existing)
        raise Conflict(
            f"key {kid} was retired on {existing.retired_on} and cannot be published again",
            hint="make a new key with 'assay complaints keygen'",
        )
    previous = session.scalars(select(ComplaintKey).where(ComplaintKey.retired_on.is_(None)).with_for_update()).all()
    for old in previous:
        old.retired_on = today
    row = ComplaintKey(key_id=kid, public_key=public_key, published_on=today, demo=demo)
    session.add(row)
    session.flush()
    body: dict[str, Any] = {
        "key_id": kid,
        "public_key": b64(public_key),
        "alg": "x25519-sealed-box",
        "published_on": today.isoformat(),
    }
    if demo:
        body |= {"demo": True, "note": DEMO_NOTE}
    if previous:
        body["previous_key_ids"] = sorted(o.key_id for o in previous)
        row.log_index = record(session, "complaints.key.rotated", body)
    else:
        row.log_index = record(session, "complaints.key.published", body)
    return _key_view(row)


# ---------------------------------------------------------------------------------------------------------
# The complainant's side


def _check_sealed(ciphertext: bytes, *, path: str, max_bytes: int) -> None:
    if len(ciphertext) < SEAL_OVERHEAD + 1:
        raise InvalidInput(
            f"{path} is {len(ciphertext)} bytes, too short to be a sealed box",
            hint="send the sealed box made by the complaint form",
            problems=[FieldProblem(path, "not a sealed box", "send the whole sealed box")],
        )
    if len(ciphertext) > max_bytes:
        from assay.errors import TooLarge

        raise TooLarge(
            f"{path} is {len(ciphertext)} bytes, more than the limit of {max_bytes}",
            hint="attach fewer or smaller files",
            problems=[FieldProblem(path, "too large", "send less")],
        )


def _check_own_copy(own_copy: bytes | None) -> None:
    if own_copy is None:
        return
    if not (OWN_COPY_MIN_BYTES <= len(own_copy) <= MAX_OWN_COPY_BYTES):
        raise InvalidInput(
            f"own_copy is {len(own_copy)} bytes; a copy for the complainant is {OWN_COPY_MIN_BYTES} to "
            f"{MAX_OWN_COPY_BYTES} bytes",
            hint="send the copy the complaint form makes, or none",
            problems=[FieldProblem("own_copy", "wrong size", "send the form's copy or leave it out")],
        )


def _usable_key(session: Session, kid: str) -> ComplaintKey:
    key = session.get(ComplaintKey, kid)
    if key is None:
        raise InvalidInput(
            f"key {kid[:16]!r} is not a key of the oversight body",
            hint="reload the complaint form to get the current key",
            problems=[FieldProblem("key_id", "unknown key", "use the key the form shows")],
        )
    if key.retired_on is not None:
        raise Conflict(
            f"key {kid} was replaced on {key.retired_on}; the complaint was not stored",
            hint="reload the page: it will encrypt to the oversight body's new key",
        )
    return key


def _digest(ciphertext: bytes) -> bytes:
    return hashlib.sha256(ciphertext).digest()


def _refuse_replay(session: Session, digest: bytes) -> None:
    if session.scalar(select(ComplaintMessage.id).where(ComplaintMessage.digest == digest)) is not None:
        raise Conflict("this submission was already received", hint="nothing more to do: it is stored once")


def submit_complaint(
    session: Session,
    *,
    system_id: str,
    key_id: str,
    ciphertext: bytes,
    lookup: bytes,
    reply_public_key: bytes,
    today: date,
    max_bytes: int,
    own_copy: bytes | None = None,
) -> str:
    """Store a new sealed complaint; returns its random id (for the oversight body, never the complainant).

    ``own_copy`` is the complainant's copy of what they sent, encrypted under their receipt's copy key (or None).
    """
    _check_sealed(ciphertext, path="ciphertext", max_bytes=max_bytes)
    _check_own_copy(own_copy)
    if len(lookup) != 32 or len(reply_public_key) != 32:
        raise InvalidInput(
            "the receipt's keys are malformed",
            hint="let the complaint form make the receipt",
            problems=[FieldProblem("reply_public_key", "not 32 bytes", "send a 32-byte key")],
        )
    _usable_key(session, key_id)
    digest = _digest(ciphertext)
    _refuse_replay(session, digest)
    if session.scalar(select(Complaint.id).where(Complaint.lookup == lookup)) is not None:
        raise Conflict("this submission was already received", hint="nothing more to do: it is stored once")
    cid = secrets.token_hex(10)
    session.add(
        Complaint(
            id=cid,
            system_id=system_id,
            lookup=lookup,
            reply_public_key=reply_public_key,
            status="received",
            received_on=today,
        )
    )
    session.flush()
    session.add(
        ComplaintMessage(
            complaint_id=cid,
            author="complainant",
            kind="complaint",
            day=today,
            key_id=key_id,
            ciphertext=ciphertext,
            digest=digest,
            own_copy=own_copy,
        )
    )
    session.add(StatusChange(complaint_id=cid, status="received", day=today))
    _flush_or_conflict(session)
    return cid


def _flush_or_conflict(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Two identical submissions racing: the unique indexes keep one; this one is a replay.
        raise Conflict("this submission was already received", hint="nothing more to do: it is stored once") from None


def find_by_lookup(session: Session, lookup: bytes) -> ComplaintView | None:
    cid = session.scalar(select(Complaint.id).where(Complaint.lookup == lookup))
    return get_complaint(session, cid) if cid else None


def add_information(
    session: Session,
    *,
    lookup: bytes,
    key_id: str,
    ciphertext: bytes,
    today: date,
    max_bytes: int,
    own_copy: bytes | None = None,
) -> ComplaintView:
    """Append information sealed by the complainant (identified only by the receipt's lookup hash)."""
    _check_sealed(ciphertext, path="ciphertext", max_bytes=max_bytes)
    _check_own_copy(own_copy)
    complaint = session.scalars(select(Complaint).where(Complaint.lookup == lookup).with_for_update()).first()
    if complaint is None:
        raise NotFound(NOT_FOUND_BY_RECEIPT, hint=NOT_FOUND_HINT)
    if complaint.status in FINAL:
        raise Conflict(
            f"this complaint was closed on {complaint.closed_on} ({complaint.status})",
            hint="to raise something new, file a new complaint from the system's page",
        )
    _usable_key(session, key_id)
    digest = _digest(ciphertext)
    _refuse_replay(session, digest)
    session.add(
        ComplaintMessage(
            complaint_id=complaint.id,
            author="complainant",
            kind="information",
            day=today,
            key_id=key_id,
            ciphertext=ciphertext,
            digest=digest,
            own_copy=own_copy,
        )
    )
    _flush_or_conflict(session)
    view = get_complaint(session, complaint.id)
    assert view is not None
    return view


# ---------------------------------------------------------------------------------------------------------
# The oversight body's side


def get_complaint(session: Session, complaint_id: str) -> ComplaintView | None:
    c = session.get(Complaint, complaint_id)
    if c is None:
        return None
    history = session.execute(
        select(StatusChange.status, StatusChange.day).where(StatusChange.complaint_id == c.id).order_by(StatusChange.id)
    ).all()
    messages = session.scalars(
        select(ComplaintMessage).where(ComplaintMessage.complaint_id == c.id).order_by(ComplaintMessage.id)
    ).all()
    return ComplaintView(
        id=c.id,
        system_id=c.system_id,
        status=c.status,
        received_on=c.received_on,
        acknowledged_on=c.acknowledged_on,
        answered_on=c.answered_on,
        closed_on=c.closed_on,
        reply_public_key=c.reply_public_key,
        history=tuple((s, d) for s, d in history),
        messages=tuple(_message_view(m) for m in messages),
    )


def _require(session: Session, complaint_id: str, *, lock: bool = False) -> Complaint:
    q = select(Complaint).where(Complaint.id == complaint_id)
    c = session.scalars(q.with_for_update() if lock else q).first()
    if c is None:
        raise NotFound(f"no complaint with id {complaint_id!r}", hint="list complaints with 'assay complaints list'")
    return c


def _message_view(m: ComplaintMessage) -> MessageView:
    return MessageView(
        m.id,
        m.complaint_id,
        m.author,
        m.kind,
        m.day,
        m.key_id,
        m.ciphertext,
        m.body_copy,
        m.body_copy_key_id,
        m.own_copy,
    )


def list_complaints(
    session: Session, *, system_id: str | None = None, status: str | None = None
) -> list[ComplaintView]:
    q = select(Complaint.id).order_by(Complaint.received_on, Complaint.id)
    if system_id:
        q = q.where(Complaint.system_id == system_id)
    if status:
        q = q.where(Complaint.status == status)
    return [v for cid in session.scalars(q) if (v := get_complaint(session, cid)) is not None]


def inbox(session: Session, *, after: int = 0, limit: int = 100) -> list[MessageView]:
    """Messages with an id above ``after`` (the cursor of 'assay complaints pull'), oldest first."""
    rows = session.scalars(
        select(ComplaintMessage).where(ComplaintMessage.id > after).order_by(ComplaintMessage.id).limit(limit)
    )
    return [_message_view(m) for m in rows]


@dataclass(frozen=True)
class SealedReply:
    """A reply sealed twice: to the complaint's reply key (for the complainant) and to the body's own key."""

    ciphertext: bytes
    body_copy: bytes
    body_copy_key_id: str


def add_reply(session: Session, complaint_id: str, reply: SealedReply, *, today: date, max_bytes: int) -> MessageView:
    """Store a reply sealed by the oversight body; a closed complaint takes none (say it in the closing reason)."""
    c = _require(session, complaint_id, lock=True)
    if c.status in FINAL:
        raise Conflict(
            f"complaint {c.id} was closed on {c.closed_on} ({c.status}) and takes no more replies",
            hint="give what you want to say as --reason when you close a complaint",
        )
    _check_sealed(reply.ciphertext, path="ciphertext", max_bytes=max_bytes)
    _check_sealed(reply.body_copy, path="body_copy", max_bytes=max_bytes)
    if session.get(ComplaintKey, reply.body_copy_key_id) is None:
        raise InvalidInput(
            f"key {reply.body_copy_key_id!r} is not a key of the oversight body",
            hint="seal the body's copy to a published key",
        )
    digest = _digest(reply.ciphertext)
    _refuse_replay(session, digest)
    m = ComplaintMessage(
        complaint_id=c.id,
        author="body",
        kind="reply",
        day=today,
        key_id=None,
        ciphertext=reply.ciphertext,
        digest=digest,
        body_copy=reply.body_copy,
        body_copy_key_id=reply.body_copy_key_id,
    )
    session.add(m)
    if c.answered_on is None:
        c.answered_on = today
    _flush_or_conflict(session)
    return _message_view(m)


def change_status(
    session: Session,
    complaint_id: str,
    status: str,
    *,
    today: date,
    reason: SealedReply | None = None,
    max_bytes: int = 1_000_000,
) -> ComplaintView:
    """Move a complaint forward: received → acknowledged → under review → referred to provider → resolved/rejected.

    Steps may be skipped but never undone; a closed complaint stays closed. Rejecting needs a reason, sealed
    as a reply (so the complainant reads it and the server does not).
    """
    if status not in STATUSES:
        raise InvalidInput(
            f"unknown status {status!r}",
            hint=f"use one of: {', '.join(STATUSES[1:])}",
            problems=[FieldProblem("status", "unknown", f"use one of {', '.join(STATUSES[1:])}")],
        )
    c = _require(session, complaint_id, lock=True)
    if c.status in FINAL:
        raise Conflict(
            f"complaint {c.id} is already {c.status} (since {c.closed_on})",
            hint="a closed complaint stays closed; the complainant can file a new one",
        )
    if STATUSES.index(status) <= STATUSES.index(c.status):
        later = [s for s in STATUSES if STATUSES.index(s) > STATUSES.index(c.status)]
        raise Conflict(
            f"complaint {c.id} is {c.status}; it cannot move back to {status}",
            hint=f"choose a later status: {', '.join(later)}",
        )
    if status == "rejected" and reason is None:
        raise InvalidInput(
            "rejecting a complaint needs a reason",
            hint="give --reason with the reason, in plain words",
            problems=[FieldProblem("reason", "missing", "say why the complaint is rejected")],
        )
    if reason is not None:
        add_reply(session, c.id, reason, today=today, max_bytes=max_bytes)
    c.status = status
    if c.acknowledged_on is None:
        c.acknowledged_on = today
    if status in FINAL:
        c.closed_on = today
        if c.answered_on is None:
            c.answered_on = today
    session.add(StatusChange(complaint_id=c.id, status=status, day=today))
    session.flush()
    view = get_complaint(session, c.id)
    assert view is not None
    return view


def stats_for_system(session: Session, system_id: str, *, today: date) -> SystemStats:
    """The system's figures as of the end of the last full month (see :mod:`assay.complaints.stats`); publish
    only ``.published()`` of them."""
    rows = session.execute(
        select(Complaint.id, Complaint.status, Complaint.received_on, Complaint.acknowledged_on, Complaint.answered_on)
        .where(Complaint.system_id == system_id)
        .order_by(Complaint.id)
    ).all()
    history: dict[str, list[tuple[str, date]]] = {}
    for cid, status, day in session.execute(
        select(StatusChange.complaint_id, StatusChange.status, StatusChange.day)
        .join(Complaint, Complaint.id == StatusChange.complaint_id)
        .where(Complaint.system_id == system_id)
        .order_by(StatusChange.id)
    ):
        history.setdefault(cid, []).append((status, day))
    return system_stats(
        system_id, (ComplaintDates(*r[1:], history=tuple(history.get(r[0], ()))) for r in rows), today=today
    )


def count_open(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Complaint).where(Complaint.status.not_in(FINAL))) or 0)
