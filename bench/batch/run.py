"""Batch checking at scale on this machine: throughput against the process pool, database queries per file,
memory as the input grows, and workers 1 -> 2.

    .venv/bin/python -m bench.batch [--files 10000] [--memory 1000,10000,100000] [--scaling 1000]

The archive is built in code once and cached in bench/batch/.data (git-ignored): a register with the demo
loaded, and files marked through the demo's provider (acme-imagegen) with mark_images, the same pictures
re-saved without credentials ("stripped", as websites do), unmarked photos and broken files (truncated,
not an image, empty, over the size limit). All 384x288 JPEG/PNG.

Peers, side by side in one process and run, on the same files:

- **pool**: what ``assay check FILES...`` does without a cluster (assay.cli.check._run_checks: a process
  pool examines, this process resolves 32 files at a time);
- **dask**: ``assay check --out DIR`` on a local Dask cluster (assay.batch.run_batch, engine dask), results
  written to JSON lines and Parquet, cluster start included.

Memory: the client's peak RSS (this process: the kernel's high-water mark, reset per run) and each worker's RSS,
sampled every 0.2 s, as the input grows; the larger inputs repeat the smaller set of files through a file list
(positions, not names, are the unit of work). ``--memory-within N`` also reads the client's RSS during one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from assay.config import Config  # noqa: E402
from assay.db import Database  # noqa: E402

DATA = Path(__file__).resolve().parent / ".data"
W, H = 384, 288
MAX_BYTES = 2_000_000  # the 'too large' files are just over it
MIX = {"marked": 0.25, "stripped": 0.20, "unmarked": 0.40, "broken": 0.15}


# ---------------------------------------------------------------------------------------------- the archive


def _photo(seed: int) -> np.ndarray:
    from bench.check.run import photo

    return photo(seed, W, H)


def _encode(px: np.ndarray, fmt: str, kw: dict[str, Any] | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, fmt, **(kw or {}))
    return buf.getvalue()


def build(n: int) -> tuple[Config, list[str]]:
    """The register and ``n`` mixed files (cached: a second run reuses what the first built)."""
    config = Config(data_dir=DATA / "register", public_url="http://bench.example", max_upload_bytes=MAX_BYTES)
    files = DATA / "files"
    manifest = DATA / f"files-{n}.txt"
    if manifest.exists():
        return config, manifest.read_text().splitlines()
    from assay.demo import load_demo
    from assay.provenance.environment import ProvenanceEnv
    from assay.provenance.marking import mark_images
    from assay.register.access import Principal
    from assay.transparency import integrate

    (DATA / "register").mkdir(parents=True, exist_ok=True)
    files.mkdir(parents=True, exist_ok=True)
    db = Database(config.resolved_database_url)
    db.upgrade()
    load_demo(db, config)
    env = ProvenanceEnv.open(config)
    counts = {k: int(n * v) for k, v in MIX.items()}
    counts["unmarked"] += n - sum(counts.values())
    names: list[str] = []
    t0 = time.monotonic()
    done = 0
    for start in range(0, counts["marked"], 50):
        seeds = range(start, min(start + 50, counts["marked"]))
        fresh = [s for s in seeds if not (files / f"marked-{s:06d}.jpg").exists()]
        if fresh:
            images = [_encode(_photo(s), *(("JPEG", {"quality": 90}) if s % 4 else ("PNG", {}))) for s in fresh]
            results = mark_images(
                db, env, images=images, system_id="acme-imagegen", principal=Principal.local_operator(),
                names=[f"bench-{s}" for s in fresh],
            )  # fmt: skip
            for s, r in zip(fresh, results, strict=True):
                (files / f"marked-{s:06d}.jpg").write_bytes(r.data)
        done += len(seeds)
        print(f"  marked {done}/{counts['marked']} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    integrate(db, config)
    names += [str(files / f"marked-{s:06d}.jpg") for s in range(counts["marked"])]
    for s in range(counts["stripped"]):
        target = files / f"stripped-{s:06d}.jpg"
        if not target.exists():
            src = Image.open(files / f"marked-{s % counts['marked']:06d}.jpg").convert("RGB")
            src.resize((int(W * 0.9), int(H * 0.9))).save(target, "JPEG", quality=80)
        names.append(str(target))
    for s in range(counts["unmarked"]):
        target = files / f"unmarked-{s:06d}.jpg"
        if not target.exists():
            target.write_bytes(_encode(_photo(1_000_000 + s), "JPEG", {"quality": 88}))
        names.append(str(target))
    sample = (files / "marked-000001.jpg").read_bytes()
    for s in range(counts["broken"]):
        kind = s % 4
        target = files / f"broken-{s:06d}.{['jpg', 'png', 'webp', 'jpg'][kind]}"
        if not target.exists():
            body = [
                sample[: len(sample) // 3],  # truncated
                b"<html>not a picture</html>\n" * 20,  # not an image
                b"",  # empty
                b"\xff\xd8\xff\xe0" + bytes(MAX_BYTES),  # over the size limit
            ][kind]
            target.write_bytes(body)
        names.append(str(target))
    rng = np.random.default_rng(7)
    names = [names[i] for i in rng.permutation(len(names))]  # mixed, as an archive would be
    manifest.write_text("\n".join(names) + "\n")
    db.dispose()
    return config, names


# ---------------------------------------------------------------------------------------------- measuring


class Sampler:
    """Peak RSS of this process (the client) and of its descendants (pool or Dask workers and nannies).

    The client's is exact: the kernel's high-water mark (VmHWM), reset when sampling starts. Sampling every
    0.2 s alone misses most of the short peaks while a batch is written, and catches more of them the longer
    the run: a long run then looked larger than a short one at the same true peak."""

    def __init__(self, period: float = 0.2) -> None:
        import psutil

        self.me = psutil.Process()
        self.period = period
        self.client = 0
        self.worker = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                self.client = max(self.client, self.me.memory_info().rss)
                for p in self.me.children(recursive=True):
                    try:
                        if "nanny" in " ".join(p.cmdline()).lower():
                            continue  # the nanny only watches its worker
                        self.worker = max(self.worker, p.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self._stop.wait(self.period)

    def __enter__(self) -> Sampler:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client = max(self.client, int(_hwm_mb() * 2**20))


class count_queries:  # noqa: N801 - used as a context manager
    """Every SQL statement any engine in this process sends (the peers open their own engines)."""

    def __enter__(self) -> count_queries:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        self.count = 0
        event.listen(Engine, "before_cursor_execute", self._on)
        return self

    def _on(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        from assay.batch.runner import _TRANSACTION

        self.count += not _TRANSACTION.match(statement)  # SQLite's BEGIN is a statement; not a query

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "before_cursor_execute", self._on)


def run_pool(config: Config, names: list[str], workers: int) -> dict[str, Any]:
    from assay.cli.check import _run_checks

    statuses: dict[str, int] = {}
    t0 = time.monotonic()
    with Sampler() as mem, count_queries() as queries:
        for v in _run_checks(names, config, workers):
            statuses[v.get("status", "?")] = statuses.get(v.get("status", "?"), 0) + 1
    seconds = time.monotonic() - t0
    return {
        "peer": f"pool ({workers} processes)",
        "files": len(names),
        "seconds": seconds,
        "files_per_s": len(names) / seconds,
        "queries": queries.count,
        "client_rss_mb": mem.client / 2**20,
        "worker_rss_mb": mem.worker / 2**20,
        "by_status": statuses,
    }


def run_dask(
    config: Config, names: list[str], workers: int, *, engine: str = "dask", on_progress: Any = None
) -> dict[str, Any]:
    from assay.batch import BatchOptions, ResultStore, run_batch

    db = Database(config.resolved_database_url)
    out = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    t0 = time.monotonic()
    try:
        with Sampler() as mem, count_queries() as queries:
            summary = run_batch(
                iter(names),
                db=db,
                config=config,
                options=BatchOptions(engine=engine, workers=workers),
                store=ResultStore(out / "out"),
                on_progress=on_progress,
            )
        seconds = time.monotonic() - t0
        size = sum(p.stat().st_size for p in (out / "out").rglob("*") if p.is_file())
    finally:
        shutil.rmtree(out, ignore_errors=True)
        db.dispose()
    return {
        "peer": f"{summary.engine} ({workers} workers)",
        "files": len(names),
        "seconds": seconds,
        "files_per_s": len(names) / seconds,
        "queries": queries.count,  # all statements, the material's included (summary counts the run's)
        "client_rss_mb": mem.client / 2**20,
        "worker_rss_mb": mem.worker / 2**20,
        "by_status": dict(summary.run.by_status),
        "errors_by_kind": dict(summary.run.errors_by_kind),
        "out_mb": size / 2**20,
    }


class WithinRun:
    """The client's RSS within one run, as its input grows: read when the count of checked files passes 500,
    1,000, 2,000, 4,000, 8,000, then every tenth of the run (with the peak so far, the kernel's VmHWM)."""

    def __init__(self, total: int) -> None:
        import psutil

        self.me = psutil.Process()
        self.marks = sorted(
            {m for m in (500, 1000, 2000, 4000, 8000) if m < total}
            | set(range(total // 10, total + 1, max(1, total // 10)))
        )
        self.series: list[dict[str, float]] = []

    def __call__(self, examined: int, tally: Any) -> None:
        while self.marks and examined >= self.marks[0]:
            self.marks.pop(0)
            self.series.append({"files": examined, "rss_mb": self.me.memory_info().rss / 2**20, "peak_mb": _hwm_mb()})


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))


def bytes_moved(config: Config, names: list[str]) -> dict[str, float]:
    """What crosses the network per file: the task's arguments (names) and the evidence returned, pickled."""
    import pickle

    from assay.batch import _seam
    from assay.batch._work import examine_chunk

    db = Database(config.resolved_database_url)
    material = _seam.material(db, config)
    sample = names[:200]
    outcomes = examine_chunk([(i, n) for i, n in enumerate(sample)], material)
    per_file_out = len(pickle.dumps(outcomes, protocol=5)) / len(sample)
    per_file_in = len(pickle.dumps([(i, n) for i, n in enumerate(sample)], protocol=5)) / len(sample)
    avg_file = sum(os.path.getsize(n) for n in sample) / len(sample)
    db.dispose()
    return {
        "material_bytes": len(pickle.dumps(material, protocol=5)),
        "task_bytes_per_file": per_file_in,
        "evidence_bytes_per_file": per_file_out,
        "file_bytes_avg": avg_file,
    }


def client_cost(config: Config, names: list[str], n: int = 500) -> dict[str, float]:
    """The client's own work per file, on one core: resolve a batch, verify each mark's log proof, write the
    results (JSON lines, fsync, state) and their Parquet part. What caps the files per second one client takes."""
    from assay.batch import _seam
    from assay.batch._work import examine_chunk
    from assay.batch.results import ResultStore, Tally
    from assay.provenance.verify import verify_verdict
    from assay.transparency import verifier_key

    db = Database(config.resolved_database_url)
    material = _seam.material(db, config)
    sample = [x for x in names if "/broken-" not in x][:n]
    outcomes = examine_chunk([(i, x) for i, x in enumerate(sample)], material)
    evidence = [ev for _, _, ev, err in outcomes if err is None]
    vkey = verifier_key(db)
    out = Path(tempfile.mkdtemp(prefix="bench-batch-client-"))
    try:
        store = ResultStore(out, parquet_rows=len(evidence))
        store.open()
        t0 = time.perf_counter()
        records = [dict(v, seq=i) for i, v in enumerate(_seam.resolve(evidence, db, config))]
        t1 = time.perf_counter()
        for r in records:
            if r.get("log"):
                try:
                    verify_verdict(r, log_key=vkey)
                except Exception:  # noqa: BLE001 - only the time matters here
                    pass
        t2 = time.perf_counter()
        store.append(records)
        store.checkpoint(done_below=len(records), prefix_sha256="", done_after={}, tally=Tally())
        store.close()
        t3 = time.perf_counter()
    finally:
        shutil.rmtree(out, ignore_errors=True)
        db.dispose()
    k = len(records)
    return {
        "files": k,
        "marked": sum(r["status"] == "marked" for r in records),
        "resolve_us_per_file": 1e6 * (t1 - t0) / k,
        "verify_us_per_file": 1e6 * (t2 - t1) / k,
        "write_us_per_file": 1e6 * (t3 - t2) / k,
        "client_files_per_s": k / (t3 - t0),
    }


def attack_memory_bomb(config: Config, names: list[str]) -> dict[str, Any]:
    """A file within every limit that needs more memory to decode than a worker has: a 60-megapixel PNG of one
    colour (~0.2 MB on disk, ~180 MB of RGB pixels and several copies while decoding), among ordinary files,
    on workers limited to 400 MiB. It must cost itself, not the run or its neighbours."""
    from distributed import LocalCluster

    from assay.batch import BatchOptions, run_batch

    bomb = DATA / "files" / "attack-bomb.png"
    if not bomb.exists():
        Image.new("RGB", (10_000, 6_000), (120, 130, 140)).save(bomb, "PNG", optimize=True)
    good = [x for x in names if "/broken-" not in x][:40]
    inputs = good[:20] + [str(bomb)] + good[20:]
    db = Database(config.resolved_database_url)
    records: list[dict[str, Any]] = []
    t0 = time.monotonic()
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="400MiB", dashboard_address=":0") as c:
        summary = run_batch(
            iter(inputs),
            db=db,
            config=config,
            options=BatchOptions(scheduler=c.scheduler_address, chunk_size=4),
            on_results=records.extend,
        )
    db.dispose()
    by_file = {r["file"]: r for r in records}
    bomb_result = by_file[str(bomb)]
    return {
        "files": len(inputs),
        "bomb_file_bytes": bomb.stat().st_size,
        "bomb_result": bomb_result["status"] + ":" + str((bomb_result.get("error") or {}).get("kind")),
        "others_checked": sum(1 for x in good if by_file[x]["status"] != "error"),
        "others": len(good),
        "seconds": time.monotonic() - t0,
        "errors_by_kind": dict(summary.run.errors_by_kind),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10_000, help="the mixed archive's size")
    ap.add_argument("--memory", default="1000,10000,100000", help="input sizes for the memory series ('' to skip)")
    ap.add_argument(
        "--memory-mix",
        choices=("archive", "cheap"),
        default="cheap",
        help="what the memory series repeats: the mixed archive, or its broken files with 2%% marked ones (the "
        "runner's own memory at a high rate, for a 100,000-file run that fits in minutes)",
    )
    ap.add_argument(
        "--memory-within", type=int, default=0, help="also one run of this many inputs, RSS read as it goes (0: skip)"
    )
    ap.add_argument("--scaling", type=int, default=1000, help="files for workers 1 -> 2 (0 to skip)")
    ap.add_argument("--rounds", type=int, default=2, help="pool/dask pairs, interleaved")
    ap.add_argument("--subset", type=int, default=0, help="throughput on the archive's first N files (0: all)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--no-attack", action="store_true", help="skip the memory-bomb attack")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)

    print(f"# bench/batch on {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores")
    t0 = time.monotonic()
    config, names = build(args.files)
    print(f"archive of {len(names):,} files ready in {time.monotonic() - t0:.0f} s", flush=True)
    figures: dict[str, Any] = {"load_before": os.getloadavg()}

    if not args.skip_throughput:
        rows = []
        ratios = []
        for _ in range(args.rounds):  # interleaved, so both peers see the same load as far as possible
            pair = []
            for peer in ("pool", "dask"):
                files = names[: args.subset] if args.subset else names
                r = run_pool(config, files, 2) if peer == "pool" else run_dask(config, files, 2)
                r["load"] = os.getloadavg()[0]
                pair.append(r)
                print(json.dumps(r), flush=True)
            pool, dask = pair
            rows += pair
            ratios.append(dask["files_per_s"] / pool["files_per_s"])
            print(f"dask / pool throughput: {ratios[-1]:.3f}", flush=True)
            print(f"queries per 500 files: pool {500 * pool['queries'] / pool['files']:.1f}, "
                  f"dask {500 * dask['queries'] / dask['files']:.2f}", flush=True)  # fmt: skip
        figures["throughput"] = rows
        figures["throughput_ratio_dask_over_pool"] = ratios

    if args.scaling:
        subset = names[: args.scaling]
        rows = []
        for workers in (1, 2):
            r = run_dask(config, subset, workers)
            r["load"] = os.getloadavg()[0]
            rows.append(r)
            print(json.dumps(r), flush=True)
        figures["scaling"] = rows
        print(f"workers 1 -> 2: x{rows[1]['files_per_s'] / rows[0]['files_per_s']:.2f}", flush=True)

    if args.memory or args.memory_within:
        pool_names = names
        if args.memory_mix == "cheap":
            # One marked file in every 50, spread evenly: every input size sees the same mix (with the marked files
            # at the end, the 1,000-file point had none and never loaded the client's resolution code at all).
            broken = [n for n in names if "/broken-" in n]
            marked = [n for n in names if "/marked-" in n][: max(1, len(broken) // 49)]
            pool_names = []
            for i, name in enumerate(broken):
                pool_names.append(name)
                if i % 49 == 48 and marked:
                    pool_names.append(marked[(i // 49) % len(marked)])
        figures["memory_mix"] = args.memory_mix
        rows = []
        for n in (int(x) for x in args.memory.split(",") if x):
            repeated = [pool_names[i % len(pool_names)] for i in range(n)]
            r = run_dask(config, repeated, 2)
            r["load"] = os.getloadavg()[0]
            rows.append(r)
            print(json.dumps(r), flush=True)
        figures["memory"] = rows
        if args.memory_within:
            n = args.memory_within
            within = WithinRun(n)
            r = run_dask(config, [pool_names[i % len(pool_names)] for i in range(n)], 2, on_progress=within)
            r["load"], r["series"] = os.getloadavg()[0], within.series
            figures["memory_within"] = r
            for point in within.series:
                print(json.dumps(point), flush=True)
            print(json.dumps({k: v for k, v in r.items() if k != "series"}), flush=True)

    figures["bytes_moved"] = bytes_moved(config, names)
    print(json.dumps(figures["bytes_moved"]), flush=True)
    figures["client_cost"] = client_cost(config, names)
    print(json.dumps(figures["client_cost"]), flush=True)
    if not args.no_attack:
        figures["attack_memory_bomb"] = attack_memory_bomb(config, names)
        print(json.dumps(figures["attack_memory_bomb"]), flush=True)
    figures["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
