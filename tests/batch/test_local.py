"""The batch runner without a cluster: the output folder's contract (torn lines, Parquet rebuilt, one writer),
resume after an interruption, bounded work in flight over a long stream, and hostile inputs (a FIFO)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.batch import BatchOptions, ResultStore, iter_inputs, run_batch
from assay.config import Config
from assay.db import Database
from assay.errors import AssayError, InvalidInput, StorageError


@pytest.fixture
def register(sqlite_db: Database, tmp_path: Path) -> tuple[Database, Config]:
    return sqlite_db, Config(data_dir=tmp_path / "data", public_url="http://testserver")


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_an_interrupted_run_resumes_and_refuses_other_inputs(register: tuple[Database, Config], tmp_path: Path) -> None:
    db, config = register
    names = [str(tmp_path / f"missing-{i:03d}.jpg") for i in range(60)]  # each one a quick 'not_found' result
    out = tmp_path / "out"
    seen: list[dict[str, Any]] = []

    def stop_after_25(records: list[dict[str, Any]]) -> None:
        seen.extend(records)
        if len(seen) >= 25:
            raise KeyboardInterrupt  # what Ctrl-C does between two writes

    opts = BatchOptions(engine="pool", workers=1, chunk_size=4, resolve_batch=5)
    with pytest.raises(KeyboardInterrupt):
        run_batch(iter(names), db=db, config=config, options=opts, store=ResultStore(out), on_results=stop_after_25)
    first = len(_records(out))
    assert 25 <= first < 60
    summary = run_batch(iter(names), db=db, config=config, options=opts, store=ResultStore(out))
    assert summary.skipped == first and summary.run.checked == 60 - first
    assert summary.total.errors_by_kind == {"not_found": 60}
    assert [r["file"] for r in sorted(_records(out), key=lambda r: r["seq"])] == names

    with pytest.raises(InvalidInput, match="not the ones the interrupted run"):
        run_batch(iter(names[1:]), db=db, config=config, options=opts, store=ResultStore(out))
    again = run_batch(iter(names), db=db, config=config, options=opts, store=ResultStore(out))
    assert again.skipped == 60 and again.run.checked == 0 and again.engine == "in-process"


def test_the_output_folder_cuts_a_torn_line_and_rebuilds_missing_parquet(
    register: tuple[Database, Config], tmp_path: Path
) -> None:
    import pyarrow.dataset as ds

    db, config = register
    names = [str(tmp_path / f"missing-{i}.png") for i in range(12)]
    out = tmp_path / "out"
    opts = BatchOptions(engine="pool", workers=1, resolve_batch=4)
    run_batch(iter(names[:6]), db=db, config=config, options=opts, store=ResultStore(out))
    # A crash after the lines were written, before their Parquet part: and a torn line after them.
    for part in (out / "parquet").iterdir():
        part.unlink()
    with open(out / "results.jsonl", "ab") as fh:
        fh.write(b'{"seq": 6, "file": "half a reco')
    summary = run_batch(iter(names), db=db, config=config, options=opts, store=ResultStore(out))
    assert summary.skipped == 6 and summary.run.checked == 6
    assert sorted(r["seq"] for r in _records(out)) == list(range(12))
    table = ds.dataset(out / "parquet", format="parquet").to_table()
    assert sorted(table.column("seq").to_pylist()) == list(range(12))
    assert set(table.column("error_kind").to_pylist()) == {"not_found"}

    # One writer at a time.
    holder = ResultStore(out)
    holder.open()
    try:
        with pytest.raises(InvalidInput, match="another 'assay check' is writing"):
            ResultStore(out).open()
    finally:
        holder.close()
    # Results without the state that says what they cover: refused, never guessed at.
    (out / "state.json").unlink()
    with pytest.raises(StorageError, match="state.json is missing"):
        ResultStore(out).open()


def test_parquet_rows_wait_in_memory_only_until_a_row_group_fills(
    register: tuple[Database, Config], tmp_path: Path
) -> None:
    """The rows waiting for Parquet are the client's largest buffer: they go to disk as a row group as soon as
    their lines pass the byte cap (or the row cap), into a part installed when it holds ``parquet_rows``; a
    part a crash left half written is deleted and its lines written again, on the write path and on rebuild."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    db, config = register
    names = [str(tmp_path / f"missing-{i:03d}.jpg") for i in range(40)]
    out = tmp_path / "out"
    opts = BatchOptions(engine="pool", workers=1, chunk_size=2, resolve_batch=2)

    def store() -> ResultStore:
        return ResultStore(out, parquet_rows=15, group_rows=1000, group_bytes=1_000)  # ~4 lines a group

    run_batch(iter(names), db=db, config=config, options=opts, store=store())
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    biggest = max(len(line) for line in lines)
    assert biggest * 3 < 1_000 < biggest * 10  # the cap really is a few lines
    parts = sorted((out / "parquet").iterdir())
    assert len(parts) == 3  # 40 rows, 15 a part (a part closes at the first group that reaches 15)
    for part in parts:
        groups = pq.ParquetFile(part).metadata
        assert groups.num_row_groups >= 2
        assert all(groups.row_group(i).num_rows <= 1_000 // (biggest // 2) for i in range(groups.num_row_groups))
    assert sorted(ds.dataset(out / "parquet", format="parquet").to_table().column("seq").to_pylist()) == list(range(40))

    # A crash: every part lost, a half-written part left behind. Opening deletes it and rebuilds, by the caps.
    for part in parts:
        part.unlink()
    (out / "parquet" / ".part-0000000000000000.dead.tmp").write_bytes(b"PAR1 half")
    s = store()
    s.open()
    s.close()
    rebuilt = sorted((out / "parquet").iterdir())
    assert [p.name.startswith("part-") for p in rebuilt] == [True] * 3
    assert sorted(ds.dataset(out / "parquet", format="parquet").to_table().column("seq").to_pylist()) == list(range(40))


def test_a_long_stream_is_pulled_only_as_work_frees_up(register: tuple[Database, Config], tmp_path: Path) -> None:
    db, config = register
    pulled = written = 0
    worst = 0

    def stream() -> Iterator[str]:
        nonlocal pulled, worst
        for i in range(3000):
            pulled += 1
            worst = max(worst, pulled - written)
            yield str(tmp_path / f"nowhere-{i}.jpg")

    def on_results(records: list[dict[str, Any]]) -> None:
        nonlocal written
        written += len(records)

    # Unmarked results (errors here) wait for resolution until 2 x resolve_batch of them have gathered.
    opts = BatchOptions(engine="pool", workers=2, chunk_size=5, in_flight=3, resolve_batch=4)
    summary = run_batch(stream(), db=db, config=config, options=opts, on_results=on_results)
    assert summary.run.checked == 3000 and written == 3000
    # In flight (3 tasks of 5), waiting for resolution (< 8 + one task's worth) and the chunk being filled.
    assert worst <= 3 * 5 + 2 * 4 + 5 + 5, worst


def test_a_fifo_or_a_folder_in_the_archive_is_an_error_not_a_hang(
    register: tuple[Database, Config], tmp_path: Path
) -> None:
    db, config = register
    folder = tmp_path / "archive"
    folder.mkdir()
    os.mkfifo(folder / "photo.jpg")  # opening it for reading would block until someone writes
    (folder / "album.png").mkdir()
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder / 'photo.jpg'}\n{folder / 'album.png'}\n")
    records: list[dict[str, Any]] = []
    summary = run_batch(
        iter_inputs([], from_list=str(listing)),
        db=db,
        config=config,
        options=BatchOptions(engine="pool", workers=1),
        on_results=records.extend,
    )
    assert summary.total.errors_by_kind == {"unreadable": 2}
    assert {Path(r["file"]).name: r["error"]["message"].split(" is ", 1)[1] for r in records} == {
        "photo.jpg": "not a regular file (a pipe or a device)",
        "album.png": "a folder",
    }
    # Walking the folder lists the FIFO (it has an image's name) and descends into the folder named album.png.
    walked = list(iter_inputs([str(folder)]))
    assert walked == [str(folder / "photo.jpg")]


def test_options_fail_clearly() -> None:
    with pytest.raises(AssayError, match="unknown engine"):
        BatchOptions(engine="spark")
    with pytest.raises(AssayError, match="chunk-size must be at least 1"):
        BatchOptions(chunk_size=0)


def test_send_bytes_reads_on_the_client_and_reports_read_errors_the_same_way(
    register: tuple[Database, Config], tmp_path: Path
) -> None:
    from provenance.conftest import encode, synthetic_pixels

    db, config = register
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(encode(synthetic_pixels(5, 320, 256), "JPEG"))
    names = [str(photo), str(tmp_path / "gone.png")]
    records: list[dict[str, Any]] = []
    opts = BatchOptions(engine="pool", workers=1, send_bytes=True)
    run_batch(iter(names), db=db, config=config, options=opts, on_results=records.extend)
    assert [(r["status"], (r.get("error") or {}).get("kind")) for r in records] == [
        ("no_mark", None),
        ("error", "not_found"),
    ]
