"""RFC 6962 / RFC 9162 Merkle tree hashing, proof generation and proof verification.

Written by hand on :mod:`hashlib`: no maintained Python library implements RFC 9162 proofs (sigstore-python
keeps a private, inclusion-only copy). Generation works on any source of perfect-subtree hashes, so the same
code serves an in-memory tree, the log's tiles on disk and tiles fetched over HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from assay.errors import InvalidInput, VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# node(level, index) -> hash of the perfect subtree of 2**level leaves starting at leaf index << level.
NodeReader = Callable[[int, int], bytes]

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a sequence of leaf hashes (the empty tree hashes to SHA-256 of nothing)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    return _range_root(_memory_reader(leaf_hashes), 0, n)


def _memory_reader(leaf_hashes: Sequence[bytes]) -> NodeReader:
    # Perfect subtrees of an in-memory list, bottom-up: O(n) hashing once, then O(1) per node.
    levels: list[list[bytes]] = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        prev = levels[-1]
        levels.append([node_hash(prev[i], prev[i + 1]) for i in range(0, len(prev) - 1, 2)])

    def node(level: int, index: int) -> bytes:
        return levels[level][index]

    return node


def _largest_power_of_two_below(n: int) -> int:
    # RFC 6962's split point k: the largest power of two strictly smaller than n (n >= 2).
    return 1 << ((n - 1).bit_length() - 1)


def _range_root(node: NodeReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the RFC's recursion produces (start aligned to the range's split)."""
    # Decompose end - start into perfect subtrees, largest first, then fold them right to left.
    parts: list[bytes] = []
    pos = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        parts.append(node(level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    acc = parts[-1]
    for h in reversed(parts[:-1]):
        acc = node_hash(h, acc)
    return acc


def tree_root(node: NodeReader, size: int) -> bytes:
    """The root hash of the tree of ``size`` leaves whose perfect subtrees ``node`` returns."""
    return EMPTY_ROOT if size == 0 else _range_root(node, 0, size)


def inclusion_proof(index: int, size: int, node: NodeReader) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]), from the leaf's sibling up to the root's child."""
    if not 0 <= index < size:
        raise InvalidInput(
            f"leaf index {index} is outside a tree of size {size}", hint="ask for an index smaller than the tree size"
        )
    proof: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root; each step records the sibling range's hash, added root-side first.
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            proof.append(_range_root(node, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_range_root(node, lo, lo + k))
            lo = lo + k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, node: NodeReader) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(old_size, D[0:new_size]); empty when the sizes are equal or old_size is 0."""
    if not 0 <= old_size <= new_size:
        raise InvalidInput(
            f"cannot prove consistency from size {old_size} to size {new_size}",
            hint="the old size must be between 0 and the new size",
        )
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    # SUBPROOF(m, D[lo:hi], complete), iteratively; hashes collected root-side first, then reversed.
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                proof.append(_range_root(node, lo, hi))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            proof.append(_range_root(node, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_range_root(node, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    proof.reverse()
    return proof


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        raise VerificationError(
            f"{what} is not a {HASH_SIZE}-byte SHA-256 hash",
            hint="hashes in proofs and checkpoints are 32 bytes (44 characters of base64)",
        )


def expected_inclusion_proof_length(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + bin(index >> inner).count("1")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2, steps 1–4: the root the proof leads to (the caller compares it, step 5)."""
    # 1. The index must be inside the tree and every hash 32 bytes.
    if not 0 <= index < size:
        raise VerificationError(
            f"leaf index {index} is outside a tree of size {size}", hint="the proof is for another tree or was altered"
        )
    _check_hash(leaf, "the leaf hash")
    want = expected_inclusion_proof_length(index, size)
    if len(proof) != want:
        raise VerificationError(
            f"the inclusion proof has {len(proof)} hashes; index {index} in a tree of size {size} needs {want}",
            hint="the proof is for another index or tree size, or was truncated or padded",
        )
    for i, p in enumerate(proof):
        _check_hash(p, f"inclusion proof hash {i}")
    # 2.–4. Chain the hashes from the leaf up, left or right by the bits of the index.
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            raise VerificationError("the inclusion proof is longer than the tree is high", hint="")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the inclusion proof is shorter than the tree is high", hint="")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`VerificationError` unless ``proof`` shows leaf hash ``leaf`` at ``index`` under ``root``."""
    _check_hash(root, "the root hash")
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise VerificationError(
            f"the inclusion proof for index {index} does not lead to the root hash of the tree of size {size}",
            hint="the entry, the proof or the checkpoint was altered, or they belong to different logs",
        )


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2: raise :class:`VerificationError` unless the old tree is a prefix of the new one.

    A proof from the empty tree proves nothing and is refused here; callers that accept old size 0 (a
    witness, a first-time monitor) handle it before calling.
    """
    # 1. Sizes must grow, the proof must be empty exactly when they are equal.
    if new_size < old_size:
        raise VerificationError(
            f"the new tree size {new_size} is smaller than the old size {old_size}",
            hint="a log never shrinks: this is a rollback",
        )
    if old_size == 0:
        raise VerificationError(
            "a consistency proof from the empty tree proves nothing",
            hint="any tree is consistent with the empty tree; skip the check",
        )
    if old_size == new_size:
        if proof:
            raise VerificationError("the sizes are equal but the consistency proof is not empty", hint="")
        if old_root != new_root:
            raise VerificationError(
                f"two different root hashes for the same tree size {old_size}",
                hint="the log has forked: it showed two different trees of the same size",
            )
        return
    if not proof:
        raise VerificationError("the consistency proof is empty", hint="ask the log for the proof again")
    _check_hash(old_root, "the old root hash")
    _check_hash(new_root, "the new root hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"consistency proof hash {i}")
    # 2. If the old size is a power of two, the old root is the first node of the path.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    # 3.–4. Walk up past the levels where the old tree's last leaf is a right child.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.–6. Rebuild both roots from the same path.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(f"the consistency proof from {old_size} to {new_size} has too many hashes", hint="")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7. Both roots must match and the path must have reached the top.
    if sn != 0:
        raise VerificationError(f"the consistency proof from {old_size} to {new_size} has too few hashes", hint="")
    if fr != old_root:
        raise VerificationError(
            f"the consistency proof does not lead to the old root hash (size {old_size})",
            hint="the old checkpoint is not a prefix of the new one: the log may have forked or been rewritten",
        )
    if sr != new_root:
        raise VerificationError(
            f"the consistency proof does not lead to the new root hash (size {new_size})",
            hint="the new checkpoint is not an extension of the old one: the log may have forked",
        )
