"""Storage of sealed complaints on both databases, status moves, replays, deadlines with an injected clock."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from assay.complaints import crypto, service
from assay.complaints.models import Complaint, ComplaintMessage, StatusChange
from assay.complaints.service import SealedReply
from assay.complaints.stats import add_months, deadlines
from assay.db import Database
from assay.errors import Conflict, InvalidInput, NotFound, TooLarge

DAY = date(2026, 11, 2)
MAX = 1_000_000


def _key(db: Database, today: date = DAY) -> tuple[bytes, bytes, str]:
    private, public = crypto.generate_body_key()
    with db.write() as s:
        view = service.publish_key(s, public, today=today)
    return private, public, view.key_id


def _file(
    db: Database,
    public: bytes,
    kid: str,
    text: str = "It flagged me",
    *,
    system: str = "acme-scorer",
    today: date = DAY,
) -> tuple[str, bytes, bytes]:
    lookup = os.urandom(32)
    reply_private, reply_public = crypto.generate_body_key()
    content = crypto.ComplaintContent(fields={"what": text}, system_id=system)
    ct = crypto.seal(crypto.pack_complaint(content), public)
    with db.write() as s:
        cid = service.submit_complaint(
            s,
            system_id=system,
            key_id=kid,
            ciphertext=ct,
            lookup=lookup,
            reply_public_key=reply_public,
            today=today,
            max_bytes=MAX,
        )
    return cid, lookup, reply_private


def _count(db: Database, model: type) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_submit_find_and_read_back(db: Database) -> None:
    private, public, kid = _key(db)
    cid, lookup, _ = _file(db, public, kid, "The camera system misread my face")
    with db.read() as s:
        view = service.find_by_lookup(s, lookup)
        assert service.find_by_lookup(s, b"\x00" * 32) is None
    assert view is not None and view.id == cid and view.status == "received" and view.received_on == DAY
    (msg,) = view.messages
    content = crypto.unpack_complaint(crypto.open_sealed(msg.ciphertext, private))
    assert content.fields["what"] == "The camera system misread my face"
    # Nothing but ciphertext in the message table.
    with db.read() as s:
        blobs = s.scalars(select(ComplaintMessage.ciphertext)).all()
    assert all(b"camera" not in b for b in blobs)


def test_replays_and_bad_ciphertexts_store_nothing(db: Database) -> None:
    _, public, kid = _key(db)
    cid, lookup, _ = _file(db, public, kid)
    with db.read() as s:
        ct = service.get_complaint(s, cid).messages[0].ciphertext  # type: ignore[union-attr]
    before = (_count(db, Complaint), _count(db, ComplaintMessage), _count(db, StatusChange))
    with pytest.raises(Conflict, match="already received"), db.write() as s:
        service.submit_complaint(
            s,
            system_id="acme-scorer",
            key_id=kid,
            ciphertext=ct,
            lookup=b"\x01" * 32,
            reply_public_key=b"\x02" * 32,
            today=DAY,
            max_bytes=MAX,
        )
    with pytest.raises(Conflict), db.write() as s:  # same receipt twice
        service.submit_complaint(
            s,
            system_id="acme-scorer",
            key_id=kid,
            ciphertext=ct + b"x",
            lookup=lookup,
            reply_public_key=b"\x02" * 32,
            today=DAY,
            max_bytes=MAX,
        )
    with pytest.raises(InvalidInput, match="too short"), db.write() as s:
        service.submit_complaint(
            s,
            system_id="acme-scorer",
            key_id=kid,
            ciphertext=b"abc",
            lookup=b"\x03" * 32,
            reply_public_key=b"\x02" * 32,
            today=DAY,
            max_bytes=MAX,
        )
    with pytest.raises(TooLarge), db.write() as s:
        service.submit_complaint(
            s,
            system_id="acme-scorer",
            key_id=kid,
            ciphertext=b"x" * (MAX + 1),
            lookup=b"\x03" * 32,
            reply_public_key=b"\x02" * 32,
            today=DAY,
            max_bytes=MAX,
        )
    with pytest.raises(InvalidInput, match="not a key"), db.write() as s:
        service.submit_complaint(
            s,
            system_id="acme-scorer",
            key_id="0" * 16,
            ciphertext=b"y" * 100,
            lookup=b"\x04" * 32,
            reply_public_key=b"\x02" * 32,
            today=DAY,
            max_bytes=MAX,
        )
    with pytest.raises(Conflict, match="already received"), db.write() as s:
        service.add_information(s, lookup=lookup, key_id=kid, ciphertext=ct, today=DAY, max_bytes=MAX)
    with pytest.raises(NotFound, match=service.NOT_FOUND_BY_RECEIPT), db.write() as s:
        service.add_information(s, lookup=b"\x09" * 32, key_id=kid, ciphertext=b"z" * 100, today=DAY, max_bytes=MAX)
    assert (_count(db, Complaint), _count(db, ComplaintMessage), _count(db, StatusChange)) == before


def test_rotation_keeps_old_complaints_readable_and_logs_both_keys(db: Database) -> None:
    from assay.transparency.models import LogEntry

    old_private, old_public, old_kid = _key(db)
    cid, _, _ = _file(db, old_public, old_kid, "before rotation")
    new_private, new_public, new_kid = _key(db, DAY + timedelta(days=1))
    with db.read() as s:
        keys = service.list_keys(s)
        assert service.current_key(s).key_id == new_kid  # type: ignore[union-attr]
        kinds = s.scalars(select(LogEntry.kind).order_by(LogEntry.idx)).all()
    assert [k.key_id for k in keys] == [old_kid, new_kid]
    assert keys[0].retired_on == DAY + timedelta(days=1) and keys[1].retired_on is None
    assert kinds[-2:] == ["complaints.key.published", "complaints.key.rotated"]
    assert keys[0].log_index is not None and keys[1].log_index == keys[0].log_index + 1
    # New complaints to the retired key are refused; the old complaint still opens with the old key.
    with pytest.raises(Conflict, match="replaced"):
        _file(db, old_public, old_kid, "late")
    with db.read() as s:
        old_ct = service.get_complaint(s, cid).messages[0].ciphertext  # type: ignore[union-attr]
    assert crypto.unpack_complaint(crypto.open_sealed(old_ct, old_private)).fields["what"] == "before rotation"
    _file(db, new_public, new_kid, "after rotation")
    # Publishing the current key again is a no-op; a retired key cannot return.
    with db.write() as s:
        assert service.publish_key(s, new_public, today=DAY).key_id == new_kid
    with pytest.raises(Conflict, match="retired"), db.write() as s:
        service.publish_key(s, old_public, today=DAY)


def test_status_moves_forward_only_and_rejection_needs_a_reason(db: Database) -> None:
    private, public, kid = _key(db)
    cid, _, reply_private = _file(db, public, kid)
    with db.write() as s:
        service.change_status(s, cid, "acknowledged", today=DAY + timedelta(days=2))
    with pytest.raises(Conflict, match="cannot move back"), db.write() as s:
        service.change_status(s, cid, "received", today=DAY)
    with pytest.raises(InvalidInput, match="unknown status"), db.write() as s:
        service.change_status(s, cid, "lost", today=DAY)
    with pytest.raises(InvalidInput, match="needs a reason"), db.write() as s:
        service.change_status(s, cid, "rejected", today=DAY)
    reason = SealedReply(
        crypto.seal(crypto.pack_message("Outside our remit."), _reply_public(reply_private)),
        crypto.seal(crypto.pack_message("Outside our remit."), public),
        kid,
    )
    with db.write() as s:
        view = service.change_status(s, cid, "rejected", today=DAY + timedelta(days=30), reason=reason)
    assert view.status == "rejected" and view.closed_on == DAY + timedelta(days=30)
    assert [h[0] for h in view.history] == ["received", "acknowledged", "rejected"]
    assert view.answered_on == DAY + timedelta(days=30)
    reply = [m for m in view.messages if m.kind == "reply"][0]
    assert crypto.unpack_message(crypto.open_sealed(reply.ciphertext, reply_private)) == "Outside our remit."
    assert crypto.unpack_message(crypto.open_sealed(reply.body_copy or b"", private)) == "Outside our remit."
    with pytest.raises(Conflict, match="already rejected"), db.write() as s:
        service.change_status(s, cid, "resolved", today=DAY)
    with pytest.raises(NotFound), db.write() as s:
        service.change_status(s, "nope", "resolved", today=DAY)


def _reply_public(private: bytes) -> bytes:
    from nacl.public import PrivateKey

    return bytes(PrivateKey(private).public_key)


def test_stats_and_inbox_cursor(db: Database) -> None:
    _, public, kid = _key(db)
    a, _, _ = _file(db, public, kid, system="sys-a", today=date(2026, 1, 5))
    b, _, _ = _file(db, public, kid, system="sys-a", today=date(2026, 1, 6))
    _file(db, public, kid, system="sys-b", today=date(2026, 1, 6))
    with db.write() as s:
        service.change_status(s, a, "acknowledged", today=date(2026, 1, 8))  # 3 days
        service.change_status(s, b, "under_review", today=date(2026, 1, 20))  # 14 days: late
    with db.read() as s:
        st = service.stats_for_system(s, "sys-a", today=date(2026, 6, 1))
        msgs = service.inbox(s, after=0)
        later = service.inbox(s, after=msgs[0].id)
    assert st.as_of == date(2026, 5, 31)  # the end of the last full month
    assert st.total == 2 and st.by_status["acknowledged"] == 1 and st.by_status["under_review"] == 1
    assert st.median_days_to_acknowledge == 8.5 and st.acknowledged_within_deadline == 1
    assert st.not_acknowledged_in_time == 1
    assert st.not_answered_in_time == 2 and st.overdue_now == 2  # no feedback by April
    assert len(msgs) == 3 and len(later) == 2
    # The exact figures stay inside: published, two complaints are "fewer than 5", like every count here.
    pub = st.published()
    assert pub["total"] is None and set(pub["by_status"].values()) == {None}
    assert pub["median_days_to_acknowledge"] is None and set(pub["flags"].values()) == {None}


def test_stats_describe_the_end_of_the_last_full_month_as_things_stood_then(db: Database) -> None:
    """Issue 11 item 6: dates coarsened to months, so no figure changes on the day a complaint arrives."""
    _, public, kid = _key(db, today=date(2026, 1, 1))
    ids = [_file(db, public, kid, system="sys-a", today=date(2026, 1, 3 + i))[0] for i in range(7)]
    late = _file(db, public, kid, system="sys-a", today=date(2026, 2, 3))[0]  # this month: not counted yet
    with db.write() as s:
        for cid in ids[:6]:
            service.change_status(s, cid, "acknowledged", today=date(2026, 1, 9))
        service.change_status(s, ids[0], "resolved", today=date(2026, 2, 2))  # after the period: not seen yet
        service.change_status(s, late, "acknowledged", today=date(2026, 2, 4))
    with db.read() as s:
        st = service.stats_for_system(s, "sys-a", today=date(2026, 2, 20))
    assert st.as_of == date(2026, 1, 31) and st.next_update == date(2026, 3, 1)
    assert st.total == 7 and st.by_status["acknowledged"] == 6 and st.by_status["received"] == 1
    assert st.by_status["resolved"] == 0
    pub = st.published()
    assert pub["total"] == 7 and pub["by_status"]["acknowledged"] == 6
    # "received" (1) is hidden, and then the total minus the shown cells would give it: a zero cell is hidden too.
    assert pub["by_status"]["received"] is None
    assert sum(v is None for v in pub["by_status"].values()) >= 2
    assert pub["acknowledged"] == 6 and pub["median_days_to_acknowledge"] == 4  # 1..6 days, median 3.5 -> 4
    assert pub["flags"]["not_acknowledged_within_7_days"] is None  # one, still waiting on 31 January


def test_a_daily_observer_cannot_tell_the_day_a_complaint_arrived(db: Database) -> None:
    """The attack: poll the public figures every day of a month in which one complaint arrives (among many
    before). Every answer of that month is the same; the new one shows only in the next month's figures."""
    _, public, kid = _key(db, today=date(2026, 1, 1))
    for i in range(8):
        _file(db, public, kid, system="sys-a", today=date(2026, 1, 2 + i))
    answers = []
    for day in range(1, 31):
        if day == 17:
            _file(db, public, kid, system="sys-a", today=date(2026, 4, 17))
        with db.read() as s:
            answers.append(service.stats_for_system(s, "sys-a", today=date(2026, 4, day)).published())
    assert all(a == answers[0] for a in answers) and answers[0]["total"] == 8
    with db.read() as s:
        may = service.stats_for_system(s, "sys-a", today=date(2026, 5, 1)).published()
    assert may["total"] == 9 and may["as_of"] == "2026-04-30"


