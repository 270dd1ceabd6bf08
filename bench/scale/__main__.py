"""Scale benchmark: ``python -m bench.scale [--systems 5000] [--seconds 20] [--clients 50]``.

Three parts, side by side in one run, over real HTTP against ``assay serve`` processes on this machine:

1. **Workers.** The same PostgreSQL register served by ``assay serve --workers 1`` and ``--workers 4``, one
   after the other and then once more in the same order (drift on a shared machine shows as the difference
   between the two rounds). Loads: ``GET /api/v1/systems?q=`` (searches as in bench/register) and
   ``POST /api/v1/check`` (2-megapixel JPEGs, half of them marked by the register), each by ``--clients``
   concurrent clients for ``--seconds``. Throughput, p50, p99, errors.
2. **Two machines.** Two data folders (the second holding copies of the first one's secrets), one
   PostgreSQL database, one bucket on an S3 server (moto's, in its own process): both serve the log while
   register events are written through each; then the leader is killed with SIGKILL and the other must take
   the integrator's lease and integrate what is written after. ``assay log verify --url`` against each
   machine, and both must serve the same checkpoint.
3. **Lock-out.** A receipt holder looks their complaint up every 2 s while an attacker floods look-ups
   with random receipts: through the browser API (paying the priced proof of work, with ``--attackers``
   concurrent solvers) and through the no-JavaScript form (server-side Argon2id at production parameters).
   The holder's success rate, latency and the proof of work they paid; the attacker's rate; health latency.

The load generator (asyncio + httpx) runs on the same cores as the servers, as in bench/register.
Needs ``ASSAY_BENCH_POSTGRES_URL`` (or ``ASSAY_TEST_POSTGRES_URL``): a server where it may create databases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.register.__main__ import search_query  # noqa: E402

HERE = Path(__file__).parent
EXAMPLE = ROOT / "assay" / "register" / "examples" / "acme-imagegen.yaml"


# ------------------------------------------------------------------------------------------------ helpers


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU time of these processes so far (from /proc; clock ticks)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU ticks of the whole machine so far (/proc/stat): the share others leave us."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return float(sum(fields) - idle), float(sum(fields))


def measured(server: Server, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a load and add what it cost the server: CPU seconds per request and cores used, and how busy the
    whole machine was (other work included)."""
    pids = {server.proc.pid} | _descendants(server.proc.pid)
    cpu0, (busy0, total0), t0 = cpu_seconds(pids), machine_busy(), time.perf_counter()
    out = run()
    cpu1, (busy1, total1), t1 = cpu_seconds(pids), machine_busy(), time.perf_counter()
    out["server_cpu_ms_per_request"] = round((cpu1 - cpu0) * 1000 / max(1, out["n"]), 1)
    out["server_cores_used"] = round((cpu1 - cpu0) / (t1 - t0), 2)
    out["machine_busy_pct"] = round(100 * (busy1 - busy0) / max(1.0, total1 - total0))
    return out


def fresh_database(base_url: str, name: str) -> str:
    admin = create_engine(base_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


def assay_env(data_dir: Path, url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "ASSAY_DATA_DIR": str(data_dir),
        "ASSAY_DATABASE_URL": url,
        "ASSAY_PUBLIC_URL": "http://bench.example",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    return env


def cli(env: dict[str, str], *args: str, tree: Path = ROOT) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "assay", *args], env=env, cwd=tree, capture_output=True, text=True, timeout=600
    )
    if r.returncode != 0:
        raise RuntimeError(f"assay {' '.join(args)} failed: {r.stderr[-2000:]}")
    return r.stdout


class Server:
    """``assay serve`` in its own process (and its workers)."""

    def __init__(self, env: dict[str, str], workers: int | None, *, tree: Path = ROOT) -> None:
        """``workers=None``: the code's own single-process ``assay serve`` (the baseline's, which had no
        ``--workers``), run from ``tree`` (``env``'s PYTHONPATH must point there too)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "assay", "serve", "--port", str(self.port)]
        if workers is not None:
            command += ["--workers", str(workers)]
        self.proc = subprocess.Popen(
            command,
            env=env,
            cwd=tree,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, so SIGKILL can take the workers too
        )
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"assay serve exited: {self.proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(self.base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("assay serve did not start")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """As a crash: SIGKILL to the server and its workers at once (nothing runs its shutdown)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


