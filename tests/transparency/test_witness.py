"""This register as a C2SP tlog-witness: every status code of add-checkpoint, and offline proofs that
require its cosignature."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from assay.db import Database
from assay.errors import VerificationError
from assay.tlog import (
    AddCheckpointRequest,
    Checkpoint,
    Signer,
    TlogProof,
    consistency_proof,
    cosignature_timestamp,
    inclusion_proof,
    leaf_hash,
    open_note,
    parse_vkey,
    root_of,
    verify_proof,
)
from assay.tlog._merkle import _memory_reader
from assay.transparency.witness import trust_log

LOG = Signer.generate("other.example/log")
ENTRIES = [f"entry {i}".encode() for i in range(20)]
HASHES = [leaf_hash(e) for e in ENTRIES]


def checkpoint(size: int, signer: Signer = LOG, leaves: list[bytes] = HASHES) -> str:
    cp = Checkpoint("other.example/log", size, root_of(leaves[:size]))
    return cp.text() + "\n" + signer.sign(cp.text()).line()


def post(client: TestClient, old: int, proof: list[bytes], note: str):  # type: ignore[no-untyped-def]
    return client.post("/witness/add-checkpoint", content=AddCheckpointRequest(old, tuple(proof), note).render())


@pytest.fixture
def witnessing(client: TestClient, sqlite_db: Database) -> TestClient:
    trust_log(sqlite_db, LOG.vkey)
    return client


def test_cosigns_consistent_checkpoints_and_refuses_the_rest(witnessing: TestClient) -> None:
    client = witnessing
    witness_key = client.get("/witness/vkey").text.strip()
    r = post(client, 0, [], checkpoint(5))
    assert r.status_code == 200, r.text
    note, verified = open_note(checkpoint(5) + r.text, [parse_vkey(witness_key)])
    assert len(verified) == 1 and cosignature_timestamp(verified[0]) > 1_700_000_000
    # 409: the old size must be the one last cosigned; the body says which.
    r = post(client, 0, [], checkpoint(9))
    assert (r.status_code, r.text, r.headers["content-type"]) == (409, "5\n", "text/x.tlog.size")
    node = _memory_reader(HASHES[:9])
    good = consistency_proof(5, 9, node)
    # 422: a proof that does not verify; a fork of the same size.
    assert post(client, 5, [bytes(32)] * len(good), checkpoint(9)).status_code == 422
    forked = [leaf_hash(b"x")] + HASHES[1:]
    assert post(client, 5, [], checkpoint(5, leaves=forked)).status_code == 422
    assert post(client, 5, good, checkpoint(9)).status_code == 200
    # 400: malformed, or an old size beyond the checkpoint.
    assert client.post("/witness/add-checkpoint", content=b"old 01\n\n" + checkpoint(9).encode()).status_code == 400
    assert post(client, 12, [], checkpoint(9)).status_code == 400
    # 403: not signed by the log's key. 404: a log we do not witness.
    assert post(client, 9, [], checkpoint(9, signer=Signer.generate("other.example/log"))).status_code == 403
    stranger = Signer.generate("stranger.example/log")
    cp = Checkpoint("stranger.example/log", 1, HASHES[0])
    assert post(client, 0, [], cp.text() + "\n" + stranger.sign(cp.text()).line()).status_code == 404


def test_size_zero_must_carry_the_empty_root(witnessing: TestClient) -> None:
    text = "other.example/log\n0\n" + "A" * 43 + "=\n"
    assert post(witnessing, 0, [], text + "\n" + LOG.sign(text).line()).status_code == 422
    assert post(witnessing, 0, [], checkpoint(0)).status_code == 200


def test_monitors_fetch_the_cosigned_checkpoint_and_proofs_can_require_it(witnessing: TestClient) -> None:
    client = witnessing
    assert post(client, 0, [], checkpoint(20)).status_code == 200
    origin_hash = hashlib.sha256(b"other.example/log").hexdigest()
    cosigned = client.get(f"/witness/{origin_hash}/checkpoint").text
    assert cosigned.startswith(checkpoint(20))
    witness_key = client.get("/witness/vkey").text.strip()
    proof = TlogProof(7, tuple(inclusion_proof(7, 20, _memory_reader(HASHES))), cosigned).render()
    assert verify_proof(proof, ENTRIES[7], LOG.vkey, witness_keys=[witness_key], min_witnesses=1).size == 20
    bare = TlogProof(7, tuple(inclusion_proof(7, 20, _memory_reader(HASHES))), checkpoint(20)).render()
    with pytest.raises(VerificationError, match="0 valid witness cosignatures, 1 are required"):
        verify_proof(bare, ENTRIES[7], LOG.vkey, witness_keys=[witness_key], min_witnesses=1)
    assert client.get("/witness/" + "0" * 64 + "/checkpoint").status_code == 404


def test_concurrent_requests_never_roll_the_witness_back(db: Database) -> None:
    import threading

    from assay.tlog import CosignatureSigner
    from assay.transparency.witness import add_checkpoint

    trust_log(db, LOG.vkey)
    key = CosignatureSigner.generate("testserver/witness")
    answers: list[int] = []

    def submit(size: int) -> None:
        body = AddCheckpointRequest(0, (), checkpoint(size)).render().encode()
        answers.append(add_checkpoint(db, key, body).status)

    threads = [threading.Thread(target=submit, args=(n,)) for n in (3, 8, 13, 18)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409, 409, 409]