@pytest.mark.parametrize(
    ("received", "acked", "answered", "today", "flags", "overdue"),
    [
        (date(2026, 3, 1), None, None, date(2026, 3, 8), [], False),  # day 7: still in time
        (date(2026, 3, 1), None, None, date(2026, 3, 9), ["not acknowledged within 7 days"], True),
        (date(2026, 3, 1), date(2026, 3, 3), None, date(2026, 6, 3), [], False),  # 3 months after ack: in time
        (date(2026, 3, 1), date(2026, 3, 3), None, date(2026, 6, 4), ["not answered within 3 months"], True),
        (
            date(2026, 3, 1),
            date(2026, 3, 12),
            date(2026, 4, 1),
            date(2026, 9, 1),
            ["not acknowledged within 7 days"],
            False,
        ),
        # Never acknowledged: the 3 months run from the end of the 7 days (8 March -> 8 June).
        (date(2026, 3, 1), None, date(2026, 6, 8), date(2026, 9, 1), ["not acknowledged within 7 days"], True),
        (
            date(2026, 3, 1),
            None,
            date(2026, 6, 9),
            date(2026, 9, 1),
            ["not acknowledged within 7 days", "not answered within 3 months"],
            True,
        ),
    ],
)
def test_deadlines_with_an_injected_clock(received, acked, answered, today, flags, overdue) -> None:  # type: ignore[no-untyped-def]
    d = deadlines(received_on=received, acknowledged_on=acked, answered_on=answered, today=today)
    assert d.flags == flags and d.overdue_now == overdue


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2026, 5, 31), 3) == date(2026, 8, 31)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
