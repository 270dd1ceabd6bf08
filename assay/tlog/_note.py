"""C2SP signed-note: Ed25519 note signatures, key IDs, verifier keys, signer keys, and strict note parsing.

Formats (https://c2sp.org/signed-note):

- note: text ending in "\\n", a blank line, then lines ``— <name> <base64(key ID[4] || signature)>``;
- key ID: ``SHA-256(name || "\\n" || type || public key)[:4]``, type 0x01 for Ed25519;
- verifier key (vkey): ``<name>+<hex key ID>+<base64(type || public key)>``;
- signer key (as golang.org/x/mod/sumdb/note): ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from assay.errors import InvalidInput, VerificationError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04

# At least 16 signatures must be accepted (spec); the cap bounds the work a hostile note can cause.
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1_000_000
_SIG_PREFIX = "\u2014 "


def _b64decode(text: str, what: str) -> bytes:
    # Standard base64 with padding, strictly: no whitespace, no URL-safe alphabet, canonical padding bits.
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) or len(text) % 4:
        raise InvalidInput(f"{what} is not standard base64", hint="use RFC 4648 base64 with padding")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not standard base64", hint="use RFC 4648 base64 with padding") from None
    if base64.b64encode(data).decode() != text:
        raise InvalidInput(f"{what} is not canonical base64", hint="use RFC 4648 base64 with padding")
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || "\\n" || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def check_key_name(name: str) -> None:
    if not name or any(ch.isspace() or ch == "+" or ord(ch) < 0x20 for ch in name):
        raise InvalidInput(
            f"invalid key name {name!r}",
            hint="key names are non-empty and contain no spaces or '+', e.g. example.com/log",
        )


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: the key's name, its 4-byte ID, and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed, not yet verified, signed note."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


class NoteVerifier(Protocol):
    name: str
    key_id: bytes

    def verify(self, message: bytes, signature: bytes) -> bool: ...


class _PublicKey:
    """A named Ed25519 public key of one signature type (``alg``): what note and cosignature verifiers share."""

    alg: int
    _which = "verifier"

    def __init__(self, name: str, public_key: bytes) -> None:
        check_key_name(name)
        if len(public_key) != 32:
            raise InvalidInput("an Ed25519 public key is 32 bytes", hint=f"check the {self._which} key")
        self.name = name
        self.public_key = bytes(public_key)
        self.key_id = key_id(name, self.alg, self.public_key)
        self._key = Ed25519PublicKey.from_public_bytes(self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.alg]) + self.public_key)}"


class Verifier(_PublicKey):
    """An Ed25519 note verifier for one (name, public key)."""

    alg = ALG_ED25519

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey!r})"


class _PrivateKey:
    """An Ed25519 private key of one signature type, with its C2SP text form (shared by note signers and
    witness cosigners, which differ only in their type byte and in what they sign)."""

    alg: int
    _what = "signer"  # how errors name the key

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.alg, self.public_key)

    @classmethod
    def generate(cls, name: str) -> Self:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_text(cls, text: str) -> Self:
        """Parse a private key ``PRIVATE+KEY+<name>+<hex id>+<base64(type || 32-byte seed)>``."""
        hint = f"generate one with {cls.__name__}.generate(name).to_text()"
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise InvalidInput(f"the {cls._what} key is not of the form PRIVATE+KEY+<name>+<id>+<key>", hint=hint)
        name, hex_id, encoded = parts[2], parts[3], parts[4]
        raw = _b64decode(encoded, f"the {cls._what} key")
        if len(raw) != 33 or raw[0] != cls.alg:
            raise InvalidInput(
                f"the {cls._what} key is not an Ed25519 (type 0x{cls.alg:02x}) key of 32 bytes", hint=hint
            )
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if hex_id != signer.key_id.hex():
            raise InvalidInput(
                f"the {cls._what} key's ID does not match its name and key",
                hint="the key text was altered; restore it from a backup",
            )
        return signer

    def to_text(self) -> str:
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64(bytes([self.alg]) + seed)}"


class Signer(_PrivateKey):
    """An Ed25519 note signer. Keep :meth:`to_text` secret: it is the private key."""

    alg = ALG_ED25519

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def sign(self, text: str) -> NoteSignature:
        return NoteSignature(self.name, self.key_id, self._key.sign(text.encode()))


def parse_note(data: bytes | str) -> Note:
    """Split a signed note into text and signature lines, strictly (nothing is verified yet)."""
    if isinstance(data, bytes):
        if len(data) > MAX_NOTE_BYTES:
            raise InvalidInput(f"the note is larger than {MAX_NOTE_BYTES} bytes", hint="")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the note is not valid UTF-8", hint="notes are UTF-8 text") from None
    if len(data) > MAX_NOTE_BYTES:
        raise InvalidInput(f"the note is larger than {MAX_NOTE_BYTES} bytes", hint="")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in data):
        raise InvalidInput("the note contains control characters", hint="notes contain no control characters")
    # The text is separated from the signatures by the last blank line.
    split = data.rfind("\n\n")
    if split < 0 or not data.endswith("\n"):
        raise InvalidInput(
            "the note has no blank line before its signatures, or does not end in a newline",
            hint="a signed note is text, a blank line, then '— name signature' lines",
        )
    text, block = data[: split + 1], data[split + 2 :]
    if not block:
        raise InvalidInput("the note has no signature lines", hint="a signed note needs at least one signature")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidInput(f"the note has more than {MAX_SIGNATURES} signatures", hint="")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(_SIG_PREFIX):
            raise InvalidInput(
                f"signature line {number} does not start with an em dash and a space",
                hint="signature lines look like '— example.com/log AbCd...'",
            )
        fields = line[len(_SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise InvalidInput(f"signature line {number} is not '— <name> <base64 signature>'", hint="")
        name, encoded = fields
        check_key_name(name)
        raw = _b64decode(encoded, f"the signature on line {number}")
        if len(raw) < 5:
            raise InvalidInput(f"the signature on line {number} is too short", hint="")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return Note(text, tuple(signatures))


def open_note(data: bytes | str, verifiers: Iterable[NoteVerifier]) -> tuple[Note, list[NoteSignature]]:
    """Parse and verify a note; return it with the signatures that verified by known keys.

    1. Parse strictly. 2. Ignore signatures by unknown keys (name and key ID both must match).
    3. A signature by a known key that fails to verify rejects the whole note.
    4. No verified signature by a known key rejects the note.
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    if not known:
        raise InvalidInput("no verifier keys were given", hint="pass the log's verifier key (from /log/vkey)")
    message = note.text.encode()
    verified: list[NoteSignature] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, sig.signature):
            raise VerificationError(
                f"the signature by {sig.name} ({sig.key_id.hex()}) does not verify",
                hint="the note was altered after signing, or signed by another key with the same name and ID",
            )
        verified.append(sig)
    if not verified:
        names = ", ".join(sorted({f"{s.name}+{s.key_id.hex()}" for s in note.signatures}))
        expected = ", ".join(sorted(f"{n}+{k.hex()}" for n, k in known))
        raise VerificationError(
            f"the note is not signed by any known key (signed by: {names}; expected: {expected})",
            hint="check that you use the right verifier key for this log",
        )
    return note, verified


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Sign ``text`` (which must end in a newline) with every signer; returns the note."""
    if not text.endswith("\n") or "\n\n" in text and text.rfind("\n\n") == len(text) - 2:
        raise InvalidInput("note text must end in exactly one newline", hint="")
    return Note(text, tuple(s.sign(text) for s in signers)).render()


def u64(value: int) -> bytes:
    return struct.pack(">Q", value)
