"""The oversight body's key file: its complaints private key, encrypted under a passphrase (Argon2id +
XSalsa20-Poly1305), beside the public key and its id. Written by ``assay complaints keygen``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.utils
from nacl.public import PrivateKey

from assay.complaints.crypto import b64, b64decode, decode_public_key, key_id
from assay.errors import InvalidInput, VerificationError
from assay.files import create_once, replace_durably

__all__ = ["KEY_FILE_FORMAT", "KeyFileKdf", "load_key_file", "read_key_file_public", "write_key_file"]

KEY_FILE_FORMAT = "assay-complaints-key/1"


@dataclass(frozen=True)
class KeyFileKdf:
    opslimit: int = argon2id.OPSLIMIT_MODERATE
    memlimit: int = argon2id.MEMLIMIT_MODERATE


def write_key_file(
    path: Path, private_key: bytes, passphrase: str, *, kdf: KeyFileKdf | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Encrypt ``private_key`` under ``passphrase`` and write it to ``path`` (mode 0600). Returns the file's JSON."""
    kdf = kdf or KeyFileKdf()
    if len(passphrase) < 12:
        raise InvalidInput(
            "the passphrase is shorter than 12 characters",
            hint="choose a long passphrase, e.g. five or more random words",
        )
    if path.exists() and not overwrite:
        raise InvalidInput(
            f"{path} already exists", hint="choose another file name; never overwrite a key you may need"
        )
    public = bytes(PrivateKey(private_key).public_key)
    salt = nacl.utils.random(argon2id.SALTBYTES)
    wrap_key = argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit=kdf.opslimit, memlimit=kdf.memlimit
    )
    box = nacl.secret.SecretBox(wrap_key).encrypt(private_key)
    doc = {
        "format": KEY_FILE_FORMAT,
        "key_id": key_id(public),
        "public_key": b64(public),
        "created": date.today().isoformat(),
        "kdf": {"alg": "argon2id13", "salt": b64(salt), "opslimit": kdf.opslimit, "memlimit": kdf.memlimit},
        "encrypted_private_key": b64(bytes(box)),
    }
    data = (json.dumps(doc, indent=2) + "\n").encode()
    # Durably, and never half-written: a key file is the only way to read the complaints sealed to its key.
    if overwrite:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_durably(path, data, mode=0o600)
    elif not create_once(path, data, mode=0o600):
        raise InvalidInput(
            f"{path} already exists", hint="choose another file name; never overwrite a key you may need"
        )
    return doc


def _read_key_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInput(
            f"no key file at {path}", hint="give the file written by 'assay complaints keygen'"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"{path} is not a readable key file: {exc}", hint="give the file written by 'assay complaints keygen'"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_FILE_FORMAT:
        raise InvalidInput(
            f"{path} is not an Assay complaints key file", hint="give the file written by 'assay complaints keygen'"
        )
    return doc


def read_key_file_public(path: Path) -> bytes:
    """The public key in a key file (no passphrase needed)."""
    return decode_public_key(str(_read_key_doc(path).get("public_key", "")), path=f"{path}: public_key")


def load_key_file(path: Path, passphrase: str) -> tuple[bytes, bytes]:
    """Decrypt a key file: ``(private_key, public_key)``.

    1. The file must be an Assay complaints key file with sane Argon2id parameters.
    2. The passphrase must open the encrypted private key (authenticated).
    3. The private key must match the public key written beside it.
    """
    doc = _read_key_doc(path)
    try:
        kdf = doc["kdf"]
        salt = b64decode(kdf["salt"], path="kdf.salt")
        ops, mem = int(kdf["opslimit"]), int(kdf["memlimit"])
        sealed = b64decode(doc["encrypted_private_key"], path="encrypted_private_key")
        public = decode_public_key(doc["public_key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{path} is damaged: {exc}", hint="restore the key file from your backup") from None
    if (
        len(salt) != argon2id.SALTBYTES
        or not (argon2id.OPSLIMIT_MIN <= ops <= 64)
        or not (argon2id.MEMLIMIT_MIN <= mem <= 4 * 1024**3)
    ):
        raise InvalidInput(
            f"{path} has unusable key derivation parameters", hint="restore the key file from your backup"
        )
    wrap_key = argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit=ops, memlimit=mem)
    try:
        private = nacl.secret.SecretBox(wrap_key).decrypt(sealed)
    except nacl.exceptions.CryptoError:
        raise VerificationError(
            f"the passphrase does not open {path}", hint="type the passphrase chosen at 'assay complaints keygen'"
        ) from None
    if bytes(PrivateKey(private).public_key) != public:
        raise VerificationError(
            f"{path} is inconsistent: its private key does not match its public key",
            hint="restore the key file from your backup",
        )
    return private, public
