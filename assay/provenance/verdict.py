"""The second half of a check: :class:`~assay.provenance.evidence.Evidence` in, :class:`Verdict` out.

:func:`resolve_many` looks up every mark of a batch of evidences in **one query** (the mark records with
their namespace, provider, system, the system's version at marking and the log entry, and the log's head),
then builds the inclusion proofs from the log's tiles and words each verdict (:mod:`assay.provenance.wording`).
The cost per batch does not grow with the number of systems or providers, and a batch of unmarked files
costs no query at all::

    verdicts = resolve_many([examine(b, material) for b in files], db, config)

Resolution, per evidence:

1. take its mark: the watermark's, else a *trusted* manifest's soft binding;
2. find its record, or, if none, its namespace (a genuine mark not recorded yet has a tag that verifies under
   the namespace's key; anything else resolves to nothing);
3. compare the file with the record (SHA-256 for the exact file, perceptual hash for the picture);
4. attach the record's transparency-log entry and its proof;
5. say it: status, headline, notes.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select

from assay.config import Config
from assay.db import Database
from assay.errors import AssayError, ConfigError
from assay.provenance import wording
from assay.provenance.evidence import Evidence
from assay.provenance.keys import LEGACY_KEY_ID, MarkId, RegisterKeys
from assay.provenance.manifest import ManifestReport
from assay.provenance.media import hamming
from assay.provenance.models import MarkNamespace, MarkRecord
from assay.register.models import Provider, System, SystemVersion
from assay.transparency import Head, proof_for, proofs_at
from assay.transparency.models import LogEntry, LogHead

__all__ = ["PHASH_SIMILAR", "STATUSES", "Verdict", "mark_view", "resolve", "resolve_many"]

log = logging.getLogger("assay.provenance")

# Perceptual hashes of re-encoded, resized or lightly edited copies differ in a few of 64 bits; different
# pictures differ in about 32. Up to 12 is "the same picture".
PHASH_SIMILAR = 12
# Mark ids per query: well under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500

STATUSES = ("marked", "marked_unrecorded", "mark_copied", "mark_unresolved", "credentials_only", "no_mark")
#: ``assay check`` exit codes by status (the run's code: 2 on any error, else the highest-priority one here).
EXIT_CODES = {"marked": 1, "marked_unrecorded": 1, "mark_copied": 3, "mark_unresolved": 3}


@dataclass(frozen=True)
class Verdict:
    """The answer to "what is this file?". ``status`` is one of:

    - ``marked``: an Assay mark resolved to a registered system, on the picture it was recorded with;
    - ``marked_unrecorded``: a genuine mark of a provider (its tag verifies), not yet recorded (offline batch);
    - ``mark_copied``: a recorded mark, but on another picture than the one it was recorded with (copied):
      nothing is attributed;
    - ``mark_unresolved``: a watermark was found but resolves to nothing the register knows;
    - ``credentials_only``: no Assay mark, but Content Credentials (possibly from another tool);
    - ``no_mark``: nothing found.

    Facts (status, mark, record, system, provider, match, log, ``note_codes``) decide; ``headline`` and
    ``notes`` are their wording.
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
    note_codes: tuple[str, ...] = ()
    legacy: bool = False  # the mark was made with the legacy register-wide key (weaker; see the notes)
    # Raw scores (detector statistics, hash distances, binding agreement) for authenticated oversight only:
    # in public answers they would help anyone tuning a removal or a forgery.
    oversight: dict[str, Any] = field(default_factory=dict, compare=False)
    # The watermark's odds in plain words (wording.odds), coarse on purpose; "" when no watermark was found.
    confidence: str = ""
    file_sha256: str = ""  # of the checked file, so a reader can tell a shared verdict is about the same file
    share_url: str = field(default="", compare=False)  # a signed link re-stating this verdict (assay.provenance.share)

    @property
    def found(self) -> bool:
        """An Assay watermark was found (attributed or not). Untrusted credentials never count."""
        return self.status in ("marked", "marked_unrecorded", "mark_copied", "mark_unresolved")

    @property
    def attributed(self) -> bool:
        """The file is attributed to a registered provider (and, if recorded, a system)."""
        return self.status in ("marked", "marked_unrecorded")

    @property
    def ai_generated(self) -> bool:
        return self.attributed or (self.manifest.state == "trusted" and self.manifest.says_ai_generated)

    @property
    def exit_code(self) -> int:
        """What ``assay check`` exits with for this file alone: 1 attributed, 3 a mark that cannot be
        attributed (copied or unresolved), 0 otherwise."""
        return EXIT_CODES.get(self.status, 0)

    def as_dict(self, *, oversight: bool = False) -> dict[str, Any]:
        return {
            "file": self.name or None,
            "status": self.status,
            "found": self.found,
            "ai_generated": self.ai_generated,
            "headline": self.headline,
            "confidence": self.confidence,
            "file_sha256": self.file_sha256 or None,
            "share_url": self.share_url or None,
            "media_type": self.media_type,
            "width": self.width,
            "height": self.height,
            "mark_id": self.mark_id,
            "mark_source": self.mark_source or None,
            "system": self.system,
            "provider": self.provider,
            "record": self.record,
            "attributed": self.attributed,
            "legacy_mark": self.legacy,
            "evidence": {
                "manifest": self.manifest.as_dict(),
                "watermark": self.detection | (self.oversight.get("watermark", {}) if oversight else {}),
                "match": (self.match | self.oversight.get("match", {})) if (oversight and self.match) else self.match,
            },
            "log": self.log,
            "notes": list(self.notes),
            "note_codes": list(self.note_codes),
        }


