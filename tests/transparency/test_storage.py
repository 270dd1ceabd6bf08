"""The storage contract, on the POSIX implementation, on S3-API object storage and on the fault-injecting fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import InvalidInput, StorageError
from assay.tlog import TileID
from assay.transparency.storage import FaultInjectingStorage, LogStorage, PosixStorage, SimulatedCrash


@pytest.fixture(params=["posix", "fake", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> LogStorage:
    if request.param == "s3":  # a real S3-API server over HTTP (tests/transparency/conftest.py)
        return request.getfixturevalue("s3_storage")
    return PosixStorage(tmp_path / "log") if request.param == "posix" else FaultInjectingStorage()


def test_written_files_read_back_and_absent_files_are_none(storage: LogStorage) -> None:
    assert storage.read("tile/0/000") is None
    storage.write_many({"tile/0/000": b"a" * 8192, "tile/entries/x001/000.p/3": b"xyz", "checkpoint": b"c\n"})
    assert storage.read("tile/0/000") == b"a" * 8192
    assert storage.read("tile/entries/x001/000.p/3") == b"xyz"
    assert storage.read("checkpoint") == b"c\n"
    # Rewriting (after a crash) replaces the file whole.
    storage.write_many({"checkpoint": b"d\n"})
    assert storage.read("checkpoint") == b"d\n"


def test_remove_partials_removes_only_partials_of_that_tile(storage: LogStorage) -> None:
    storage.write_many(
        {
            "tile/0/001.p/1": b"1" * 32,
            "tile/0/001.p/2": b"2" * 64,
            "tile/0/001": b"f" * 8192,
            "tile/0/002.p/1": b"3" * 32,
        }
    )
    storage.remove_partials(TileID(0, 1))
    storage.remove_partials(TileID(0, 1))  # idempotent
    assert storage.read("tile/0/001.p/1") is None and storage.read("tile/0/001.p/2") is None
    assert storage.read("tile/0/001") == b"f" * 8192 and storage.read("tile/0/002.p/1") == b"3" * 32


@pytest.mark.parametrize("path", ["../escape", "tile/0/1", "/etc/passwd", "tile/0/000/../../x", ""])
def test_paths_outside_the_layout_are_refused(storage: LogStorage, path: str) -> None:
    with pytest.raises(InvalidInput):
        storage.write_many({path: b"x"})
    with pytest.raises(InvalidInput):
        storage.read(path)


def test_posix_writes_leave_no_temporary_files_and_fail_with_a_storage_error(tmp_path: Path) -> None:
    storage = PosixStorage(tmp_path / "log")
    storage.write_many({"tile/0/000.p/1": b"x" * 32})
    assert [p.name for p in (tmp_path / "log" / "tile" / "0" / "000.p").iterdir()] == ["1"]
    # A file where a folder must go (works even as root, unlike permissions).
    (tmp_path / "log" / "tile" / "1").write_bytes(b"in the way")
    with pytest.raises(StorageError, match="could not write the log's tiles"):
        storage.write_many({"tile/1/000.p/1": b"y" * 32})


@pytest.mark.parametrize("when", ["before", "after"])
def test_the_fake_fails_at_the_chosen_step_and_stays_down_until_restarted(when: str) -> None:
    fake = FaultInjectingStorage(fail_at=(2, when))
    with pytest.raises(SimulatedCrash):
        fake.write_many({"tile/0/000.p/1": b"a" * 32, "tile/0/000.p/2": b"b" * 64, "tile/0/000.p/3": b"c" * 96})
    assert fake.files.get("tile/0/000.p/1") == b"a" * 32
    assert ("tile/0/000.p/2" in fake.files) == (when == "after")
    assert "tile/0/000.p/3" not in fake.files
    with pytest.raises(SimulatedCrash):
        fake.read("tile/0/000.p/1")
    assert fake.restart().read("tile/0/000.p/1") == b"a" * 32


def test_folders_left_by_a_crashed_process_are_made_durable_before_files_in_them_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process that died between creating tile/0/x001 and syncing tile/0 may have left the folder in the
    # page cache only. The next process must not take its existence for durability: before its first write
    # there returns, the parents of every folder on the path have been synced, once per process.
    import os

    root = tmp_path / "log"
    (root / "tile" / "0" / "x001").mkdir(parents=True)  # as the crashed process left it: never synced
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    storage = PosixStorage(root)
    storage.write_many({"tile/0/x001/000": b"a" * 8192})
    for folder in (root / "tile" / "0", root / "tile", root, tmp_path):
        assert str(folder) in synced, folder
    synced.clear()
    storage.write_many({"tile/0/x001/001": b"b" * 8192})  # later writes sync only the file and its folder
    assert len(synced) == 2 and synced[0].startswith(str(root / "tile/0/x001/.tmp-001-"))
    assert synced[1] == str(root / "tile/0/x001")


def test_temporary_files_a_killed_writer_left_are_removed_at_start_and_live_ones_kept(tmp_path: Path) -> None:
    # Issue 10: '.tmp-checkpoint-*' files stayed after kill -9. The next process to open the log removes those
    # old enough that no live writer can still own them; files being written now and stored files stay.
    import os
    import time

    from assay.config import Config
    from assay.db import Database
    from assay.transparency.service import open_log

    root = tmp_path / "data" / "log"
    PosixStorage(root).write_many({"checkpoint": b"stored", "tile/0/000.p/1": b"x" * 32})
    stale = [root / ".tmp-checkpoint-0a1b2c3d4e5f", root / "tile" / "0" / "000.p" / ".tmp-1-abcdefabcdef"]
    for path in stale:
        path.write_bytes(b"half")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    live = root / ".tmp-checkpoint-ffffffffffff"
    live.write_bytes(b"being written")
    config = Config(data_dir=tmp_path / "data")
    db = Database(config.resolved_database_url)
    db.upgrade()
    try:
        open_log(db, config)
    finally:
        db.dispose()
    assert not any(p.exists() for p in stale) and live.exists()
    assert (root / "checkpoint").read_bytes() == b"stored" and (root / "tile/0/000.p/1").read_bytes() == b"x" * 32
