"""Checking one file: is it marked, by which registered system, and how sure can anyone be?

:func:`check_media` is the single-file path the web page, the API and ``assay check`` share. It is the two
halves of a check run one after the other:

- :func:`assay.provenance.examine` (pure CPU work on the bytes: decoding, C2PA, watermark, hashes; no database,
  no private key), given the register's :class:`~assay.provenance.VerifierMaterial`;
- :func:`assay.provenance.resolve` (one query: the mark's record, system, provider, log entry), which also
  words the verdict.

Batch checks call the halves themselves: examine anywhere, resolve many at once (:func:`resolve_many`).
"""

from __future__ import annotations

from typing import Any

from assay.config import Config
from assay.db import Database
from assay.provenance.evidence import detect_safely, examine, material_for
from assay.provenance.resolving import resolve
from assay.provenance.verdict import PHASH_SIMILAR, Verdict, mark_view

__all__ = ["PHASH_SIMILAR", "Verdict", "check_media", "detect_safely", "mark_view"]


def check_media(db: Database, env: Any, data: bytes, *, name: str = "the file") -> Verdict:
    """Check one file held in memory (``env``: the register's Config, or a ProvenanceEnv). Raises only for
    input that cannot be checked at all (not an image, damaged, over the limits)."""
    config: Config = getattr(env, "config", env)
    evidence = examine(data, material_for(db, config), name=name)
    return resolve(evidence, db, config)
