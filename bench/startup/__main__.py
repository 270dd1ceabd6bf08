"""python -m bench.startup: how fast the no-op paths start (see bench/startup/__init__.py)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSAY = [sys.executable, "-m", "assay"]


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _make_run_until_serving(env: dict[str, str], port: int) -> float:
    """A second `make run`: from its start until the server answers its home page."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["make", "-s", "run"],
        env={**env, "ASSAY_PORT": str(port)},
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                return time.perf_counter() - start
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("make run exited before serving") from None
                time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="assay-bench-startup-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update(ASSAY_DATA_DIR=str(data), ASSAY_PORT=str(port))
    try:
        subprocess.run([*ASSAY, "demo", "load"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        stamp = data / "demo" / "loaded.json"
        saved = stamp.read_bytes()

        def full_load() -> float:
            stamp.unlink()  # no fingerprint: the full idempotent path (parse, compare, migrations check)
            try:
                return _timed([*ASSAY, "demo", "load"], env)
            finally:
                stamp.write_bytes(saved)

        cases = {
            "python -c pass (interpreter floor)": lambda: _timed([sys.executable, "-c", "pass"], env),
            "assay --help": lambda: _timed([*ASSAY, "--help"], env),
            "assay demo load, unchanged (fingerprint)": lambda: _timed([*ASSAY, "demo", "load"], env),
            "assay demo load, full idempotent path": full_load,
            "second make run, until serving": lambda: _make_run_until_serving(env, port),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved, so load on the machine hits every case alike
            for name, case in cases.items():
                times[name].append(case())
    finally:
        shutil.rmtree(data, ignore_errors=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = medians["python -c pass (interpreter floor)"]
    full = medians["assay demo load, full idempotent path"]
    load = os.getloadavg()
    lines = [
        "# Start-up of the no-op paths",
        "",
        f"`python -m bench.startup --runs {args.runs}`: each case run {args.runs} times, interleaved; medians "
        f"(min-max). Load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on "
        f"{os.cpu_count()} cores. Goals: `assay --help` < 0.3 s, a second `make run` serving < 5 s.",
        "",
        "| case | median s | min-max s | x interpreter | x full demo load |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, t in times.items():
        m = medians[name]
        lines.append(f"| {name} | {m:.3f} | {min(t):.3f}-{max(t):.3f} | {m / floor:.1f} | {m / full:.2f} |")
    text = "\n".join(lines) + "\n"
    (Path(__file__).parent / "RESULTS.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
