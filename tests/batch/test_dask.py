"""Batch checking on a real dask.distributed cluster (a scheduler and two worker processes started here, one
cluster for this module): the results equal the single-file check's, errors are per file, a killed run
resumes, object storage is read by the workers, and no signing key reaches a worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster

from assay.batch import BatchOptions, ResultStore, iter_inputs, run_batch

from .conftest import Archive


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40) as c:
        yield c


def single_file(archive: Archive, name: str) -> dict[str, Any]:
    """What the single-file path says about one file: its verdict, or its error."""
    from dataclasses import replace

    from assay.errors import AssayError
    from assay.provenance.checking import check_media
    from assay.provenance.environment import ProvenanceEnv

    env = replace(ProvenanceEnv.open(archive.config), config=archive.config)  # its limits, not the cached ones
    try:
        data = Path(name).read_bytes()
        return check_media(archive.db, env, data, name=name).as_dict()
    except AssayError as exc:
        return {"status": "error", "message": exc.message}


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A result without what only the batch adds (its position, the CLI's offline check of the log proof) and
    with its share link reduced to what the link states: the link also carries the minute it was made (and a
    MAC over it), which differs between two checks that straddle a minute -- as they do on a loaded machine."""
    if record["status"] == "error":  # a batch record, or single_file's error
        return {"status": "error", "message": (record.get("error") or record)["message"]}
    out = {k: v for k, v in record.items() if k != "seq"}
    if out.get("log"):
        out["log"] = {k: v for k, v in out["log"].items() if k not in ("verified", "verification")}
    if out.get("share_url"):
        from urllib.parse import parse_qs, urlsplit

        link = urlsplit(out["share_url"])
        params = {k: v[0] for k, v in parse_qs(link.query).items()}
        assert set(params) >= {"at", "sig"}, out["share_url"]
        out["share_url"] = (link.path, {k: v for k, v in params.items() if k not in ("at", "sig")})
    return out


def test_results_equal_the_single_file_path_and_errors_are_per_file(
    archive: Archive, cluster: LocalCluster, tmp_path: Path
) -> None:
    missing = str(archive.folder / "gone.jpg")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{missing}\n# a comment\n\n{archive.folder / 'sub'}\n")
    opts = BatchOptions(scheduler=cluster.scheduler_address, chunk_size=3, resolve_batch=4)
    summary = run_batch(
        iter_inputs([str(archive.folder)], from_list=str(listing)),
        db=archive.db,
        config=archive.config,
        options=opts,
        store=ResultStore(tmp_path / "out"),
    )
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    by_name = {r["file"]: r for r in records}
    assert sorted(r["seq"] for r in records) == list(range(len(archive.names) + 2))
    assert set(by_name) == {*archive.names, missing, str(archive.folder / "sub")}

    for name in archive.names:
        assert comparable(by_name[name]) == comparable(single_file(archive, name)), name
    kinds = {Path(n).name: r["error"]["kind"] for n, r in by_name.items() if r["status"] == "error"}
    assert kinds == {
        "truncated.jpg": "undecodable",
        "not-an-image.png": "unsupported",
        "empty.webp": "undecodable",
        "big.jpg": "too_large",
        "gone.jpg": "not_found",
        "sub": "unreadable",
    }
    assert all(r["error"]["message"] and r["error"]["hint"] for r in records if r["status"] == "error")
    assert {n for n, r in by_name.items() if r["status"] == "marked"} == set(archive.marked)

    report = summary.as_dict()
    assert report["engine"].startswith("dask") and report["workers"] == 2
    assert report["run"]["checked"] == len(records)
    assert report["run"]["by_status"]["marked"] == len(archive.marked)
    assert report["run"]["by_system"] == {"acme-imagegen": len(archive.marked)}
    assert report["run"]["errors_by_kind"]["undecodable"] == 2

    import pyarrow.dataset as ds

    table = ds.dataset(tmp_path / "out" / "parquet", format="parquet").to_table()
    assert sorted(table.column("seq").to_pylist()) == sorted(r["seq"] for r in records)
    rows = {r["file"]: r for r in table.to_pylist()}
    assert rows[archive.marked[0]]["system_id"] == "acme-imagegen"
    assert rows[str(archive.folder / "big.jpg")]["error_kind"] == "too_large"


