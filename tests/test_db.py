"""The database's write contract: all or nothing, one writer at a time, on both databases."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from assay.db import Database


def _scratch(db: Database) -> None:
    with db.write() as s:
        s.execute(text("CREATE TABLE IF NOT EXISTS scratch_counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        s.execute(text("INSERT INTO scratch_counter (id, n) VALUES (1, 0)"))


def test_a_failed_write_leaves_nothing_behind(db: Database) -> None:
    _scratch(db)
    with pytest.raises(RuntimeError):
        with db.write() as s:
            s.execute(text("UPDATE scratch_counter SET n = 99 WHERE id = 1"))
            raise RuntimeError("crash in the middle of a write")
    with db.read() as s:
        assert s.execute(text("SELECT n FROM scratch_counter WHERE id = 1")).scalar() == 0


def test_concurrent_read_modify_writes_lose_no_update(db: Database) -> None:
    _scratch(db)
    threads_n, per_thread = 4, 25

    def bump() -> None:
        for _ in range(per_thread):
            with db.write() as s:
                q = text("SELECT n FROM scratch_counter WHERE id = 1")
                if not db.is_sqlite:
                    q = text("SELECT n FROM scratch_counter WHERE id = 1 FOR UPDATE")
                n = s.execute(q).scalar()
                s.execute(text("UPDATE scratch_counter SET n = :n WHERE id = 1"), {"n": n + 1})

    threads = [threading.Thread(target=bump) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as s:
        assert s.execute(text("SELECT n FROM scratch_counter WHERE id = 1")).scalar() == threads_n * per_thread


def test_a_data_folder_that_cannot_be_made_is_a_clear_storage_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from assay.errors import StorageError

    in_the_way = tmp_path / "data"
    in_the_way.write_text("a file where the data folder should be")
    with pytest.raises(StorageError, match="cannot create the folder") as caught:
        Database(f"sqlite:///{in_the_way / 'assay.db'}")
    assert str(in_the_way) in caught.value.message and "ASSAY_DATA_DIR" in caught.value.hint
