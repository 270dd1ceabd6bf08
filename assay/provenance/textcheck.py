"""Checking text: the text peer of examine/resolve for images.

    material = TextMaterial.from_register(db, config)     # the key ring; no private key of the CA is opened
    evidence = examine_text(text, material, name="essay.docx")   # pure: tokenise, screen every key
    verdict = resolve_text(evidence, db, config)          # who the key belongs to, records, the log entry

Steps of :func:`examine_text` (the text is held in memory only, never stored or logged):

1. hash the normalised text (NFC, white space collapsed) for the exact-record lookup;
2. for each tokenizer the register holds, tokenise the text once and screen that tokenizer's keys
   (:func:`assay.textmark.detect`: whole text and windows, exact p-values);
3. pay for every key of the register (Bonferroni over all of them) and compare with the threshold (1e-6).

:func:`resolve_text` then names the system (its model and training data), the provider, the record of the exact
text if the provider recorded it, and the log entry that proves the key (or the record) was logged for that
system; the wording lives in :mod:`assay.provenance.textwording`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.config import Config
from assay.db import Database
from assay.db.types import iso_z as _iso
from assay.errors import AssayError, ConfigError, InvalidInput, TooLarge, VerificationError
from assay.provenance import textwording
from assay.provenance.text import KeyInfo, Keyring, find_records, keyring_stamp, load_keyring, text_sha256
from assay.provenance.textfiles import MAX_TEXT_CHARS
from assay.textmark import DEFAULT_THRESHOLD, TextDetection, detect

__all__ = [
    "TEXT_EXIT_CODES",
    "TextEvidence",
    "TextMaterial",
    "TextVerdict",
    "check_text",
    "examine_text",
    "resolve_text",
    "verify_text_verdict",
]

TEXT_EXIT_CODES = {"marked": 1, "recorded": 1}
_LOG_KINDS = ("text.key.issued", "text.recorded")


@dataclass(frozen=True)
class TextMaterial:
    """The register's text keys and tokenizers: secret (symmetric keys), for the register's own processes only."""

    keyring: Keyring
    threshold: float = DEFAULT_THRESHOLD

    @classmethod
    def from_register(cls, db: Database, config: Config) -> TextMaterial:
        """Cached per data folder, reloaded when a text key is issued or revoked."""
        from assay.provenance.keys import RegisterKeys

        with db.read() as s:
            stamp = keyring_stamp(s)
        path = str(Path(config.data_dir).resolve())
        with _lock:
            hit = _cache.get(path)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        try:
            master: bytes | None = RegisterKeys.open(Path(config.data_dir), create=False).master
        except ConfigError:
            master = None
        material = cls(load_keyring(db, master))
        with _lock:
            _cache[path] = (stamp, material)
        return material


_cache: dict[str, tuple[Any, TextMaterial]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class TextEvidence:
    """What :func:`examine_text` found (no text is kept: only its size, hash and the detection)."""

    name: str
    chars: int
    sha256: str
    tokens: int
    marked: bool
    log10_p: float | None
    detection: TextDetection | None
    passage: dict[str, int] | None  # character offsets of the stretch that decided
    whole_text: bool
    keys_screened: int


def require_checkable(text: str, name: str = "the text") -> None:
    """Refuse an empty text or one over ``MAX_TEXT_CHARS``, naming it and the fix."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{name} is empty", hint="give some text to check")
    if len(text) > MAX_TEXT_CHARS:
        raise TooLarge(
            f"{name} has {len(text):,} characters, over the limit of {MAX_TEXT_CHARS:,}",
            hint="check a part of it (a marked passage is found inside a longer text)",
        )


