"""Complaints: an end-to-end encrypted channel from the people an AI system affects to the oversight body.

A complaint is sealed (libsodium sealed box) to the oversight body's public key in the complainant's browser,
or on arrival in the server's memory when JavaScript is off; the server stores only ciphertext, days and a
peppered Argon2id hash of the complainant's receipt. The oversight body reads complaints with its private key,
kept off the server (``assay complaints pull``), answers (``reply``, ``status``), and rotates its key; every
public key it uses is recorded on the transparency log.

The public surface::

    from assay.complaints import service, crypto
    with db.write() as session:
        key = service.publish_key(session, public_key, today=date.today())
    with db.read() as session:
        stats = service.stats_for_system(session, "acme-imagegen", today=date.today())

See docs/complaints.md for the whole flow and docs/threat-model.md for what each party can learn.
"""

from assay.complaints.service import (
    ComplaintView,
    KeyView,
    current_key,
    publish_key,
    stats_for_system,
)
from assay.complaints.stats import STATUSES, SystemStats

__all__ = ["STATUSES", "ComplaintView", "KeyView", "SystemStats", "current_key", "publish_key", "stats_for_system"]
