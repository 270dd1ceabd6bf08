"""The split check, measured side by side in one process: examine() vs resolve, batched vs one at a time, and
the SQL statements each costs. Also check time with 1 and with 1,000 registered system keys.

    .venv/bin/python bench/check/resolve.py [--files 40]

A register (SQLite in a temporary folder) marks half of the files through the register (512x384 to 2 MP
JPEGs), the other half are never marked. Results as Markdown on stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from assay.config import Config  # noqa: E402
from assay.db import Database  # noqa: E402
from assay.provenance import VerifierMaterial, examine, resolve, resolve_many  # noqa: E402
from assay.provenance.marking import mark_images  # noqa: E402
from assay.register.access import Principal  # noqa: E402
from bench.check.run import jpeg, photo  # noqa: E402

OPERATOR = Principal.local_operator()


def _count(db: Database) -> list[str]:
    seen: list[str] = []

    def on(conn, cursor, statement, *a):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SET ")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", on)
    return seen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=40)
    args = ap.parse_args()
    from assay.demo import load_demo

    with tempfile.TemporaryDirectory() as tmp:
        config = Config(data_dir=Path(tmp), public_url="http://bench.example")
        db = Database(config.resolved_database_url)
        db.upgrade()
        load_demo(db, config, provenance=False)
        from assay.provenance.environment import ProvenanceEnv

        env = ProvenanceEnv.open(config)
        half = args.files // 2
        originals = [jpeg(photo(s, 1600, 1000)) for s in range(args.files)]
        marked = mark_images(db, env, images=originals[:half], system_id="acme-imagegen", principal=OPERATOR)
        files = [m.data for m in marked] + originals[half:]
        material = VerifierMaterial.from_register(db, config)
        examine(files[0], material)  # warm-up
        t = time.perf_counter()
        evidences = [examine(d, material, name=str(i)) for i, d in enumerate(files)]
        t_examine = (time.perf_counter() - t) / len(files)
        seen = _count(db)
        resolve_many(evidences[:1], db, config)  # warm-up
        seen.clear()
        t = time.perf_counter()
        batch = resolve_many(evidences, db, config)
        t_batch = (time.perf_counter() - t) / len(files)
        n_batch = len(seen)
        seen.clear()
        t = time.perf_counter()
        single = [resolve(ev, db, config) for ev in evidences]
        t_single = (time.perf_counter() - t) / len(files)
        n_single = len(seen)
        assert [v.as_dict() for v in batch] == [v.as_dict() for v in single]
        assert sum(v.status == "marked" for v in batch) == half

        # 1 vs 1,000 registered system keys: the ring screens them together.
        from assay.provenance.keys import WatermarkKey

        many = VerifierMaterial(
            watermark_keys=(
                *material.watermark_keys,
                *(
                    WatermarkKey(f"k{i:04d}", bytes([i % 256, i // 256]) * 16, "org.assay.watermark.2")
                    for i in range(999)
                ),
            ),
            anchors_pem=material.anchors_pem,
            signers=material.signers,
            revoked_serials=material.revoked_serials,
        )
        times: dict[tuple[str, str], list[float]] = {}
        examine(files[0], many)  # builds the 1,000-key ring once
        for rounds in range(2):
            for label, m in (("1 key", material), ("1,000 keys", many)):
                for kind, subset in (("marked", files[:half]), ("unmarked", files[half:])):
                    for d in subset[:6]:
                        t = time.perf_counter()
                        examine(d, m)
                        if rounds:
                            times.setdefault((label, kind), []).append(time.perf_counter() - t)
        db.dispose()
    n = len(files)
    print(f"## The split check ({n} files, half marked; 1600x1000 JPEG)\n")
    print("| step | ms per file | SQL statements |")
    print("|---|---:|---:|")
    print(f"| examine (pure) | {t_examine * 1000:.1f} | 0 |")
    print(f"| resolve_many, one batch of {n} | {t_batch * 1000:.2f} | {n_batch} in all |")
    print(f"| resolve, one file at a time | {t_single * 1000:.2f} | {n_single} in all ({n_single / n:.2f} per file) |")
    print(f"\nBatched resolution costs {t_single / t_batch:.1f}x less time per file than one at a time.\n")
    print("## examine() with 1 and with 1,000 registered system keys (median ms, same files)\n")
    print("| keys | marked | unmarked |")
    print("|---|---:|---:|")
    for label in ("1 key", "1,000 keys"):
        m, u = (statistics.median(times[(label, k)]) * 1000 for k in ("marked", "unmarked"))
        print(f"| {label} | {m:.0f} | {u:.0f} |")


if __name__ == "__main__":
    main()
