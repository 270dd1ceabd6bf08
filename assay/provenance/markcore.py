"""What every way of marking shares: who may mark, the pure making of one marked file, and the log entry.

Pure: nothing here reads or writes the database. Online marking (:mod:`assay.provenance.marking`), marking
kits (:mod:`assay.provenance.markkit`) and recording offline batches (:mod:`assay.provenance.markrecord`)
build on it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay import watermark
from assay.db.types import aware as types_aware
from assay.db.types import iso_z, utc_now
from assay.errors import InvalidInput
from assay.provenance.binding import fingerprint
from assay.provenance.credentials import SigningCredentials
from assay.provenance.keys import MarkId, WatermarkKey, binding_algorithms
from assay.provenance.label import add_visible_label
from assay.provenance.manifest import (
    DEFAULT_TRAINING_MINING,
    ManifestFacts,
    build_manifest,
    read_manifest,
    sign_asset,
    xmp_packet,
)
from assay.provenance.media import encode_image, perceptual_hash, sha256_hex
from assay.provenance.models import MarkRecord
from assay.register.service import SystemView

__all__ = [
    "IMAGE_CAPABILITY",
    "MAX_BATCH",
    "Made",
    "aware",
    "b64",
    "iso",
    "log_body",
    "make_marked",
    "may_mark",
    "refuse_marked",
    "training_mining",
    "utcnow",
]

MAX_BATCH = 10_000
IMAGE_CAPABILITY = "synthetic_image"


def may_mark(system: SystemView, capability: str = IMAGE_CAPABILITY) -> str | None:
    """Why ``system`` may not mark outputs of ``capability`` (images by default), or None when it may."""
    if system.outcome == "prohibited":
        return f"system {system.id!r} is screened as prohibited (a red line): it may not mark outputs"
    if system.suspended:
        return f"system {system.id!r} is suspended by the oversight body: it may not mark outputs"
    if system.status == "withdrawn":
        return f"system {system.id!r} is withdrawn: it may not mark new outputs"
    if capability not in system.capabilities:
        return (
            f"system {system.id!r} does not declare the '{capability}' capability "
            f"(it declares: {', '.join(system.capabilities) or 'none'})"
        )
    return None


def training_mining(disclosure: dict[str, Any]) -> dict[str, str]:
    """The system's declared output reuse (disclosure ``system.output_reuse``) as CAWG training-mining entries."""
    declared = (disclosure.get("system") or {}).get("output_reuse") or {}
    out = dict(DEFAULT_TRAINING_MINING)
    for field in ("ai_training", "ai_generative_training", "data_mining", "ai_inference"):
        if field in declared:
            out[f"cawg.{field}"] = _CAWG_USE[declared[field]]
    return out


_CAWG_USE = {"allowed": "allowed", "not_allowed": "notAllowed", "constrained": "constrained"}


@dataclass(frozen=True)
class Made:
    mark: MarkId
    data: bytes
    media_type: str
    sha256: str
    phash: str
    width: int
    height: int
    manifest_id: str | None
    manifest: bytes
    binding: bytes


def make_marked(
    pixels: np.ndarray,
    media_type: str,
    *,
    mark: MarkId,
    facts: ManifestFacts,
    wm_key: WatermarkKey,
    bind_key: bytes,
    creds: SigningCredentials,
    visible_label: bool,
    tsa_url: str = "",
    field_secret: bytes | None = None,
) -> Made:
    """Label (optional) -> watermark -> encode with XMP -> sign the C2PA manifest. Pure: writes nothing.

    With a ``field_secret`` (the register's when it marks online, the kits' field secret in an offline kit) the
    watermark is version 3, whose field survives the removal of the tile; without it (a kit of format 2)
    version 2. ``facts.alg`` must say which."""
    if visible_label:
        pixels = add_visible_label(pixels)
    # The mark id travels encrypted under the system's key: the embedded bits are never published.
    payload = wm_key.payload_of(mark)
    marked = watermark.embed(pixels, payload, key=wm_key.key, field_secret=field_secret)
    # Version 3 starts its mark at one of the picture's anchors: kept, it places the picture inside a screenshot.
    start = watermark.mark_origin(pixels, payload, key=wm_key.key, field_secret=field_secret) if field_secret else None
    encoded = encode_image(marked, media_type, xmp=xmp_packet(facts))
    signed, store = sign_asset(
        build_manifest(facts),
        encoded,
        media_type,
        chain_pem=creds.chain_pem,
        key_pem=creds.key_pem,
        alg=creds.alg,
        tsa_url=tsa_url,
    )
    manifest_id = read_manifest(signed, media_type, anchors_pem=b"").manifest_id
    h, w = marked.shape[:2]
    return Made(
        mark=mark,
        data=signed,
        media_type=media_type,
        sha256=sha256_hex(signed),
        phash=perceptual_hash(marked),
        width=w,
        height=h,
        manifest_id=manifest_id,
        manifest=store,
        binding=fingerprint(marked, bind_key, start or (0.0, 0.0)),
    )


def refuse_marked(data: bytes, media_type: str, name: str) -> None:
    """An image that already carries Assay's Content Credentials is a marked output, not an original: a second
    watermark over the first garbles both (running 'assay mark' over its own output folder did that). Only
    the manifest is read here (about a millisecond); a marked copy whose metadata was stripped is not caught
    without running the detector, which would double the cost of marking."""
    for alg, value in read_manifest(data, media_type, anchors_pem=b"").soft_bindings:
        if alg in binding_algorithms():
            raise InvalidInput(
                f"{name} is already marked (its Content Credentials carry the Assay mark {value})",
                hint="mark the original image, not a marked copy",
            )


def log_body(row: MarkRecord) -> dict[str, Any]:
    """The ``mark.recorded`` entry's body: ids, the file's SHA-256, the algorithm, times.

    Never the image's perceptual hash (issue 9): published, it showed forgers which picture to nudge a
    photograph toward. The register keeps it in the mark's record (shown to the oversight body only) for the
    check's picture comparison. Entries written before this change carry a ``phash`` field; the log is
    append-only, so they keep it (docs/transparency-log.md, "Mark entries")."""
    return {
        "mark": row.mark_id,
        "system": row.system_id,
        "system_version": row.system_version_number,
        "provider": row.provider_id,
        "sha256": row.sha256,
        "alg": row.alg,
        "created_at": iso(row.created_at),
        "manifest": row.manifest_id or "",
    } | ({"key_id": row.key_id} if row.key_id else {})


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


# One set of UTC helpers for the whole register (assay.db.types); the short names stay for the marking modules.
utcnow, aware, iso = utc_now, types_aware, iso_z  # noqa: RUF100
