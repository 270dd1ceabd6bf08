"""Assay's transparency log service: every register event and every mark on a verifiable append-only log.

Record an entry inside your write transaction; it gets its index at once and is integrated into the tree
(tiles, entry bundles, a signed checkpoint) by the integrator shortly after your commit — in the web app by
a background thread, in CLI commands by calling :func:`integrate` after the write::

    from assay.transparency import integrate, proof_for, record

    with db.write() as session:
        ...  # your own writes
        index = record(session, "system.published", {"system": "acme-imagegen", "version": 3})
    integrate(db, config)
    proof_text = proof_for(db, index)  # a c2sp.org/tlog-proof, verifiable offline with assay.tlog.verify_proof
"""

from __future__ import annotations

from assay.transparency._record import record, record_many
from assay.transparency.entry import KINDS, MAX_ENTRY_BYTES, decode_entry
from assay.transparency.reading import Head, entry_at, read_head
from assay.transparency.service import (
    TransparencyLog,
    integrate,
    latest_checkpoint,
    open_log,
    proof_for,
    proofs_at,
    verifier_key,
)

__all__ = [
    "KINDS",
    "MAX_ENTRY_BYTES",
    "Head",
    "TransparencyLog",
    "decode_entry",
    "entry_at",
    "integrate",
    "latest_checkpoint",
    "open_log",
    "proof_for",
    "proofs_at",
    "read_head",
    "record",
    "record_many",
    "verifier_key",
]
