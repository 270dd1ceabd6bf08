"""C2SP tlog-cosignature v1 (Ed25519, signature type 0x04): a witness's timestamped signature on a checkpoint.

Signature bytes after the key ID: ``u64 big-endian timestamp || 64-byte Ed25519 signature`` over
``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint text``.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from assay.errors import InvalidInput
from assay.tlog._note import ALG_COSIGNATURE_V1, NoteSignature, _b64decode, b64, check_key_name, key_id

_MAX_TIMESTAMP = 2**63 - 1


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint_text.encode()


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The POSIX time a cosignature carries (only meaningful once the cosignature has verified)."""
    if len(signature.signature) != 72:
        raise InvalidInput("a cosignature is 72 bytes after its key ID", hint="")
    return int(struct.unpack(">Q", signature.signature[:8])[0])


class CosignatureVerifier:
    """Verifies Ed25519 checkpoint cosignatures of one witness."""

    alg = ALG_COSIGNATURE_V1

    def __init__(self, name: str, public_key: bytes) -> None:
        check_key_name(name)
        if len(public_key) != 32:
            raise InvalidInput("an Ed25519 public key is 32 bytes", hint="check the witness key")
        self.name = name
        self.public_key = bytes(public_key)
        self.key_id = key_id(name, self.alg, self.public_key)
        self._key = Ed25519PublicKey.from_public_bytes(self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.alg]) + self.public_key)}"

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


class CosignatureSigner:
    """A witness's Ed25519 cosigning key."""

    alg = ALG_COSIGNATURE_V1

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.alg, self.public_key)

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    @classmethod
    def from_text(cls, text: str) -> CosignatureSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex id>+<base64(0x04 || 32-byte seed)>``."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InvalidInput(
                "the cosigner key is not of the form PRIVATE+KEY+<name>+<id>+<key>",
                hint="generate one with CosignatureSigner.generate(name).to_text()",
            )
        raw = _b64decode(parts[4], "the cosigner key")
        if len(raw) != 33 or raw[0] != cls.alg:
            raise InvalidInput("the cosigner key is not an Ed25519 cosignature (type 0x04) key", hint="")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if parts[3] != signer.key_id.hex():
            raise InvalidInput("the cosigner key's ID does not match its name and key", hint="")
        return signer

    def to_text(self) -> str:
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64(bytes([self.alg]) + seed)}"

    def cosign(self, checkpoint_text: str, timestamp: int) -> NoteSignature:
        if not 0 < timestamp <= _MAX_TIMESTAMP:
            raise InvalidInput("a cosignature timestamp is a positive POSIX time", hint="")
        sig = self._key.sign(cosigned_message(checkpoint_text, timestamp))
        return NoteSignature(self.name, self.key_id, struct.pack(">Q", timestamp) + sig)
