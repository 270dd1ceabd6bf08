"""C2SP tlog-cosignature v1 (Ed25519, signature type 0x04): a witness's timestamped signature on a checkpoint.

Signature bytes after the key ID: ``u64 big-endian timestamp || 64-byte Ed25519 signature`` over
``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint text``.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidSignature

from assay.errors import InvalidInput
from assay.tlog._note import ALG_COSIGNATURE_V1, NoteSignature, _PrivateKey, _PublicKey

_MAX_TIMESTAMP = 2**63 - 1


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint_text.encode()


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The POSIX time a cosignature carries (only meaningful once the cosignature has verified)."""
    if len(signature.signature) != 72:
        raise InvalidInput("a cosignature is 72 bytes after its key ID", hint="")
    return int(struct.unpack(">Q", signature.signature[:8])[0])


class CosignatureVerifier(_PublicKey):
    """Verifies Ed25519 checkpoint cosignatures of one witness."""

    alg = ALG_COSIGNATURE_V1
    _which = "witness"

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 72:
            return False
        timestamp = int(struct.unpack(">Q", signature[:8])[0])
        if timestamp > _MAX_TIMESTAMP:
            return False
        try:
            self._key.verify(signature[8:], cosigned_message(message.decode(), timestamp))
        except (InvalidSignature, UnicodeDecodeError):
            return False
        return True

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.vkey!r})"


class CosignatureSigner(_PrivateKey):
    """A witness's Ed25519 cosigning key. Keep :meth:`to_text` secret: it is the private key."""

    alg = ALG_COSIGNATURE_V1
    _what = "cosigner"

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def cosign(self, checkpoint_text: str, timestamp: int) -> NoteSignature:
        if not 0 < timestamp <= _MAX_TIMESTAMP:
            raise InvalidInput("a cosignature timestamp is a positive POSIX time", hint="")
        sig = self._key.sign(cosigned_message(checkpoint_text, timestamp))
        return NoteSignature(self.name, self.key_id, struct.pack(">Q", timestamp) + sig)
