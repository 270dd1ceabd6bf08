"""The cryptography of the complaints channel: sealed boxes, the complaint container, receipts (key files: keyfile).

Everything here is pure: no database, no web. The same constructions run in the browser
(``assay/web/static/complaints/complaints.js`` with the vendored libsodium.js), so a complaint sealed in a
browser opens here and the reverse; ``tests/complaints/test_browser.py`` checks it both ways in Chromium.

- **Sealed box** (libsodium ``crypto_box_seal``: X25519 + XSalsa20-Poly1305 with an ephemeral sender key),
  through PyNaCl. The plaintext is first padded with Padmé lengths (at most ~12 % overhead) and ISO/IEC
  7816-4 padding (``sodium_pad``), so a ciphertext's length tells little about the complaint's length.
- **Container**: what one sealed box holds: a JSON header (the form's fields, a list of attachments and, in a
  complaint, the receipt's reply public key) followed by the attachments' bytes. The reply key travels inside
  the sealed box so that the oversight body seals its replies to the key the complainant's browser made, not
  to whatever key the server claims (a server that swapped it could read the replies). Written by hand because
  it is 30 lines and both sides must agree on every byte; no standard format exists in both PyNaCl and
  libsodium.js.
- **Receipt**: 12 BIP-39 words (128 random bits plus a 4-bit checksum that catches typos), made and checked
  with the ``mnemonic`` package. Argon2id of the receipt's 16 random bytes with the installation's public
  salt gives 64 bytes: the first 32 are the *access key* (the server keeps only its HMAC under a secret
  pepper), the last 32 the seed of the X25519 *reply key pair* (replies are sealed to its public half).
- **Own copy**: what a complainant sent (the fields and the attachments' names, not the files), encrypted with
  ``crypto_secretbox`` under a *copy key* = keyed BLAKE2b-256 of the reply-key seed, so that the receipt's
  holder can re-read it and nobody else can read, alter or forge it (the server never sees the seed).
- **Key file**: the oversight body's X25519 private key, encrypted with ``crypto_secretbox`` under a key
  derived from a passphrase by Argon2id; kept off the server.

Example::

    >>> from assay.complaints.crypto import generate_body_key, seal, open_sealed
    >>> private, public = generate_body_key()
    >>> open_sealed(seal(b"what happened", public), private)
    b'what happened'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox

from assay.errors import FieldProblem, InvalidInput, VerificationError

__all__ = [
    "Attachment",
    "ComplaintContent",
    "KdfParams",
    "ReceiptKeys",
    "UndecryptableError",
    "check_content",
    "derive_receipt_keys",
    "generate_body_key",
    "key_id",
    "fingerprint",
    "new_receipt",
    "open_own_copy",
    "open_sealed",
    "pack_complaint",
    "parse_receipt",
    "seal",
    "seal_own_copy",
    "unpack_complaint",
]

CONTAINER_MAGIC = b"ASSAY-COMPLAINT-1\n"
MESSAGE_MAGIC = b"ASSAY-MESSAGE-1\n"
OWN_COPY_MAGIC = b"ASSAY-OWN-COPY-1\n"
OWN_COPY_CONTEXT = b"assay-complaints-own-copy-v1"  # BLAKE2b(key=reply seed) of this gives the copy key
# The largest own copy: every field at its limit in 4-byte UTF-8, ten attachment names, the padding and the box.
MAX_OWN_COPY_BYTES = 256 * 1024
SEAL_OVERHEAD = nacl.bindings.crypto_box_SEALBYTES  # 48: ephemeral public key + MAC

# The form's fields, in the order the form shows them. ``what`` is the only one a complaint needs.
FIELDS: dict[str, int] = {
    "what": 20_000,  # what happened
    "when": 500,  # when it happened (free text: "last spring", "3 May 2026")
    "effect": 20_000,  # how it affected you
    "ask": 10_000,  # what you ask the oversight body to do
    "contact": 1_000,  # optional contact details
}
MAX_ATTACHMENTS = 10
MAX_NAME_CHARS = 200


class UndecryptableError(VerificationError):
    """A ciphertext did not open: malformed, truncated, tampered with, or sealed to another key."""

    code = "undecryptable"


# ---------------------------------------------------------------------------------------------------------
# Keys


def generate_body_key() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair for the oversight body: ``(private_key, public_key)``, 32 bytes each."""
    private = PrivateKey.generate()
    return bytes(private), bytes(private.public_key)