def _assay(archive: Archive, *args: str, **kw: Any) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        ASSAY_DATA_DIR=str(archive.config.data_dir),
        ASSAY_DATABASE_URL=str(archive.db.engine.url),
        ASSAY_PUBLIC_URL="http://testserver",
        ASSAY_MAX_UPLOAD_BYTES=str(archive.config.max_upload_bytes),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "assay", "check", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def test_a_run_killed_midway_resumes_where_it_stopped(archive: Archive, cluster: LocalCluster, tmp_path: Path) -> None:
    # The same files several times over (a list may repeat names: each position is its own result).
    listing = tmp_path / "list.txt"
    inputs = archive.names * 3
    listing.write_text("\n".join(inputs) + "\n")
    out = tmp_path / "out"
    args = ["--from-list", str(listing), "--out", str(out), "--scheduler", cluster.scheduler_address]
    first = _assay(archive, *args, "--chunk-size", "1", "--resolve-batch", "2", "--json")
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        if results.exists() and results.read_text().count("\n") >= 8:
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = results.read_text().count("\n")
    assert 8 <= done_before < len(inputs), "the run was not stopped midway"
    with open(results, "a") as fh:
        fh.write('{"seq": 99, "file": "torn')  # what a kill during a write leaves

    second = _assay(archive, *args, "--json")
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 2, stderr  # errors in the archive
    report = json.loads(stdout)
    assert report["skipped_already_done"] >= done_before
    assert report["run"]["checked"] + report["skipped_already_done"] == len(inputs)
    assert report["total"]["checked"] == len(inputs)

    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(r["seq"] for r in records) == list(range(len(inputs)))  # each input once, torn line gone
    assert [r["file"] for r in sorted(records, key=lambda r: r["seq"])] == inputs
    by_seq = {r["seq"]: r for r in records}
    assert all(r["log"]["verified"] for r in records if r["status"] == "marked")  # the CLI checked each proof
    for seq, name in enumerate(inputs[: len(archive.names)]):
        assert comparable(by_seq[seq]) == comparable(by_seq[seq + len(archive.names)]), name
        assert comparable(by_seq[seq]) == comparable(single_file(archive, name)), name
    import pyarrow.dataset as ds

    table = ds.dataset(out / "parquet", format="parquet").to_table(columns=["seq"])
    assert sorted(table.column("seq").to_pylist()) == list(range(len(inputs)))

    # Other inputs in the same folder are refused, not silently mixed in.
    other = tmp_path / "other.txt"
    other.write_text("\n".join(reversed(inputs)) + "\n")
    refused = _assay(archive, "--from-list", str(other), "--out", str(out), "--scheduler", cluster.scheduler_address)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 2 and "not the ones the interrupted run" in err and "hint" in err


_OPENED: list[str] = []


def _watch_opens(data_dir: str) -> None:
    """Runs on a worker: remember every file it opens under the register's provenance folder from now on."""
    folder = str(Path(data_dir) / "provenance")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            path = os.fsdecode(args[0])
            if path.startswith(folder):
                _OPENED.append(path)

    sys.addaudithook(hook)


def _worker_secrets(data_dir: str) -> dict[str, Any]:
    """Runs on a worker: the register's secret files it opened, and any private key or copy of a secret it holds
    (objects the garbage collector tracks and everything they refer to: keys and bytes are not tracked)."""
    import gc

    from cryptography.hazmat.primitives.asymmetric import ec

    opened = sorted({p for p in _OPENED if p.endswith((".key.pem", "master.key"))})  # before reading them here
    folder = Path(data_dir) / "provenance"
    # Signing keys (the CA's, providers') and the master key marks are minted with; not the detection key.
    secrets = [p.read_bytes().strip() for p in folder.rglob("*") if p.name.endswith((".key.pem", "master.key"))]
    assert secrets, "the register's secrets were not found: the test would see nothing"
    keys = copies = 0
    seen: set[int] = {id(x) for x in secrets}  # this function's own copies
    for holder in gc.get_objects():
        for o in (holder, *gc.get_referents(holder)):
            if id(o) in seen:
                continue
            seen.add(id(o))
            keys += isinstance(o, ec.EllipticCurvePrivateKey)
            if isinstance(o, bytes | str) and len(o) >= 32:
                raw = o.encode() if isinstance(o, str) else o
                copies += any(s in raw for s in secrets)
    return {"private_keys": keys, "secret_copies": copies, "opened": opened}


def test_no_signing_key_reaches_a_worker(archive: Archive, cluster: LocalCluster, tmp_path: Path) -> None:
    with Client(cluster) as client:
        client.restart()  # fresh worker processes: nothing left from the other tests
        client.run(_watch_opens, str(archive.config.data_dir))
        records: list[dict[str, Any]] = []
        run_batch(
            iter(archive.marked),
            db=archive.db,
            config=archive.config,
            options=BatchOptions(scheduler=cluster.scheduler_address),
            on_results=records.extend,
        )
        seen = client.run(_worker_secrets, str(archive.config.data_dir))
    assert [r["status"] for r in records] == ["marked"] * len(archive.marked)  # the workers did the work
    import pickle

    from assay.batch import _seam

    shipped = pickle.dumps(_seam.material(archive.db, archive.config))  # what the cluster was sent
    master = (Path(archive.config.data_dir) / "provenance" / "keys" / "master.key").read_bytes().strip()
    assert b"PRIVATE KEY" not in shipped and master not in shipped
    assert len(seen) == 2
    for worker, found in seen.items():
        assert found == {"private_keys": 0, "secret_copies": 0, "opened": []}, worker


