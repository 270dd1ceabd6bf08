"""The C2PA Soft Binding Resolution API (C2PA 2.2, OpenAPI 1.0.0), so other C2PA tools can resolve marks.

- ``GET /matches/byBinding?alg=&value=&maxResults=`` (and ``POST`` with ``{"alg", "value"}``): the value of a
  ``c2pa.soft-binding`` block (base64 of the 8-byte mark) -> the manifest ids recorded with it;
- ``POST /matches/byContent?alg=&maxResults=``: an image -> its watermark -> the same;
- ``GET /manifests/{manifestId}``: the signed manifest store (``application/c2pa``) recorded with the mark;
- ``GET /services/supportedAlgorithms``: the watermark algorithm this register resolves.

A mark resolves only through a record its owning provider registered. ``byContent`` resolves only a mark on
the picture it was recorded with (the check's keyed fingerprint decides): a mark copied onto another picture
resolves to nothing. ``byBinding`` resolves the value it is given (a claim anyone can copy into a manifest;
the checker, not this API, judges who signed it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from assay import watermark
from assay.db import Database
from assay.errors import FieldProblem, InvalidInput, NotFound
from assay.provenance.evidence import examine, material_for
from assay.provenance.keys import MarkId, binding_algorithms
from assay.provenance.models import MarkRecord
from assay.provenance.resolving import resolve

__all__ = ["manifest_store", "matches_by_binding", "matches_by_content", "supported_algorithms"]

MAX_RESULTS = 100


def supported_algorithms() -> dict[str, Any]:
    # The current watermark, and the legacy one whose marks still resolve.
    return {"watermarks": [{"alg": a} for a in binding_algorithms()], "fingerprints": []}


def _check_alg(alg: str | None, *, required: bool) -> None:
    if alg is None or alg == "":
        if required:
            raise InvalidInput(
                "the 'alg' query parameter is missing",
                hint=f"this register resolves alg={watermark.FIELD_ALGORITHM} (and {watermark.ALGORITHM})",
                problems=[FieldProblem("query.alg", "missing", f"use {watermark.FIELD_ALGORITHM}")],
            )
        return
    if alg not in binding_algorithms():
        raise InvalidInput(
            f"this register does not resolve soft bindings of algorithm {alg[:100]!r}",
            hint=f"see /services/supportedAlgorithms (this register resolves {watermark.FIELD_ALGORITHM})",
            problems=[FieldProblem("query.alg", "unsupported algorithm", watermark.FIELD_ALGORITHM)],
        )


def _check_max(max_results: int | None) -> int:
    n = 10 if max_results is None else max_results
    if not (1 <= n <= MAX_RESULTS):
        raise InvalidInput(
            f"maxResults must be 1..{MAX_RESULTS}",
            hint="ask for fewer results",
            problems=[FieldProblem("query.maxResults", "out of range", f"1..{MAX_RESULTS}")],
        )
    return n


def _matches(db: Database, env: Any, mark: MarkId | None, max_results: int) -> dict[str, Any]:
    if mark is None:
        return {"matches": []}
    with db.read() as session:
        rows = session.scalars(
            select(MarkRecord)
            .where(MarkRecord.mark_id == mark.hex, MarkRecord.manifest_id.is_not(None))
            .limit(max_results)
        )
        base_url = getattr(env, "config", env).base_url
        matches = [{"manifestId": r.manifest_id, "endpoint": base_url, "similarityScore": 100} for r in rows]
    return {"matches": matches}


def matches_by_binding(
    db: Database, env: Any, *, alg: str | None, value: str | None, max_results: int | None = None
) -> dict[str, Any]:
    _check_alg(alg, required=True)
    n = _check_max(max_results)
    if not value:
        raise InvalidInput(
            "the 'value' parameter is missing",
            hint="send the soft-binding block's value (base64 of the 8-byte mark)",
            problems=[FieldProblem("value", "missing", "base64 of 8 bytes")],
        )
    try:
        mark = MarkId.from_binding(value)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.message, hint=exc.hint, problems=[FieldProblem("value", exc.message, exc.hint)]
        ) from None
    return _matches(db, env, mark, n)


def matches_by_content(
    db: Database, env: Any, data: bytes, *, alg: str | None = None, max_results: int | None = None
) -> dict[str, Any]:
    """Find the manifests of an image by its watermark (or, failing that, by its trusted manifest's binding).
    The image is held in memory only. ``env``: the register's Config (or a ProvenanceEnv)."""
    _check_alg(alg, required=False)
    n = _check_max(max_results)
    config = getattr(env, "config", env)
    evidence = examine(data, material_for(db, config), name="the asset")
    verdict = resolve(evidence, db, config)
    # Only a mark on the picture it was recorded with resolves: a copied mark names no manifest.
    mark = evidence.mark if verdict.status == "marked" else None
    return _matches(db, config, mark, n)


def manifest_store(db: Database, manifest_id: str) -> bytes:
    if not manifest_id or len(manifest_id) > 120:
        raise NotFound("there is no such manifest", hint="use a manifestId returned by /matches/byBinding")
    with db.read() as session:
        data = session.scalars(select(MarkRecord.manifest).where(MarkRecord.manifest_id == manifest_id)).first()
    if data is None:
        raise NotFound(
            f"there is no manifest {manifest_id[:120]!r} in this register",
            hint="use a manifestId returned by /matches/byBinding or /matches/byContent",
        )
    return bytes(data)
