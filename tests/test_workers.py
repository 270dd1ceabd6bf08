"""Many workers: they migrate once, elect one log integrator, see 'ca accept-anchor' without restart, and
'assay serve --workers N' serves from N processes that share the complaint channel's state."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from assay.config import Config
from assay.db import Database

PG_URL = os.environ.get("ASSAY_TEST_POSTGRES_URL", "")

_MIGRATE = (
    "import sys\n"
    "from assay.db import Database\n"
    "db = Database(sys.argv[1])\n"
    "sys.stdin.read()\n"  # start together: every process waits for the same go
    "db.upgrade()\n"
    "print('ok')\n"
)


def _migrate_at_once(url: str, n: int = 4) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    time.sleep(1.5)  # let every process import and connect before the go
    for p in procs:
        p.stdin.close()  # type: ignore[union-attr]  # the go, to all of them before waiting for any
    results = []
    for p in procs:
        out, err = p.stdout.read(), p.stderr.read()  # type: ignore[union-attr]
        p.wait(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def _heads(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_workers_starting_at_once_migrate_an_empty_database_once(engine: str, tmp_path: Path) -> None:
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'assay.db'}"
    else:
        if not PG_URL:
            (pytest.fail if os.environ.get("ASSAY_TEST_REQUIRE_ALL") == "1" else pytest.skip)(
                "PostgreSQL is not available (set ASSAY_TEST_POSTGRES_URL)"
            )
        name = f"assay_mig_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        results = _migrate_at_once(url)
        assert [r.returncode for r in results] == [0] * 4, [r.stderr[-2000:] for r in results]
        from assay.db.migrate import alembic_config

        db = Database(url)
        from alembic.script import ScriptDirectory

        assert _heads(db) == set(ScriptDirectory.from_config(alembic_config(db)).get_heads())
        db.dispose()
    finally:
        if engine == "postgres":
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_one_integrator_holds_the_lease_and_a_dead_one_is_replaced(db: Database, tmp_path: Path) -> None:
    from assay.transparency.integrator import IntegratorLease

    now = [1_000_000.0]
    a = IntegratorLease(db, ttl=10, holder="machine-a:1", clock=lambda: now[0])
    b = IntegratorLease(db, ttl=10, holder="machine-b:7", clock=lambda: now[0])
    assert a.hold() and not b.hold()
    now[0] += 5
    assert a.hold() and not b.hold()  # renewed
    now[0] += 11  # a died: its lease runs out
    assert b.hold() and not a.hold()
    assert b.current()[0] == "machine-b:7"
    b.release()  # a clean shutdown hands over at once
    assert a.hold()


def test_only_the_lease_holder_integrates(sqlite_db: Database, config: Config) -> None:
    from assay.transparency import open_log, record
    from assay.transparency.integrator import BackgroundIntegrator, IntegratorLease

    tlog = open_log(sqlite_db, config)
    leader = BackgroundIntegrator(tlog, lease=IntegratorLease(sqlite_db, holder="leader"))
    follower = BackgroundIntegrator(tlog, lease=IntegratorLease(sqlite_db, holder="follower"))
    assert leader.integrate_if_leader()
    with sqlite_db.write() as s:
        record(s, "system.published", {"system": "x", "version": 1})
    assert not follower.integrate_if_leader() and tlog.head().size == 0
    assert leader.integrate_if_leader() and tlog.head().size == 1


def test_running_servers_see_an_accepted_anchor_without_restart(app, config: Config) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from fastapi.testclient import TestClient

    from assay.provenance.ca import CertificateAuthority

    with TestClient(app) as client:
        before = client.get("/trust/anchors.pem")
        assert before.status_code == 200
        # 'assay ca accept-anchor' in another process: its own CertificateAuthority over the same data folder.
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Provider Root"), _org("Provider")])
        now = dt.datetime.now(dt.UTC)
        root = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        CertificateAuthority.open(config.data_dir, create=False).accept_anchor(root)
        pem = root.public_bytes(serialization.Encoding.PEM)
        deadline = time.monotonic() + 5
        while pem not in client.get("/trust/anchors.pem").content:
            assert time.monotonic() < deadline, "the running app never picked up the accepted anchor"
            time.sleep(0.2)


def _org(value: str):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.NameAttribute(NameOID.ORGANIZATION_NAME, value)


def _workers(pid: int) -> list[int]:
    """The worker processes ``pid`` started (from /proc: its children that multiprocessing spawned as workers,
    not its resource tracker)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            out.append(int(stat.parent.name))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_assay_serve_with_workers_serves_from_several_processes_that_share_the_channel(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "ASSAY_DATA_DIR": str(tmp_path / "data"),
        "ASSAY_PORT": str(port),
        "ASSAY_WORKERS": "3",
        "ASSAY_COMPLAINTS_POW_BITS": "4",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "assay", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.communicate()[1][-3000:]
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        # Requests on new connections land on different workers; each of them knows the same challenges.
        from assay.complaints.abuse import solve

        assert len(_workers(server.pid)) == 3
        challenges = []
        for _ in range(6):
            with httpx.Client(base_url=base, timeout=10) as c:  # a new connection each time
                challenges.append(c.post("/api/v1/complaints/challenge", params={"purpose": "lookup"}).json())
        for c in challenges[:6]:
            body = {"access_key": "A" * 43, "pow": {"challenge": c["challenge"], "nonce": solve(c["challenge"])}}
            with httpx.Client(base_url=base, timeout=10) as client:
                first = client.post("/api/v1/complaints/lookup", json=body)
            with httpx.Client(base_url=base, timeout=10) as client:
                replay = client.post("/api/v1/complaints/lookup", json=body)
            assert first.status_code == 404, first.text  # paid and looked up: no such complaint
            assert replay.status_code == 422 and "used before" in replay.text  # spent, on whichever worker
        checkpoint = httpx.get(f"{base}/log/checkpoint", timeout=10)
        assert checkpoint.status_code == 200
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err[-3000:]
    assert "with 3 workers" in err
