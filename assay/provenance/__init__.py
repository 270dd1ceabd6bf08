"""Provenance: C2PA Content Credentials signed under the register's CA, invisible marks, and the check.

The check, in two halves (see docs/provenance.md)::

    from assay.provenance import VerifierMaterial, examine, resolve_many, verify_verdict

    material = VerifierMaterial.from_register(db, config)   # no private key is opened, nothing is created
    evidences = [examine(data, material, name=path) for path, data in files]   # pure: may run anywhere
    verdicts = resolve_many(evidences, db, config)          # one query per batch of marks
    verify_verdict(verdicts[0].as_dict(), log_key=vkey)     # a third party's offline check of the log proof
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Evidence",
    "LogInclusion",
    "Verdict",
    "VerifierMaterial",
    "check_media",
    "examine",
    "resolve",
    "resolve_many",
    "verify_verdict",
]

if TYPE_CHECKING:
    from assay.provenance.checking import check_media
    from assay.provenance.evidence import Evidence, VerifierMaterial, examine
    from assay.provenance.resolving import resolve, resolve_many
    from assay.provenance.verdict import Verdict
    from assay.provenance.verify import LogInclusion, verify_verdict

_WHERE = {
    "Evidence": "evidence",
    "VerifierMaterial": "evidence",
    "examine": "evidence",
    "Verdict": "verdict",
    "resolve": "resolving",
    "resolve_many": "resolving",
    "check_media": "checking",
    "LogInclusion": "verify",
    "verify_verdict": "verify",
}


def __getattr__(name: str) -> Any:
    # Imported on first use: "import assay.provenance.models" (e.g. by migrations) need not load c2pa and numpy.
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.provenance' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"assay.provenance.{module}"), name)
