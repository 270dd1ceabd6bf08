"""What a check says: the :class:`Verdict` type, its statuses and the public view of a mark record.

A verdict is built by :mod:`assay.provenance.judging` from an :class:`~assay.provenance.evidence.Evidence` and
what the register knows of its mark, which :mod:`assay.provenance.resolving` looks up (``resolve``,
``resolve_many``); :mod:`assay.provenance.wording` words it. This module holds only the shapes, so pages, the
API, the CLI and a third party read them without loading the check's machinery::

    from assay.provenance import Verdict, resolve_many

    for verdict in resolve_many(evidences, db, config):
        print(verdict.status, verdict.headline, verdict.exit_code)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.db.types import iso_z
from assay.provenance.manifest import ManifestReport

__all__ = ["EXIT_CODES", "PHASH_SIMILAR", "STATUSES", "Verdict", "mark_view"]

# Perceptual hashes of re-encoded, resized or lightly edited copies differ in a few of 64 bits; different
# pictures differ in about 32. Up to 12 is "the same picture".
PHASH_SIMILAR = 12

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


def mark_view(row: Any, *, oversight: bool = False) -> dict[str, Any]:
    """The public facts of a mark record (what pages, the API and the resolution API show).

    The 64-bit perceptual hash only with ``oversight=True`` (the oversight body's token): published, it let an
    attacker nudge a photograph toward it until it passed for the recorded picture (issue 9)."""
    view = {
        "mark_id": row.mark_id,
        "system_id": row.system_id,
        "provider_id": row.provider_id,
        "system_version_number": row.system_version_number,
        "created_at": iso_z(row.created_at),
        "recorded_at": iso_z(row.recorded_at),
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