def examine_text(text: str, material: TextMaterial, *, name: str = "the text") -> TextEvidence:
    require_checkable(text, name)
    sha = text_sha256(text)
    total = material.keyring.size
    best: tuple[float, TextDetection, list[tuple[int, int]]] | None = None
    tokens = 0
    for tokenizer, keys in material.keyring.groups:
        ids, offsets = tokenizer.encode_with_offsets(text)
        tokens = max(tokens, int(ids.size))
        d = detect(ids, keys, threshold=material.threshold)
        # detect() paid for its own keys; pay for every key of the register instead.
        log10_p = min(0.0, d.log10_p - math.log10(len(keys)) + math.log10(total))
        if best is None or log10_p < best[0]:
            best = (log10_p, d, offsets)
    if best is None:
        return TextEvidence(name, len(text), sha, 0, False, None, None, None, True, 0)
    log10_p, d, offsets = best
    passage, whole = None, True
    if d.window is not None and offsets:
        start = offsets[min(d.window.start, len(offsets) - 1)][0]
        end = offsets[min(d.window.end, len(offsets)) - 1][1]
        passage = {"start": int(start), "end": int(end)}
        whole = d.window.end - d.window.start >= d.tokens - 2 * (d.key.context_width if d.key else 0)
    return TextEvidence(
        name=name,
        chars=len(text),
        sha256=sha,
        tokens=tokens,
        marked=log10_p <= math.log10(material.threshold),
        log10_p=log10_p,
        detection=d,
        passage=passage,
        whole_text=whole,
        keys_screened=total,
    )


@dataclass(frozen=True)
class TextVerdict:
    """The answer to "who generated this text?". ``status``: ``marked`` (the watermark of a registered system),
    ``recorded`` (no watermark found, but the exact text was recorded by a system's provider) or ``no_mark``."""

    status: str
    headline: str
    evidence: TextEvidence
    system: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None
    key: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    log: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.status in TEXT_EXIT_CODES

    @property
    def exit_code(self) -> int:
        return TEXT_EXIT_CODES.get(self.status, 0)

    def as_dict(self, *, oversight: bool = False) -> dict[str, Any]:
        ev = self.evidence
        watermark: dict[str, Any] = {
            "found": ev.marked,
            "key_id": self.key["key_id"] if (self.key and ev.marked) else None,
            "tokens": ev.tokens,
            "scored_tokens": ev.detection.scored if ev.detection else 0,
            "keys_screened": ev.keys_screened,
            "passage": ev.passage if ev.marked else None,
            "whole_text": ev.whole_text if ev.marked else None,
        }
        if oversight and ev.detection is not None:
            # Raw scores for the oversight body only: in public answers they would help tune an evasion.
            watermark |= {
                "log10_p": ev.log10_p,
                "score": ev.detection.score,
                "window": ev.detection.window.as_dict() if ev.detection.window else None,
            }
        return {
            "kind": "text",
            "file": ev.name or None,
            "status": self.status,
            "found": self.found,
            "attributed": self.found,
            "ai_generated": self.found,
            "headline": self.headline,
            "confidence": textwording.confidence(ev.log10_p) if ev.marked else "",
            "system": self.system,
            "provider": self.provider,
            "key": self.key,
            "record": self.record,
            "evidence": {"text": {"chars": ev.chars, "sha256": ev.sha256}, "watermark": watermark},
            "log": self.log,
            "notes": list(self.notes),
        }


