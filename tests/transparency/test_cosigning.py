"""This log collecting witness cosignatures (client side of C2SP tlog-witness), end to end: two Assay apps in
one process, log A configured with witness B (another app that trusts A's key); A's witness requests reach B's
real /witness/add-checkpoint through FastAPI's TestClient. Misbehaving witnesses are httpx transports."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from assay.config import Config
from assay.db import Database
from assay.errors import ConfigError, VerificationError
from assay.tlog import (
    CosignatureSigner,
    NoteSignature,
    open_note,
    parse_note,
    parse_vkey,
    verify_checkpoint,
    verify_proof,
)
from assay.transparency import entry_at, open_log, proof_for, record_many
from assay.transparency.audit import HttpSource, monitor_log, verify_log
from assay.transparency.cosigning import Cosigning
from assay.transparency.keys import load_or_create_signer
from assay.transparency.models import WitnessCosignature, WitnessedLog
from assay.transparency.service import TransparencyLog
from assay.transparency.witness import list_logs, load_or_create_witness_key, trust_log
from assay.web.app import create_app

T = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

WITNESS_URL = "http://b.example/witness/add-checkpoint"


@dataclass
class Pair:
    db_a: Database
    db_b: Database
    config_a: Config
    log_a: TransparencyLog
    a: TestClient  # log A, started (its lifespan runs the background integrator)
    b: TestClient  # witness B
    a_vkey: str
    b_vkey: str

    def served(self) -> str:
        return self.a.get("/log/checkpoint").text

    def cosignatures(self, note: str) -> list[NoteSignature]:
        try:
            return open_note(note, [parse_vkey(self.b_vkey)])[1]
        except VerificationError:
            return []

    def stored(self) -> dict[str, int]:
        with self.db_a.read() as s:
            return {v: int(n) for v, n in s.execute(select(WitnessCosignature.vkey, WitnessCosignature.size))}


def _database(template: Path, folder: Path) -> Database:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / "assay.db")
    return Database(f"sqlite:///{folder / 'assay.db'}")


@pytest.fixture
def pair(tmp_path: Path, _sqlite_template: Path) -> Iterator[Pair]:
    db_a, db_b = _database(_sqlite_template, tmp_path / "a"), _database(_sqlite_template, tmp_path / "b")
    config_b = Config(data_dir=tmp_path / "b", public_url="http://b.example")
    b_vkey = load_or_create_witness_key(config_b).vkey
    config_a = Config(data_dir=tmp_path / "a", public_url="http://a.example", log_witnesses=f"{WITNESS_URL} {b_vkey}\n")
    a_vkey = load_or_create_signer(config_a).vkey
    trust_log(db_b, a_vkey)
    with TestClient(create_app(config_b, db_b, migrate=False), base_url="http://b.example") as b:
        log_a = open_log(db_a, config_a)  # the instance A's app uses
        assert log_a.cosigning is not None
        log_a.cosigning.http = b
        with TestClient(create_app(config_a, db_a, migrate=False), base_url="http://a.example") as a:
            yield Pair(db_a, db_b, config_a, log_a, a, b, a_vkey, b_vkey)
    db_a.dispose()
    db_b.dispose()


def fill(db: Database, n: int, start: int = 0) -> None:
    with db.write() as s:
        record_many(s, [("mark.recorded", {"mark": start + i, "sha256": f"{i:064x}"}) for i in range(n)], time=T)


def settle(pair: Pair) -> int:
    """Integrate now and collect (waiting for a collection the background thread may have under way)."""
    head = pair.log_a.integrate()
    assert pair.log_a.cosigning is not None
    pair.log_a.cosigning.collect(head, force=True)
    return head.size


def test_the_log_collects_serves_and_proves_with_the_witness_cosignature(pair: Pair, tmp_path: Path) -> None:
    fill(pair.db_a, 5)
    assert settle(pair) == 5
    note = pair.served()
    assert verify_checkpoint(note, pair.a_vkey).size == 5  # the log's own signature still verifies
    assert len(parse_note(note).signatures) == 2 and len(pair.cosignatures(note)) == 1
    assert list_logs(pair.db_b)[0]["size"] == 5 and pair.stored() == {pair.b_vkey: 5}
    assert pair.a.get("/api/v1/log").json()["checkpoint"] == note

    # Proofs carry the cosignature: on entry pages and in verdicts (proof_for), verifiable offline.
    for proof in (pair.a.get("/log/entries/3/proof").text, proof_for(pair.db_a, 3)):
        assert proof is not None
        entry = entry_at(pair.db_a, 3)
        assert entry is not None
        cp = verify_proof(proof, entry, pair.a_vkey, witness_keys=[pair.b_vkey], min_witnesses=1)
        assert cp.size == 5
        assert verify_proof(proof, entry, pair.a_vkey).size == 5  # clients that do not ask for witnesses
        other = CosignatureSigner.generate("b.example/witness").vkey
        with pytest.raises(VerificationError, match="0 valid witness cosignatures, 1 are required"):
            verify_proof(proof, entry, pair.a_vkey, witness_keys=[other], min_witnesses=1)
        with pytest.raises(VerificationError, match="1 valid witness cosignatures, 2 are required"):
            verify_proof(proof, entry, pair.a_vkey, witness_keys=[pair.b_vkey, other], min_witnesses=2)

    # The log grows: the witness gets 'old 5' and the consistency proof to 305, and cosigns again.
    fill(pair.db_a, 300, start=5)
    assert settle(pair) == 305
    note = pair.served()
    assert note.split("\n")[1] == "305" and len(pair.cosignatures(note)) == 1
    assert list_logs(pair.db_b)[0]["size"] == 305 and pair.stored() == {pair.b_vkey: 305}
    # Auditors read the cosigned log as before.
    result = verify_log(HttpSource("http://a.example/log", client=pair.a), pair.a_vkey, seen=[note])
    assert result.tree_size == 305
    monitored = monitor_log(HttpSource("http://a.example/log", client=pair.a), tmp_path / "state.json", pair.a_vkey)
    assert monitored.new_size == 305


def test_a_witness_that_lost_its_state_or_is_ahead_of_our_record_answers_409_and_is_retried(pair: Pair) -> None:
    seen: list[tuple[str, int]] = []

    def through(request: httpx.Request) -> httpx.Response:  # to B, noting what was asked and answered
        answer = pair.b.post(str(request.url), content=request.content)
        seen.append((request.content.decode().split("\n", 1)[0], answer.status_code))
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    assert pair.log_a.cosigning is not None
    pair.log_a.cosigning.http = _transport(through)
    fill(pair.db_a, 5)
    settle(pair)
    assert ("old 0", 200) in seen
    # B lost its state (size 0 again): A sends 'old 5', B answers 409 "0", A retries from 0.
    seen.clear()
    with pair.db_b.write() as s:
        s.execute(delete(WitnessedLog))
    trust_log(pair.db_b, pair.a_vkey)
    fill(pair.db_a, 3, start=5)
    assert settle(pair) == 8
    assert {("old 5", 409), ("old 0", 200)} <= set(seen)  # (the background thread may also ask)
    assert list_logs(pair.db_b)[0]["size"] == 8 and len(pair.cosignatures(pair.served())) == 1
    # A lost its record (old 0 sent): B answers 409 "8"; A retries with a proof from 8.
    seen.clear()
    with pair.db_a.write() as s:
        s.execute(delete(WitnessCosignature))
    fill(pair.db_a, 4, start=8)
    assert settle(pair) == 12
    assert {("old 0", 409), ("old 8", 200)} <= set(seen)
    assert list_logs(pair.db_b)[0]["size"] == 12 and pair.stored() == {pair.b_vkey: 12}
    # Same size (A lost its record, B has cosigned this very checkpoint): cosigned again from 12.
    with pair.db_a.write() as s:
        s.execute(delete(WitnessCosignature))
    settle(pair)
    assert pair.stored() == {pair.b_vkey: 12} and len(pair.cosignatures(pair.served())) == 1


def _transport(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    "handler",
    [
        _down,
        _timeout,
        lambda r: httpx.Response(500, text="oops"),
        lambda r: httpx.Response(404, text="no such log"),
        lambda r: httpx.Response(200, text="hello\n"),
        lambda r: httpx.Response(200, content=b"\xff\xfe"),
        lambda r: httpx.Response(200, text=""),
        lambda r: httpx.Response(409, text="garbage", headers={"content-type": "text/x.tlog.size"}),
        lambda r: httpx.Response(409, text="12\n", headers={"content-type": "text/plain"}),
        lambda r: httpx.Response(409, text="99999\n", headers={"content-type": "text/x.tlog.size"}),
        lambda r: httpx.Response(200, content=b"x" * 100_000),
    ],
    ids=[
        "down",
        "timeout",
        "500",
        "404",
        "garbage",
        "not-utf8",
        "empty",
        "409-garbage",
        "409-type",
        "409-ahead",
        "huge",
    ],
)
def test_a_failing_witness_never_stops_the_log(
    pair: Pair, handler: Callable[[httpx.Request], httpx.Response], caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def counting(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return handler(request)

    assert pair.log_a.cosigning is not None
    pair.log_a.cosigning.http = _transport(counting)
    with pair.db_a.write() as s:
        s.execute(delete(WitnessCosignature))
    fill(pair.db_a, 5)
    with caplog.at_level(logging.WARNING, logger="assay.transparency.cosigning"):
        assert settle(pair) == 5
    note = pair.served()
    assert verify_checkpoint(note, pair.a_vkey).size == 5 and pair.cosignatures(note) == []
    assert len(parse_note(note).signatures) == 1 and pair.stored() == {}
    assert "did not cosign size 5" in caplog.text
    assert calls and calls[0].url == WITNESS_URL and calls[0].content.startswith(b"old 0\n\n")
    # The failing witness is left alone for a while, then asked again; once it works, it cosigns.
    count = len(calls)
    pair.log_a.integrate()
    assert len(calls) == count
    pair.log_a.cosigning.http = pair.b
    settle(pair)
    assert len(pair.cosignatures(pair.served())) == 1


def test_forged_or_replayed_cosignatures_are_neither_stored_nor_served(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    fill(pair.db_a, 5)
    settle(pair)
    genuine_5 = pair.cosignatures(pair.served())[0]
    assert pair.log_a.cosigning is not None

    def replaying(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=genuine_5.line())  # B's real cosignature, of another checkpoint

    def forging(request: httpx.Request) -> httpx.Response:
        answer = pair.b.post(str(request.url), content=request.content)  # B cosigns, then the bytes change
        sig = parse_note("x\n\n" + answer.text).signatures[0]
        forged = NoteSignature(sig.name, sig.key_id, sig.signature[:-1] + bytes([sig.signature[-1] ^ 1]))
        return httpx.Response(200, text=forged.line())

    impostor = CosignatureSigner("b.example/witness", Ed25519PrivateKey.generate())  # B's name, other key

    def impersonating(request: httpx.Request) -> httpx.Response:
        text = request.content.decode().split("\n\n", 1)[1]
        return httpx.Response(200, text=impostor.cosign(parse_note(text).text, 1_800_000_000).line())

    size = 5
    for handler in (replaying, forging, impersonating):
        pair.log_a.cosigning.http = _transport(handler)
        fill(pair.db_a, 2, start=size)
        size += 2
        with caplog.at_level(logging.WARNING, logger="assay.transparency.cosigning"):
            assert settle(pair) == size
        assert "not a valid cosignature" in caplog.text
        caplog.clear()
        assert pair.stored() == {pair.b_vkey: 5}  # still the genuine one of size 5 ...
        assert pair.cosignatures(pair.served()) == []  # ... which is not served with the checkpoint of size 7+
    # A stored cosignature that does not verify against the served checkpoint (here: one of size 5 relabelled
    # as the current size) is never served.
    with pair.db_a.write() as s:
        s.execute(update(WitnessCosignature).values(size=size))
    note = pair.served()
    assert note.split("\n")[1] == str(size) and len(parse_note(note).signatures) == 1


def test_witnesses_setting(tmp_path: Path) -> None:
    key = CosignatureSigner.generate("w.example/witness").vkey
    other = CosignatureSigner.generate("v.example/witness").vkey
    config = Config.from_env({"ASSAY_LOG_WITNESSES": f" https://w.example/add {key} ;\n\nhttp://v.example/a {other}"})
    assert config.log_witness_list == (("https://w.example/add", key), ("http://v.example/a", other))
    assert Config().log_witness_list == ()
    log_key = load_or_create_signer(Config(data_dir=tmp_path)).vkey
    for bad in (
        key,
        f"w.example/add {key}",
        f"https://w.example/add {log_key}",
        "https://w.example/add k+1+A",
        f"https://w {key};https://v {key}",
    ):
        with pytest.raises(ConfigError, match="ASSAY_LOG_WITNESSES"):
            Config(log_witnesses=bad).validated()


def test_a_witness_answering_many_cosignature_lines_cannot_make_the_served_checkpoint_unverifiable(pair: Pair) -> None:
    # Two witnesses that each answer with 60 valid cosignatures (other timestamps) of the checkpoint: the note
    # served must stay within what signed-note clients accept (at most 100 signatures), one line per witness.
    signers = [CosignatureSigner.generate(f"w{i}.example/witness") for i in (1, 2)]

    def many(request: httpx.Request) -> httpx.Response:
        signer = signers[0] if "w1" in str(request.url) else signers[1]
        text = parse_note(request.content.decode().split("\n\n", 1)[1]).text
        return httpx.Response(200, text="".join(signer.cosign(text, 1_800_000_000 + i).line() for i in range(60)))

    fill(pair.db_a, 5)
    head = pair.log_a.integrate()
    witnesses = [(f"http://w{i}.example/add", s.vkey) for i, s in zip((1, 2), signers, strict=True)]
    cosigning = Cosigning(pair.db_a, pair.log_a.storage, witnesses, http=_transport(many))
    assert cosigning.collect(head, force=True) == 2
    note = cosigning.note(head)
    assert verify_checkpoint(note, pair.a_vkey).size == 5
    assert len(parse_note(note).signatures) == 3
    for signer in signers:
        assert len(open_note(note, [signer.verifier])[1]) == 1


def test_a_witness_trickling_its_answer_is_given_up_on_after_the_timeout(pair: Pair) -> None:
    class Trickle(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for _ in range(40):
                time.sleep(0.05)
                yield b"x"

    fill(pair.db_a, 5)
    head = pair.log_a.integrate()
    cosigning = Cosigning(
        pair.db_a,
        pair.log_a.storage,
        [("http://slow.example/add", CosignatureSigner.generate("slow.example/witness").vkey)],
        http=_transport(lambda r: httpx.Response(200, stream=Trickle())),
        timeout=0.3,
    )
    started = time.monotonic()
    assert cosigning.collect(head, force=True) == 0
    assert time.monotonic() - started < 1.5  # the whole answer would take 2 s


def test_assay_log_witnesses_shows_what_each_witness_has_cosigned(pair: Pair) -> None:
    import json
    import os
    import subprocess
    import sys

    fill(pair.db_a, 5)
    assert settle(pair) == 5

    def cli(witnesses: str) -> dict:  # type: ignore[type-arg]
        env = dict(
            os.environ,
            ASSAY_DATA_DIR=str(pair.config_a.data_dir),
            ASSAY_DATABASE_URL=str(pair.db_a.engine.url),
            ASSAY_PUBLIC_URL="http://a.example",
            ASSAY_LOG_WITNESSES=witnesses,
        )
        run = subprocess.run(
            [sys.executable, "-m", "assay", "log", "witnesses", "--json"], capture_output=True, text=True, env=env
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    shown = cli(pair.config_a.log_witnesses)
    assert shown["tree_size"] == 5
    [b] = shown["witnesses"]
    assert (b["name"], b["url"], b["configured"], b["cosigned_size"]) == ("b.example/witness", WITNESS_URL, True, 5)
    # A witness no longer configured is still shown (its cosignatures are no longer served); a new one never cosigned.
    new = CosignatureSigner.generate("c.example/witness").vkey
    shown = cli(f"http://c.example/add-checkpoint {new}")
    assert [(w["name"], w["configured"], w["cosigned_size"]) for w in shown["witnesses"]] == [
        ("c.example/witness", True, None),
        ("b.example/witness", False, 5),
    ]
