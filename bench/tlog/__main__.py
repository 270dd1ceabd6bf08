"""Benchmark of the transparency log. Run: ``python -m bench.tlog [--entries 1000000] [--postgres URL]``.

Measures, on this machine:

1. entries sequenced (``record()`` in writers' transactions) and integrated (tiles + signed checkpoint,
   durably) per second, sustained, on SQLite and, with ``--postgres``, on PostgreSQL: several writer threads
   commit transactions of k entries while the background integrator runs; the clock stops when every entry is
   in a published checkpoint;
2. inclusion proofs generated (from the tiles on disk, as ``proof_for`` serves them) and verified per second;
3. the time ``assay log verify`` takes to recompute a log of ``--entries`` entries from its folder;
4. disk bytes per entry (tiles and bundles; and the database).

Prints a Markdown table (and ``--json``). Results are recorded in bench/tlog/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.config import Config
from assay.db import Database
from assay.tlog import TileReader, inclusion_proof, leaf_hash, verify_inclusion, verify_proof
from assay.transparency import entry_at, open_log, proof_for, record, record_many
from assay.transparency.audit import FolderSource, verify_log
from assay.transparency.integrator import BackgroundIntegrator

T = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _body(i: int) -> dict[str, Any]:
    # A realistic mark entry: ids, a version, two content hashes (about 330 bytes of canonical JSON).
    return {
        "mark": f"{i:016x}",
        "system": "acme-imagegen",
        "system_version": 3,
        "provider": "acme",
        "sha256": f"{i:064x}",
        "phash": f"{i * 7919:016x}",
        "manifest": f"urn:uuid:{uuid.UUID(int=i)}",
    }


def _config(folder: Path) -> Config:
    return Config(data_dir=folder, public_url="https://register.example")


def _pg_database(url: str) -> tuple[Database, Any]:
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"assay_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(url.rsplit("/", 1)[0] + "/" + name)
    db.upgrade()

    def drop() -> None:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return db, drop


def bench_sequencing(
    db: Database, folder: Path, *, per_tx: int, writers: int, seconds: float, use_many: bool = False
) -> dict[str, Any]:
    """Writers commit transactions of ``per_tx`` entries for ``seconds``; the integrator runs meanwhile."""
    config = _config(folder)
    tlog = open_log(db, config)
    tlog.integrate()
    start_size = tlog.head().size
    worker = BackgroundIntegrator(tlog, period=0.2)
    worker.start()
    stop = threading.Event()
    counts = [0] * writers

    def writer(w: int) -> None:
        i = w * 10**9
        while not stop.is_set():
            with db.write() as s:
                if use_many:
                    record_many(s, [("mark.recorded", _body(i + k)) for k in range(per_tx)])
                else:
                    for k in range(per_tx):
                        record(s, "mark.recorded", _body(i + k))
            i += per_tx
            counts[w] += per_tx

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    sequenced = sum(counts)
    t_seq = time.perf_counter() - t0
    # Stop the clock when everything sequenced is in a published checkpoint.
    while tlog.head().size < start_size + sequenced:
        time.sleep(0.005)
    t_all = time.perf_counter() - t0
    worker.stop()
    return {
        "per_tx": per_tx,
        "writers": writers,
        "api": "record_many" if use_many else "record",
        "entries": sequenced,
        "sequenced_per_s": sequenced / t_seq,
        "integrated_per_s": sequenced / t_all,
        "lag_s": t_all - t_seq,
    }


def build_log(db: Database, folder: Path, n: int) -> float:
    """Fill a log with n entries (record_many in chunks, integrated as it goes); returns seconds."""
    tlog = open_log(db, _config(folder))
    t0 = time.perf_counter()
    chunk = 10_000
    for start in range(0, n, chunk):
        with db.write() as s:
            record_many(s, [("mark.recorded", _body(i)) for i in range(start, min(n, start + chunk))], time=T)
        tlog.integrate()
        if start and start % 200_000 == 0:
            print(f"  built {start} entries", file=sys.stderr)
    return time.perf_counter() - t0


def bench_proofs(db: Database, folder: Path, n: int, samples: int = 2000) -> dict[str, Any]:
    tlog = open_log(db, _config(folder))
    head = tlog.head()
    rng = random.Random(1)
    indexes = [rng.randrange(head.size) for _ in range(samples)]
    # Generation as served: head + entry from the database, proof from tiles on disk, self-check.
    t0 = time.perf_counter()
    proofs = [proof_for(db, i) for i in indexes[: samples // 4]]
    served = (samples // 4) / (time.perf_counter() - t0)
    # Generation alone, from tiles (cached reader, like a long-running server).
    reader = TileReader(head.size, lambda t: tlog.read_tile(t, head) or b"")
    t0 = time.perf_counter()
    paths = [inclusion_proof(i, head.size, reader.node) for i in indexes]
    generated = samples / (time.perf_counter() - t0)
    entries = [entry_at(db, i) or b"" for i in indexes[: samples // 4]]
    t0 = time.perf_counter()
    for p, e in zip(proofs, entries, strict=True):
        verify_proof(p or "", e, tlog.vkey)
    verified_full = len(proofs) / (time.perf_counter() - t0)
    leaves = [leaf_hash(entry_at(db, i) or b"") for i in indexes]
    t0 = time.perf_counter()
    for i, leaf, path in zip(indexes, leaves, paths, strict=True):
        verify_inclusion(i, head.size, leaf, path, head.root_hash)
    verified = samples / (time.perf_counter() - t0)
    return {
        "tree_size": head.size,
        "proof_for_per_s": served,
        "generated_per_s": generated,
        "verify_proof_per_s": verified_full,
        "verify_inclusion_per_s": verified,
        "proof_hashes": len(paths[0]),
    }


def disk_usage(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000, help="size of the log to verify (default 1,000,000)")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each sequencing run")
    ap.add_argument(
        "--postgres",
        default=os.environ.get("ASSAY_BENCH_POSTGRES_URL", ""),
        help="PostgreSQL admin URL (a throwaway database is created)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="assay-bench-tlog-"))
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "sequencing": [],
    }
    try:
        runs = [(1, 4, False), (10, 4, False), (100, 4, False), (1000, 1, True)]
        for backend in ["sqlite"] + (["postgres"] if args.postgres else []):
            for per_tx, writers, many in runs:
                folder = work / f"seq-{backend}-{per_tx}"
                if backend == "sqlite":
                    db, drop = Database(f"sqlite:///{folder}/assay.db"), None
                    db.upgrade()
                else:
                    db, drop = _pg_database(args.postgres)
                r = bench_sequencing(db, folder, per_tx=per_tx, writers=writers, seconds=args.seconds, use_many=many)
                r["backend"] = backend
                results["sequencing"].append(r)
                print(
                    f"{backend:8} {r['api']:11} {per_tx:5}/tx x{writers}: {r['sequenced_per_s']:9.0f} sequenced/s "
                    f"{r['integrated_per_s']:9.0f} integrated/s (lag {r['lag_s']:.2f}s)",
                    file=sys.stderr,
                )
                if drop:
                    drop()
                else:
                    db.dispose()
                shutil.rmtree(folder, ignore_errors=True)

        folder = work / "big"
        db = Database(f"sqlite:///{folder}/assay.db")
        db.upgrade()
        print(f"building a log of {args.entries} entries...", file=sys.stderr)
        results["build_s"] = build_log(db, folder, args.entries)
        results["proofs"] = bench_proofs(db, folder, args.entries)
        print(f"proofs: {results['proofs']}", file=sys.stderr)
        vkey = open_log(db, _config(folder)).vkey
        t0 = time.perf_counter()
        report = verify_log(FolderSource(folder / "log"), vkey)
        results["verify_s"] = time.perf_counter() - t0
        results["verify_entries"] = report.tree_size
        tiles = disk_usage(folder / "log")
        db.dispose()
        database = disk_usage(folder) - tiles
        results["disk"] = {
            "log_folder_bytes_per_entry": tiles / args.entries,
            "database_bytes_per_entry": database / args.entries,
            "entry_bytes": len(entry_at(Database(f"sqlite:///{folder}/assay.db"), 0) or b""),
        }
        print(f"verify {args.entries}: {results['verify_s']:.1f}s; disk {results['disk']}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| backend | API | entries/tx | writers | sequenced/s | sequenced+integrated/s |")
    print("|---|---|---|---|---|---|")
    for r in results["sequencing"]:
        print(
            f"| {r['backend']} | `{r['api']}` | {r['per_tx']} | {r['writers']} | {r['sequenced_per_s']:,.0f} | "
            f"{r['integrated_per_s']:,.0f} |"
        )
    p = results["proofs"]
    print(
        f"\nproofs in a tree of {p['tree_size']:,}: proof_for {p['proof_for_per_s']:,.0f}/s, generated from tiles "
        f"{p['generated_per_s']:,.0f}/s, verify_proof {p['verify_proof_per_s']:,.0f}/s, verify_inclusion "
        f"{p['verify_inclusion_per_s']:,.0f}/s"
    )
    print(
        f"verify a log of {results['verify_entries']:,} entries: {results['verify_s']:.1f} s "
        f"(built in {results['build_s']:.1f} s)"
    )
    d = results["disk"]
    print(
        f"disk: {d['log_folder_bytes_per_entry']:.0f} B/entry (tiles+bundles), {d['database_bytes_per_entry']:.0f} "
        f"B/entry (database), entry {d['entry_bytes']} B"
    )


if __name__ == "__main__":
    main()
