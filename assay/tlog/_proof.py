"""C2SP tlog-proof: a self-contained inclusion proof with its signed checkpoint, verifiable offline.

c2sp.org/tlog-proof@v1
[extra <base64>]
index <i>
<base64 hash>            (zero or more, leaf's sibling first)

<checkpoint, verbatim>
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assay.errors import InvalidInput, VerificationError
from assay.tlog._checkpoint import Checkpoint, _verifiers, verify_checkpoint
from assay.tlog._cosignature import CosignatureVerifier
from assay.tlog._merkle import HASH_SIZE, leaf_hash, verify_inclusion
from assay.tlog._note import NoteVerifier, _b64decode, b64, open_note

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")
_MAX_HASHES = 64
MAX_PROOF_BYTES = 200_000


# A proof that does not parse was damaged on the way or is not a tlog-proof: the fix is a fresh copy.
_GET_IT_AGAIN = "get the proof again from the log (its entry page, or 'assay log proof INDEX')"


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str  # the signed checkpoint note, verbatim
    extra: bytes | None = None

    def render(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + b64(self.extra))
        lines.append(f"index {self.index}")
        lines.extend(b64(h) for h in self.hashes)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str | bytes) -> TlogProof:
        """Parse strictly; the checkpoint is kept verbatim for :func:`verify_proof` to check."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput("the tlog-proof is not UTF-8 text", hint=_GET_IT_AGAIN) from None
        if len(text) > MAX_PROOF_BYTES:
            raise InvalidInput(f"the tlog-proof is larger than {MAX_PROOF_BYTES} bytes", hint=_GET_IT_AGAIN)
        head, sep, checkpoint = text.partition("\n\n")
        if not sep or not checkpoint:
            raise InvalidInput(
                "the tlog-proof has no blank line before its checkpoint",
                hint="a tlog-proof is the header, the index, the hashes, a blank line, the checkpoint",
            )
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise InvalidInput(f"the tlog-proof does not start with {HEADER!r}", hint=_GET_IT_AGAIN)
        pos = 1
        extra = None
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = _b64decode(lines[pos][len("extra ") :], "the tlog-proof's extra data")
            pos += 1
        if pos >= len(lines) or not _INDEX.fullmatch(lines[pos]):
            raise InvalidInput(
                "the tlog-proof has no valid 'index <n>' line",
                hint="the index is a decimal number without leading zeros",
            )
        index = int(lines[pos][len("index ") :])
        hashes = []
        for number, line in enumerate(lines[pos + 1 :], 1):
            h = _b64decode(line, f"proof hash {number}")
            if len(h) != HASH_SIZE:
                raise InvalidInput(f"proof hash {number} is {len(h)} bytes, not {HASH_SIZE}", hint=_GET_IT_AGAIN)
            hashes.append(h)
        if len(hashes) > _MAX_HASHES:
            raise InvalidInput(f"the tlog-proof has more than {_MAX_HASHES} hashes", hint=_GET_IT_AGAIN)
        return cls(index, tuple(hashes), checkpoint, extra)


def verify_proof(
    proof_text: str | bytes,
    entry: bytes,
    verifier_key: str | NoteVerifier | Sequence[str | NoteVerifier],
    *,
    origin: str | None = None,
    witness_keys: Sequence[str | NoteVerifier] = (),
    min_witnesses: int = 0,
) -> Checkpoint:
    """Verify offline that ``entry`` is in the log, and return the checkpoint that proves it.

    1. Parse the proof. 2. Compute the entry's leaf hash. 3. Verify the checkpoint's signature by the log's
    key and its origin. 4. Count valid cosignatures by ``witness_keys``; fewer than ``min_witnesses`` fails.
    5. Verify the inclusion proof against the checkpoint's root hash. Every step fails closed with
    :class:`VerificationError` or :class:`InvalidInput`.
    """
    # 1.
    proof = TlogProof.parse(proof_text)
    # 2.
    leaf = leaf_hash(entry)
    # 3.
    checkpoint = verify_checkpoint(proof.checkpoint, verifier_key, origin=origin)
    # 4.
    if min_witnesses:
        witnesses = [w for w in _verifiers(list(witness_keys)) if isinstance(w, CosignatureVerifier)]
        valid = 0
        if witnesses:
            try:
                _, verified = open_note(proof.checkpoint, witnesses)
                valid = len({(s.name, s.key_id) for s in verified})
            except VerificationError:
                valid = 0
        if valid < min_witnesses:
            raise VerificationError(
                f"the checkpoint has {valid} valid witness cosignatures, {min_witnesses} are required",
                hint="fetch a more recent proof once witnesses have cosigned, or check the witness keys",
            )
    # 5.
    if proof.index >= checkpoint.size:
        raise VerificationError(
            f"entry index {proof.index} is outside the checkpoint's tree of size {checkpoint.size}",
            hint="the proof was altered",
        )
    verify_inclusion(proof.index, checkpoint.size, leaf, proof.hashes, checkpoint.root_hash)
    return checkpoint
