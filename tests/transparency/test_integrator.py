"""The integrator: tiles, checkpoints, proofs, crash-resume at every fault point, compare-and-swap."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from assay.config import Config
from assay.db import Database
from assay.errors import ConfigError, VerificationError
from assay.tlog import Signer, verify_proof
from assay.transparency import entry_at, integrate, open_log, proof_for, record, record_many, verifier_key
from assay.transparency.models import LogEntry
from assay.transparency.service import _LOGS, TransparencyLog
from assay.transparency.storage import FaultInjectingStorage, PosixStorage, SimulatedCrash

from .helpers import assert_log_consistent

T = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SIGNER = Signer.generate("testserver/log")


def add_entries(db: Database, n: int, start: int = 0) -> None:
    with db.write() as s:
        record_many(s, [("mark.recorded", {"mark": start + i, "system": "acme-imagegen"}) for i in range(n)], time=T)


def test_integrate_publishes_tiles_checkpoint_and_proofs(db: Database, config: Config) -> None:
    head = integrate(db, config)
    assert head.size == 0 and head.checkpoint.startswith("testserver/log\n0\n")
    for n in (1, 254, 1, 300):  # crosses the first full tile and bundle, and back to partials
        add_entries(db, n)
        integrate(db, config)
    tlog = open_log(db, config)
    assert_log_consistent(db, tlog.storage, tlog.vkey, expected_size=556)
    for index in (0, 255, 256, 555):
        proof = proof_for(db, index)
        assert proof is not None
        assert verify_proof(proof, entry_at(db, index), verifier_key(db)).size == 556
    assert proof_for(db, 556) is None
    # Partial tiles superseded by full ones were removed; the latest partials remain.
    root = config.data_dir / "log"
    assert not (root / "tile/0/000.p").exists() and (root / "tile/0/000").is_file()
    assert (root / "tile/0/002.p/44").is_file() and (root / "tile/entries/002.p/44").is_file()


def test_entries_are_not_provable_before_integration(sqlite_db: Database, config: Config) -> None:
    integrate(sqlite_db, config)
    add_entries(sqlite_db, 3)
    assert proof_for(sqlite_db, 0) is None
    integrate(sqlite_db, config)
    assert proof_for(sqlite_db, 2) is not None


def test_proof_for_in_a_fresh_process_reads_the_tiles_folder_from_the_head(sqlite_db: Database, config: Config) -> None:
    add_entries(sqlite_db, 10)
    integrate(sqlite_db, config)
    _LOGS.pop(sqlite_db, None)  # as if another process, which never opened the log, asked
    proof = proof_for(sqlite_db, 7)
    assert proof is not None and verify_proof(proof, entry_at(sqlite_db, 7), verifier_key(sqlite_db))


# -- crash-resume ----------------------------------------------------------------------------------------


def _run_with_storage_fault(db: Database, fail_at: tuple[int, str] | None) -> tuple[FaultInjectingStorage, int]:
    storage = FaultInjectingStorage(fail_at=fail_at)
    tlog = TransparencyLog(db, storage, SIGNER, batch_size=100)
    add_entries(db, 150)
    try:
        tlog.integrate()
        add_entries(db, 250, start=150)
        tlog.integrate()
    except SimulatedCrash:
        pass
    return storage, storage.steps


def _fresh_db(template: Database, tmp: Path, name: str) -> Database:
    path = tmp / f"{name}.db"
    shutil.copyfile(template.url.split("sqlite:///", 1)[1], path)
    return Database(f"sqlite:///{path}")


def test_a_crash_before_or_after_any_storage_step_resumes_to_a_consistent_log(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _, total = _run_with_storage_fault(_fresh_db(sqlite_db, tmp_path, "count"), None)
    assert total > 20
    for step in range(1, total + 1):
        for when in ("before", "after"):
            db = _fresh_db(sqlite_db, tmp_path, f"f{step}{when}")
            storage, _ = _run_with_storage_fault(db, (step, when))
            # What a crash leaves behind must already be a consistent published log (the checkpoint file
            # may lag behind the database, which is the authority).
            assert_log_consistent(db, storage.restart(), SIGNER.vkey, checkpoint_file=False)
            # Restart: a new process (fresh memory) over what survived; everything sequenced gets integrated.
            survivor = storage.restart()
            with db.read() as s:
                sequenced = s.query(LogEntry).count()
            TransparencyLog(db, survivor, SIGNER, batch_size=100).integrate()
            assert_log_consistent(db, survivor, SIGNER.vkey, expected_size=sequenced)
            db.dispose()


@pytest.mark.parametrize("step", ["tiles", "publish", "checkpoint", "gc"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_around_each_integration_step_resumes(db: Database, step: str, when: str) -> None:
    storage = FaultInjectingStorage()
    seen = {"n": 0}

    def crash(name: str, at: str) -> None:
        if (name, at) == (step, when):
            seen["n"] += 1
            if seen["n"] == 3:  # the third batch, with full tiles behind it
                raise SimulatedCrash(f"crash {when} {step}")

    add_entries(db, 700)
    with pytest.raises(SimulatedCrash):
        TransparencyLog(db, storage, SIGNER, batch_size=256, on_step=crash).integrate()
    assert_log_consistent(db, storage.restart(), SIGNER.vkey, checkpoint_file=False)
    TransparencyLog(db, storage.restart(), SIGNER, batch_size=256).integrate()
    assert_log_consistent(db, storage, SIGNER.vkey, expected_size=700)


def test_the_same_log_object_recovers_after_a_failure(sqlite_db: Database) -> None:
    storage = FaultInjectingStorage(fail_at=(3, "after"))
    tlog = TransparencyLog(sqlite_db, storage, SIGNER, batch_size=64)
    add_entries(sqlite_db, 300)
    with pytest.raises(SimulatedCrash):
        tlog.integrate()
    tlog.storage = storage.restart()
    tlog.integrate()
    assert_log_consistent(sqlite_db, tlog.storage, SIGNER.vkey, expected_size=300)


# -- compare-and-swap ------------------------------------------------------------------------------------


def test_an_integrator_that_loses_the_race_reloads_instead_of_forking(db: Database) -> None:
    storage = FaultInjectingStorage()
    b = TransparencyLog(db, storage, SIGNER, batch_size=1000)
    add_entries(db, 10)
    b.integrate()
    add_entries(db, 5, start=10)
    fired = {"done": False}

    def let_b_publish_first(name: str, when: str) -> None:
        if (name, when) == ("publish", "before") and not fired["done"]:
            fired["done"] = True
            add_entries(db, 3, start=100)  # B publishes a larger tree in between
            b.integrate()

    a = TransparencyLog(db, storage, SIGNER, batch_size=1000, on_step=let_b_publish_first)
    head = a.integrate()
    assert fired["done"] and head.size == 18
    assert_log_consistent(db, storage, SIGNER.vkey, expected_size=18)


def test_integrators_racing_in_threads_publish_one_consistent_history(db: Database) -> None:
    storage = FaultInjectingStorage()
    logs = [TransparencyLog(db, storage, SIGNER, batch_size=37) for _ in range(3)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def integrator(tlog: TransparencyLog) -> None:
        try:
            while not stop.is_set():
                tlog.integrate()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=integrator, args=(t,)) for t in logs]
    for t in threads:
        t.start()
    for i in range(20):
        add_entries(db, 23, start=i * 23)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    logs[0].integrate()
    assert_log_consistent(db, storage, SIGNER.vkey, expected_size=460)


# -- recovery and refusal --------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [65536, 300])
def test_lost_tiles_are_rebuilt_from_the_database(sqlite_db: Database, config: Config, chunk: int) -> None:
    add_entries(sqlite_db, 600)
    integrate(sqlite_db, config)
    shutil.rmtree(config.data_dir / "log")
    _LOGS.pop(sqlite_db, None)
    open_log(sqlite_db, config).rebuild_chunk = chunk  # small chunks: partials must still all be rebuilt
    add_entries(sqlite_db, 5, start=600)
    integrate(sqlite_db, config)
    assert_log_consistent(
        sqlite_db, PosixStorage(config.data_dir / "log"), verifier_key(sqlite_db) or "", expected_size=605
    )


def test_an_altered_database_is_refused_when_tiles_must_be_rebuilt(sqlite_db: Database, config: Config) -> None:
    add_entries(sqlite_db, 40)
    integrate(sqlite_db, config)
    with sqlite_db.write() as s:
        s.execute(update(LogEntry).where(LogEntry.idx == 3).values(data=b'{"forged":1}'))
    shutil.rmtree(config.data_dir / "log")
    _LOGS.pop(sqlite_db, None)
    with pytest.raises(VerificationError, match="do not produce its published root hash"):
        integrate(sqlite_db, config)


def test_another_signing_key_or_origin_is_refused(sqlite_db: Database, config: Config) -> None:
    integrate(sqlite_db, config)
    other = TransparencyLog(sqlite_db, FaultInjectingStorage(), Signer.generate("testserver/log"))
    with pytest.raises(ConfigError, match="not the key that signed"):
        other.integrate()
    _LOGS.pop(sqlite_db, None)
    with pytest.raises(ConfigError, match="ASSAY_LOG_ORIGIN=testserver/log"):
        integrate(sqlite_db, config.with_overrides(log_origin="elsewhere.example/log"))


def test_the_signing_key_is_private_and_outside_the_served_folder(sqlite_db: Database, config: Config) -> None:
    integrate(sqlite_db, config)
    key = config.data_dir / "keys" / "transparency-log.key"
    assert key.stat().st_mode & 0o077 == 0
    assert key.read_text().startswith("PRIVATE+KEY+testserver/log+")
    assert not any(
        "PRIVATE" in p.read_text(errors="ignore") for p in (config.data_dir / "log").rglob("*") if p.is_file()
    )


def test_record_inside_a_rolled_back_transaction_is_never_integrated(sqlite_db: Database, config: Config) -> None:
    with pytest.raises(RuntimeError), sqlite_db.write() as s:
        record(s, "system.published", {"system": "ghost"}, time=T)
        raise RuntimeError
    assert integrate(sqlite_db, config).size == 0


def test_a_guessed_origin_yields_to_the_keys_a_configured_one_must_match(sqlite_db: Database, tmp_path: Path) -> None:
    # No public URL and no origin set: the origin is only guessed from host and port ('assay demo load', then
    # 'assay serve --port 8404'), so the existing key's origin stands instead of refusing to start.
    guessed = Config(data_dir=tmp_path / "data")
    assert integrate(sqlite_db, guessed).checkpoint.startswith("127.0.0.1:8000/log\n")
    _LOGS.pop(sqlite_db, None)
    head = integrate(sqlite_db, guessed.with_overrides(port=8404))
    assert head.checkpoint.startswith("127.0.0.1:8000/log\n")
    assert (verifier_key(sqlite_db) or "").startswith("127.0.0.1:8000/log+")
    _LOGS.pop(sqlite_db, None)
    with pytest.raises(ConfigError, match="ASSAY_LOG_ORIGIN=127.0.0.1:8000/log"):
        integrate(sqlite_db, guessed.with_overrides(public_url="https://register.example"))
