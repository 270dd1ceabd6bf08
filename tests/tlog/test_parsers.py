"""Strict parsers: malformed checkpoints, notes, proofs, keys and tiles are refused with a precise error, and
no input whatsoever makes a decoder fail with anything but an AssayError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import AssayError, InvalidInput, VerificationError
from assay.tlog import (
    AddCheckpointRequest,
    Checkpoint,
    CosignatureSigner,
    NoteSignature,
    Signer,
    TileID,
    TlogProof,
    decode_bundle,
    inclusion_proof,
    leaf_hash,
    open_note,
    parse_note,
    parse_vkey,
    root_of,
    verify_checkpoint,
    verify_proof,
)
from assay.tlog._merkle import _memory_reader

LOG = Signer.generate("example.org/log")
ROOT = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def signed(text: str, signer: Signer = LOG) -> str:
    return text + "\n" + signer.sign(text).line()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.org/log\n5\n", "at least three lines"),
        ("example.org/log\n05\n" + ROOT + "\n", "leading zeros"),
        ("example.org/log\n-1\n" + ROOT + "\n", "leading zeros"),
        ("example.org/log\n5\nnot base64!\n", "not standard base64"),
        ("example.org/log\n5\nAAAA\n", "3 bytes, not 32"),
        ("example.org/log\n5\n" + ROOT + "\n\nextra\n", "empty extension line"),
        ("\n5\n" + ROOT + "\n", "origin line is empty"),
        ("example.org/log\n0\n" + "A" * 43 + "=\n", "empty tree's root hash"),
        ("example.org/log\n5\n" + ROOT, "does not end in a newline"),
        ("example.org/log\n99999999999999999999\n" + ROOT + "\n", "leading zeros"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Checkpoint.parse(text)


def test_notes_without_a_known_valid_signature_are_refused() -> None:
    text = "example.org/log\n5\n" + ROOT + "\n"
    other = Signer.generate("example.org/log")  # same name, another key: its signature is ignored
    with pytest.raises(VerificationError, match="not signed by any known key"):
        open_note(signed(text, other), [LOG.verifier])
    # A known key's bad signature rejects the note even if another signature is fine.
    good = LOG.sign(text)
    bad_sig = NoteSignature(good.name, good.key_id, bytes(64)).line()  # the known key's ID, a wrong signature
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(text + "\n" + bad_sig + good.line(), [LOG.verifier])
    # Unknown signatures beside a good one are ignored.
    note, verified = open_note(text + "\n" + other.sign(text).line() + good.line(), [LOG.verifier])
    assert len(verified) == 1


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("text\n", "no blank line"),
        ("text\n\n", "no signature lines"),
        ("text\n\n- name AAAAAAAA\n", "em dash"),
        ("text\n\n\u2014 name\n", "is not"),
        ("text\n\n\u2014 name AAAA\n", "too short"),
        ("text\n\n\u2014 na+me AAAAAAAA\n", "invalid key name"),
        ("te\x01xt\n\n\u2014 name AAAAAAAA\n", "control characters"),
        ("text\n\n\u2014 name AAAAAAAA", "does not end in a newline"),
    ],
)
def test_malformed_notes_are_refused(note: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_note(note)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("example.org/log+530d903a", "is not of the form"),
        ("example.org/log+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "8 lowercase hex"),
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "base64"),
        ("example.com/foo+530d903a+AgkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "type 0x01 or 0x04"),
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_vkey(vkey)


def _proof(n: int = 10, index: int = 3) -> tuple[str, bytes]:
    entries = [f"e{i}".encode() for i in range(n)]
    hashes = [leaf_hash(e) for e in entries]
    cp = Checkpoint("example.org/log", n, root_of(hashes))
    path = inclusion_proof(index, n, _memory_reader(hashes))
    return TlogProof(index, tuple(path), signed(cp.text())).render(), entries[index]


def test_proofs_of_the_wrong_length_or_for_another_origin_fail_closed() -> None:
    text, entry = _proof()
    lines = text.split("\n")
    short = "\n".join(lines[:3] + lines[4:])
    with pytest.raises(VerificationError, match="has 3 hashes; index 3 in a tree of size 10 needs 4"):
        verify_proof(short, entry, LOG.vkey)
    long = "\n".join(lines[:3] + [lines[3]] + lines[3:])
    with pytest.raises(VerificationError, match="needs 4"):
        verify_proof(long, entry, LOG.vkey)
    with pytest.raises(VerificationError, match="belongs to another log"):
        verify_proof(text, entry, LOG.vkey, origin="elsewhere.example/log")
    beyond = text.replace("index 3", "index 10")
    with pytest.raises(VerificationError, match="outside the checkpoint's tree"):
        verify_proof(beyond, entry, LOG.vkey)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"), "does not start with"),
        (lambda t: t.replace("index 3", "index 03"), "no valid 'index <n>' line"),
        (lambda t: t.replace("index 3", "idx 3"), "no valid 'index <n>' line"),
        (lambda t: t.replace("\n\n", "\n", 1), "proof hash 5 is not standard base64"),  # the origin line
        (lambda t: t.replace("index 3\n", "index 3\nAAAA\n"), "3 bytes, not 32"),
        (lambda t: t.replace("index 3\n", "index 3\n@@@@\n"), "not standard base64"),
    ],
)
def test_malformed_tlog_proofs_are_refused(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    text, entry = _proof()
    with pytest.raises(InvalidInput, match=message):
        verify_proof(mutate(text), entry, LOG.vkey)


def test_a_checkpoint_signed_by_a_witness_key_alone_is_not_a_log_checkpoint() -> None:
    witness = CosignatureSigner.generate("example.org/log")
    cp = Checkpoint("example.org/log", 1, bytes(32))
    note = cp.text() + "\n" + witness.cosign(cp.text(), 1_700_000_000).line()
    with pytest.raises(VerificationError):
        verify_checkpoint(note, LOG.vkey)


@pytest.mark.parametrize(
    "body",
    [
        b"old 1\n",
        b"new 1\n\nx\n",
        b"old 1\nAAAA\n\ncp\n",
        b"old 01\n\ncp\n",
        b"\xff\n\n",
        ("old 0\n" + "\n".join([ROOT] * 64) + "\n\ncp\n").encode(),
    ],
)
def test_malformed_witness_requests_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        AddCheckpointRequest.parse(body)


# Fuzzing: whatever the bytes, decoders answer with a value or an AssayError, never another exception.
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_decoders_never_crash(data: bytes) -> None:
    for decode in (
        parse_note,
        lambda d: Checkpoint.parse(d.decode("utf-8", "replace")),
        TlogProof.parse,
        AddCheckpointRequest.parse,
        lambda d: TileID.parse(d.decode("utf-8", "replace")),
        lambda d: decode_bundle(d, 3),
        lambda d: parse_vkey(d.decode("utf-8", "replace")),
        lambda d: verify_proof(d, b"x", LOG.vkey),
        lambda d: verify_checkpoint(d, LOG.vkey),
    ):
        try:
            decode(data)
        except AssayError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="tile/entris0123456789x.p", max_size=40))
def test_tile_path_parser_is_total(path: str) -> None:
    try:
        tile = TileID.parse(path)
    except InvalidInput:
        return
    assert tile.path == path
