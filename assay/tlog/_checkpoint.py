"""C2SP tlog-checkpoint: the signed note body ``<origin>\\n<size>\\n<base64 root>\\n[extension lines]``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assay.errors import InvalidInput, VerificationError
from assay.tlog._merkle import EMPTY_ROOT, HASH_SIZE
from assay.tlog._note import NoteVerifier, _b64decode, b64, open_note
from assay.tlog._vkey import parse_vkey

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
MAX_TREE_SIZE = 2**63 - 1


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, the number of entries, and the root hash of their Merkle tree."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise InvalidInput("a checkpoint origin is one non-empty line", hint="e.g. example.com/log")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise InvalidInput(f"tree size {self.size} is out of range", hint="")
        if len(self.root_hash) != HASH_SIZE:
            raise InvalidInput("a checkpoint root hash is 32 bytes", hint="")
        if any(not line or "\n" in line for line in self.extensions):
            raise InvalidInput("checkpoint extension lines are non-empty single lines", hint="")

    def text(self) -> str:
        """The note text that gets signed."""
        lines = [self.origin, str(self.size), b64(self.root_hash), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint's note text strictly (signatures are checked by :func:`verify_checkpoint`)."""
        if not text.endswith("\n"):
            raise InvalidInput("the checkpoint text does not end in a newline", hint="")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise InvalidInput("a checkpoint has at least three lines: origin, tree size, root hash", hint="")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise InvalidInput("the checkpoint's origin line is empty", hint="")
        if not _SIZE.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
            raise InvalidInput(
                f"the checkpoint's tree size {size_text!r} is not a decimal number without leading zeros",
                hint="",
            )
        root = _b64decode(root_text, "the checkpoint's root hash")
        if len(root) != HASH_SIZE:
            raise InvalidInput(f"the checkpoint's root hash is {len(root)} bytes, not {HASH_SIZE}", hint="")
        if any(not line for line in extensions):
            raise InvalidInput("the checkpoint has an empty extension line", hint="")
        size = int(size_text)
        if size == 0 and root != EMPTY_ROOT:
            raise InvalidInput("a checkpoint of size 0 must carry the empty tree's root hash", hint="")
        return cls(origin, size, root, tuple(extensions))


def _verifiers(keys: str | NoteVerifier | Sequence[str | NoteVerifier]) -> list[NoteVerifier]:
    if isinstance(keys, str) or not isinstance(keys, Sequence):
        keys = [keys]  # type: ignore[list-item]
    return [parse_vkey(k) if isinstance(k, str) else k for k in keys]


def verify_checkpoint(
    note: bytes | str, log_keys: str | NoteVerifier | Sequence[str | NoteVerifier], *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint against the log's key(s); return its parsed body.

    1. The note parses and carries a valid signature by one of ``log_keys`` (unknown signatures are ignored,
       a bad signature by a known key rejects it). 2. The body is a well-formed checkpoint. 3. The origin is
       the expected one (by default: the name of the key that signed, as tlog-checkpoint recommends).
    """
    verifiers = _verifiers(log_keys)
    parsed, verified = open_note(note, verifiers)
    checkpoint = Checkpoint.parse(parsed.text)
    expected = {origin} if origin is not None else {sig.name for sig in verified}
    if checkpoint.origin not in expected:
        raise VerificationError(
            f"the checkpoint is for origin {checkpoint.origin!r}, expected {sorted(expected)[0]!r}",
            hint="this checkpoint belongs to another log",
        )
    return checkpoint