def resolve(evidence: Evidence, db: Database, config: Config) -> Verdict:
    """The verdict for one evidence (one query if it carries a mark, none otherwise)."""
    return resolve_many([evidence], db, config)[0]


def resolve_many(evidences: Sequence[Evidence], db: Database, config: Config) -> list[Verdict]:
    """Verdicts for many evidences, in order: one query per 500 distinct marks (none when nothing is marked)."""
    marks = sorted({ev.mark for ev in evidences if ev.mark is not None})
    namespaces: dict[int, _Namespace] = {}
    records: dict[str, _Record] = {}
    head: Head | None = None
    for i in range(0, len(marks), _CHUNK):
        h = _lookup(db, marks[i : i + _CHUNK], namespaces, records)
        head = head or h
    proofs = _proofs(db, head, records)
    verdicts = [_verdict(ev, namespaces, records, proofs, config) for ev in evidences]
    return _with_share_links(verdicts, config)


def _with_share_links(verdicts: list[Verdict], config: Config) -> list[Verdict]:
    """Each verdict with its signed share link (none on a data folder without the register's keys)."""
    from assay.provenance.share import share_url

    keys = _register_keys(config)
    if keys is None:
        return verdicts
    now = dt.datetime.now(dt.UTC)
    return [
        replace(
            v,
            share_url=share_url(
                config.base_url, keys.master, status=v.status, mark_id=v.mark_id, sha256=v.file_sha256, at=now
            ),
        )
        if v.file_sha256
        else v
        for v in verdicts
    ]


# ---------------------------------------------------------------------------------------------- the one query


@dataclass(frozen=True)
class _Namespace:
    number: int
    provider: dict[str, Any]  # id, name, jurisdiction
    revoked: bool


@dataclass(frozen=True)
class _Record:
    row: Any  # the mark record's columns
    system: Any  # the system's columns (now), or None
    version_then: str | None  # the system's version label when the mark was made
    entry: bytes | None  # the record's log entry


