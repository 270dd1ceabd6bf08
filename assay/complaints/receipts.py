"""How the server finds a complaint from a receipt without keeping anything that identifies the receipt.

The design, and why:

1. A receipt is 128 random bits (12 BIP-39 words). Nobody chooses it, so it cannot be guessed; the slow hash
   below is defence in depth, not the main protection.
2. ``Argon2id(receipt, installation salt)`` gives the access key and the reply key pair. The salt is one per
   installation and public (the browser needs it to derive the same keys). A per-receipt salt would force
   the server to try every stored complaint's salt on each visit (one Argon2id per complaint), so it could
   not find a complaint at all; a public identifier inside the receipt (``id + secret``) would let anyone
   who sees the identifier ask whether it exists, and would let the database link visits to complaints.
3. The server stores only ``HMAC-SHA256(pepper, access key)``, in a unique index. The pepper is 32 random
   bytes in the *data folder* (``complaints/pepper``, mode 0600), never in the database: a leaked database
   or backup alone cannot even confirm a receipt found on someone's note, however much Argon2id it runs.
4. A wrong receipt costs the same work as a right one (one Argon2id in the no-JavaScript path, one HMAC and
   one index lookup in the browser path) and gets the same answer whatever else exists: "no complaint
   matches this receipt". The web layer adds a time floor so the answer's timing does not depend on it.

Losing the pepper makes every receipt useless for the complainants (the oversight body still reads every
complaint with its private key): back it up with the server's data folder.
"""

from __future__ import annotations

from pathlib import Path

from assay.files import read_or_create_secret

__all__ = ["PEPPER_BYTES", "load_or_create_pepper"]

PEPPER_BYTES = 32


def pepper_path(data_dir: Path) -> Path:
    return data_dir / "complaints" / "pepper"


def load_or_create_pepper(data_dir: Path) -> bytes:
    """The installation's pepper: read it from the data folder, or make it there on first use (mode 0600)."""
    return read_or_create_secret(
        pepper_path(data_dir),
        PEPPER_BYTES,
        what="the complaints pepper",
        if_damaged="restore it from the data folder's backup; without it receipts cannot be found",
    )
