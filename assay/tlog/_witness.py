"""C2SP tlog-witness: the add-checkpoint request body ``old <N>\\n<base64 hash>\\n...\\n\\n<checkpoint>``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assay.errors import InvalidInput
from assay.tlog._merkle import HASH_SIZE
from assay.tlog._note import _b64decode, b64

_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")
MAX_PROOF_LINES = 63


@dataclass(frozen=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim

    def render(self) -> str:
        return "".join([f"old {self.old_size}\n", *(b64(h) + "\n" for h in self.proof), "\n", self.checkpoint])

    @classmethod
    def parse(cls, body: bytes | str) -> AddCheckpointRequest:
        """Parse strictly; :class:`InvalidInput` (a witness answers 400) on any deviation."""
        if isinstance(body, bytes):
            try:
                body = body.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput("the request body is not UTF-8", hint="") from None
        head, sep, checkpoint = body.partition("\n\n")
        if not sep or not checkpoint:
            raise InvalidInput(
                "the request has no blank line before the checkpoint",
                hint="send 'old <size>', the proof lines, a blank line, then the checkpoint",
            )
        lines = head.split("\n")
        if not _OLD.fullmatch(lines[0]):
            raise InvalidInput("the first line is not 'old <size>'", hint="the size is decimal, no leading zeros")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise InvalidInput(f"more than {MAX_PROOF_LINES} consistency proof lines", hint="")
        proof = []
        for n, line in enumerate(lines[1:], 1):
            h = _b64decode(line, f"consistency proof line {n}")
            if len(h) != HASH_SIZE:
                raise InvalidInput(f"consistency proof line {n} is not a 32-byte hash", hint="")
            proof.append(h)
        return cls(int(lines[0][4:]), tuple(proof), checkpoint)


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], checkpoint: str) -> str:
    return AddCheckpointRequest(old_size, tuple(proof), checkpoint).render()