def key_id(public_key: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(b"assay-complaints-key\n" + public_key).hexdigest()[:16]


def fingerprint(public_key: bytes) -> str:
    """The SHA-256 of a public key in groups of four hex digits, for people to compare by eye."""
    digest = hashlib.sha256(b"assay-complaints-key\n" + public_key).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def decode_public_key(text: str, *, path: str = "public_key") -> bytes:
    raw = _b64decode(text, path=path)
    if len(raw) != 32:
        raise InvalidInput(
            f"{path} must be a 32-byte X25519 public key, got {len(raw)} bytes",
            hint="give the base64url public key printed by 'assay complaints keygen'",
            problems=[FieldProblem(path, "not a 32-byte key", "give a base64url X25519 public key")],
        )
    return raw


# ---------------------------------------------------------------------------------------------------------
# Sealed boxes with padding


def padme_length(length: int) -> int:
    """Padmé (Nikitin et al., PETS 2019): round up so that at most O(log log L) bits of the length leak."""
    if length < 2:
        return max(length, 1)
    e = length.bit_length() - 1  # floor(log2(L))
    s = e.bit_length()  # floor(log2(e)) + 1
    last_bits = e - s
    mask = (1 << last_bits) - 1
    return (length + mask) & ~mask


def seal(plaintext: bytes, public_key: bytes) -> bytes:
    """Pad ``plaintext`` (Padmé length, ISO 7816-4 bytes) and seal it to ``public_key``."""
    block = padme_length(len(plaintext) + 1)
    padded = nacl.bindings.sodium_pad(plaintext, block)
    return SealedBox(PublicKey(public_key)).encrypt(padded)


def open_sealed(ciphertext: bytes, private_key: bytes) -> bytes:
    """Open a sealed box made by :func:`seal` (here or in the browser); fail closed on anything else.

    1. The ciphertext must be long enough to hold the ephemeral key, the MAC and one padding byte.
    2. The box must open with ``private_key`` (authenticates every byte).
    3. The padding must be well formed.
    """
    if len(ciphertext) < SEAL_OVERHEAD + 1:
        raise UndecryptableError(
            f"the ciphertext is {len(ciphertext)} bytes, too short to be a sealed complaint",
            hint="send the whole sealed box as made by the complaint form or 'assay complaints reply'",
        )
    try:
        padded = SealedBox(PrivateKey(private_key)).decrypt(ciphertext)
    except nacl.exceptions.CryptoError:
        raise UndecryptableError(
            "the ciphertext does not open with this key: it was damaged, or sealed to another key",
            hint="check that the key file matches the key id the complaint names",
        ) from None
    try:
        return nacl.bindings.sodium_unpad(padded, len(padded))
    except (nacl.exceptions.CryptoError, ValueError):
        raise UndecryptableError(
            "the decrypted complaint has malformed padding", hint="it was not made by an Assay complaint form"
        ) from None


# ---------------------------------------------------------------------------------------------------------
# The container inside a sealed complaint


@dataclass(frozen=True)
class Attachment:
    name: str
    media_type: str
    data: bytes = field(repr=False)
    # What the browser did to the file: "stripped" (re-encoded without metadata) or "as-is" (kept, warned).
    metadata: str = "as-is"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ComplaintContent:
    """What a complainant wrote: the form's fields and attachments. Never stored unencrypted."""

    fields: dict[str, str]
    attachments: tuple[Attachment, ...] = ()
    kind: str = "complaint"  # "complaint" (the first submission) or "information" (added later)
    system_id: str = ""
    mode: str = "browser"  # where it was encrypted: "browser" or "server"
    language: str = ""
    # The receipt's X25519 reply public key (complaints only): replies must be sealed to this key.
    reply_public_key: bytes = b""


def pack_complaint(content: ComplaintContent) -> bytes:
    """Serialise a complaint: magic line, 4-byte header length, JSON header, then the attachments' bytes."""
    check_content(content)
    header = {
        "kind": content.kind,
        "system": content.system_id,
        "mode": content.mode,
        "fields": {k: v for k, v in content.fields.items() if v},
        "attachments": [
            {"name": a.name, "type": a.media_type, "size": len(a.data), "sha256": a.sha256, "metadata": a.metadata}
            for a in content.attachments
        ],
    }
    if content.language:
        header["language"] = content.language
    if content.reply_public_key:
        header["reply_key"] = b64(content.reply_public_key)
    raw = json.dumps(header, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    parts = [CONTAINER_MAGIC, len(raw).to_bytes(4, "big"), raw]
    parts += [a.data for a in content.attachments]
    return b"".join(parts)


def unpack_complaint(blob: bytes) -> ComplaintContent:
    """Parse a decrypted container; every length and hash is checked, nothing is trusted.

    1. The magic line and header length must fit the blob.
    2. The header must be a JSON object with known keys and field values that are strings within limits.
    3. The attachments' sizes must add up to exactly the bytes that follow, and each SHA-256 must match.
    """

    def bad(why: str) -> UndecryptableError:
        return UndecryptableError(
            f"the decrypted complaint is malformed: {why}",
            hint="it was not made by an Assay complaint form or was damaged",
        )

    if not blob.startswith(CONTAINER_MAGIC) or len(blob) < len(CONTAINER_MAGIC) + 4:
        raise bad("it does not start with the Assay complaint header")
    at = len(CONTAINER_MAGIC)
    size = int.from_bytes(blob[at : at + 4], "big")
    at += 4
    if size > len(blob) - at:
        raise bad("the header is longer than the data")
    try:
        header = json.loads(blob[at : at + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("the header is not UTF-8 JSON") from None
    at += size
    if not isinstance(header, dict) or not isinstance(header.get("fields"), dict):
        raise bad("the header has no fields")
    fields = header["fields"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise bad("a field is not text")
    metas = header.get("attachments", [])
    if not isinstance(metas, list) or len(metas) > MAX_ATTACHMENTS:
        raise bad("the attachment list is malformed")
    attachments = []
    for meta in metas:
        if not isinstance(meta, dict) or not isinstance(meta.get("size"), int) or meta["size"] < 0:
            raise bad("an attachment's size is missing")
        data = blob[at : at + meta["size"]]
        if len(data) != meta["size"]:
            raise bad("an attachment is truncated")
        at += meta["size"]
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise bad("an attachment's SHA-256 does not match")
        attachments.append(
            Attachment(
                name=_safe_name(str(meta.get("name", "attachment"))),
                media_type=str(meta.get("type") or "application/octet-stream")[:200],
                data=data,
                metadata=str(meta.get("metadata", "as-is"))[:20],
            )
        )
    if at != len(blob):
        raise bad("there are bytes after the last attachment")
    reply_key = b""
    if "reply_key" in header:
        try:
            reply_key = decode_public_key(header["reply_key"], path="reply_key")
        except InvalidInput:
            raise bad("the reply key is not a 32-byte base64url key") from None
    content = ComplaintContent(
        fields=dict(fields),
        attachments=tuple(attachments),
        kind=str(header.get("kind", "complaint")),
        system_id=str(header.get("system", "")),
        mode=str(header.get("mode", "browser")),
        language=str(header.get("language", "")),
        reply_public_key=reply_key,
    )
    try:
        check_content(content)
    except InvalidInput as exc:
        raise bad(exc.message) from None
    return content


def pack_message(text: str) -> bytes:
    """A reply from the oversight body: a magic line and UTF-8 text."""
    return MESSAGE_MAGIC + text.encode("utf-8")


def unpack_message(blob: bytes) -> str:
    if not blob.startswith(MESSAGE_MAGIC):
        raise UndecryptableError("the decrypted reply is malformed", hint="it was not made by 'assay complaints reply'")
    try:
        return blob[len(MESSAGE_MAGIC) :].decode("utf-8")
    except UnicodeDecodeError:
        raise UndecryptableError("the decrypted reply is not UTF-8 text") from None


def check_content(content: ComplaintContent) -> None:
    """Raise :class:`InvalidInput` naming every field that is unknown, too long or missing."""
    problems = []
    if content.kind not in ("complaint", "information"):
        problems.append(FieldProblem("kind", f"unknown kind {content.kind!r}", "use complaint or information"))
    for name, value in content.fields.items():
        if name not in FIELDS:
            problems.append(FieldProblem(name, "not a field of the complaint form", f"use one of {', '.join(FIELDS)}"))
        elif len(value) > FIELDS[name]:
            problems.append(
                FieldProblem(name, f"longer than {FIELDS[name]} characters", "shorten it, or attach a document")
            )
    if not content.fields.get("what", "").strip() and not content.attachments:
        problems.append(FieldProblem("what", "say what happened", "describe what happened, or attach a document"))
    if len(content.attachments) > MAX_ATTACHMENTS:
        problems.append(
            FieldProblem(
                "attachments", f"more than {MAX_ATTACHMENTS} attachments", "combine files into fewer attachments"
            )
        )
    if problems:
        what = "the complaint" if content.kind == "complaint" else "the added information"
        raise InvalidInput(f"{what} is incomplete or too long", hint="fix the fields listed", problems=problems)


def _safe_name(name: str) -> str:
    """A file name that is safe to write in a local folder: no folders, no control characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return name[:MAX_NAME_CHARS] or "attachment"


# ---------------------------------------------------------------------------------------------------------
# Receipts


RECEIPT_WORDS = 12
RECEIPT_ENTROPY_BYTES = 16


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters and the installation's public salt for deriving keys from receipts."""

    salt: bytes
    opslimit: int = 3
    memlimit: int = 64 * 1024 * 1024

    def as_dict(self) -> dict[str, Any]:
        return {"alg": "argon2id13", "salt": b64(self.salt), "opslimit": self.opslimit, "memlimit": self.memlimit}


@dataclass(frozen=True)
class ReceiptKeys:
    access_key: bytes = field(repr=False)
    reply_private_key: bytes = field(repr=False)
    reply_public_key: bytes
    # Encrypts the complainant's own copy of what they sent; derived from the secret half, never sent anywhere.
    copy_key: bytes = field(default=b"", repr=False)


def _mnemonic():  # type: ignore[no-untyped-def]
    from mnemonic import Mnemonic

    return Mnemonic("english")


def wordlist() -> list[str]:
    return list(_mnemonic().wordlist)


def new_receipt() -> tuple[str, bytes]:
    """A new receipt: 12 words (BIP-39) for the person, and its 16 random bytes for the key derivation."""
    entropy = secrets.token_bytes(RECEIPT_ENTROPY_BYTES)
    return _mnemonic().to_mnemonic(entropy), entropy


def parse_receipt(text: str) -> bytes:
    """The 16 random bytes of a receipt as typed by a person; tolerant of case, spacing and dashes.

    Each word may be given by its first four letters (BIP-39 words are unique in them). Errors say what is
    wrong with the *text* only; they never depend on whether a complaint with this receipt exists.
    """
    m = _mnemonic()
    words = unicodedata.normalize("NFKD", text).lower().replace("-", " ").replace(",", " ").split()
    if len(words) != RECEIPT_WORDS:
        raise InvalidInput(
            f"a receipt has {RECEIPT_WORDS} words; this has {len(words)}",
            hint="type all twelve words of your receipt, in order",
            problems=[FieldProblem("receipt", f"{len(words)} words", f"give the {RECEIPT_WORDS} words")],
        )
    by_prefix = {w[:4]: w for w in m.wordlist}
    full = []
    for i, w in enumerate(words, 1):
        word = w if w in m.wordlist else by_prefix.get(w[:4]) if len(w) >= 4 else None
        if word is None:
            raise InvalidInput(
                f"word {i} of the receipt, {w[:30]!r}, is not a receipt word",
                hint="check the spelling of that word on your note",
                problems=[FieldProblem("receipt", f"word {i} is not a receipt word", "check its spelling")],
            )
        full.append(word)
    phrase = " ".join(full)
    if not m.check(phrase):
        raise InvalidInput(
            "the receipt's words do not fit together: one of them is wrong or two are swapped",
            hint="compare each word with your note, in order",
            problems=[FieldProblem("receipt", "the checksum does not match", "check each word and their order")],
        )
    return bytes(m.to_entropy(phrase))


def derive_receipt_keys(entropy: bytes, params: KdfParams) -> ReceiptKeys:
    """Argon2id(receipt bytes, installation salt) -> access key (32 bytes) and reply key pair."""
    if len(entropy) != RECEIPT_ENTROPY_BYTES:
        raise InvalidInput("a receipt carries 16 random bytes", hint="give the receipt's twelve words")
    out = argon2id.kdf(64, entropy, params.salt, opslimit=params.opslimit, memlimit=params.memlimit)
    access, seed = out[:32], out[32:]
    public, private = nacl.bindings.crypto_box_seed_keypair(seed)
    copy_key = nacl.bindings.crypto_generichash_blake2b_salt_personal(OWN_COPY_CONTEXT, digest_size=32, key=seed)
    return ReceiptKeys(access_key=access, reply_private_key=private, reply_public_key=public, copy_key=copy_key)


# ---------------------------------------------------------------------------------------------------------
# The complainant's own copy


def seal_own_copy(content: ComplaintContent, copy_key: bytes) -> bytes:
    """What the complainant sent, for the complainant: fields and attachment names, padded, in a secret box.

    Attachments' bytes are left out (the copy would double the upload); their names, types and sizes are kept.
    """
    check_content(content)
    doc = {
        "kind": content.kind,
        "system": content.system_id,
        "mode": content.mode,
        "fields": {k: v for k, v in content.fields.items() if v},
        "attachments": [
            {"name": a.name, "type": a.media_type, "size": len(a.data), "metadata": a.metadata}
            for a in content.attachments
        ],
    }
    plain = OWN_COPY_MAGIC + json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    padded = nacl.bindings.sodium_pad(plain, padme_length(len(plain) + 1))
    return bytes(nacl.secret.SecretBox(copy_key).encrypt(padded))


def open_own_copy(blob: bytes, copy_key: bytes) -> dict[str, Any]:
    """Open an own copy made here or in the browser; fail closed.

    1. The secret box must open with the copy key (it authenticates every byte: the server cannot alter it).
    2. The padding, the magic line and the JSON document must be well formed, with text fields only.
    """
    try:
        padded = nacl.secret.SecretBox(copy_key).decrypt(blob)
        plain = nacl.bindings.sodium_unpad(padded, len(padded))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise UndecryptableError(
            "this copy does not open with the receipt's key", hint="it was damaged, or made with another receipt"
        ) from None
    try:
        if not plain.startswith(OWN_COPY_MAGIC):
            raise ValueError("magic")
        doc = json.loads(plain[len(OWN_COPY_MAGIC) :].decode("utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
            raise ValueError("fields")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in doc["fields"].items()):
            raise ValueError("fields")
        if not isinstance(doc.get("attachments", []), list):
            raise ValueError("attachments")
    except (ValueError, UnicodeDecodeError):
        raise UndecryptableError("this copy is malformed", hint="it was not made by an Assay complaint form") from None
    return doc


def lookup_hash(access_key: bytes, pepper: bytes) -> bytes:
    """What the server stores and indexes for a receipt: HMAC-SHA256 of the access key under the pepper."""
    return hmac.new(pepper, b"assay-complaints-lookup\n" + access_key, hashlib.sha256).digest()


# ---------------------------------------------------------------------------------------------------------
# Encoding


def b64(data: bytes) -> str:
    """URL-safe base64 without padding (what libsodium.js calls URLSAFE_NO_PADDING)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str, *, path: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidInput(
            f"{path} must be base64url text", problems=[FieldProblem(path, "not text", "send base64url")]
        )
    # Strict: both alphabets accepted, but no stray characters (the default decoder silently drops them).
    cleaned = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"{path} is not valid base64url",
            hint="encode bytes as URL-safe base64",
            problems=[FieldProblem(path, "not base64url", "encode bytes as URL-safe base64")],
        ) from None


def b64decode(text: str, *, path: str = "value") -> bytes:
    return _b64decode(text, path=path)
