"""Fixtures of the complaints tests: a registered system, the body's key, fast parameters for tests.

Test-only parameters (named here, never defaults): Argon2id at 8 MiB and one pass, a 6-bit proof of work (4 bits
for receipt look-ups).
The production defaults are exercised by the benchmark (python -m bench.complaints.run).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import yaml

from assay.complaints import crypto, keyfile, service
from assay.complaints.keyfile import KeyFileKdf
from assay.config import Config
from assay.db import Database

EXAMPLE = Path(__file__).parents[2] / "assay" / "register" / "examples" / "acme-imagegen.yaml"
FAST_KEY_FILE_KDF = KeyFileKdf(opslimit=1, memlimit=8 * 1024 * 1024)
PASSPHRASE = "a long passphrase for tests"  # the same as test_cli.PASSPHRASE


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(
        data_dir=tmp_path / "data",
        public_url="http://testserver",
        complaints_pow_bits=6,
        complaints_lookup_pow_bits=4,
        complaints_kdf_memlimit=8 * 1024 * 1024,
        complaints_kdf_opslimit=1,
        complaints_per_hour=10_000,
        complaints_max_bytes=3_000_000,
    )


def publish_example_system(db: Database) -> str:
    """Registers the example provider and system through the register's own service; returns the system id."""
    from assay.register.access import Principal
    from assay.register.service import add_provider, publish

    doc = yaml.safe_load(EXAMPLE.read_text())
    operator = Principal.local_operator()
    with db.write() as session:
        add_provider(session, id=doc["provider"]["id"], name=doc["provider"]["legal_name"], principal=operator)
        view = publish(session, doc, principal=operator)
    return view.id


@pytest.fixture
def system_id(sqlite_db: Database) -> str:
    return publish_example_system(sqlite_db)


@pytest.fixture
def body_key(sqlite_db: Database) -> tuple[bytes, bytes, str]:
    """The oversight body's key pair, with the public half published (as 'assay complaints publish-key' does)."""
    private, public = crypto.generate_body_key()
    with sqlite_db.write() as session:
        view = service.publish_key(session, public, today=date.today())
    return private, public, view.key_id


@pytest.fixture
def key_file(tmp_path: Path, body_key: tuple[bytes, bytes, str]) -> Path:
    path = tmp_path / "offline" / "body.key.json"
    keyfile.write_key_file(path, body_key[0], PASSPHRASE, kdf=FAST_KEY_FILE_KDF)
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Runs ``assay --data-dir DATA ...`` through the CLI's real entry point (in-process, for speed)."""
    from assay.cli import main

    monkeypatch.setenv("ASSAY_COMPLAINTS_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("ASSAY_COMPLAINTS_SERVER", raising=False)

    def _run(data: Path, *args: str, ok: bool = True) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["assay", "--data-dir", str(data), *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        r = Result(code, out, err)
        if ok:
            assert r.returncode == 0, r.stderr
        else:
            assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
            assert "hint:" in r.stderr and "Traceback" not in r.stderr
        return r

    return _run