_RECORD_COLUMNS: list[Any] = [
    MarkRecord.mark_id,
    MarkRecord.namespace,
    MarkRecord.system_id,
    MarkRecord.provider_id,
    MarkRecord.system_version_number,
    MarkRecord.created_at,
    MarkRecord.recorded_at,
    MarkRecord.sha256,
    MarkRecord.phash,
    MarkRecord.width,
    MarkRecord.height,
    MarkRecord.media_type,
    MarkRecord.alg,
    MarkRecord.manifest_id,
    MarkRecord.certificate_fingerprint,
    MarkRecord.visible_label,
    MarkRecord.origin,
    MarkRecord.log_index,
    MarkRecord.key_id,
    MarkRecord.binding,
]
_SYSTEM_COLUMNS: list[Any] = [
    System.id.label("s_id"),
    System.name.label("s_name"),
    System.version_label.label("s_version"),
    System.current_version.label("s_number"),
    System.status.label("s_status"),
    System.outcome.label("s_outcome"),
    System.impact_level.label("s_impact_level"),
    System.suspended.label("s_suspended"),
    System.training_data_headline.label("s_training_data_headline"),
]
_HEAD_COLUMNS: list[Any] = [
    LogHead.generation.label("h_generation"),
    LogHead.tree_size.label("h_size"),
    LogHead.root_hash.label("h_root"),
    LogHead.checkpoint.label("h_checkpoint"),
    LogHead.vkey.label("h_vkey"),
    LogHead.tiles_dir.label("h_tiles_dir"),
    LogHead.published_at.label("h_published_at"),
]


def _lookup(
    db: Database, marks: list[MarkId], namespaces: dict[int, _Namespace], records: dict[str, _Record]
) -> Head | None:
    """One statement: every namespace the marks name, with the marks' records (if recorded) and all the
    record needs (system now and then, provider, log entry), and the log's head."""
    ids = [m.hex for m in marks]
    numbers = sorted({m.namespace for m in marks})
    q = (
        select(
            MarkNamespace.number.label("ns_number"),
            MarkNamespace.revoked_at.label("ns_revoked_at"),
            Provider.id.label("p_id"),
            Provider.name.label("p_name"),
            Provider.jurisdiction.label("p_jurisdiction"),
            *_RECORD_COLUMNS,
            *_SYSTEM_COLUMNS,
            SystemVersion.version_label.label("v_then"),
            LogEntry.data.label("entry"),
            *_HEAD_COLUMNS,
        )
        .select_from(MarkNamespace)
        .join(Provider, Provider.id == MarkNamespace.provider_id)
        .outerjoin(MarkRecord, and_(MarkRecord.namespace == MarkNamespace.number, MarkRecord.mark_id.in_(ids)))
        .outerjoin(System, System.id == MarkRecord.system_id)
        .outerjoin(
            SystemVersion,
            and_(
                SystemVersion.system_id == MarkRecord.system_id,
                SystemVersion.number == MarkRecord.system_version_number,
            ),
        )
        .outerjoin(LogEntry, LogEntry.idx == MarkRecord.log_index)
        .outerjoin(LogHead, LogHead.id == 1)
        .where(MarkNamespace.number.in_(numbers))
    )
    head = None
    with db.engine.connect() as conn:
        rows = conn.execute(q).all()
    for r in rows:
        namespaces[r.ns_number] = _Namespace(
            number=r.ns_number,
            provider={"id": r.p_id, "name": r.p_name, "jurisdiction": r.p_jurisdiction},
            revoked=r.ns_revoked_at is not None,
        )
        if r.mark_id is not None:
            records[r.mark_id] = _Record(
                row=r,
                system=r if r.s_id is not None else None,
                version_then=r.v_then,
                entry=bytes(r.entry) if r.entry is not None else None,
            )
        if head is None and r.h_size is not None:
            head = Head(
                int(r.h_generation),
                int(r.h_size),
                bytes(r.h_root),
                r.h_checkpoint,
                r.h_vkey,
                r.h_tiles_dir,
                r.h_published_at,
            )
    return head


def _proofs(db: Database, head: Head | None, records: dict[str, _Record]) -> dict[int, Any]:
    entries = {rec.row.log_index: rec.entry for rec in records.values() if rec.row.log_index is not None and rec.entry}
    if head is None or not entries:
        return dict.fromkeys(entries)
    # The proof is evidence on top of the record, not the verdict itself: a log that cannot hand it out right
    # now (its tiles being rewritten by an integrator in another process, or damaged) is said, not a crash.
    proofs: dict[int, Any] = proofs_at(db, head, entries)
    for index, proof in proofs.items():
        if isinstance(proof, AssayError):
            try:  # once more, against the head as it is now
                proofs[index] = proof_for(db, index)
            except (AssayError, OSError) as exc:
                log.warning("no inclusion proof for log entry %d: %s", index, type(exc).__name__)
    return proofs


