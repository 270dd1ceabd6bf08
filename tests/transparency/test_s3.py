"""The log on S3-API object storage (a real server over HTTP): crash safety at every step, and several machines
(their own data folders, one database, one bucket) serving one consistent log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assay.config import Config
from assay.db import Database
from assay.errors import ConfigError, StorageError
from assay.tlog import verify_proof
from assay.transparency import entry_at, open_log
from assay.transparency.models import LogEntry
from assay.transparency.reading import read_head
from assay.transparency.s3 import S3Storage
from assay.transparency.service import TransparencyLog, open_storage
from assay.transparency.storage import FaultInjectingStorage, SimulatedCrash

from .helpers import assert_log_consistent
from .test_integrator import SIGNER, _fresh_db, add_entries


@pytest.mark.slow
def test_a_crash_before_or_after_any_step_on_object_storage_resumes_to_a_consistent_log(
    sqlite_db: Database, tmp_path: Path, s3_endpoint: str, s3_url: str
) -> None:
    bucket, prefix0 = s3_url[5:].split("/", 1)
    client = S3Storage(bucket, endpoint_url=s3_endpoint)._client  # one connection pool for every case

    def run(db: Database, prefix: str, fail_at: tuple[int, str] | None) -> FaultInjectingStorage:
        storage = FaultInjectingStorage(fail_at=fail_at, inner=S3Storage(bucket, f"{prefix0}/{prefix}", client=client))
        # A smaller log than the in-memory fake's matrix (test_integrator), still crossing a full tile and
        # bundle (256) and back to partials: every kind of write and removal happens on the bucket.
        tlog = TransparencyLog(db, storage, SIGNER, batch_size=200)
        add_entries(db, 30)
        try:
            tlog.integrate()
            add_entries(db, 240, start=30)
            tlog.integrate()
        except SimulatedCrash:
            pass
        return storage

    total = run(_fresh_db(sqlite_db, tmp_path, "count"), "count", None).steps
    assert total > 10
    for step in range(1, total + 1):
        for when in ("before", "after"):
            db = _fresh_db(sqlite_db, tmp_path, f"f{step}{when}")
            storage = run(db, f"{step}{when}", (step, when))
            assert_log_consistent(db, storage.restart(), SIGNER.vkey, checkpoint_file=False)
            survivor = storage.restart()
            with db.read() as s:
                sequenced = s.query(LogEntry).count()
            TransparencyLog(db, survivor, SIGNER, batch_size=200).integrate()
            assert_log_consistent(db, survivor, SIGNER.vkey, expected_size=sequenced)
            db.dispose()


def _machine(tmp_path: Path, name: str, s3_url: str, s3_endpoint: str, first: Path | None = None) -> Config:
    """A machine's configuration: its own data folder (with the first machine's keys copied in)."""
    data = tmp_path / name
    if first is not None:
        shutil.copytree(first / "keys", data / "keys")
    return Config(data_dir=data, public_url="http://testserver", log_storage=s3_url, s3_endpoint_url=s3_endpoint)


def test_two_machines_serve_one_log_from_one_bucket(
    db: Database, tmp_path: Path, s3_url: str, s3_endpoint: str
) -> None:
    a_config = _machine(tmp_path, "a", s3_url, s3_endpoint)
    a = TransparencyLog(db, open_storage(a_config)[0], _signer(a_config), tiles_dir=s3_url)
    add_entries(db, 300)
    a.integrate()
    b_config = _machine(tmp_path, "b", s3_url, s3_endpoint, first=a_config.data_dir)
    b = TransparencyLog(db, open_storage(b_config)[0], _signer(b_config), tiles_dir=s3_url)
    add_entries(db, 350, start=300)
    b.integrate()  # B continues the tree A began, from the tiles A left in the bucket
    add_entries(db, 10, start=650)
    a.integrate()
    with db.read() as s:
        head = read_head(s)
    assert head.size == 660 and head.tiles_dir == s3_url  # the bucket, no path of either machine
    assert str(tmp_path) not in head.tiles_dir
    for machine in (a, b):
        assert_log_consistent(db, machine.storage, machine.vkey, expected_size=660)
        for index in (0, 299, 300, 659):
            proof = machine.proof(index)
            assert proof is not None and verify_proof(proof, entry_at(db, index), machine.vkey)
    # A machine left on its data folder would write tiles nobody else sees: it refuses, with the fix.
    local = Config(data_dir=b_config.data_dir, public_url="http://testserver")
    stray = TransparencyLog(db, open_storage(local)[0], _signer(local), tiles_dir=str(local.data_dir / "log"))
    with pytest.raises(ConfigError, match=f"ASSAY_LOG_STORAGE={s3_url}"):
        stray.integrate()


def test_assay_log_verify_reads_the_bucket(tmp_path: Path, s3_url: str, s3_endpoint: str) -> None:
    runner = CliRunner()
    env = {"ASSAY_LOG_STORAGE": s3_url, "ASSAY_S3_ENDPOINT_URL": s3_endpoint}

    from assay.cli import app

    def cli(*args: str) -> str:
        result = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), *args], env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    cli("log", "integrate")
    report = json.loads(cli("log", "verify", "--json"))
    assert report["tree_size"] >= 0 and report["origin"]
    assert not (tmp_path / "data" / "log").exists()  # nothing written to the data folder's log


def test_object_storage_errors_are_storage_errors_with_the_fix(s3_endpoint: str) -> None:
    missing = S3Storage("no-such-bucket", "x", endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match="could not write the log's tiles in s3://no-such-bucket/x") as info:
        missing.write_many({"checkpoint": b"c\n"})
    assert "ASSAY_S3_ENDPOINT_URL" in info.value.hint
    with pytest.raises(StorageError, match="could not read checkpoint"):
        missing.read("checkpoint")
    for bad in ("http://bucket/x", "s3://", "s3:///x", "s3://b/x?y=1"):
        with pytest.raises(ConfigError, match="not an s3://bucket/prefix URL"):
            S3Storage.from_url(bad)


# -- helpers -------------------------------------------------------------------------------------------------


def _signer(config: Config):  # type: ignore[no-untyped-def]
    from assay.transparency.keys import load_or_create_signer

    return load_or_create_signer(config)


def test_open_log_puts_the_bucket_not_a_path_in_the_database(
    sqlite_db: Database, tmp_path: Path, s3_url: str, s3_endpoint: str
) -> None:
    config = _machine(tmp_path, "only", s3_url, s3_endpoint)
    open_log(sqlite_db, config).integrate()
    with sqlite_db.read() as s:
        assert read_head(s).tiles_dir == s3_url
