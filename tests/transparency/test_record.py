"""record(): canonical entries, gapless indexes in commit order, refusal of personal data, both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from assay.db import Database
from assay.errors import InvalidInput, TooLarge
from assay.transparency import MAX_ENTRY_BYTES, decode_entry, record, record_many
from assay.transparency.models import LogEntry

T = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def _entries(db: Database) -> list[tuple[int, bytes]]:
    with db.read() as s:
        return [(r.idx, r.data) for r in s.execute(select(LogEntry.idx, LogEntry.data).order_by(LogEntry.idx))]


def test_record_returns_consecutive_indexes_and_canonical_bytes(db: Database) -> None:
    with db.write() as s:
        a = record(s, "system.published", {"system": "acme-imagegen", "version": 3}, time=T)
        b = record(s, "mark.recorded", {"mark": 2**63 + 5, "sha256": "ab" * 32, "system": "acme"}, time=T)
    assert (a, b) == (0, 1)
    rows = _entries(db)
    assert [i for i, _ in rows] == [0, 1]
    assert rows[0][1] == (
        b'{"body":{"system":"acme-imagegen","version":3},"kind":"system.published","time":"2026-11-29T10:00:00Z","v":1}'
    )
    assert decode_entry(rows[1][1])["body"]["mark"] == 2**63 + 5


def test_rolled_back_record_leaves_no_gap(db: Database) -> None:
    with db.write() as s:
        record(s, "system.published", {"system": "a"}, time=T)
    with pytest.raises(RuntimeError), db.write() as s:
        record(s, "system.updated", {"system": "a"}, time=T)
        raise RuntimeError("caller fails after recording")
    with db.write() as s:
        assert record(s, "system.updated", {"system": "a", "version": 2}, time=T) == 1
    assert [i for i, _ in _entries(db)] == [0, 1]


def test_concurrent_writers_get_gapless_indexes(db: Database) -> None:
    got: list[int] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with db.write() as s:
                    got.append(record(s, "token.issued", {"token_id": n * 100 + i}, time=T))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(40))
    assert [i for i, _ in _entries(db)] == list(range(40))


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"contact": "jane@example.org"}, "body.contact"),
        ({"email": "x"}, "body.email"),
        ({"nested": {"password": "hunter2"}}, "body.nested.password"),
        ({"client": "192.168.1.20"}, "body.client"),
        ({"client": "2001:db8::1"}, "body.client"),
        ({"caller": "+44 20 7946 0958"}, "body.caller"),
        ({"key": "-----BEGIN PRIVATE KEY-----\nMC4"}, "body.key"),
        ({"score": 0.5}, "body.score"),
        ({"when": datetime.now(UTC)}, "body.when"),
        ({"big": 2**64}, "body.big"),
        ({"bad key": 1}, "body.bad key"),
        ({"list": [1, {"phone": "1"}]}, "body.list[1].phone"),
        ({"name": "half a pair \ud800"}, "body.name"),  # a lone surrogate (JSON "\ud800") has no UTF-8 form
    ],
)
def test_personal_data_and_uncanonical_values_are_refused(sqlite_db: Database, body: dict, path: str) -> None:
    with pytest.raises(InvalidInput) as info, sqlite_db.write() as s:
        record(s, "system.updated", body, time=T)
    assert info.value.problems[0].path == path
    assert _entries(sqlite_db) == []


def test_versions_that_look_like_ip_addresses_are_allowed(sqlite_db: Database) -> None:
    with sqlite_db.write() as s:
        assert record(s, "system.updated", {"system": "a", "model_version": "1.2.3.4"}, time=T) == 0


def test_unknown_kind_and_oversized_entry_are_refused(sqlite_db: Database) -> None:
    with pytest.raises(InvalidInput, match="unknown log entry kind"), sqlite_db.write() as s:
        record(s, "system.deleted", {}, time=T)
    with pytest.raises(TooLarge, match=str(MAX_ENTRY_BYTES)), sqlite_db.write() as s:
        record(s, "system.updated", {"blob": "a" * MAX_ENTRY_BYTES}, time=T)
    assert _entries(sqlite_db) == []


def test_decode_entry_rejects_non_canonical_bytes() -> None:
    with pytest.raises(InvalidInput, match="canonical"):
        decode_entry(b'{"v":1, "kind":"system.updated","time":"2026-11-29T10:00:00Z","body":{}}')
    with pytest.raises(InvalidInput, match="exactly the fields"):
        decode_entry(b'{"v":1}')
    with pytest.raises(InvalidInput, match="UTF-8 JSON"):
        decode_entry(b"\xff")
    # Canonical, but larger than any entry Assay records: a log serving it is not an Assay log.
    big = b'{"body":{"note":"' + b"x" * 17_000 + b'"},"kind":"system.updated","time":"2026-11-29T10:00:00Z","v":1}'
    with pytest.raises(InvalidInput, match="over the limit of 16384 bytes"):
        decode_entry(big)


def test_entries_in_a_rolled_back_savepoint_vanish_with_it(db: Database) -> None:
    with db.write() as s:
        assert record(s, "system.published", {"system": "a"}, time=T) == 0
        nested = s.begin_nested()
        assert record(s, "system.updated", {"system": "a", "version": 2}, time=T) == 1
        nested.rollback()
        assert record(s, "system.updated", {"system": "a", "version": 3}, time=T) == 1
        with s.begin_nested():
            assert record(s, "system.updated", {"system": "a", "version": 4}, time=T) == 2
    with db.write() as s:
        nested = s.begin_nested()
        assert record(s, "system.suspended", {"system": "a"}, time=T) == 3
        nested.rollback()
        assert record(s, "system.suspended", {"system": "a", "version": 4}, time=T) == 3
    assert [i for i, _ in _entries(db)] == [0, 1, 2, 3]
    assert [decode_entry(d)["body"].get("version") for _, d in _entries(db)] == [None, 3, 4, 4]


def test_entries_are_written_only_when_the_transaction_commits(sqlite_db: Database) -> None:
    with sqlite_db.write() as s:
        index = record_many(s, [("token.issued", {"token_id": i}) for i in range(3)], time=T)
        assert index == [0, 1, 2]
    assert len(_entries(sqlite_db)) == 3