# ---------------------------------------------------------------------------------------------- facts and words


def _verdict(
    ev: Evidence,
    namespaces: dict[int, _Namespace],
    records: dict[str, _Record],
    proofs: dict[int, Any],
    config: Config,
) -> Verdict:
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
    log_evidence = _log_evidence(row.log_index, rec.entry, proofs)
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
        "made": _aware(row.created_at).strftime("%d %B %Y").lstrip("0"),
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
        log=log_evidence,
        notes=tuple(wording.note(c, **p) for c, p in codes),
        note_codes=tuple(c for c, _ in codes),
        legacy=legacy,
        **base,
    )


def _ns_provider(namespaces: dict[int, _Namespace], mark: MarkId) -> str | None:
    ns = namespaces.get(mark.namespace)
    return ns.provider["id"] if ns is not None else None


def _binding_score(ev: Evidence, row: Any, config: Config) -> Any:
    """Compare the checked picture with the record's keyed fingerprint (None when it cannot be compared)."""
    from assay.provenance.binding import compare
    from assay.provenance.keys import binding_key

    keys = _register_keys(config)
    if keys is None or ev.probe is None:
        return None
    return compare(
        ev.probe,
        bytes(row.binding),
        binding_key(keys.master, row.provider_id),
        width=row.width,
        height=row.height,
        tile_period=_tile_period(),
    )


def _tile_period() -> Any:
    # The watermark's tile period for an unaltered width x height image (to read a rescaled crop's scale).
    from assay import watermark

    return watermark.tile_period


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
    ns: _Namespace | None,
    config: Config,
) -> Verdict:
    keys = _register_keys(config)
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


_keys_cache: dict[str, RegisterKeys | None] = {}
_keys_lock = threading.Lock()


def _register_keys(config: Config) -> RegisterKeys | None:
    """The register's keys (for the namespace tag check), or None on a folder that has none: never created."""
    path = str(Path(config.data_dir).resolve())
    with _keys_lock:
        if _keys_cache.get(path) is not None:
            return _keys_cache[path]
    try:
        keys: RegisterKeys | None = RegisterKeys.open(Path(config.data_dir), create=False)
    except ConfigError:
        keys = None
    with _keys_lock:
        if keys is not None:
            _keys_cache[path] = keys
    return keys


def _log_evidence(index: int | None, entry: bytes | None, proofs: dict[int, Any]) -> dict[str, Any] | None:
    """The mark's log entry and, once the log has integrated it, its tlog-proof (C2SP tlog-proof@v1)."""
    if index is None:
        return None
    evidence: dict[str, Any] = {
        "index": index,
        "url_path": f"/log/entries/{index}",
        "entry": base64.b64encode(entry).decode() if entry is not None else None,
        "proof": None,
    }
    proof = proofs.get(index)
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


def mark_view(row: Any, *, oversight: bool = False) -> dict[str, Any]:
    """The public facts of a mark record (what pages, the API and the resolution API show).

    The 64-bit perceptual hash only with ``oversight=True`` (the oversight body's token): published, it let an
    attacker nudge a photograph toward it until it passed for the recorded picture (issue 9)."""
    view = {
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
        "visible_label": bool(row.visible_label),
        "origin": row.origin,
        "log_index": row.log_index,
        "url_path": f"/marks/{row.mark_id}",
    }
    if not oversight:
        del view["phash"]
    return view


def _aware(d: dt.datetime) -> dt.datetime:
    return d if d.tzinfo is not None else d.replace(tzinfo=dt.UTC)


def _iso(d: dt.datetime) -> str:
    return _aware(d).strftime("%Y-%m-%dT%H:%M:%SZ")