async def _closed_loop_part(
    base: str, kind: str, clients: int, seconds: float, files: list[bytes], seed: int
) -> dict[str, Any]:
    """``clients`` clients of one load-generating process, each sending its next request when the last one is
    answered, for ``seconds``: ``kind`` is "search" (GET /api/v1/systems?q=) or "check" (POST /api/v1/check)."""
    times: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def one(i: int) -> None:
            nonlocal errors
            rng = random.Random(seed * 1000 + i)
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                try:
                    if kind == "search":
                        r = await client.get("/api/v1/systems?" + urlencode(search_query(rng)))
                    else:
                        data = files[rng.randrange(len(files))]
                        r = await client.post("/api/v1/check", content=data, headers={"content-type": "image/jpeg"})
                    statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                    if r.status_code >= 500 or r.status_code == 429:
                        errors += 1
                except httpx.TransportError as exc:
                    errors += 1
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                times.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(one(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    cpu = time.process_time()
    return {"times": times, "statuses": statuses, "errors": errors, "elapsed": elapsed, "cpu": cpu}


def _part_in_process(args: tuple[str, str, int, float, list[bytes], int]) -> dict[str, Any]:
    return asyncio.run(_closed_loop_part(*args))


def closed_loop(base: str, kind: str, clients: int, seconds: float, files: list[bytes], procs: int) -> dict[str, Any]:
    """The load spread over ``procs`` processes (one asyncio process alone cannot keep 50 clients busy on a
    loaded machine: it would measure the client)."""
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    with ProcessPoolExecutor(max_workers=procs) as pool:
        parts = list(pool.map(_part_in_process, [(base, kind, n, seconds, files, i) for i, n in enumerate(shares)]))
    times = [t for p in parts for t in p["times"]]
    statuses: dict[str, int] = {}
    for p in parts:
        for k, v in p["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    elapsed = max(p["elapsed"] for p in parts)
    return {
        "n": len(times),
        "rps": round(len(times) / elapsed, 1),
        "p50_ms": round(pct(times, 50)),
        "p99_ms": round(pct(times, 99)),
        "errors": sum(p["errors"] for p in parts),
        "statuses": statuses,
        "client_cores_used": round(sum(p["cpu"] for p in parts) / elapsed, 2),
    }


# ------------------------------------------------------------------------------------------------ 1. workers


def check_originals(images: int) -> list[bytes]:
    """The unmarked 2-megapixel JPEGs every round checks (half of them get marked by each code's register)."""
    from bench.check.run import jpeg, photo

    return [jpeg(photo(seed)) for seed in range(images)]


def prepare_register(url: str, data_dir: Path, systems: int, originals: list[bytes]) -> list[bytes]:
    """A register of ``systems`` generated systems plus the example image generator, and check images."""
    import yaml

    from assay.config import Config
    from assay.db import Database
    from assay.provenance.environment import ProvenanceEnv
    from assay.provenance.marking import mark_images
    from assay.register import service
    from assay.register.access import Principal
    from bench.register.data import load

    db = Database(url)
    db.upgrade()
    load(db, systems=systems, n_providers=max(1, systems // 20))
    operator = Principal.local_operator()
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["provider"]["id"] = "acme-bench"  # the generated register may already hold an 'acme'
    with db.write() as s:
        service.add_provider(s, id="acme-bench", name="Acme Imaging B.V.", jurisdiction="NL", principal=operator)
        service.publish(s, doc, principal=operator, provider_id="acme-bench")
    config = Config(data_dir=data_dir, database_url=url, public_url="http://bench.example")
    env = ProvenanceEnv.open(config)
    half = len(originals) // 2
    marked = mark_images(db, env, images=originals[:half], system_id=doc["system"]["id"], principal=operator)
    from assay.transparency import integrate

    integrate(db, config)
    db.dispose()
    return [m.data for m in marked] + originals[half:]


def baseline_tree(commit: str) -> Path:
    """The code at ``commit`` as files, in the git-ignored ``bench/scale/.baseline/<commit>`` (made once, by
    ``git archive``: nothing is added to the repository's worktree list)."""
    dest = HERE / ".baseline" / commit
    if not (dest / "assay" / "__init__.py").exists():
        import io
        import tarfile

        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True)
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(dest, filter="data")
    return dest


def prepare_baseline(
    tree: Path, url: str, data_dir: Path, systems: int, originals: list[bytes], tmp: Path
) -> list[bytes]:
    """The same register made by the baseline's own code (bench/scale/old_tree_prepare.py, run with the old tree on
    PYTHONPATH): its generated systems, its example generator, the same originals with half marked by its marking."""
    images_dir = tmp / "baseline-images"
    images_dir.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(originals):
        (images_dir / f"original-{i:02d}.jpg").write_bytes(data)
    job = {"tree": str(tree), "url": url, "data_dir": str(data_dir), "systems": systems, "images_dir": str(images_dir)}
    env = {**os.environ, "PYTHONPATH": str(tree)}
    r = subprocess.run(
        [sys.executable, str(HERE / "old_tree_prepare.py"), json.dumps(job)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if r.returncode != 0:
        raise RuntimeError(f"preparing the baseline failed: {r.stderr[-3000:]}")
    half = len(originals) // 2
    marked = [(images_dir / f"marked-by-baseline-{i}.jpg").read_bytes() for i in range(half)]
    return marked + originals[half:]


def workers_part(args: argparse.Namespace, pg: str, tmp: Path) -> dict[str, Any]:
    url = fresh_database(pg, "assay_bench_scale")
    data_dir = tmp / "workers-data"
    print(f"== preparing {args.systems:,} systems and {args.images} images", file=sys.stderr, flush=True)
    originals = check_originals(args.images)
    files = prepare_register(url, data_dir, args.systems, originals)
    env = assay_env(data_dir, url)
    # The baseline: the code when issue 10 was filed, one process, its own database on the same server.
    servers: list[tuple[str, int | None]] = [("current", w) for w in args.workers]
    baseline: dict[str, Any] = {}
    if args.baseline:
        tree = baseline_tree(args.baseline)
        base_url = fresh_database(pg, "assay_bench_scale_baseline")
        base_dir = tmp / "baseline-data"
        print(f"== preparing the baseline ({args.baseline}) with its own code", file=sys.stderr, flush=True)
        base_files = prepare_baseline(tree, base_url, base_dir, args.systems, originals, tmp)
        base_env = {**assay_env(base_dir, base_url), "PYTHONPATH": str(tree)}
        baseline = {"commit": args.baseline, "tree": str(tree)}
        servers.insert(0, ("baseline", None))

    rounds: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        # Even rounds run in the reverse order, so that drift on a shared machine favours no one.
        for code, workers in servers if round_no % 2 == 0 else list(reversed(servers)):
            label = f"baseline {args.baseline}, one process" if code == "baseline" else f"{workers} worker(s)"
            print(f"== round {round_no + 1}: {label}", file=sys.stderr, flush=True)
            if code == "baseline":
                server, load_files = Server(base_env, None, tree=Path(baseline["tree"])), base_files
            else:
                server, load_files = Server(env, workers), files
            try:
                # The verdicts on the files (half marked by this code's register): both codes must find the marks.
                verdicts = [
                    httpx.post(
                        server.base + "/api/v1/check", content=f, headers={"content-type": "image/jpeg"}, timeout=120
                    )
                    .json()
                    .get("status", "?")
                    for f in load_files
                ]
                closed_loop(server.base, "search", 8, 3, load_files, 2)  # warm every worker's caches
                closed_loop(server.base, "check", 8, 3, load_files, 2)
                row: dict[str, Any] = {
                    "round": round_no + 1,
                    "code": code,
                    "workers": workers or 1,
                    "verdicts": verdicts,
                    "load_before": load_average(),
                }
                for kind in ("search", "check"):
                    row[kind] = measured(
                        server,
                        partial(
                            closed_loop, server.base, kind, args.clients, args.seconds, load_files, args.client_procs
                        ),
                    )
                row["load_after"] = load_average()
            finally:
                server.stop()
            rounds.append(row)
            print(f"   {json.dumps(row)}", file=sys.stderr, flush=True)
    return {"systems": args.systems, "images": len(files), "baseline": baseline, "rounds": rounds}


# ------------------------------------------------------------------------------------------------ 2. machines


def two_machines_part(args: argparse.Namespace, pg: str, tmp: Path) -> dict[str, Any]:
    import boto3

    url = fresh_database(pg, "assay_bench_scale_machines")
    port = free_port()
    aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **aws},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    servers: list[Server] = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                httpx.get(endpoint, timeout=2)
                break
            except httpx.HTTPError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        os.environ.update(aws)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="assay-bench-log")
        shared = {"ASSAY_LOG_STORAGE": "s3://assay-bench-log/log", "ASSAY_S3_ENDPOINT_URL": endpoint, **aws}
        a_dir, b_dir = tmp / "machine-a", tmp / "machine-b"
        env_a = assay_env(a_dir, url, **shared)
        env_b = assay_env(b_dir, url, **shared)
        cli(env_a, "db", "upgrade")
        cli(env_a, "log", "integrate")  # makes machine A's keys, publishes the empty tree into the bucket
        # Machine B: its own data folder with copies of the secrets A made (docs/configuration.md).
        for part in ("keys", "provenance", "complaints"):
            if (a_dir / part).exists():
                shutil.copytree(a_dir / part, b_dir / part)
        servers = [Server(env_a, 2), Server(env_b, 2)]
        examples = sorted((ROOT / "assay" / "register" / "examples").glob("*.yaml"))
        import yaml

        written = 0
        for i, path in enumerate(examples[:6]):
            env = env_a if i % 2 == 0 else env_b  # events written through each machine in turn
            doc = yaml.safe_load(path.read_text())
            pid = doc["provider"]["id"]
            cli(
                env,
                "providers",
                "add",
                pid,
                "--name",
                doc["provider"]["legal_name"],
                "--jurisdiction",
                doc["provider"].get("jurisdiction", "NL"),
            )
            cli(env, "systems", "publish", str(path))
            written += 2
        # Kill the integrator's leader (its lease stays until it expires), then write entries that only a
        # running server will integrate: the other machine must take over.
        from assay.db import Database
        from assay.transparency import record
        from assay.transparency.integrator import IntegratorLease

        db = Database(url)
        holder = IntegratorLease(db).current()[0]
        leader_pid = int(holder.split(":")[1])
        leader = next(
            (s for s in servers if leader_pid == s.proc.pid or leader_pid in _descendants(s.proc.pid)), servers[0]
        )
        leader.kill()
        with db.write() as s:
            for i in range(25):
                record(s, "system.published", {"system": f"after-failover-{i}", "version": 1})
        target = int(db.engine.connect().execute(text("SELECT next_index FROM tlog_sequence")).scalar_one())
        t0 = time.time()
        survivor = next(s for s in servers if s is not leader)
        while True:
            size = int(httpx.get(survivor.base + "/log/checkpoint", timeout=10).text.split("\n")[1])
            if size >= target or time.time() - t0 > 90:
                break
            time.sleep(0.5)
        out["failover_seconds"] = round(time.time() - t0, 1)
        out["size_after_failover"] = size
        out["entries_sequenced"] = target
        new_holder = IntegratorLease(db).current()[0]
        out["leader_replaced"] = new_holder != holder
        db.dispose()
        # Restart the killed machine: both serve again.
        if leader.proc.poll() is not None:
            replacement = Server(env_a if leader is servers[0] else env_b, 2)
            servers[servers.index(leader)] = replacement
        time.sleep(1)
        checkpoints = [httpx.get(s.base + "/log/checkpoint", timeout=10).text for s in servers]
        out["same_checkpoint"] = checkpoints[0] == checkpoints[1]
        vkey = httpx.get(servers[0].base + "/log/vkey", timeout=10).text.strip()
        out["verify"] = []
        for name, srv in zip(("machine A", "machine B"), servers, strict=True):
            report = json.loads(cli(env_a, "log", "verify", "--url", srv.base + "/log", "--key", vkey, "--json"))
            out["verify"].append({"machine": name, "tree_size": report["tree_size"], "root": report["root_hash"]})
        # And each machine's own view: its database's entries and checkpoints against the bucket.
        for name, env in (("machine A (local)", env_a), ("machine B (local)", env_b)):
            report = json.loads(cli(env, "log", "verify", "--json"))
            out["verify"].append({"machine": name, "tree_size": report["tree_size"], "root": report["root_hash"]})
        out["tiles_dir_in_database"] = str(
            Database(url).engine.connect().execute(text("SELECT tiles_dir FROM tlog_head")).scalar_one()
        )
        out["events_written"] = written
    finally:
        for srv in servers:
            srv.stop()
        s3.terminate()
        s3.wait(30)
    return out


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


# ------------------------------------------------------------------------------------------------ 3. lock-out


def _solve(challenge: str) -> str:
    from assay.complaints.abuse import solve

    return solve(challenge)


def _complaints_register(pg: str, tmp: Path, name: str, tree: Path = ROOT) -> tuple[dict[str, str], dict[str, Any]]:
    """A register with the example system and a published oversight-body key (production parameters), made and
    served by the code in ``tree``."""
    url = fresh_database(pg, f"assay_bench_scale_{name}")
    data_dir = tmp / f"{name}-data"
    env = {**assay_env(data_dir, url), "PYTHONPATH": str(tree)}

    def cli(env: dict[str, str], *args: str) -> str:
        return globals()["cli"](env, *args, tree=tree)

    cli(env, "db", "upgrade")
    doc_path = EXAMPLE
    import yaml

    doc = yaml.safe_load(doc_path.read_text())
    cli(env, "providers", "add", doc["provider"]["id"], "--name", doc["provider"]["legal_name"], "--jurisdiction", "NL")
    cli(env, "systems", "publish", str(doc_path))
    key_file = tmp / f"{name}-body.key.json"
    env_key = {**env, "ASSAY_COMPLAINTS_PASSPHRASE": "bench passphrase for the oversight body"}
    cli(env_key, "complaints", "keygen", "--out", str(key_file))
    cli(env_key, "complaints", "publish-key", "--key", str(key_file))
    return env, doc


def lockout_part(args: argparse.Namespace, pg: str, tmp: Path) -> dict[str, Any]:
    """The holder's success while an attacker floods, on a 2-worker server with production parameters."""
    from assay.complaints import crypto

    env, doc = _complaints_register(pg, tmp, "lockout")
    server = Server(env, 2)
    results: dict[str, Any] = {}
    pool = ProcessPoolExecutor(max_workers=args.attackers)
    try:
        base = server.base
        info = httpx.get(base + "/api/v1/complaints/channel", timeout=30).json()
        kdf = info["kdf"]
        params = crypto.KdfParams(
            salt=crypto.b64decode(kdf["salt"]), opslimit=kdf["opslimit"], memlimit=kdf["memlimit"]
        )
        # The holder files through the browser API (their keys derived as the browser does).
        words, entropy = crypto.new_receipt()
        keys = crypto.derive_receipt_keys(entropy, params)
        public = crypto.b64decode(info["key"]["public_key"])
        sealed = crypto.seal(
            crypto.pack_complaint(crypto.ComplaintContent(fields={"what": "bench"}, system_id=doc["system"]["id"])),
            public,
        )
        c = httpx.post(base + "/api/v1/complaints/challenge", timeout=30).json()
        filed = httpx.post(
            base + "/api/v1/complaints",
            json={
                "system_id": doc["system"]["id"],
                "key_id": info["key"]["key_id"],
                "ciphertext": crypto.b64(sealed),
                "access_key": crypto.b64(keys.access_key),
                "reply_public_key": crypto.b64(keys.reply_public_key),
                "pow": {"challenge": c["challenge"], "nonce": _solve(c["challenge"])},
            },
            timeout=60,
        )
        assert filed.status_code == 201, filed.text
        results["browser"] = asyncio.run(_flood_browser(base, keys.access_key, pool, args))
        # The no-JavaScript holder: a complaint filed through the form, its receipt typed in the form.
        results["no_js"] = asyncio.run(_flood_form(base, words, args))
        results["argon2id"] = {"opslimit": params.opslimit, "memlimit_mib": params.memlimit // 2**20}
    finally:
        pool.shutdown(cancel_futures=True)
        server.stop()
    return results


async def _holder_and_health(
    base: str, look_up: Callable[[httpx.AsyncClient], Awaitable[tuple[int, int]]], seconds: float, *, ok: int = 200
) -> tuple[dict[str, Any], dict[str, Any]]:
    outcomes: list[tuple[int, float, int]] = []
    health: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        deadline = time.perf_counter() + seconds

        async def holder() -> None:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                status, bits = await look_up(client)
                outcomes.append((status, time.perf_counter() - t, bits))
                await asyncio.sleep(2.0)

        async def probe() -> None:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                await client.get("/api/v1/health")
                health.append((time.perf_counter() - t) * 1000)
                await asyncio.sleep(0.5)

        await asyncio.gather(holder(), probe())
    succeeded = [o for o in outcomes if o[0] == ok]
    return (
        {
            "tries": len(outcomes),
            "succeeded": len(succeeded),
            "statuses": sorted({o[0] for o in outcomes}),
            "p50_s": round(pct([o[1] for o in outcomes], 50), 2),
            "max_s": round(max((o[1] for o in outcomes), default=0), 2),
            "bits_paid_max": max((o[2] for o in outcomes), default=0),
        },
        {"p50_ms": round(pct(health, 50)), "max_ms": round(max(health, default=0))},
    )


async def _flood_browser(
    base: str, holder_key: bytes, pool: ProcessPoolExecutor, args: argparse.Namespace
) -> dict[str, Any]:
    from assay.complaints import crypto

    loop = asyncio.get_running_loop()
    attack: dict[str, Any] = {"sent": 0, "statuses": {}, "bits": []}

    async def paid_lookup(client: httpx.AsyncClient, key: bytes, in_pool: bool) -> tuple[int, int]:
        try:
            c = (await client.post("/api/v1/complaints/challenge", params={"purpose": "lookup"})).json()
            nonce = await loop.run_in_executor(pool if in_pool else None, _solve, c["challenge"])
            r = await client.post(
                "/api/v1/complaints/lookup",
                json={"access_key": crypto.b64(key), "pow": {"challenge": c["challenge"], "nonce": nonce}},
            )
        except httpx.TransportError:
            return 0, 0  # a dropped connection: counted as a failure (status 0)
        return r.status_code, int(c["bits"])

    stop = time.perf_counter() + args.lockout_seconds
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def attacker(i: int) -> None:
            rng = random.Random(i)
            while time.perf_counter() < stop:
                status, bits = await paid_lookup(client, rng.randbytes(32), True)
                attack["sent"] += 1
                attack["statuses"][status] = attack["statuses"].get(status, 0) + 1
                attack["bits"].append(bits)

        holder_task = _holder_and_health(base, lambda c: paid_lookup(c, holder_key, False), args.lockout_seconds)
        flood = (attacker(i) for i in range(args.attacker_connections))
        (holder, health), *_ = await asyncio.gather(holder_task, *flood)
    bits = attack.pop("bits")
    attack["per_minute"] = round(attack["sent"] / args.lockout_seconds * 60)
    attack["bits_max"] = max(bits, default=0)
    return {"holder": holder, "attacker": attack, "health": health}


async def _flood_form(base: str, words: str, args: argparse.Namespace) -> dict[str, Any]:
    # A no-JavaScript holder: file through the form, keep the receipt's words from the answer page.
    import re

    from assay.complaints import crypto

    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        systems = (await client.get("/api/v1/systems")).json()
        sid = systems["items"][0]["id"] if "items" in systems else systems["systems"][0]["id"]
        page = (await client.get(f"/systems/{sid}/complaints/new")).text
        token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
        filed = await client.post("/complaints", data={"system_id": sid, "form_token": token, "what": "bench"})
        section = filed.text.split('id="receipt-words"', 1)[1].split("</ol>", 1)[0]
        holder_words = " ".join(re.findall(r"<li>([a-z]+)</li>", section))
    attack: dict[str, Any] = {"sent": 0, "statuses": {}}
    stop = time.perf_counter() + args.lockout_seconds

    async def follow_up(client: httpx.AsyncClient, receipt: str) -> tuple[int, int]:
        try:
            r = await client.post("/complaints/follow-up", data={"receipt": receipt})
        except httpx.TransportError:
            return 0, 0  # a dropped connection: counted as a failure (status 0)
        return r.status_code, 0

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=200)) as client:

        async def attacker() -> None:
            while time.perf_counter() < stop:
                status, _ = await follow_up(client, crypto.new_receipt()[0])
                attack["sent"] += 1
                attack["statuses"][status] = attack["statuses"].get(status, 0) + 1

        holder_task = _holder_and_health(base, lambda c: follow_up(c, holder_words), args.lockout_seconds)
        (holder, health), *_ = await asyncio.gather(holder_task, *(attacker() for _ in range(args.form_attackers)))
    attack["per_minute"] = round(attack["sent"] / args.lockout_seconds * 60)
    return {"holder": holder, "attacker": attack, "health": health, "concurrent_attackers": args.form_attackers}


# ------------------------------------------------------------------------------------------------ 4. filing


def filing_part(args: argparse.Namespace, pg: str, tmp: Path) -> dict[str, Any]:
    """An honest complainant files every 2 s while an attacker floods filings: through the browser API (paying
    whatever proof of work the register asks, with ``--attackers`` solving processes) and through the
    no-JavaScript form (``--form-attackers`` connections, a fresh form token for each). 2-worker server,
    production parameters."""
    tree = args.filing_tree or ROOT
    env, doc = _complaints_register(pg, tmp, "filing", tree)
    server = Server(env, 2, tree=tree)
    results: dict[str, Any] = {}
    attacker_pool = ProcessPoolExecutor(max_workers=args.attackers)
    honest_pool = ProcessPoolExecutor(max_workers=1)  # the honest browser's own CPU
    try:
        info = httpx.get(server.base + "/api/v1/complaints/channel", timeout=30).json()
        results["browser"] = asyncio.run(
            _flood_filing_browser(server.base, info, doc["system"]["id"], attacker_pool, honest_pool, args)
        )
        results["no_js"] = asyncio.run(_flood_filing_form(server.base, doc["system"]["id"], args))
        results["per_hour"] = int(env.get("ASSAY_COMPLAINTS_PER_HOUR", "300"))
    finally:
        attacker_pool.shutdown(cancel_futures=True)
        honest_pool.shutdown(cancel_futures=True)
        server.stop()
    return results


def _sealed_filing(info: dict[str, Any], system_id: str) -> dict[str, Any]:
    """A complaint as the browser sends it, minus the proof of work: sealed to the body's key, fresh receipt
    keys (random: the server cannot tell them from derived ones, and the bench spares the Argon2id)."""
    from nacl.public import PrivateKey

    from assay.complaints import crypto

    public = crypto.b64decode(info["key"]["public_key"])
    sealed = crypto.seal(
        crypto.pack_complaint(crypto.ComplaintContent(fields={"what": "bench"}, system_id=system_id)), public
    )
    return {
        "system_id": system_id,
        "key_id": info["key"]["key_id"],
        "ciphertext": crypto.b64(sealed),
        "access_key": crypto.b64(os.urandom(32)),
        "reply_public_key": crypto.b64(bytes(PrivateKey.generate().public_key)),
    }


async def _flood_filing_browser(
    base: str,
    info: dict[str, Any],
    system_id: str,
    attacker_pool: ProcessPoolExecutor,
    honest_pool: ProcessPoolExecutor,
    args: argparse.Namespace,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    attack: dict[str, Any] = {"sent": 0, "statuses": {}, "bits": []}

    async def file(client: httpx.AsyncClient, pool: ProcessPoolExecutor) -> tuple[int, int]:
        try:
            c = (await client.post("/api/v1/complaints/challenge")).json()
            nonce = await loop.run_in_executor(pool, _solve, c["challenge"])
            body = {**_sealed_filing(info, system_id), "pow": {"challenge": c["challenge"], "nonce": nonce}}
            r = await client.post("/api/v1/complaints", json=body)
        except httpx.TransportError:
            return 0, 0
        return r.status_code, int(c["bits"])

    start = time.perf_counter()
    stop = start + args.flood_lead + args.filing_seconds
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:

        async def attacker() -> None:
            while time.perf_counter() < stop:
                status, bits = await file(client, attacker_pool)
                attack["sent"] += 1
                attack["statuses"][status] = attack["statuses"].get(status, 0) + 1
                attack["bits"].append(bits)

        flood = [asyncio.ensure_future(attacker()) for _ in range(args.attacker_connections)]
        holder, health = await _after(
            args.flood_lead, _holder_and_health(base, lambda c: file(c, honest_pool), args.filing_seconds, ok=201)
        )
        minutes = (time.perf_counter() - start) / 60
        # Proofs still queued for the attacker's solvers would take minutes at the top price: drop them.
        for task in flood:
            task.cancel()
        await asyncio.gather(*flood, return_exceptions=True)
    bits = attack.pop("bits")
    attack["per_minute"] = round(attack["sent"] / minutes)
    attack["accepted_per_minute"] = round(attack["statuses"].get(201, 0) / minutes)
    attack["bits_max"] = max(bits, default=0)
    return {"holder": holder, "attacker": attack, "health": health}


async def _after(seconds: float, work: Awaitable[Any]) -> Any:
    """``work`` once the flood has run ``seconds`` (so the honest one meets it at full strength)."""
    await asyncio.sleep(seconds)
    return await work


async def _flood_filing_form(base: str, system_id: str, args: argparse.Namespace) -> dict[str, Any]:
    import re

    attack: dict[str, Any] = {"sent": 0, "statuses": {}}

    async def file(client: httpx.AsyncClient) -> tuple[int, int]:
        try:
            page = (await client.get(f"/systems/{system_id}/complaints/new")).text
            token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
            r = await client.post("/complaints", data={"system_id": system_id, "form_token": token, "what": "bench"})
        except httpx.TransportError:
            return 0, 0
        return r.status_code, 0

    start = time.perf_counter()
    stop = start + args.flood_lead + args.filing_seconds
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=200)) as client:

        async def attacker() -> None:
            while time.perf_counter() < stop:
                status, _ = await file(client)
                attack["sent"] += 1
                attack["statuses"][status] = attack["statuses"].get(status, 0) + 1

        honest = _after(args.flood_lead, _holder_and_health(base, file, args.filing_seconds))
        (holder, health), *_ = await asyncio.gather(honest, *(attacker() for _ in range(args.form_attackers)))
    minutes = (time.perf_counter() - start) / 60
    attack["per_minute"] = round(attack["sent"] / minutes)
    attack["accepted_per_minute"] = round(attack["statuses"].get(200, 0) / minutes)
    return {"holder": holder, "attacker": attack, "health": health, "concurrent_attackers": args.form_attackers}


# ------------------------------------------------------------------------------------------------ report


def workers_markdown(w: dict[str, Any], args: argparse.Namespace) -> list[str]:
    base = w.get("baseline") or {}
    commit = base.get("commit", "")
    lines = [
        "## 1. The code when issue 10 was filed, one worker and four (PostgreSQL)",
        "",
        f"{w['systems']:,} generated systems plus the example image generator; {w['images']} 2-megapixel JPEGs, "
        f"half marked by the register. {args.clients} concurrent clients per load for {args.seconds:g} s each, the "
        "same load generator for every server; rounds in the order shown (the second round in reverse order)."
        + (
            f" **Baseline**: the code at `{commit}` (main when issue 10 was filed) served as it was then, one "
            "process (`assay serve`; it had no `--workers`), from a `git archive` of that commit with the same "
            "virtualenv, on its own PostgreSQL database on the same server, prepared by its own functions "
            "(`bench/scale/old_tree_prepare.py`: its `bench.register.data.load` with the same seed and size, its "
            "`mark_images` on the same originals). **Current**: `assay serve --workers N` of this tree."
            if commit
            else ""
        ),
        "",
        "| round | code | workers | load | req/s | p50 ms | p99 ms | errors | server CPU ms/request | server cores "
        "used | client cores used | machine busy | load avg before → after |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in w["rounds"]:
        code = f"baseline `{commit}`" if r.get("code") == "baseline" else "current"
        for kind, label in (("search", "`GET /api/v1/systems?q=`"), ("check", "`POST /api/v1/check`")):
            x = r[kind]
            lines.append(
                f"| {r['round']} | {code} | {r['workers']} | {label} | {x['rps']} | {x['p50_ms']} | {x['p99_ms']} | "
                f"{x['errors']} | {x['server_cpu_ms_per_request']} | {x['server_cores_used']} | "
                f"{x.get('client_cores_used', '–')} | {x['machine_busy_pct']}% | {r['load_before']} → "
                f"{r['load_after']} |"
            )
    by: dict[tuple[str, str], list[float]] = {}
    for r in w["rounds"]:
        who = "baseline" if r.get("code") == "baseline" else f"w{r['workers']}"
        for kind in ("search", "check"):
            by.setdefault((kind, who), []).append(r[kind]["rps"])

    def mean(kind: str, who: str) -> float | None:
        v = by.get((kind, who))
        return sum(v) / len(v) if v else None

    lo, hi = f"w{min(args.workers)}", f"w{max(args.workers)}"
    ratios = []
    for kind in ("search", "check"):
        parts = []
        if mean(kind, "baseline") and mean(kind, hi):
            parts.append(
                f"current {max(args.workers)} workers / baseline one process = "
                f"**{mean(kind, hi) / mean(kind, 'baseline'):.2f}×**"  # type: ignore[operator]
            )
        if mean(kind, "baseline") and mean(kind, lo):
            parts.append(
                f"current {min(args.workers)} worker / baseline = {mean(kind, lo) / mean(kind, 'baseline'):.2f}×"  # type: ignore[operator]
            )
        if mean(kind, lo) and mean(kind, hi) and lo != hi:
            parts.append(
                f"current {max(args.workers)} workers / {min(args.workers)} = {mean(kind, hi) / mean(kind, lo):.2f}×"  # type: ignore[operator]
            )
        if parts:
            ratios.append(f"- {kind}: " + "; ".join(parts) + " (means of the rounds' req/s)")
    verdicts = sorted({f"{r.get('code', 'current')}: {', '.join(r.get('verdicts', []))}" for r in w["rounds"]})
    lines += [
        "",
        "Throughput ratios:",
        "",
        *ratios,
        "",
        "Verdicts on the checked files, per code: " + "; ".join(verdicts) + ".",
        "",
    ]
    cpu = {k: [r[k]["server_cpu_ms_per_request"] for r in w["rounds"]] for k in ("search", "check")}
    busy = [r[k]["machine_busy_pct"] for r in w["rounds"] for k in ("search", "check")]
    lines += [
        f"Reading it: throughput is the cores the server gets divided by a request's CPU cost (search "
        f"{min(cpu['search'])}–{max(cpu['search'])} ms, check {min(cpu['check'])}–{max(cpu['check'])} ms of server "
        f"CPU across the rows), and p50 under a closed loop is the clients divided by the throughput (Little's "
        f"law). The machine was {min(busy)}–{max(busy)}% busy during the loads (the servers, the load generator "
        "and other people's work). One process is held to about one core by the GIL; four workers can use both "
        "cores, no more: on 2 cores, going from one process to four can at best double throughput, so a 3× "
        "over the baseline has to come from a cheaper request (the baseline's own CPU ms/request against the "
        "current's, in the table).",
        "",
    ]
    return lines


def markdown(res: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "# Scale benchmark results",
        "",
        f"Run on {res['when']} with `python -m bench.scale {' '.join(res['argv'])}`: {os.cpu_count()} cores "
        f"shared with other work, Python {sys.version.split()[0]}, PostgreSQL. Load average (1, 5, 15 min) at "
        f"the start {res['load_start']}, at the end {res['load_end']}. The load generator (asyncio + httpx) "
        "runs on the same cores. Figures are from this one run: compare the rows with each other, not with "
        "another machine.",
        "",
    ]
    w = res.get("workers")
    if w:
        lines += workers_markdown(w, args)
    m = res.get("machines")
    if m:
        lines += [
            "## 2. Two machines, one database, one bucket",
            "",
            "Two data folders (B holding copies of A's secrets), one PostgreSQL database, one bucket on an S3 "
            "server (moto's, in its own process); each machine `assay serve --workers 2`. Register events were "
            f"written through each machine in turn ({m['events_written']} log entries), then the integrator's "
            f"leader was killed (SIGKILL, process group) and 25 entries recorded: the other machine took the lease "
            f"and integrated them in {m['failover_seconds']} s (tree size {m['size_after_failover']} of "
            f"{m['entries_sequenced']} sequenced; leader replaced: {m['leader_replaced']}). Both machines serve the "
            f"same checkpoint: {m['same_checkpoint']}. The database's tiles location: `{m['tiles_dir_in_database']}`.",
            "",
            "| `assay log verify` | tree size | root hash |",
            "|---|---:|---|",
        ]
        for v in m["verify"]:
            lines.append(f"| {v['machine']} | {v['tree_size']} | `{v['root'][:16]}…` |")
        lines.append("")
    lo = res.get("lockout")
    if lo:
        b, f = lo["browser"], lo["no_js"]
        lines += [
            "## 3. The receipt lock-out attack (issue 10, item 4)",
            "",
            f"A holder looks their complaint up every 2 s for {args.lockout_seconds:g} s while an attacker floods "
            f"look-ups with random receipts; `assay serve --workers 2`, production parameters (Argon2id "
            f"{lo['argon2id']['opslimit']} passes, {lo['argon2id']['memlimit_mib']} MiB; look-ups 12 bits quiet, "
            "60 free a minute). Before the fix, 64 look-ups emptied the shared bucket and one every 12 s kept it "
            "empty: the holder's success rate was 0%.",
            "",
            "| path | attacker | attacker look-ups/min | holder: succeeded / tries | holder p50 s | holder max s | "
            "PoW bits paid (holder max) | health p50 / max ms |",
            "|---|---|---:|---:|---:|---:|---:|---|",
            f"| browser API | {args.attacker_connections} connections, {args.attackers} processes solving the "
            "priced proof of work | "
            f"{b['attacker']['per_minute']} (price reached {b['attacker']['bits_max']} bits) | "
            f"{b['holder']['succeeded']} / {b['holder']['tries']} | {b['holder']['p50_s']} | {b['holder']['max_s']} | "
            f"{b['holder']['bits_paid_max']} | {b['health']['p50_ms']} / {b['health']['max_ms']} |",
            f"| no-JavaScript form | {f['concurrent_attackers']} concurrent connections, random receipts | "
            f"{f['attacker']['per_minute']} | {f['holder']['succeeded']} / {f['holder']['tries']} | "
            f"{f['holder']['p50_s']} | {f['holder']['max_s']} | – | "
            f"{f['health']['p50_ms']} / {f['health']['max_ms']} |",
            "",
            f"Answers to the attacker: browser {b['attacker']['statuses']}, form {f['attacker']['statuses']}; to the "
            f"holder: browser {b['holder']['statuses']}, form {f['holder']['statuses']}.",
            "",
        ]
    fi = res.get("filing")
    if fi:
        lines += filing_markdown(fi, args, res.get("filing_before"))
    return "\n".join(lines) + "\n"


def filing_markdown(fi: dict[str, Any], args: argparse.Namespace, before: dict[str, Any] | None) -> list[str]:
    lines = [
        "## 4. Filing a complaint under a flood (issue 10, item 4, second half)",
        "",
        f"An attacker floods filings for {args.flood_lead:g} s, then an honest complainant files a complaint every "
        f"2 s (after the last one is answered) for {args.filing_seconds:g} s more (through the browser API, "
        "paying the proof of work the register asks, on a CPU of its own; or through the no-JavaScript form) while "
        "an attacker floods filings the same way; `assay serve --workers 2`, production parameters "
        f"(`ASSAY_COMPLAINTS_POW_BITS` 18, `ASSAY_COMPLAINTS_PER_HOUR` {fi.get('per_hour', 300)}).",
        "",
        "| code | path | attacker | attacker filings/min (accepted) | honest: succeeded / tries | honest p50 s | "
        "honest max s | PoW bits (attacker max / honest max) | health p50 / max ms |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    before_label = f"before the fix (`{before.get('commit', '?')}`)" if before else ""
    for label, run in ((before_label, before), ("now", fi)):
        if not run:
            continue
        b, f = run["browser"], run["no_js"]
        lines += [
            f"| {label} | browser API | {args.attacker_connections} connections, {args.attackers} solving processes | "
            f"{b['attacker']['per_minute']} ({b['attacker']['accepted_per_minute']}) | {b['holder']['succeeded']} / "
            f"{b['holder']['tries']} | {b['holder']['p50_s']} | {b['holder']['max_s']} | "
            f"{b['attacker']['bits_max']} / {b['holder']['bits_paid_max']} | "
            f"{b['health']['p50_ms']} / {b['health']['max_ms']} |",
            f"| {label} | no-JavaScript form | {f['concurrent_attackers']} connections, a fresh form each | "
            f"{f['attacker']['per_minute']} ({f['attacker']['accepted_per_minute']}) | {f['holder']['succeeded']} / "
            f"{f['holder']['tries']} | {f['holder']['p50_s']} | {f['holder']['max_s']} | – | "
            f"{f['health']['p50_ms']} / {f['health']['max_ms']} |",
        ]
    lines.append("")
    if before:
        lines += [
            f"The rows before the fix are from `python -m bench.scale {' '.join(before.get('argv', []))}` on "
            f"{before.get('when')} (load average {before.get('load_start')} → {before.get('load_end')}), the server "
            f"a `git archive` of `{before.get('commit')}`: complaints then took a token from a bucket shared by "
            "everyone (300 an hour, bursts of 75), one for the browser and one for forms.",
            "",
        ]
    for label, run in (("before the fix", before), ("now", fi)):
        if run:
            b, f = run["browser"], run["no_js"]
            lines.append(
                f"Answers {label}: to the attacker, browser {b['attacker']['statuses']}, form "
                f"{f['attacker']['statuses']}; to the honest complainant, browser {b['holder']['statuses']}, form "
                f"{f['holder']['statuses']}."
            )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", type=int, default=5000)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--client-procs", type=int, default=4, help="load-generating processes sharing the clients")
    ap.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    ap.add_argument(
        "--baseline",
        default="8d59738",
        help="commit served as one process beside the current code (main when issue 10 was filed); '' for none",
    )
    ap.add_argument("--attackers", type=int, default=2, help="processes solving proofs of work for the attacker")
    ap.add_argument("--attacker-connections", type=int, default=32, help="concurrent browser-API flood connections")
    ap.add_argument("--form-attackers", type=int, default=50, help="concurrent no-JavaScript flood connections")
    ap.add_argument("--lockout-seconds", type=float, default=40)
    ap.add_argument("--filing-seconds", type=float, default=90, help="how long the honest complainant tries")
    ap.add_argument("--flood-lead", type=float, default=20, help="filing floods run this long before the honest one")
    ap.add_argument(
        "--filing-tree",
        type=Path,
        default=None,
        help="serve part 4 from another checkout (FILING-BEFORE.json: a git archive of the commit before the fix)",
    )
    ap.add_argument("--parts", default="workers,machines,lockout,filing")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument(
        "--filing-before",
        type=Path,
        default=HERE / "FILING-BEFORE.json",
        help="part 4 as measured before the fix (a RESULTS.json of that run), shown beside this run's",
    )
    args = ap.parse_args(argv)
    pg = os.environ.get("ASSAY_BENCH_POSTGRES_URL") or os.environ.get("ASSAY_TEST_POSTGRES_URL")
    if not pg:
        sys.exit("set ASSAY_BENCH_POSTGRES_URL to a PostgreSQL server where the benchmark may create databases")
    parts = set(args.parts.split(","))
    res: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "argv": argv,
        "load_start": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="assay-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        if "workers" in parts:
            res["workers"] = workers_part(args, pg, tmp)
        if "machines" in parts:
            print("== two machines", file=sys.stderr, flush=True)
            res["machines"] = two_machines_part(args, pg, tmp)
            print(f"   {json.dumps(res['machines'])}", file=sys.stderr, flush=True)
        if "lockout" in parts:
            print("== lock-out", file=sys.stderr, flush=True)
            res["lockout"] = lockout_part(args, pg, tmp)
            print(f"   {json.dumps(res['lockout'])}", file=sys.stderr, flush=True)
        if "filing" in parts:
            print("== filing under a flood", file=sys.stderr, flush=True)
            res["filing"] = filing_part(args, pg, tmp)
            print(f"   {json.dumps(res['filing'])}", file=sys.stderr, flush=True)
    res["load_end"] = load_average()
    if "filing" in res and args.filing_before.exists():
        res["filing_before"] = json.loads(args.filing_before.read_text())
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    args.out.write_text(markdown(res, args))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
