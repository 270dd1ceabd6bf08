"""verify and monitor: a forked, rolled-back or altered log is detected and named precisely."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assay.db import Database
from assay.tlog import Signer, decode_bundle, leaf_hash
from assay.transparency import record_many
from assay.transparency.audit import FolderSource, Inconsistency, monitor_log, verify_log
from assay.transparency.service import TransparencyLog
from assay.transparency.storage import PosixStorage

T = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SIGNER = Signer.generate("testserver/log")


@pytest.fixture
def make_log(tmp_path: Path, _sqlite_template: Path) -> Callable[[str], tuple[Database, TransparencyLog, Path]]:
    made: list[Database] = []

    def make(name: str) -> tuple[Database, TransparencyLog, Path]:
        shutil.copyfile(_sqlite_template, tmp_path / f"{name}.db")
        db = Database(f"sqlite:///{tmp_path / name}.db")
        made.append(db)
        folder = tmp_path / name
        return db, TransparencyLog(db, PosixStorage(folder), SIGNER), folder

    yield make
    for db in made:
        db.dispose()


def add(db: Database, marks: list[int]) -> None:
    with db.write() as s:
        record_many(s, [("mark.recorded", {"mark": m}) for m in marks], time=T)


def checkpoint_file(folder: Path) -> bytes:
    return (folder / "checkpoint").read_bytes()


def test_an_honest_log_verifies_with_all_its_earlier_checkpoints(make_log) -> None:  # type: ignore[no-untyped-def]
    db, tlog, folder = make_log("a")
    seen = []
    for n in (3, 300, 1, 250):
        add(db, list(range(n)))
        tlog.integrate()
        seen.append(checkpoint_file(folder))
    report = verify_log(FolderSource(folder), SIGNER.vkey, seen=seen)
    assert report.tree_size == 554 and report.checkpoints_checked == [3, 303, 304, 554]
    assert report.kinds == {"mark.recorded": 554}


def test_a_fork_is_reported_at_the_checkpoint_it_contradicts(make_log) -> None:  # type: ignore[no-untyped-def]
    a_db, a, a_folder = make_log("a")
    add(a_db, [0, 1, 2, 3, 4])
    a.integrate()
    seen_at_5 = checkpoint_file(a_folder)
    b_db, b, b_folder = make_log("b")  # the same key signs another history: 0, 1, then different entries
    add(b_db, [0, 1, 99, 98, 97, 96, 95])
    b.integrate()
    with pytest.raises(Inconsistency, match="fork: the checkpoint seen before with 5 entries"):
        verify_log(FolderSource(b_folder), SIGNER.vkey, seen=[seen_at_5])
    # The monitor that saw A's checkpoint alarms when shown B's log.
    state = a_folder.parent / "monitor.json"
    monitor_log(FolderSource(a_folder), state, SIGNER.vkey)
    with pytest.raises(Inconsistency, match="fork: the checkpoint of 7 entries is not an extension"):
        monitor_log(FolderSource(b_folder), state)
    # Same size, different root.
    c_db, c, c_folder = make_log("c")
    add(c_db, [0, 1, 2, 3, 5])
    c.integrate()
    with pytest.raises(Inconsistency, match="fork: two different trees of size 5"):
        monitor_log(FolderSource(c_folder), state)
    with pytest.raises(Inconsistency, match="fork: the latest checkpoint of size 5"):
        verify_log(FolderSource(c_folder), SIGNER.vkey, seen=[seen_at_5])


def test_a_rollback_is_reported(make_log) -> None:  # type: ignore[no-untyped-def]
    db, tlog, folder = make_log("a")
    add(db, list(range(10)))
    tlog.integrate()
    old_copy = folder.parent / "old"
    shutil.copytree(folder, old_copy)
    add(db, [10, 11])
    tlog.integrate()
    newer = checkpoint_file(folder)
    with pytest.raises(Inconsistency, match="rollback: the log's latest checkpoint has 10 entries"):
        verify_log(FolderSource(old_copy), SIGNER.vkey, seen=[newer])
    state = folder.parent / "monitor.json"
    monitor_log(FolderSource(folder), state, SIGNER.vkey)
    with pytest.raises(Inconsistency, match="rollback: the log now shows 10 entries; it showed 12 before"):
        monitor_log(FolderSource(old_copy), state)
    # The alarm does not overwrite the remembered checkpoint.
    assert '"size": 12' in state.read_text()


def test_altered_bundles_tiles_and_database_rows_are_named(make_log) -> None:  # type: ignore[no-untyped-def]
    db, tlog, folder = make_log("a")
    add(db, list(range(600)))
    tlog.integrate()
    verify_log(FolderSource(folder), SIGNER.vkey)

    bundle = folder / "tile/entries/001"
    original = bundle.read_bytes()
    bundle.write_bytes(original.replace(b'"mark":300', b'"mark":301', 1))
    with pytest.raises(Inconsistency, match="tile/0/001 does not match the entries"):
        verify_log(FolderSource(folder), SIGNER.vkey)
    bundle.write_bytes(original[:-3])
    with pytest.raises(Inconsistency, match=r"entry bundle tile/entries/001 \(entries 256–511\) is malformed"):
        verify_log(FolderSource(folder), SIGNER.vkey)
    bundle.write_bytes(original)

    tile = folder / "tile/0/002.p/88"
    good = tile.read_bytes()
    tile.write_bytes(bytes([good[0] ^ 1]) + good[1:])
    with pytest.raises(Inconsistency, match="tile/0/002.p/88 does not match"):
        verify_log(FolderSource(folder), SIGNER.vkey)
    tile.unlink()
    with pytest.raises(Inconsistency, match="tile/0/002.p/88 is missing"):
        verify_log(FolderSource(folder), SIGNER.vkey)
    tile.write_bytes(good)

    def forged_db(start: int, end: int) -> list[bytes]:
        rows = [f"row {i}".encode() for i in range(start, end)]
        return rows

    with pytest.raises(Inconsistency, match="entry 0 in tile/entries/000 differs from the database"):
        verify_log(FolderSource(folder), SIGNER.vkey, database_entries=forged_db)


def test_a_checkpoint_signed_by_another_key_is_refused(make_log) -> None:  # type: ignore[no-untyped-def]
    from assay.errors import VerificationError

    db, tlog, folder = make_log("a")
    add(db, [1])
    tlog.integrate()
    with pytest.raises(VerificationError, match="not signed by any known key"):
        verify_log(FolderSource(folder), Signer.generate("testserver/log").vkey)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assay", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.slow  # four CLI processes
def test_cli_verify_and_monitor_exit_codes(make_log, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db, tlog, folder = make_log("a")
    add(db, list(range(20)))
    tlog.integrate()
    state = tmp_path / "state.json"
    ok = _cli("log", "monitor", "--dir", str(folder), "--key", SIGNER.vkey, "--state", str(state), "--json")
    assert ok.returncode == 0, ok.stderr
    assert '"status": "first"' in ok.stdout
    b_db, b, b_folder = make_log("b")
    add(b_db, [100, 101, 102, 103, 104])  # another history, smaller: a rollback to the monitor, a fork to verify
    b.integrate()
    alarm = _cli("log", "monitor", "--dir", str(b_folder), "--state", str(state))
    assert alarm.returncode == 1
    assert "ALARM" in alarm.stderr and "rollback" in alarm.stderr and "Traceback" not in alarm.stderr
    ok = _cli("log", "verify", "--dir", str(folder), "--key", SIGNER.vkey, "--checkpoint", str(b_folder / "checkpoint"))
    assert ok.returncode == 1 and "fork" in ok.stderr
    bad = _cli("log", "verify", "--dir", str(folder), "--key", "not-a-key")
    assert bad.returncode == 2 and "hint:" in bad.stderr


def test_monitor_checks_new_entries_against_the_signed_root_not_only_the_tiles(make_log) -> None:  # type: ignore[no-untyped-def]
    # A consistency proof from 256 to 768 entries reads only level-1 hashes, never the level-0 tiles 1 and 2.
    # A log that serves other entries there, with level-0 tiles to match, must still be caught: the new
    # entries must hash to the signed root, whatever the tiles say.
    db, tlog, folder = make_log("a")
    add(db, list(range(256)))
    tlog.integrate()
    state = folder.parent / "monitor.json"
    monitor_log(FolderSource(folder), state, SIGNER.vkey)
    add(db, list(range(256, 768)))
    tlog.integrate()
    bundle, tile = folder / "tile/entries/001", folder / "tile/0/001"
    honest_bundle, honest_tile = bundle.read_bytes(), tile.read_bytes()
    forged = honest_bundle.replace(b'"mark":300', b'"mark":399', 1)
    assert forged != honest_bundle
    bundle.write_bytes(forged)
    entries = decode_bundle(forged, 256)
    tile.write_bytes(b"".join(leaf_hash(e) for e in entries))
    with pytest.raises(Inconsistency, match="entries 256–767 .* do not produce the root hash"):
        monitor_log(FolderSource(folder), state)
    assert '"size": 256' in state.read_text()
    bundle.write_bytes(honest_bundle)
    tile.write_bytes(honest_tile)
    assert monitor_log(FolderSource(folder), state).new_entries == {"mark.recorded": 512}
