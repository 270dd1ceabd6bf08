"""The register's index of its marks' field messages (issue 9): a version-3 field read names no key, and the index
names it at once. Every mark made with a system key is indexed with its record, online or by a kit; the marks made
before the index are indexed by its migration, from the register's keys. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from sqlalchemy import delete, select

from assay import watermark
from assay.db import Database
from assay.db.migrate import alembic_config, pending
from assay.provenance.fieldindex import FieldIndex, migration_steps
from assay.provenance.keys import MarkId
from assay.provenance.marking import OfflineMarker, issue_kit, mark_images, record_batch, system_key
from assay.provenance.models import FieldMessage

from .conftest import OPERATOR, Register, encode, synthetic_pixels


def _index(db: Database) -> dict[str, tuple[str, str]]:
    with db.read() as s:
        return {r.mark_id: (r.message, r.key_id) for r in s.scalars(select(FieldMessage))}


def _downgrade_to_before_the_index(db: Database) -> None:
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "provenance_0020")
    assert pending(db) == ["provenance_0021"]


def test_every_mark_is_indexed_and_older_marks_by_the_migration(register: Register, tmp_path: Path) -> None:
    reg = register
    [online] = mark_images(
        reg.db, reg.env, images=[encode(synthetic_pixels(41), "PNG")], system_id="acme-imagegen", principal=OPERATOR
    )
    kit = issue_kit(reg.db, reg.env, provider_id="acme", principal=OPERATOR, sequences=1)
    _, entry = OfflineMarker(kit, tmp_path / "kit.counter").mark(
        encode(synthetic_pixels(42), "PNG"), system_id="acme-imagegen"
    )
    assert [o["status"] for o in record_batch(reg.db, reg.env, entries=[entry], principal=OPERATOR)] == ["recorded"]

    key = system_key(reg.db, reg.env, system_id="acme-imagegen", provider_id="acme", now=dt.datetime.now(dt.UTC))
    indexed = _index(reg.db)
    assert set(indexed) == {online.mark.hex, entry["mark_id"]}
    for mark_id, (message, key_id) in indexed.items():
        made = watermark.field_message(key.payload_of(MarkId.parse(mark_id)), key=key.key)
        assert (message, key_id) == (f"{made:016x}", key.key_id)
        assert tuple(FieldIndex(reg.db)(made)) == (key.key_id,)

    # A register from before the index: its migration indexes the marks from the register's keys ...
    _downgrade_to_before_the_index(reg.db)
    reg.db.upgrade(migration_steps(reg.config.data_dir))
    assert _index(reg.db) == indexed
    # ... and cannot without them (no data folder, or one without a master key): nothing is indexed, and a field
    # read of those marks is decrypted under every key, as before the index.
    for steps in (None, migration_steps(tmp_path / "another folder")):
        _downgrade_to_before_the_index(reg.db)
        reg.db.upgrade(steps)
        assert _index(reg.db) == {}
        assert pending(reg.db) == []


def test_a_worker_copy_of_the_index_names_nothing(register: Register) -> None:
    """The index holds a database handle, which does not travel: a copy in another process, pickled (a spawned
    or Dask worker) or inherited (a forked one, whose connections are the parent's), names no key, nor does an
    index whose database is gone or cannot be read (the check goes on, decrypting under every key)."""
    import gc
    import multiprocessing
    import pickle

    mark_images(
        register.db,
        register.env,
        images=[encode(synthetic_pixels(43), "PNG")],
        system_id="acme-imagegen",
        principal=OPERATOR,
    )
    [(message, key_id)] = _index(register.db).values()
    index = FieldIndex(register.db)
    assert tuple(index(int(message, 16))) == (key_id,)
    assert tuple(pickle.loads(pickle.dumps(index))(int(message, 16))) == ()
    fork = multiprocessing.get_context("fork")  # the child inherits the index itself, not a pickled copy
    parent, child = fork.Pipe()
    worker = fork.Process(target=lambda: child.send(tuple(index(int(message, 16)))))
    worker.start()
    worker.join(30)
    assert parent.poll(5) and parent.recv() == ()
    other = Database(register.db.url)
    gone = FieldIndex(other)
    del other
    gc.collect()
    assert tuple(gone(int(message, 16))) == ()
    unreachable = Database("postgresql+psycopg://nobody@127.0.0.1:9/nothing?connect_timeout=2")
    assert tuple(FieldIndex(unreachable)(int(message, 16))) == ()


def test_marks_left_unindexed_are_indexed_on_demand(register: Register) -> None:
    """``assay keys index``: marks recorded without a row (by a process from before the index) get theirs."""
    from typer.testing import CliRunner

    from assay.cli import app
    from assay.provenance.fieldindex import index_missing

    for seed in (44, 45):
        mark_images(
            register.db,
            register.env,
            images=[encode(synthetic_pixels(seed), "PNG")],
            system_id="acme-imagegen",
            principal=OPERATOR,
        )
    indexed = _index(register.db)
    assert len(indexed) == 2
    with register.db.write() as s:
        s.execute(delete(FieldMessage).where(FieldMessage.mark_id == min(indexed)))
    assert index_missing(register.db, register.config.data_dir) == 1
    assert _index(register.db) == indexed
    assert index_missing(register.db, register.config.data_dir) == 0
    with register.db.write() as s:
        s.execute(delete(FieldMessage))
    env = {"ASSAY_DATA_DIR": str(register.config.data_dir), "ASSAY_DATABASE_URL": register.db.url}
    result = CliRunner().invoke(app, ["keys", "index", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert '"indexed": 2' in result.output
    assert _index(register.db) == indexed
