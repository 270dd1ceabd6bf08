"""Run Assay's benchmarks: ``python -m bench [NAME ...]`` (default: all; the names are ``BENCHMARKS``' keys).

Each benchmark is its own module with its own options (``python -m bench.<name> --help``) and writes its
results to ``bench/<name>/RESULTS.md``; this runner only runs them one after the other with their defaults.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = {
    "watermark": "bench.watermark",
    "check": "bench.check",
    "batch": "bench.batch",
    "tlog": "bench.tlog",
    "register": "bench.register",
    "complaints": "bench.complaints.run",
    "hostile": "bench.hostile",
    "scale": "bench.scale",
    "startup": "bench.startup",
    "text": "bench.text",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== bench {name}", flush=True)
        extra = ["--browser"] if name == "complaints" else []  # what a complainant waits for, in Chromium
        if subprocess.call([sys.executable, "-m", BENCHMARKS[name], *extra]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
