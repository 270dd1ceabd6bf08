"""Where batch checking meets the check path single files use; nothing else in assay.batch knows it.

- :func:`material` (client, once per run): what workers need to examine files, and nothing that can sign:
  :class:`assay.provenance.VerifierMaterial` (detection keys, trust anchors, the registered certificates as
  public facts, revoked serials), built without opening the CA's private key;
- :func:`examine` (worker): bytes -> :class:`assay.provenance.Evidence`, pure (no database, nothing written);
- :func:`resolve` (client): many evidences -> verdicts as plain dicts, with
  :func:`assay.provenance.resolve_many` (one query per batch of marks).
"""

from __future__ import annotations

from typing import Any

from assay.config import Config
from assay.db import Database


def material(db: Database, config: Config) -> Any:
    from assay.provenance.evidence import VerifierMaterial

    return VerifierMaterial.from_register(db, config)


def examine(data: bytes, material: Any, *, name: str) -> Any:
    from assay.provenance.evidence import examine

    return examine(data, material, name=name)


def resolve(evidences: list[Any], db: Database, config: Config) -> list[dict[str, Any]]:
    from assay.provenance.verdict import resolve_many

    return [v.as_dict() for v in resolve_many(evidences, db, config)]


def max_bytes(material: Any) -> int:
    return int(material.max_bytes)


def has_mark(evidence: Any) -> bool:
    """Whether resolving this evidence needs the database (a mark to look up)."""
    return evidence.mark is not None
