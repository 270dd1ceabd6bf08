"""The check in two halves: examine() is pure (no database, no CA private key, nothing created), resolve_many()
resolves a whole batch in one query, and verify_verdict() checks a verdict against the log offline."""

from __future__ import annotations

import os
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

from assay.config import Config
from assay.db import Database
from assay.errors import VerificationError
from assay.provenance import VerifierMaterial, examine, resolve, resolve_many, verify_verdict
from assay.provenance.checking import check_media
from assay.provenance.marking import mark_images
from assay.transparency import integrate, verifier_key

from .conftest import OPERATOR, Register, encode, synthetic_pixels


@contextmanager
def statements(db: Database):  # type: ignore[no-untyped-def]
    """Every SQL query the database runs inside the block (transaction control aside)."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SET ", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _marked(reg: Register, n: int, seed: int = 200) -> list[bytes]:
    results = mark_images(
        reg.db,
        reg.env,
        images=[encode(synthetic_pixels(seed + i, 400, 300), "JPEG") for i in range(n)],
        system_id="acme-imagegen",
        principal=OPERATOR,
    )
    integrate(reg.db, reg.config)
    return [r.data for r in results]


def _examine_in_worker(args: tuple[bytes, VerifierMaterial]) -> object:
    data, material = args
    return examine(data, material, name="w.jpg")


def test_examine_touches_no_database_and_no_private_key(sqlite_register: Register, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg = sqlite_register
    [data] = _marked(reg, 1)
    material = VerifierMaterial.from_register(reg.db, reg.config)
    # The material holds no signing key: opening the CA (which loads its private key) is never needed.
    import assay.provenance.ca as ca

    def no_ca(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("the check opened the certificate authority")

    monkeypatch.setattr(ca.CertificateAuthority, "open", no_ca)
    key_file = reg.config.data_dir / "provenance" / "ca" / "intermediate.key.pem"
    key_file.rename(key_file.with_suffix(".moved"))
    assert "PRIVATE KEY" not in repr(pickle.loads(pickle.dumps(material)))
    with statements(reg.db) as seen:
        evidence = examine(data, material, name="a.jpg")
    assert seen == []  # not one statement
    assert evidence.watermark_mark is not None and evidence.manifest.state == "trusted"
    assert evidence.signer is not None and evidence.signer.provider_id == "acme"
    # Material and evidence cross process boundaries: a worker examining the same bytes finds the same.
    with ProcessPoolExecutor(max_workers=1) as pool:
        remote = pool.submit(_examine_in_worker, (data, material)).result()
    assert remote.watermark_mark == evidence.watermark_mark and remote.sha256 == evidence.sha256
    # And the verdict is the one check_media gives (which now takes the same path).
    single = check_media(reg.db, reg.config, data, name="a.jpg")
    assert resolve(evidence, reg.db, reg.config).as_dict() == single.as_dict()


def test_material_of_a_fresh_folder_is_empty_and_creates_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "fresh", public_url="http://testserver")
    material = VerifierMaterial.from_register(sqlite_db, config)
    assert material.watermark_keys == () and material.anchors_pem == b""
    assert not (tmp_path / "fresh").exists()  # no CA, no keys, no folder made by checking
    evidence = examine(encode(synthetic_pixels(5, 300, 300), "PNG"), material)
    assert resolve(evidence, sqlite_db, config).status == "no_mark"
    assert not (tmp_path / "fresh").exists()


def _timeless(verdict: dict) -> dict:  # type: ignore[type-arg]
    """A verdict without its share link, which carries the minute it was made (and a signature over it)."""
    return {k: v for k, v in verdict.items() if k != "share_url"}


def test_a_batch_is_resolved_with_one_query(register: Register) -> None:
    reg = register
    marked = _marked(reg, 3)
    plain = [encode(synthetic_pixels(300 + i, 400, 300), "JPEG") for i in range(2)]
    material = VerifierMaterial.from_register(reg.db, reg.config)
    evidences = [examine(d, material, name=f"f{i}") for i, d in enumerate(marked + plain)]
    with statements(reg.db) as one:
        [single] = resolve_many(evidences[:1], reg.db, reg.config)
    with statements(reg.db) as batch:
        verdicts = resolve_many(evidences, reg.db, reg.config)
    with statements(reg.db) as none:
        unmarked = resolve_many(evidences[3:], reg.db, reg.config)
    assert len(one) == len(batch) == 1, batch  # marks, systems, providers, versions, log entries and head at once
    assert none == []
    assert [v.status for v in verdicts] == ["marked"] * 3 + ["no_mark"] * 2
    assert [v.status for v in unmarked] == ["no_mark"] * 2
    assert _timeless(single.as_dict()) == _timeless(verdicts[0].as_dict())
    # Each one's log proof came with it, from the tiles, and verifies offline.
    vkey = verifier_key(reg.db)
    assert all(verify_verdict(v, log_key=vkey).body["mark"] == v.mark_id for v in verdicts[:3])
    # The same answers as one file at a time.
    for data, v in zip(marked + plain, verdicts, strict=True):
        assert _timeless(check_media(reg.db, reg.config, data, name=v.name).as_dict()) == _timeless(v.as_dict())


def test_verify_verdict_fails_closed(sqlite_register: Register) -> None:
    from assay.tlog import Signer

    reg = sqlite_register
    [data] = _marked(reg, 1, seed=400)
    v = check_media(reg.db, reg.config, data).as_dict()
    vkey = verifier_key(reg.db)
    inclusion = verify_verdict(v, log_key=vkey)
    assert inclusion.index == v["log"]["index"] and inclusion.body["system"] == "acme-imagegen"

    def fails(verdict: dict, key: str = vkey) -> str:  # type: ignore[type-arg]
        with pytest.raises(VerificationError) as exc:
            verify_verdict(verdict, log_key=key)
        return exc.value.message

    assert "log entry says 'acme-imagegen'" in fails(v | {"system": dict(v["system"], id="other-gen")})
    assert "log entry says 'acme'" in fails(v | {"provider": dict(v["provider"], id="other")})
    assert "sha256" in fails(v | {"record": dict(v["record"], sha256="0" * 64)})
    assert "not this mark's" in fails(v | {"mark_id": "0" * 16})
    assert "no transparency-log entry" in fails(v | {"log": None})
    assert fails(v | {"log": dict(v["log"], proof=None)})
    assert fails(v, Signer.generate("other.example/log").vkey)  # another log's key


def test_checking_a_copied_data_folder_without_the_ca_key(sqlite_register: Register, tmp_path: Path) -> None:
    """What a checking-only host holds: the data folder without any private key of the CA."""
    reg = sqlite_register
    [data] = _marked(reg, 1, seed=500)
    copy = tmp_path / "checker"
    shutil.copytree(reg.config.data_dir, copy)
    for key in (copy / "provenance" / "ca").glob("*.key.pem"):
        os.remove(key)
    config = Config(data_dir=copy, public_url="http://testserver")
    db = Database(f"sqlite:///{copy / 'assay.db'}")
    try:
        v = check_media(db, config, data)
    finally:
        db.dispose()
    assert v.status == "marked" and v.manifest.state == "trusted"
    assert not list((copy / "provenance" / "ca").glob("*.key.pem"))  # nothing recreated


def test_the_documented_batch_example_runs(sqlite_register: Register, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import re

    from assay.provenance.demo import load_demo

    reg = sqlite_register
    load_demo(reg.db, reg.config)
    integrate(reg.db, reg.config)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "provenance.md").read_text()
    [example] = [b for b in re.findall(r"```python\n(.*?)```", docs, re.S) if "resolve_many(" in b]
    monkeypatch.setenv("ASSAY_DATA_DIR", str(reg.config.data_dir))
    monkeypatch.setenv("ASSAY_PUBLIC_URL", "http://testserver")
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
    exec(compile(example, "docs/provenance.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("marked ") for line in lines) == 4 and any("no_mark" in line for line in lines)


def test_two_registers_in_one_process_keep_their_own_legacy_keys() -> None:
    """Found by the full suite: the key-ring cache was keyed by key ids, and the legacy key's id is the same in
    every register, so a second register in the same process detected with the first one's key."""
    from assay import watermark
    from assay.provenance.evidence import _detect
    from assay.provenance.keys import LEGACY_ALGORITHM, LEGACY_KEY_ID, WatermarkKey

    first, second = bytes(range(32)), bytes(range(1, 33))
    pixels = watermark._embed_legacy(synthetic_pixels(700, 320, 320), 0xABCDEF, key=second)
    _detect(pixels, (WatermarkKey(LEGACY_KEY_ID, first, LEGACY_ALGORITHM),))
    facts, mark, _ = _detect(pixels, (WatermarkKey(LEGACY_KEY_ID, second, LEGACY_ALGORITHM),))
    assert facts.found and mark is not None and mark.payload == 0xABCDEF
