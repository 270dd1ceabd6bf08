"""Facts and words: one :class:`~assay.provenance.verdict.Verdict` from one evidence and what the register
knows of its mark (the rows :mod:`assay.provenance.resolving` looked up).

Per evidence, steps that each may end in a verdict (numbered as in the code):

1. take its mark: the watermark's, else a *trusted* manifest's soft binding;
2. find its record, or, if none, its namespace (a genuine mark not recorded yet has a tag that verifies under
   the namespace's key; anything else resolves to nothing);
3. compare the file with the record (SHA-256 for the exact file, keyed fingerprint or perceptual hash for the
   picture);
4. attach the record's transparency-log entry and its proof;
5. say it: status, headline, notes (:mod:`assay.provenance.wording`).

No query runs here: the rows come in, the verdict goes out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from assay import watermark
from assay.config import Config
from assay.db.types import aware
from assay.errors import AssayError
from assay.provenance import wording
from assay.provenance.binding import compare
from assay.provenance.evidence import Evidence
from assay.provenance.keys import LEGACY_KEY_ID, MarkId, binding_key, existing_register_keys
from assay.provenance.media import hamming
from assay.provenance.verdict import PHASH_SIMILAR, Verdict, mark_view

__all__ = ["MarkNamespaceFacts", "MarkRecordFacts", "judge", "log_evidence"]


@dataclass(frozen=True)
class MarkNamespaceFacts:
    """A mark namespace as the lookup found it."""

    number: int
    provider: dict[str, Any]  # id, name, jurisdiction
    revoked: bool


@dataclass(frozen=True)
class MarkRecordFacts:
    """A mark record as the lookup found it, with what its verdict needs beside it."""

    row: Any  # the mark record's columns
    system: Any  # the system's columns (now), or None
    version_then: str | None  # the system's version label when the mark was made
    entry: bytes | None  # the record's log entry


def judge(
    ev: Evidence,
    namespaces: dict[int, MarkNamespaceFacts],
    records: dict[str, MarkRecordFacts],
    proofs: dict[int, Any],
    config: Config,
) -> Verdict:
    """The verdict for ``ev`` (``namespaces`` by number, ``records`` by mark id, ``proofs`` by log index)."""
    manifest = ev.manifest
    det = ev.detection.as_dict()
    raw = {"watermark": ev.detection.as_dict(oversight=True)}
    codes: list[tuple[str, dict[str, Any]]] = []
    if any(f["code"] == "signingCredential.revoked" for f in manifest.failures):
        codes.append(("signer_revoked", {}))
    if ev.detection.failed:
        codes.append(("detector_failed", {}))
    # 1.
    mark, source = ev.mark, ev.mark_source
    if source == "manifest":
        codes.append(("mark_from_credentials", {}))
    elif (
        ev.watermark_mark is not None
        and ev.manifest_mark is not None
        and ev.manifest_mark != ev.watermark_mark
        and manifest.state in ("trusted", "valid")
    ):
        codes.append(("marks_differ", {"watermark": ev.watermark_mark.hex, "credentials": ev.manifest_mark.hex}))
    base: dict[str, Any] = {
        "file_sha256": ev.sha256,
        "confidence": wording.odds(ev.detection.p_value) if ev.detection.found and ev.watermark_mark else "",
        "media_type": ev.media_type,
        "width": ev.width,
        "height": ev.height,
        "manifest": manifest,
        "name": ev.name,
        "oversight": raw,
    }
    if mark is None:
        return _unmarked(ev, det, codes, base)
    # 2.
    rec = records.get(mark.hex)
    owner = rec.row.provider_id if rec is not None else _ns_provider(namespaces, mark)
    if source == "manifest" and (
        ev.signer is None
        or owner is None
        or ev.signer.provider_id != owner
        or (
            rec is not None
            and rec.row.certificate_fingerprint
            and rec.row.certificate_fingerprint != ev.signer.fingerprint
        )
    ):
        # A soft binding is a claim by whoever signed the manifest: it names a mark only when the signer's
        # registered certificate belongs to the mark's provider (and is the one recorded with it).
        codes.remove(("mark_from_credentials", {}))
        codes.append(("signer_not_owner", {}))
        return _unmarked(ev, det, codes, base)
    if rec is None:
        return _unrecorded(ev, det, codes, base, mark, source, namespaces.get(mark.namespace), config)
    row, system = rec.row, rec.system
    ns = namespaces.get(row.namespace)
    provider = ns.provider if ns is not None else None
    record = mark_view(row)
    legacy = row.key_id is None
    if source == "watermark" and ev.detection.key_id != (row.key_id or LEGACY_KEY_ID):
        # Found with another key than the record's: not this record's mark (a forgery under a leaked key).
        codes.append(("unresolved", {}))
        return _unresolved(det, codes, base, mark, source)
    # 3.
    same_file = ev.sha256 == row.sha256
    distance = 0 if same_file else hamming(ev.phash or "0" * 16, row.phash)
    score = None
    if same_file:
        assessment = "identical"
    elif row.binding is not None:
        score = _binding_score(ev, row, config)
        assessment = "similar" if score is not None and score.matched else "different"
    else:  # a legacy record: only the public perceptual hash to compare with
        assessment = "similar" if distance <= PHASH_SIMILAR else "different"
    match = {
        "sha256_equal": same_file,
        "assessment": assessment,
        "compared_by": "sha256" if same_file else ("perceptual hash (legacy)" if legacy else "keyed fingerprint"),
        "recorded_size": [row.width, row.height],
    }
    raw["match"] = {"phash_distance": distance} | ({"binding": score.as_dict()} if score is not None else {})
    if source == "watermark":
        raw["watermark"]["bound"] = ev.watermark_bound
    # 4.
    log_ev = log_evidence(row.log_index, rec.entry, proofs.get(row.log_index) if row.log_index is not None else None)
    # 5.
    if assessment == "different":
        codes.append(("mark_copied", {}))
        return Verdict(
            status="mark_copied",
            headline=wording.headline("mark_copied", {}),
            detection=det,
            mark_id=mark.hex,
            mark_source=source,
            match=match,
            notes=tuple(wording.note(c, **p) for c, p in codes),
            note_codes=tuple(c for c, _ in codes),
            legacy=legacy,
            **base,
        )
    version_at_marking = row.system_version_number
    if rec.version_then is not None:
        version = rec.version_then
    elif system is not None and system.s_number == version_at_marking:
        version = system.s_version
    else:  # a system or record version the register does not have: say so plainly
        version = f"unknown (record version {version_at_marking})"
    if legacy and not same_file:
        codes.append(("legacy_mark", {}))
    if system is not None and system.s_number != version_at_marking:
        codes.append(
            (
                "entry_changed",
                {
                    "then": version,
                    "then_number": version_at_marking,
                    "now": system.s_version,
                    "now_number": system.s_number,
                },
            )
        )
    if system is not None and system.s_suspended:
        codes.append(("suspended", {}))
    if ns is not None and ns.revoked:
        codes.append(("key_revoked", {}))
    if manifest.state == "tampered":
        codes.append(("credentials_tampered", {}))
    elif manifest.state == "absent" and source == "watermark":
        codes.append(("credentials_stripped", {}))
    codes.append(("scope", {}))
    facts = {
        "system": system.s_name if system is not None else row.system_id,
        "provider": provider["name"] if provider else row.provider_id,
        "version": version,
        "made": aware(row.created_at).strftime("%d %B %Y").lstrip("0"),
        "legacy": legacy and not same_file,
    }
    return Verdict(
        status="marked",
        headline=wording.headline("marked", facts),
        detection=det,
        mark_id=mark.hex,
        mark_source=source,
        record=record,
        system=_system_dict(config, system, version_at_marking, version) if system is not None else None,
        provider=_provider_dict(config, provider),
        match=match,
        log=log_ev,
        notes=tuple(wording.note(c, **p) for c, p in codes),
        note_codes=tuple(c for c, _ in codes),
        legacy=legacy,
        **base,
    )


def _ns_provider(namespaces: dict[int, MarkNamespaceFacts], mark: MarkId) -> str | None:
    ns = namespaces.get(mark.namespace)
    return ns.provider["id"] if ns is not None else None


def _binding_score(ev: Evidence, row: Any, config: Config) -> Any:
    """Compare the checked picture with the record's keyed fingerprint (None when it cannot be compared)."""
    keys = existing_register_keys(config.data_dir)
    if keys is None or ev.probe is None:
        return None
    return compare(
        ev.probe,
        bytes(row.binding),
        binding_key(keys.master, row.provider_id),
        width=row.width,
        height=row.height,
        # The watermark's tile period for an unaltered width x height image (to read a rescaled crop's scale).
        tile_period=watermark.tile_period,
    )


