"""Property tests: every generated proof verifies, every tampered proof fails; tiles and codecs round-trip."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from assay.errors import AssayError, InvalidInput, VerificationError
from assay.tlog import (
    TILE_WIDTH,
    Checkpoint,
    Signer,
    TileID,
    TileReader,
    TlogProof,
    consistency_proof,
    decode_bundle,
    encode_bundle,
    inclusion_proof,
    leaf_hash,
    root_of,
    tiles_for_size,
    tree_root,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_proof,
)
from assay.tlog._merkle import _memory_reader, expected_inclusion_proof_length

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 MTH, literally (recursive, the split k < n)."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + reference_mth(hashes[:k]) + reference_mth(hashes[k:])).digest()


def leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"entry {salt} {i}".encode()) for i in range(n)]


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


@FAST
@given(st.integers(0, 300))
def test_root_matches_the_rfc_definition(n: int) -> None:
    hs = leaves(n)
    assert root_of(hs) == reference_mth(hs)


@FAST
@given(st.integers(1, 200), st.data())
def test_inclusion_proofs_verify_and_tampering_fails(n: int, data: st.DataObject) -> None:
    hs = leaves(n)
    root = root_of(hs)
    node = _memory_reader(hs)
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(i, n, node)
    verify_inclusion(i, n, hs[i], proof, root)
    # Each tampering must fail: a flipped bit in any proof hash, the leaf or the root; another index;
    # another size; a hash added or removed.
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[k] = flip(bad[k], data.draw(st.integers(0, 255)))
        with pytest.raises(VerificationError):
            verify_inclusion(i, n, hs[i], bad, root)
        with pytest.raises(VerificationError):
            verify_inclusion(i, n, hs[i], proof[:-1], root)
    with pytest.raises(VerificationError):
        verify_inclusion(i, n, hs[i], [*proof, root], root)
    with pytest.raises(VerificationError):
        verify_inclusion(i, n, flip(hs[i], 3), proof, root)
    with pytest.raises(VerificationError):
        verify_inclusion(i, n, hs[i], proof, flip(root, 200))
    j = data.draw(st.integers(0, n))
    if j != i:
        with pytest.raises(VerificationError):
            verify_inclusion(j, n, hs[i], proof, root)
    # Another tree size gives the same path shape for some sizes (the checkpoint's signature binds the size);
    # where the shape differs, the proof must fail.
    m = data.draw(st.integers(1, 2 * n + 2))
    if m != n and (i >= m or expected_inclusion_proof_length(i, m) != len(proof)):
        with pytest.raises(VerificationError):
            verify_inclusion(i, m, hs[i], proof, root)


@FAST
@given(st.integers(1, 200), st.data())
def test_consistency_proofs_verify_and_tampering_fails(n: int, data: st.DataObject) -> None:
    hs = leaves(n)
    m = data.draw(st.integers(1, n))
    node = _memory_reader(hs)
    old, new = root_of(hs[:m]), root_of(hs)
    proof = consistency_proof(m, n, node)
    verify_consistency(m, n, old, new, proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[k] = flip(bad[k], data.draw(st.integers(0, 255)))
        with pytest.raises(VerificationError):
            verify_consistency(m, n, old, new, bad)
        with pytest.raises(VerificationError):
            verify_consistency(m, n, old, new, proof[1:])
    with pytest.raises(VerificationError):
        verify_consistency(m, n, flip(old, 7), new, proof)
    with pytest.raises(VerificationError):
        verify_consistency(m, n, old, flip(new, 9), proof)
    # A forked log: the same old size, a different history.
    forked = leaves(n, salt=1)
    if m < n:
        with pytest.raises(VerificationError):
            verify_consistency(m, n, root_of(forked[:m]), new, proof)
    other = data.draw(st.integers(1, n))
    if other != m:
        with pytest.raises(VerificationError):
            verify_consistency(other, n, old, new, proof)


def build_tiles(hs: list[bytes]) -> dict[TileID, bytes]:
    """Reference tile builder, straight from the tlog-tiles definition of tile (l, n)."""
    out: dict[TileID, bytes] = {}
    size = len(hs)
    level = 0
    while size >> (8 * level):
        count = size >> (8 * level)
        span = TILE_WIDTH**level
        nodes = [reference_mth(hs[i * span : (i + 1) * span]) for i in range(count)]
        for t in range(0, count, TILE_WIDTH):
            chunk = nodes[t : t + TILE_WIDTH]
            out[TileID(level, t // TILE_WIDTH, len(chunk))] = b"".join(chunk)
        level += 1
    return out


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 70_000 // 64), st.data())
def test_tile_reader_gives_the_same_tree_and_proofs(n: int, data: st.DataObject) -> None:
    hs = leaves(n)
    tiles = build_tiles(hs)
    assert set(tiles_for_size(n)) == {t for t in tiles if t.is_partial}
    reader = TileReader(n, lambda t: tiles[t])
    assert tree_root(reader.node, n) == root_of(hs)
    i = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(1, n))
    node = _memory_reader(hs)
    assert inclusion_proof(i, n, reader.node) == inclusion_proof(i, n, node)
    assert consistency_proof(m, n, reader.node) == consistency_proof(m, n, node)


def test_tile_reader_on_the_spec_example_of_70000_entries() -> None:
    # tlog-tiles: a tree of 70,000 entries has 273 full level-0 tiles, a partial level-0 tile of width 112,
    # one full level-1 tile, a partial level-1 tile of width 17 and a partial level-2 tile of width 1.
    assert tiles_for_size(70_000) == [TileID(0, 273, 112), TileID(1, 1, 17), TileID(2, 0, 1)]
    assert tiles_for_size(256) == [TileID(1, 0, 1)]


def test_tile_reader_accepts_a_full_tile_for_a_deleted_partial_and_refuses_a_short_tile() -> None:
    hs = leaves(300)
    tiles = build_tiles(hs)
    full = build_tiles(leaves(512))[TileID(0, 1)]
    ok = dict(tiles)
    ok[TileID(0, 1, 44)] = b"".join(hs[256:300]) + full[44 * 32 :]
    assert tree_root(TileReader(300, lambda t: ok[t]).node, 300) == root_of(hs)
    short = dict(tiles)
    short[TileID(0, 1, 44)] = tiles[TileID(0, 1, 44)][:-32]
    with pytest.raises(VerificationError, match="does not match the checkpoint"):
        tree_root(TileReader(300, lambda t: short[t]).node, 300)


@FAST
@given(st.integers(0, 10**12))
def test_tile_paths_round_trip(index: int) -> None:
    for tile in (TileID(0, index), TileID(5, index, 17), TileID(-1, index, 255)):
        assert TileID.parse(tile.path) == tile


def test_tile_path_encoding_matches_the_spec() -> None:
    assert TileID(0, 1234067).path == "tile/0/x001/x234/067"
    assert TileID(-1, 0, 3).path == "tile/entries/000.p/3"
    assert TileID(63, 1000).path == "tile/63/x001/000"


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",
        "tile/0/0001",
        "tile/00/000",
        "tile/64/000",
        "tile/0/x000/001",
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/07",
        "tile/0/001/",
        "/tile/0/001",
        "tile/entries/x1/000",
        "tile/0/x001",
        "tile/-1/000",
        "tile/0/001.p/",
        "tile/0/abc",
        "tile/0/001.p/1/2",
    ],
)
def test_non_canonical_tile_paths_are_rejected(path: str) -> None:
    with pytest.raises(InvalidInput):
        TileID.parse(path)


@FAST
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=256))
def test_entry_bundles_round_trip_and_refuse_wrong_widths(entries: list[bytes]) -> None:
    data = encode_bundle(entries)
    assert decode_bundle(data, len(entries)) == entries
    with pytest.raises(VerificationError):
        decode_bundle(data, len(entries) + 1)
    with pytest.raises(VerificationError):
        decode_bundle(data + b"\x00", len(entries))
    with pytest.raises(VerificationError):
        decode_bundle(data[:-1], len(entries))
    if len(entries) > 1:
        with pytest.raises(VerificationError):
            decode_bundle(data, len(entries) - 1)


SIGNER = Signer.generate("example.org/log")


@FAST
@given(st.integers(1, 300), st.data(), st.binary(max_size=40) | st.none())
def test_tlog_proofs_verify_offline_and_any_change_fails(n: int, data: st.DataObject, extra: bytes | None) -> None:
    entries = [f"entry {i}".encode() for i in range(n)]
    hs = [leaf_hash(e) for e in entries]
    cp = Checkpoint("example.org/log", n, root_of(hs))
    note = cp.text() + "\n" + SIGNER.sign(cp.text()).line()
    i = data.draw(st.integers(0, n - 1))
    proof = TlogProof(i, tuple(inclusion_proof(i, n, _memory_reader(hs))), note, extra)
    text = proof.render()
    assert TlogProof.parse(text) == proof
    assert verify_proof(text, entries[i], SIGNER.vkey) == cp
    # Any single changed character makes verification fail (closed), never pass.
    pos = data.draw(st.integers(0, len(text) - 1))
    ch = data.draw(st.sampled_from("A/+=0\n x—"))
    assume(text[pos] != ch)
    tampered = text[:pos] + ch + text[pos + 1 :]
    try:
        verify_proof(tampered, entries[i], SIGNER.vkey)
    except AssayError:
        pass
    else:
        # Only the unauthenticated extra line may change without failing.
        assert extra is not None and tampered.split("\n")[1] != text.split("\n")[1]
    with pytest.raises(VerificationError):
        verify_proof(text, entries[i] + b"x", SIGNER.vkey)


@FAST
@given(
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FFF), min_size=1, max_size=20), max_size=3),
)
def test_checkpoints_round_trip_and_verify(size: int, root: bytes, extensions: list[str]) -> None:
    assume(size != 0)
    cp = Checkpoint("example.org/log", size, root, tuple(extensions))
    assert Checkpoint.parse(cp.text()) == cp
    note = cp.text() + "\n" + SIGNER.sign(cp.text()).line()
    assert verify_checkpoint(note, SIGNER.vkey) == cp
