"""Assay's transparency log service: every register event and every mark on a verifiable append-only log.

Record an entry inside your write transaction; it gets its index at once and is integrated into the tree
(tiles, entry bundles, a signed checkpoint) by the integrator shortly after your commit::

    from assay.transparency import record

    with db.write() as session:
        ...  # your own writes
        index = record(session, "system.published", {"system": "acme-imagegen", "version": 3})
"""

from __future__ import annotations

from assay.transparency._record import record
from assay.transparency.entry import KINDS, MAX_ENTRY_BYTES, decode_entry

__all__ = ["KINDS", "MAX_ENTRY_BYTES", "decode_entry", "record"]