def _unresolved(
    det: dict[str, Any], codes: list[tuple[str, dict[str, Any]]], base: dict[str, Any], mark: MarkId, source: str
) -> Verdict:
    return Verdict(
        status="mark_unresolved",
        headline=wording.headline("mark_unresolved", {}),
        detection=det,
        mark_id=mark.hex,
        mark_source=source,
        notes=tuple(wording.note(c, **p) for c, p in codes),
        note_codes=tuple(c for c, _ in codes),
        **base,
    )


def _unmarked(
    ev: Evidence, det: dict[str, Any], codes: list[tuple[str, dict[str, Any]]], base: dict[str, Any]
) -> Verdict:
    manifest = ev.manifest
    status = "credentials_only" if manifest.present else "no_mark"
    facts = {
        "manifest_state": manifest.state,
        "says_ai": manifest.says_ai_generated,
        "agent": manifest.software_agent.get("name") or "an AI system",
        "signer": manifest.signer,
        "claim_refused": any(c == "signer_not_owner" for c, _ in codes),
    }
    codes.append(("not_authentic", {}))
    return Verdict(
        status=status,
        headline=wording.headline(status, facts),
        detection=det,
        notes=tuple(wording.note(c, **p) for c, p in codes),
        note_codes=tuple(c for c, _ in codes),
        **base,
    )