def test_an_s3_prefix_is_listed_page_by_page_and_read_by_the_workers(
    archive: Archive, cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    import assay.batch.inputs as inputs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=endpoint, **creds)
        s3.create_bucket(Bucket="archive")
        picked = [archive.marked[0], archive.marked[-1], str(archive.folder / "unmarked-0.jpg")]
        picked.append(str(archive.folder / "truncated.jpg"))
        for name in picked:
            s3.put_object(Bucket="archive", Key=f"2026/{Path(name).name}", Body=Path(name).read_bytes())
        s3.put_object(Bucket="archive", Key="2026/notes.csv", Body=b"neither an image nor a text name: not listed")
        s3.put_object(Bucket="archive", Key="2027/elsewhere.jpg", Body=b"outside the prefix")
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        monkeypatch.setattr(inputs, "_PAGE", 2)  # several pages for five keys
        names = list(iter_inputs(["s3://archive/2026/"], storage_options=options))
        assert names == sorted(f"s3://archive/2026/{Path(n).name}" for n in picked)
        assert list(iter_inputs([names[0]], storage_options=options)) == [names[0]]  # one object, not a prefix

        records: list[dict[str, Any]] = []
        run_batch(
            iter(names),
            db=archive.db,
            config=archive.config,
            options=BatchOptions(scheduler=cluster.scheduler_address, storage_options=options),
            on_results=records.extend,
        )
    finally:
        server.stop()
    by_base = {Path(r["file"]).name: r for r in records}
    for name in picked:
        got, want = comparable(by_base[Path(name).name]), comparable(single_file(archive, name))
        if got["status"] == "error":
            assert want["status"] == "error"
            continue
        assert got["file"] == f"s3://archive/2026/{Path(name).name}"
        assert {**got, "file": name} == want, name


def test_tidying_the_scheduler_drops_what_each_task_leaves_behind(cluster: LocalCluster) -> None:
    # What a local cluster's scheduler keeps per submitted task, forever: an entry in its span's metadata and the
    # key in dask.utils.key_split's cache. The engine tidies both every 1,000 tasks; here after 30.
    from dask.utils import key_split

    from assay.batch._dask import tidy_scheduler

    def collections(dask_scheduler: Any) -> int:
        spans = dask_scheduler.extensions["spans"].spans.values()
        return max(len((s._metadata or {}).get("collections", ())) for s in spans)

    with Client(cluster) as client:
        futures = [client.submit(abs, -i, pure=False) for i in range(30)]  # one at a time, as the runner does
        client.gather(futures)
        assert client.run_on_scheduler(collections) >= 30
        assert client.run_on_scheduler(lambda: key_split.cache_info().currsize) >= 30
        client.run_on_scheduler(tidy_scheduler)
        assert client.run_on_scheduler(collections) == 10
        assert client.run_on_scheduler(lambda: key_split.cache_info().currsize) == 0


@pytest.mark.dask
def test_a_local_clusters_workers_keep_glibcs_adaptive_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in every worker (and in the starting process's environment), which
    # switches off glibc's adaptive mmap threshold: the detector's arrays then page-fault on every file (2.3x its
    # CPU in bench/batch run 7). The engine's local cluster starts its workers without it, and leaves this
    # process's environment alone; the one-thread limits stay.
    from assay.batch.engines import DaskEngine

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # another cluster in this process may have set it
    engine = DaskEngine(BatchOptions(engine="dask", workers=1), material={})
    try:
        names = ("MALLOC_TRIM_THRESHOLD_", "OPENBLAS_NUM_THREADS")
        seen = engine.client.run(lambda: {k: os.environ.get(k) for k in names})
        # ...and their event loops tick once a second, not every 20 ms (5 % of a 2-core machine, idle).
        ticks = engine.client.run(lambda dask_worker: dask_worker._tick_interval)
        scheduler_tick = engine.client.run_on_scheduler(lambda dask_scheduler: dask_scheduler._tick_interval)
    finally:
        engine.close()
    assert list(seen.values()) == [{"MALLOC_TRIM_THRESHOLD_": None, "OPENBLAS_NUM_THREADS": "1"}]
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ
    assert list(ticks.values()) == [1.0] and scheduler_tick == 1.0
