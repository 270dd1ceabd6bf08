"""What the complaint service hands out: read-only views of keys, messages and complaints (never plaintext;
sealed bytes only), with their JSON forms for the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from assay.complaints.crypto import b64, fingerprint
from assay.complaints.stats import Deadlines, deadlines

__all__ = ["ComplaintView", "KeyView", "MessageView"]


@dataclass(frozen=True)
class KeyView:
    key_id: str
    public_key: bytes
    published_on: date
    retired_on: date | None
    log_index: int | None
    demo: bool = False  # the demo key of 'assay demo load': its passphrase is public

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public_key": b64(self.public_key),
            "fingerprint": self.fingerprint,
            "published_on": self.published_on.isoformat(),
            "retired_on": self.retired_on.isoformat() if self.retired_on else None,
            "log_index": self.log_index,
            "log_url": f"/log/entries/{self.log_index}" if self.log_index is not None else None,
            "demo": self.demo,
        }


@dataclass(frozen=True)
class MessageView:
    id: int
    complaint_id: str
    author: str
    kind: str
    day: date
    key_id: str | None
    ciphertext: bytes
    body_copy: bytes | None
    body_copy_key_id: str | None
    # The complainant's copy of what they sent (only their receipt opens it); not part of the body's views.
    own_copy: bytes | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "complaint_id": self.complaint_id,
            "author": self.author,
            "kind": self.kind,
            "day": self.day.isoformat(),
            "key_id": self.key_id,
            "ciphertext": b64(self.ciphertext),
            "body_copy": b64(self.body_copy) if self.body_copy else None,
            "body_copy_key_id": self.body_copy_key_id,
        }


@dataclass(frozen=True)
class ComplaintView:
    id: str
    system_id: str
    status: str
    received_on: date
    acknowledged_on: date | None
    answered_on: date | None
    closed_on: date | None
    reply_public_key: bytes
    history: tuple[tuple[str, date], ...]
    messages: tuple[MessageView, ...] = ()

    def deadlines(self, today: date) -> Deadlines:
        return deadlines(
            received_on=self.received_on,
            acknowledged_on=self.acknowledged_on,
            answered_on=self.answered_on,
            today=today,
        )

    def as_dict(self, today: date, *, with_messages: bool = True) -> dict[str, Any]:
        d = self.deadlines(today)
        body: dict[str, Any] = {
            "id": self.id,
            "system_id": self.system_id,
            "status": self.status,
            "received_on": self.received_on.isoformat(),
            "acknowledged_on": _iso(self.acknowledged_on),
            "answered_on": _iso(self.answered_on),
            "closed_on": _iso(self.closed_on),
            "reply_public_key": b64(self.reply_public_key),
            "history": [{"status": s, "day": day.isoformat()} for s, day in self.history],
            "acknowledge_by": d.acknowledge_by.isoformat(),
            "answer_by": d.answer_by.isoformat(),
            "flags": d.flags,
            "overdue": d.overdue_now,
        }
        if with_messages:
            body["messages"] = [m.as_dict() for m in self.messages]
        return body


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None