def _unrecorded(
    ev: Evidence,
    det: dict[str, Any],
    codes: list[tuple[str, dict[str, Any]]],
    base: dict[str, Any],
    mark: MarkId,
    source: str,
    ns: MarkNamespaceFacts | None,
    config: Config,
) -> Verdict:
    keys = existing_register_keys(config.data_dir)
    key_owner = (
        ev.detection.key_id is None
        or ev.detection.key_id == LEGACY_KEY_ID
        or (ns is not None and ev.detection.key_id in _provider_key_ids(ev, ns.provider["id"]))
    )
    if ns is not None and keys is not None and key_owner and mark.tag_valid(keys.namespace_key(ns.number)):
        codes.append(("not_recorded_yet", {}))
        if ns.revoked:
            codes.append(("unrecorded_key_revoked", {}))
        return Verdict(
            status="marked_unrecorded",
            headline=wording.headline("marked_unrecorded", {"provider": ns.provider["name"]}),
            detection=det,
            mark_id=mark.hex,
            mark_source=source,
            provider=_provider_dict(config, ns.provider),
            notes=tuple(wording.note(c, **p) for c, p in codes),
            note_codes=tuple(c for c, _ in codes),
            **base,
        )
    codes.append(("unresolved", {}))
    return _unresolved(det, codes, base, mark, source)


def _provider_key_ids(ev: Evidence, provider_id: str) -> set[str]:
    # The evidence names the key that found the mark; the key's owner came with the material.
    key_id = ev.detection.key_id
    return {key_id} if key_id is not None and ev.detection.key_provider == provider_id else set()


def log_evidence(index: int | None, entry: bytes | None, proof: str | AssayError | None) -> dict[str, Any] | None:
    """A mark's log evidence as a verdict carries it (images and texts alike): its entry and, once the log has
    integrated it, its tlog-proof (C2SP tlog-proof@v1), or why the proof could not be had just now."""
    if index is None:
        return None
    evidence: dict[str, Any] = {
        "index": index,
        "url_path": f"/log/entries/{index}",
        "entry": base64.b64encode(entry).decode() if entry is not None else None,
        "proof": None,
    }
    if isinstance(proof, str):
        evidence["proof"] = proof
    elif isinstance(proof, AssayError):
        evidence["proof_error"] = "the transparency log could not produce its inclusion proof just now"
    return evidence


def _provider_dict(config: Config, provider: dict[str, Any] | None) -> dict[str, Any] | None:
    if provider is None:
        return None
    return provider | {"url": config.base_url + f"/providers/{provider['id']}"}


def _system_dict(config: Config, s: Any, version_at_marking: int, version_label: str) -> dict[str, Any]:
    url = config.base_url + f"/systems/{s.s_id}"
    return {
        "id": s.s_id,
        "name": s.s_name,
        "version": s.s_version,
        "version_at_marking": version_label,
        "status": s.s_status,
        "url": url,
        "disclosure_url": url,
        "training_data_headline": s.s_training_data_headline,
        "training_data_url": url + "#training-data",
        "outcome": s.s_outcome,
        "impact_level": s.s_impact_level,
        "suspended": bool(s.s_suspended),
        "record_version_now": s.s_number,
        "record_version_at_marking": version_at_marking,
    }
