"""Verifier keys (vkeys) of either kind a log or witness publishes: Ed25519 note keys (0x01) and Ed25519
cosignature keys (0x04). Here, not in ``_note``, because it needs both kinds and ``_cosignature`` builds on
``_note``: keeping it apart keeps the modules' imports one-way."""

from __future__ import annotations

import re

from assay.errors import InvalidInput
from assay.tlog._cosignature import CosignatureVerifier
from assay.tlog._note import ALG_COSIGNATURE_V1, ALG_ED25519, NoteVerifier, Verifier, _b64decode, check_key_name


def parse_vkey(vkey: str) -> NoteVerifier:
    """A verifier from its vkey text; Ed25519 (0x01) and Ed25519 cosignature (0x04) keys are supported."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise InvalidInput(
            f"the verifier key {vkey!r} is not of the form <name>+<hex id>+<base64 key>",
            hint="copy the whole key, e.g. from the log's /log/vkey",
        )
    name, hex_id, encoded = parts
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise InvalidInput(
            f"the verifier key ID {hex_id!r} is not 8 lowercase hex digits",
            hint="copy the whole key, e.g. from the log's /log/vkey",
        )
    raw = _b64decode(encoded, "the verifier key's public key")
    if len(raw) != 33 or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise InvalidInput(
            "the verifier key is not an Ed25519 (type 0x01 or 0x04) key of 32 bytes",
            hint="only Ed25519 note and cosignature keys are supported",
        )
    verifier: NoteVerifier
    if raw[0] == ALG_ED25519:
        verifier = Verifier(name, raw[1:])
    else:
        verifier = CosignatureVerifier(name, raw[1:])
    if verifier.key_id.hex() != hex_id:
        raise InvalidInput(
            f"the verifier key ID {hex_id} does not match the key's name and public key",
            hint="the key text was altered or mistyped",
        )
    return verifier