def resolve_text(evidence: TextEvidence, db: Database, config: Config) -> TextVerdict:
    from assay.register.service import get_provider, get_system

    info: KeyInfo | None = None
    if evidence.marked and evidence.detection is not None and evidence.detection.key is not None:
        info = None
        # The key ring's public facts were loaded with it; read them again from the database for freshness.
        from assay.provenance.text import list_text_keys

        with db.read() as s:
            info = next(
                (k for k in list_text_keys(s, system_id=evidence.detection.key.system_id)
                 if k.key_id == evidence.detection.key.key_id),
                None,
            )  # fmt: skip
    with db.read() as s:
        records = find_records(s, evidence.sha256)
        record = records[0] if records else None
        rec_facts = (
            {
                "record": record.id,
                "system_id": record.system_id,
                "sha256": record.sha256,
                "tokens": record.tokens,
                "created_at": _iso(record.created_at),
                "log_index": record.log_index,
            }
            if record is not None
            else None
        )
        system_id = info.system_id if info else (record.system_id if record else None)
        sysview = get_system(s, system_id) if system_id else None
        provview = get_provider(s, sysview.provider_id) if sysview else None
    status = "marked" if info and sysview else ("recorded" if record and sysview else "no_mark")
    system = _system_dict(config, sysview) if sysview and status != "no_mark" else None
    provider = (
        {"id": provview.id, "name": provview.name, "url": config.base_url + provview.url_path}
        if provview and system
        else None
    )
    rec = rec_facts if system is not None else None
    key = info.as_dict() if info and status == "marked" else None
    index = rec["log_index"] if rec else (info.log_index if key and info else None)
    log = _log_evidence(db, index if isinstance(index, int) else None)
    notes = textwording.notes(
        status,
        passage=evidence.passage,
        key_revoked_at=key["revoked_at"] if key else None,
        recorded=rec is not None,
        whole_text=evidence.whole_text,
        systems_checked=evidence.keys_screened,
    )
    return TextVerdict(
        status=status,
        headline=textwording.headline(status, system, provider),
        evidence=evidence,
        system=system,
        provider=provider,
        key=key,
        record=rec,
        log=log,
        notes=tuple(notes),
    )


def check_text(db: Database, config: Config, text: str, *, name: str = "the text") -> TextVerdict:
    """Examine and resolve one text held in memory."""
    return resolve_text(examine_text(text, TextMaterial.from_register(db, config), name=name), db, config)


def _system_dict(config: Config, s: Any) -> dict[str, Any]:
    url = config.base_url + s.url_path
    models = [
        {k: m.get(k) for k in ("name", "version", "provider", "architecture_family") if m.get(k)}
        for m in (s.disclosure.get("models") or [])
        if isinstance(m, Mapping)
    ]
    return {
        "id": s.id,
        "name": s.name,
        "version": s.version,
        "status": s.status,
        "url": url,
        "models": models,
        "training_data_headline": s.training_data_headline,
        "training_data_url": url + "#training-data",
        "outcome": s.outcome,
        "impact_level": s.impact_level,
        "suspended": bool(s.suspended),
    }


def _log_evidence(db: Database, index: int | None) -> dict[str, Any] | None:
    if index is None:
        return None
    from assay.provenance.judging import log_evidence
    from assay.transparency import entry_at, proof_for

    proof: str | AssayError | None
    try:
        proof = proof_for(db, index)
    except AssayError as exc:
        proof = exc
    except OSError as exc:
        proof = AssayError(f"the log's tiles could not be read: {exc}")
    return log_evidence(index, entry_at(db, index), proof)


def verify_text_verdict(verdict: Mapping[str, Any], *, log_key: str) -> Any:
    """Verify a text verdict's log evidence offline (the text peer of ``verify_verdict``):

    1. the verdict carries its log entry and tlog-proof; 2. the proof verifies against ``log_key``;
    3. the entry is a ``text.key.issued`` or ``text.recorded`` entry; 4. its system (and key id, or the text's
    SHA-256 for a record) is the verdict's. Raises VerificationError at the first step that fails."""
    from assay.provenance.verify import LogInclusion, verify_logged_entry

    log = verdict.get("log")
    if not isinstance(log, Mapping):
        raise VerificationError("the verdict carries no integrated log entry", hint="check again in a moment")
    checkpoint, kind, body = verify_logged_entry(
        log, log_key=log_key, kinds=tuple(_LOG_KINDS), what="a text key or record"
    )
    claims = {
        "system": (verdict.get("system") or {}).get("id"),
        "key_id": (verdict.get("key") or {}).get("key_id") if kind == "text.key.issued" else None,
        "sha256": (verdict.get("record") or {}).get("sha256") if kind == "text.recorded" else None,
    }
    for name, claimed in claims.items():
        if claimed is not None and body.get(name) != claimed:
            raise VerificationError(
                f"the verdict's {name} is not the logged one", hint="the register answered inconsistently"
            )
    return LogInclusion(
        index=int(log["index"]),
        origin=checkpoint.origin,
        tree_size=checkpoint.size,
        body=body,
    )
