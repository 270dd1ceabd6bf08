"""Text watermark keys: one per registered system, a 32-byte secret plus the settings detection must match."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InvalidInput

__all__ = ["ALGORITHM", "KEY_FORMAT", "TextKey"]

# Names the scheme, its pseudo-random function and its score; a change to any of them is a new algorithm id.
ALGORITHM = "assay-text-gumbel/1"
KEY_FORMAT = "assay-text-key/1"
# h = 2 since 2026-12 (was 3): fewer pairs broken by each edit (30% word deletion, 200 tokens, FPR 1e-6: 89.0 vs
# 68.5 % on the bench) and, on the bench model, no easier to steal or spoof than h = 3 (bench/text/STEALING.md).
# A key stores its own width, so keys issued with 3 keep it.
DEFAULT_CONTEXT_WIDTH = 2
MAX_CONTEXT_WIDTH = 8


@dataclass(frozen=True)
class TextKey:
    """A system's text watermark key.

    ``secret`` keys the pseudo-random values; ``context_width`` is how many preceding tokens seed them (the
    generator and the detector must agree); ``key_id`` is a public fingerprint (16 hex digits) that reveals
    nothing about the secret; ``system_id`` and ``tokenizer_sha256`` say whose key it is and which tokenizer
    its texts are tokenised with.
    """

    secret: bytes = field(repr=False)
    context_width: int = DEFAULT_CONTEXT_WIDTH
    system_id: str = ""
    tokenizer_sha256: str = ""
    key_id: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != 32:
            raise InvalidInput("a text watermark key's secret must be 32 bytes", hint="use TextKey.generate()")
        if not (1 <= int(self.context_width) <= MAX_CONTEXT_WIDTH):
            raise InvalidInput(
                f"context_width must be 1..{MAX_CONTEXT_WIDTH}, not {self.context_width}",
                hint=f"the default, {DEFAULT_CONTEXT_WIDTH}, suits most models",
            )
        if not self.key_id:
            object.__setattr__(self, "key_id", fingerprint(self.secret))

    @classmethod
    def generate(cls, *, context_width: int = DEFAULT_CONTEXT_WIDTH, system_id: str = "") -> TextKey:
        """A fresh random key (for tests and for providers that mark without a register)."""
        return cls(secrets.token_bytes(32), context_width=context_width, system_id=system_id)

    def to_json(self) -> str:
        """The key file a provider's generation servers load. Secret: keep it like a password."""
        return json.dumps(
            {
                "format": KEY_FORMAT,
                "alg": ALGORITHM,
                "key_id": self.key_id,
                "system_id": self.system_id,
                "context_width": self.context_width,
                "tokenizer_sha256": self.tokenizer_sha256,
                "secret": base64.b64encode(self.secret).decode(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> TextKey:
        try:
            d = text if isinstance(text, dict) else json.loads(text)
        except ValueError as exc:
            raise InvalidInput(
                f"the text key file is not JSON ({exc})", hint="use the file the register gave"
            ) from None
        if not isinstance(d, dict) or d.get("format") != KEY_FORMAT:
            raise InvalidInput("this is not an Assay text watermark key", hint="export it with 'assay text key export'")
        if d.get("alg") != ALGORITHM:
            raise InvalidInput(
                f"the key is for {d.get('alg')!r}; this version marks with {ALGORITHM!r}",
                hint="export a current key from the register",
            )
        try:
            key = cls(
                base64.b64decode(str(d["secret"]), validate=True),
                context_width=int(d["context_width"]),
                system_id=str(d.get("system_id", "")),
                tokenizer_sha256=str(d.get("tokenizer_sha256", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"the text key file is incomplete or damaged ({exc})", hint="export the key again"
            ) from None
        if d.get("key_id") and d["key_id"] != key.key_id:
            raise InvalidInput("the text key file's key_id does not match its secret", hint="export the key again")
        return key

    def __repr__(self) -> str:  # the secret never ends up in logs or tracebacks
        return f"TextKey(key_id={self.key_id!r}, system_id={self.system_id!r}, context_width={self.context_width})"


def fingerprint(secret: bytes) -> str:
    return hashlib.sha256(b"assay/text-key-id/v1" + secret).hexdigest()[:16]
