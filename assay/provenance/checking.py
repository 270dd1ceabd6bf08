"""Checking a file: is it marked, by which registered system, and how sure can anyone be?

:func:`check_media` runs these steps on bytes held in memory only (never stored, never logged):

1. decode the image under the size and pixel limits (bad input -> a precise AssayError, never a crash);
2. read and validate the embedded C2PA manifest with c2pa's Reader against the register's trust anchors;
3. look for Assay's watermark (one pass with the register-wide key: the cost does not depend on how many
   systems or providers are registered);
4. take the mark from the watermark, or else from a *trusted* manifest's soft binding;
5. resolve it: verify its tag under the namespace key, find its record (one primary-key lookup) and the
   system and provider it names, and the transparency-log proof of the record;
6. compare the file with the record (SHA-256 for the exact file, perceptual hash for the picture), so a mark
   copied onto another picture shows;
7. say it in words people understand, with the evidence and what the check cannot know.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import select

from assay import watermark
from assay.db import Database
from assay.errors import AssayError
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.keys import MarkId
from assay.provenance.manifest import ManifestReport, read_manifest
from assay.provenance.media import decode_image, hamming, perceptual_hash, sha256_hex
from assay.provenance.models import MarkNamespace, MarkRecord, SigningCertificate
from assay.register.service import get_provider, get_system, get_version
from assay.transparency import entry_at, proof_for

__all__ = ["PHASH_SIMILAR", "Verdict", "check_media", "detect_safely", "mark_view"]

log = logging.getLogger("assay.provenance")

# Perceptual hashes of re-encoded, resized or lightly edited copies differ in a few of 64 bits; different
# pictures differ in about 32. Up to 12 is "the same picture".
PHASH_SIMILAR = 12

NOT_AUTHENTIC_CAVEAT = (
    "No Assay mark does not mean the image is authentic: most AI systems are not registered "
    "here, and marks can be damaged by heavy editing."
)


@dataclass(frozen=True)
class Verdict:
    """The answer to "what is this file?". ``status`` is one of:

    - ``marked``: an Assay mark resolved to a registered system;
    - ``marked_unrecorded``: a genuine mark of a provider (its tag verifies), not yet recorded (offline batch);
    - ``mark_unresolved``: a watermark was found but resolves to nothing the register knows;
    - ``credentials_only``: no Assay mark, but Content Credentials (possibly from another tool);
    - ``no_mark``: nothing found.
    """

    status: str
    headline: str
    media_type: str
    width: int
    height: int
    manifest: ManifestReport
    detection: dict[str, Any]
    mark_id: str | None = None
    mark_source: str = ""  # "watermark" or "manifest"
    record: dict[str, Any] | None = None
    system: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None
    match: dict[str, Any] | None = None
    log: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    name: str = field(default="", compare=False)

    @property
    def found(self) -> bool:
        """A mark (or Assay's Content Credentials) was found: the CLI exits with 1."""
        return self.status in ("marked", "marked_unrecorded", "mark_unresolved") or (
            self.manifest.present and bool(self.manifest.assay)
        )

    @property
    def ai_generated(self) -> bool:
        return self.status in ("marked", "marked_unrecorded") or (
            self.manifest.state == "trusted" and self.manifest.says_ai_generated
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.name or None,
            "status": self.status,
            "found": self.found,
            "ai_generated": self.ai_generated,
            "headline": self.headline,
            "media_type": self.media_type,
            "width": self.width,
            "height": self.height,
            "mark_id": self.mark_id,
            "mark_source": self.mark_source or None,
            "system": self.system,
            "provider": self.provider,
            "record": self.record,
            "evidence": {
                "manifest": self.manifest.as_dict(),
                "watermark": self.detection,
                "match": self.match,
            },
            "log": self.log,
            "notes": list(self.notes),
        }


def check_media(db: Database, env: ProvenanceEnv, data: bytes, *, name: str = "the file") -> Verdict:
    """Check one file held in memory. Raises only for input that cannot be checked at all (step 1)."""
    cfg = env.config
    # 1.
    img = decode_image(
        data, max_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_pixels, name=name, work_side=watermark.MAX_SIDE
    )
    # 2.
    manifest = unless_revoked(db, read_manifest(data, img.media_type, anchors_pem=env.anchors_pem()))
    # 3.
    notes: list[str] = []
    if any(f["code"] == REVOKED_CODE for f in manifest.failures):
        notes.append(
            "The certificate that signed the file's Content Credentials has been revoked by the register, so "
            "they are not trusted: anyone holding its key could have signed them."
        )
    detection = detect_safely(img.pixels, env.keys.watermark)
    det = detection.as_dict()
    det.pop("payload", None)  # the mark is reported once, as mark_id
    if detection.p_value != detection.p_value:  # NaN marks a detector failure (see detect_safely)
        det["p_value"] = 1.0
        det["error"] = "the watermark detector failed on this image"
        notes.append("The watermark detector failed on this image, so a watermark may have been missed.")
    # 4.
    mark: MarkId | None = None
    source = ""
    if detection.payload is not None:
        mark, source = MarkId(detection.payload), "watermark"
    manifest_mark = _manifest_mark(manifest)
    if manifest_mark is not None:
        if mark is None and manifest.state == "trusted":
            mark, source = manifest_mark, "manifest"
            notes.append(
                "The watermark was not found (the image may be heavily edited); the mark comes from its "
                "trusted Content Credentials."
            )
        elif mark is not None and manifest_mark != mark and manifest.state in ("trusted", "valid"):
            notes.append(
                f"The watermark ({mark.hex}) and the Content Credentials ({manifest_mark.hex}) name "
                "different marks: the image was marked twice, or one of them was copied."
            )
    # 5.-7.
    with db.read() as session:
        if mark is None:
            return _unmarked(img, manifest, det, name, notes)
        row = session.get(MarkRecord, mark.hex)
        if row is None:
            return _unrecorded(session, env, img, manifest, det, mark, source, name, notes)
        system = get_system(session, row.system_id)
        provider = get_provider(session, row.provider_id)
        # The version label the system had when the image was made (the entry may have changed since).
        then = (
            get_version(session, row.system_id, row.system_version_number)
            if system is not None and system.version_number != row.system_version_number
            else None
        )
        ns = session.get(MarkNamespace, row.namespace)
        key_revoked = ns is not None and ns.revoked_at is not None
        record = mark_view(row)
        created_at = _aware(row.created_at)
    log = _log_evidence(db, record["log_index"])
    same_file = sha256_hex(data) == record["sha256"]
    distance = 0 if same_file else hamming(perceptual_hash(img.pixels), record["phash"])
    assessment = "identical" if same_file else ("similar" if distance <= PHASH_SIMILAR else "different")
    match = {
        "sha256_equal": same_file,
        "phash_distance": distance,
        "assessment": assessment,
        "recorded_size": [record["width"], record["height"]],
    }
    version_at_marking = record["system_version_number"]
    if then is not None:
        version = then.version
    elif system is not None and system.version_number == version_at_marking:
        version = system.version
    else:  # a system or record version the register does not have: say so plainly
        version = f"unknown (record version {version_at_marking})"
    sys_dict = _system_dict(env, system, version_at_marking, version) if system else None
    prov_dict = _provider_dict(env, provider)
    made = created_at.strftime("%d %B %Y").lstrip("0")
    sys_name = system.name if system else record["system_id"]
    prov_name = provider.name if provider else record["provider_id"]
    headline = f"AI-generated by {sys_name} ({prov_name}), version {version}, made on {made}."
    if assessment == "different":
        headline = (
            f"This picture carries the mark of an image AI-generated by {sys_name} ({prov_name}) on {made}, "
            "but it is not the picture recorded with that mark."
        )
        notes.append(
            "The picture differs from the one recorded with this mark: it may be heavily cropped or "
            "edited, or the mark was copied onto another picture. Treat the attribution with care."
        )
    if system is not None and system.version_number != version_at_marking:
        notes.append(
            f"The system's register entry has changed since this image was made (version {version}, "
            f"record version {version_at_marking} then; version {system.version}, record version "
            f"{system.version_number} now)."
        )
    if system is not None and system.suspended:
        notes.append("The oversight body has suspended this system since.")
    if key_revoked:
        notes.append(
            "The marking key this mark was made with has since been revoked; the mark was recorded before that."
        )
    if manifest.state == "tampered":
        notes.append("The file's Content Credentials were changed after they were signed: do not rely on them.")
    elif manifest.state == "absent" and source == "watermark":
        notes.append(
            "The file has no Content Credentials any more (often removed by websites); the invisible "
            "watermark still identifies it."
        )
    notes.append(
        "The mark says which registered system made the image. It does not say who used the system, "
        "why, or how much the image was changed afterwards."
    )
    return Verdict(
        status="marked",
        headline=headline,
        media_type=img.media_type,
        width=img.width,
        height=img.height,
        manifest=manifest,
        detection=det,
        mark_id=mark.hex,
        mark_source=source,
        record=record,
        system=sys_dict,
        provider=prov_dict,
        match=match,
        log=log,
        notes=tuple(notes),
        name=name,
    )


def detect_safely(pixels: np.ndarray, key: bytes) -> watermark.Detection:
    """Run the detector; a failure inside it (a bug, not bad input: the pixels were decoded and checked)
    becomes "nothing found" with a NaN p-value, so one odd image never turns a check into a crash."""
    try:
        return watermark.detect(_for_detection(pixels), key=key)
    except watermark.WatermarkError:
        raise
    except Exception:  # noqa: BLE001 - logged without the image; the verdict says the detector failed
        log.exception("the watermark detector failed on a %dx%d image", pixels.shape[1], pixels.shape[0])
        return watermark.Detection(payload=None, p_value=float("nan"))


def _for_detection(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    if max(h, w) <= watermark.MAX_SIDE:
        return pixels
    # Larger than the detector takes: a box-filtered integer downscale (the mark survives resizing).
    from PIL import Image

    factor = -(-max(h, w) // watermark.MAX_SIDE)
    return np.asarray(Image.fromarray(pixels, "RGB").reduce(factor), dtype=np.uint8)


REVOKED_CODE = "signingCredential.revoked"


def unless_revoked(db: Database, manifest: ManifestReport) -> ManifestReport:
    """The report, downgraded to ``invalid`` when its signing certificate is one the register revoked.

    c2pa's Reader checks the chain to the anchors but knows nothing of the register's revocations (the CRL is
    published, not consulted offline), so a revoked key would otherwise still sign "trusted" credentials.
    Matched by serial number: a collision can only make a check stricter, never looser."""
    if manifest.state not in ("trusted", "valid") or not manifest.cert_serial:
        return manifest
    try:
        serial = int(manifest.cert_serial, 10)
    except ValueError:
        try:
            serial = int(manifest.cert_serial, 16)
        except ValueError:
            return manifest
    with db.read() as session:
        rows = session.execute(
            select(SigningCertificate.serial, SigningCertificate.revoked_at).where(
                SigningCertificate.revoked_at.is_not(None)
            )
        ).all()
    revoked_at = next((when for stored, when in rows if _hex_int(stored) == serial), None)
    if revoked_at is None:
        return manifest
    failure = {
        "code": REVOKED_CODE,
        "explanation": f"the signing certificate was revoked by the register on {_iso(revoked_at)[:10]}",
    }
    return replace(manifest, state="invalid", failures=(*manifest.failures, failure))


def _hex_int(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _manifest_mark(manifest: ManifestReport) -> MarkId | None:
    for alg, value in manifest.soft_bindings:
        if alg == watermark.ALGORITHM:
            try:
                return MarkId.from_binding(value)
            except Exception:  # noqa: BLE001 - a malformed binding in a hostile file is just "no mark"
                return None
    return None


def _unmarked(img: Any, manifest: ManifestReport, det: dict[str, Any], name: str, notes: list[str]) -> Verdict:
    if manifest.present:
        if manifest.state == "trusted" and manifest.says_ai_generated:
            agent = manifest.software_agent.get("name") or "an AI system"
            headline = (
                f"AI-generated according to its Content Credentials (made with {agent}, signed by "
                f"{manifest.signer}); no Assay mark was found."
            )
        elif manifest.state in ("tampered", "invalid", "unreadable"):
            headline = (
                "The file's Content Credentials are damaged or were changed after signing; no Assay mark was found."
            )
        elif manifest.says_ai_generated:
            headline = (
                "Its Content Credentials say it is AI-generated, but they are signed by someone this "
                "register does not trust; no Assay mark was found."
            )
        else:
            headline = "No Assay mark found. The file carries Content Credentials from another tool."
        notes.append(NOT_AUTHENTIC_CAVEAT)
        return Verdict(
            status="credentials_only",
            headline=headline,
            media_type=img.media_type,
            width=img.width,
            height=img.height,
            manifest=manifest,
            detection=det,
            notes=tuple(notes),
            name=name,
        )
    notes.append(NOT_AUTHENTIC_CAVEAT)
    return Verdict(
        status="no_mark",
        headline="No Assay mark found in this image.",
        media_type=img.media_type,
        width=img.width,
        height=img.height,
        manifest=manifest,
        detection=det,
        notes=tuple(notes),
        name=name,
    )


def _unrecorded(
    session: Any,
    env: ProvenanceEnv,
    img: Any,
    manifest: ManifestReport,
    det: dict[str, Any],
    mark: MarkId,
    source: str,
    name: str,
    notes: list[str],
) -> Verdict:
    ns = session.get(MarkNamespace, mark.namespace) if mark.namespace else None
    if ns is not None and mark.tag_valid(env.keys.namespace_key(ns.number)):
        provider = get_provider(session, ns.provider_id)
        pname = provider.name if provider else ns.provider_id
        notes.append(
            "The provider has not recorded this particular image yet (providers that mark offline "
            "record in batches); which of its systems made it is not known until then."
        )
        if ns.revoked_at is not None:
            notes.append("The key this mark was made with has been revoked.")
        prov = _provider_dict(env, provider)
        return Verdict(
            status="marked_unrecorded",
            headline=f"AI-generated by a system of {pname}; this image is not recorded in the register yet.",
            media_type=img.media_type,
            width=img.width,
            height=img.height,
            manifest=manifest,
            detection=det,
            mark_id=mark.hex,
            mark_source=source,
            provider=prov,
            notes=tuple(notes),
            name=name,
        )
    notes.append(
        "The watermark does not match any mark the register issued: it may be forged, or come from "
        "another register using the same algorithm."
    )
    return Verdict(
        status="mark_unresolved",
        headline="An Assay watermark was found, but it does not resolve to any registered system.",
        media_type=img.media_type,
        width=img.width,
        height=img.height,
        manifest=manifest,
        detection=det,
        mark_id=mark.hex,
        mark_source=source,
        notes=tuple(notes),
        name=name,
    )


def _provider_dict(env: ProvenanceEnv, provider: Any) -> dict[str, Any] | None:
    if provider is None:
        return None
    return {
        "id": provider.id,
        "name": provider.name,
        "jurisdiction": provider.jurisdiction,
        "url": env.url(provider.url_path),
    }


def _system_dict(env: ProvenanceEnv, system: Any, version_at_marking: int, version_label: str) -> dict[str, Any]:
    return {
        "id": system.id,
        "name": system.name,
        "version": system.version,
        "version_at_marking": version_label,
        "status": system.status,
        "url": env.url(system.url_path),
        "disclosure_url": env.url(system.url_path),
        "training_data_headline": system.training_data_headline,
        "training_data_url": env.url(system.url_path) + "#training-data",
        "outcome": system.outcome,
        "impact_level": system.impact_level,
        "suspended": system.suspended,
        "record_version_now": system.version_number,
        "record_version_at_marking": version_at_marking,
    }


def mark_view(row: MarkRecord) -> dict[str, Any]:
    """The public facts of a mark record (what pages, the API and the resolution API show)."""
    return {
        "mark_id": row.mark_id,
        "system_id": row.system_id,
        "provider_id": row.provider_id,
        "system_version_number": row.system_version_number,
        "created_at": _iso(row.created_at),
        "recorded_at": _iso(row.recorded_at),
        "sha256": row.sha256,
        "phash": row.phash,
        "width": row.width,
        "height": row.height,
        "media_type": row.media_type,
        "alg": row.alg,
        "manifest_id": row.manifest_id,
        "visible_label": row.visible_label,
        "origin": row.origin,
        "log_index": row.log_index,
        "url_path": f"/marks/{row.mark_id}",
    }


def _log_evidence(db: Database, index: int | None) -> dict[str, Any] | None:
    """The mark's log entry and, once the log has integrated it, its tlog-proof (C2SP tlog-proof@v1)."""
    if index is None:
        return None
    entry = entry_at(db, index)
    evidence: dict[str, Any] = {
        "index": index,
        "url_path": f"/log/entries/{index}",
        "entry": base64.b64encode(entry).decode() if entry is not None else None,
        "proof": None,
    }
    # The proof is evidence on top of the record, not the verdict itself: a log that cannot hand it out right
    # now (its tiles being rewritten by an integrator in another process, or damaged) is said, not a crash.
    for attempt in range(2):
        try:
            evidence["proof"] = proof_for(db, index)
            break
        except (AssayError, OSError) as exc:
            if attempt:
                log.warning("no inclusion proof for log entry %d: %s", index, type(exc).__name__)
                evidence["proof_error"] = "the transparency log could not produce its inclusion proof just now"
    return evidence


def _aware(d: dt.datetime) -> dt.datetime:
    return d if d.tzinfo is not None else d.replace(tzinfo=dt.UTC)


def _iso(d: dt.datetime) -> str:
    return _aware(d).strftime("%Y-%m-%dT%H:%M:%SZ")
