"""Public test vectors.

- RFC 6962 inclusion and consistency proofs, positive and tampered: github.com/transparency-dev/merkle
  testdata/ at commit 417fb0c314750d94e53942e9f92e79b6d35915db (Apache-2.0), copied to tests/tlog/vectors.
- The RFC 6962 reference leaves and roots (certificate-transparency test data, as used by transparency-dev/merkle
  testonly/constants.go).
- Signed-note examples: the C2SP signed-note spec (example.com/foo) and golang.org/x/mod sumdb/note/note_test.go
  (PeterNeumann).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from assay.errors import AssayError, VerificationError
from assay.tlog import (
    Signer,
    leaf_hash,
    open_note,
    parse_vkey,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# Copied into the repository (with their licence and source in the folder's README), so the tests never
# depend on anything outside it.
VECTORS = Path(__file__).parent / "vectors" / "transparency-dev-merkle" / "testdata"


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


@pytest.mark.parametrize("path", _files("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    proof = [_b64(h) for h in v["proof"] or []]
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), proof, _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(AssayError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _files("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_consistency_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    proof = [_b64(h) for h in v["proof"] or []]
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof)
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vector_files_are_present() -> None:
    assert len(_files("inclusion")) > 50 and len(_files("consistency")) > 50


# RFC 6962 reference leaves and the roots of their prefixes (transparency-dev/merkle testonly/constants.go).
LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_rfc6962_reference_roots() -> None:
    hashes = [leaf_hash(x) for x in LEAVES]
    for size, want in enumerate(ROOTS, 1):
        assert root_of(hashes[:size]).hex() == want
    assert root_of([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"  # noqa: E501 - published vector
)
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"


def test_signed_note_spec_example_verifies() -> None:
    verifier = parse_vkey(SPEC_VKEY)
    assert verifier.key_id.hex() == "530d903a"
    note, verified = open_note(SPEC_NOTE, [verifier])
    assert note.text == "This is an example message.\n"
    assert [s.name for s in verified] == ["example.com/foo"]
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(SPEC_NOTE.replace("example message", "exemplary message"), [verifier])


def test_go_note_signer_key_round_trips_and_signs_deterministically() -> None:
    # golang.org/x/mod/sumdb/note note_test.go: the signer key text and its vkey.
    signer = Signer.from_text(GO_SKEY)
    assert signer.vkey == GO_VKEY
    assert signer.to_text() == GO_SKEY
    # Ed25519 is deterministic, so signing the Go test's message gives the Go test's signature.
    text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    sig = signer.sign(text)
    line = sig.line()
    assert line == (
        "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"  # noqa: E501 - published vector
    )
    open_note(text + "\n" + line, [parse_vkey(GO_VKEY)])
