"""The documented answers of the provenance routes (:mod:`assay.web.routes.provenance`), for /openapi.json only.

The routes return plain dicts, so nothing is filtered out; extra fields are allowed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "WatermarkOut",
    "MatchEvidenceOut",
    "EvidenceOut",
    "VerdictOut",
    "MarkOut",
    "MarkListOut",
    "MarkedOut",
    "BatchResultOut",
    "BatchOut",
    "AlgorithmOut",
    "SupportedAlgorithmsOut",
    "MatchOut",
    "MatchesOut",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class WatermarkOut(_Open):
    algorithm: str = Field(description="The watermark algorithm looked for (its C2PA soft-binding id).")
    found: bool
    key_id: str | None = Field(
        description="The id of the system key that found the mark (listed on the provider's page)."
    )


class MatchEvidenceOut(_Open):
    sha256_equal: bool = Field(description="This is exactly the recorded file.")
    assessment: Literal["identical", "similar", "different"] = Field(
        description="'different': the mark was copied from another picture (status mark_copied)."
    )
    compared_by: str = Field(description="sha256, keyed fingerprint, or perceptual hash (legacy marks).")
    recorded_size: list[int]


class EvidenceOut(_Open):
    manifest: dict[str, Any] = Field(description="The Content Credentials found, and whether they are trusted.")
    watermark: WatermarkOut = Field(
        description="The watermark detector's result; raw scores (p-value, z-score) only for the oversight token."
    )
    match: MatchEvidenceOut | None = Field(description="How the image compares with the recorded one.")


class VerdictOut(_Open):
    status: Literal["marked", "marked_unrecorded", "mark_copied", "mark_unresolved", "credentials_only", "no_mark"] = (
        Field(
            description="marked / marked_unrecorded: attributed. mark_copied: a recorded mark on another picture than "
            "its own (nothing is attributed). mark_unresolved: a watermark the register cannot resolve."
        )
    )
    found: bool = Field(
        description="An Assay watermark was found (attributed or not). Untrusted credentials never count."
    )
    attributed: bool = Field(description="The file is attributed to a registered provider (and system, if recorded).")
    legacy_mark: bool = Field(description="The mark was made with the legacy shared key (weaker evidence).")
    ai_generated: bool
    headline: str = Field(description="The verdict in one sentence.")
    confidence: str = Field(
        description="The watermark's odds in plain words, e.g. 'Less than one chance in a trillion that a picture "
        "without this mark shows this watermark.' (coarse on purpose: raw p-values only for the oversight token); "
        "empty when no watermark was found."
    )
    file_sha256: str | None = Field(description="SHA-256 of the checked file (the file itself is never stored).")
    share_url: str | None = Field(
        description="A link re-stating this verdict, signed by the register: the file's SHA-256, what was found and "
        "when (UTC). It stores no media."
    )
    media_type: str
    width: int
    height: int
    mark_id: str | None
    mark_source: Literal["watermark", "manifest"] | None
    system: dict[str, Any] | None = Field(description="The registered system that made it, if known.")
    provider: dict[str, Any] | None
    record: dict[str, Any] | None = Field(description="The mark record, if the mark is recorded.")
    evidence: EvidenceOut
    log: dict[str, Any] | None = Field(description="The record's transparency-log entry and proof.")
    notes: list[str] = Field(description="What the check cannot know.")


class MarkOut(_Open):
    mark_id: str = Field(description="16 lower-case hexadecimal digits.")
    system_id: str
    provider_id: str
    system_version_number: int
    created_at: str = Field(description="ISO 8601, UTC (ends in Z).")
    recorded_at: str = Field(description="ISO 8601, UTC (ends in Z).")
    sha256: str
    phash: str | None = Field(
        None, description="The 64-bit perceptual hash: only with the oversight body's token (it helps forgers)."
    )
    width: int
    height: int
    media_type: str
    alg: str
    manifest_id: str | None
    visible_label: bool
    origin: Literal["online", "batch"]
    log_index: int | None
    url_path: str = Field(description="The mark's public page.")


class MarkListOut(BaseModel):
    items: list[MarkOut]
    page: int
    per_page: int
    total: int


class MarkedOut(_Open):
    mark_id: str
    system_id: str
    media_type: str
    sha256: str
    phash: str
    manifest_id: str | None
    log_index: int | None
    created_at: str
    bytes: int = Field(description="The marked image's size.")
    data_base64: str = Field(description="The marked image, base64.")


class BatchResultOut(_Open):
    mark_id: str
    status: Literal["recorded", "already_recorded"]
    log_index: int | None


class BatchOut(BaseModel):
    recorded: int = Field(description="How many entries were new.")
    results: list[BatchResultOut]


class AlgorithmOut(_Open):
    alg: str


class SupportedAlgorithmsOut(BaseModel):
    watermarks: list[AlgorithmOut]
    fingerprints: list[AlgorithmOut]


class MatchOut(_Open):
    manifestId: str  # noqa: N815 - the C2PA specification's names
    endpoint: str
    similarityScore: int  # noqa: N815


class MatchesOut(BaseModel):
    matches: list[MatchOut]
