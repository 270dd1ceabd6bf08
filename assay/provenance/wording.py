"""How a verdict is said: headlines and notes, from the facts :mod:`assay.provenance.judging` established.

Facts decide, words follow: a verdict carries its note *codes* (stable, for programs) and these sentences
(for people). Nothing here looks anything up or changes a status.
"""

from __future__ import annotations

from typing import Any

from assay.register.labels import OUTCOME_LABELS, impact_label

__all__ = ["NOTES", "OUTCOME_LABELS", "headline", "impact_label", "note", "odds", "utc"]

# One vocabulary everywhere: outcomes and impact levels are said with the register's words (assay.register.labels),
# re-exported here for the check's templates and the CLI.


def utc(iso: str | None) -> str:
    """An ISO 8601 UTC time (``2026-12-05T14:00:00Z``) as people read it: ``2026-12-05 14:00 UTC``."""
    if not iso:
        return ""
    return iso.replace("T", " ")[:16] + " UTC"


# Plain-language odds, coarse on purpose: public answers never carry the raw p-value (issue 9: it would help
# anyone tuning a removal), and people read "one chance in a trillion" where "p < 1e-139" says nothing.
_ODDS = ((1e-12, "a trillion"), (1e-9, "a billion"), (1e-6, "a million"))


def odds(p_value: float | None) -> str:
    """How unlikely it is that an unmarked picture shows what the detector saw, in words ("" when nothing was
    found). Bounded at a trillion: smaller figures add nothing a reader can use."""
    if p_value is None or not p_value == p_value or p_value > _ODDS[-1][0]:  # None, NaN or above the threshold
        return ""
    for bound, words in _ODDS:
        if p_value <= bound:
            return f"Less than one chance in {words} that a picture without this mark shows this watermark."
    return ""


NOTES: dict[str, str] = {
    "signer_revoked": (
        "The certificate that signed the file's Content Credentials has been revoked by the register, so they are "
        "not trusted: anyone holding its key could have signed them."
    ),
    "detector_failed": "The watermark detector failed on this image, so a watermark may have been missed.",
    "mark_from_credentials": (
        "The watermark was not found (the image may be heavily edited); the mark comes from its trusted Content "
        "Credentials."
    ),
    "marks_differ": (
        "The watermark ({watermark}) and the Content Credentials ({credentials}) name different marks: the image "
        "was marked twice, or one of them was copied."
    ),
    "picture_differs": (
        "The picture differs from the one recorded with this mark: it may be heavily cropped or edited, or the "
        "mark was copied onto another picture. Treat the attribution with care."
    ),
    "entry_changed": (
        "The system's register entry has changed since this image was made (version {then}, record version "
        "{then_number} then; version {now}, record version {now_number} now)."
    ),
    "suspended": "The oversight body has suspended this system since.",
    "key_revoked": (
        "The marking key this mark was made with has since been revoked; the mark was recorded before that."
    ),
    "credentials_tampered": "The file's Content Credentials were changed after they were signed: do not rely on them.",
    "credentials_stripped": (
        "The file has no Content Credentials any more (often removed by websites); the invisible watermark still "
        "identifies it."
    ),
    "scope": (
        "The mark says which registered system made the image. It does not say who used the system, why, or how "
        "much the image was changed afterwards."
    ),
    "not_authentic": (
        "No Assay mark does not mean the image is authentic: most AI systems are not registered here, and marks "
        "can be damaged by heavy editing."
    ),
    "not_recorded_yet": (
        "The provider has not recorded this particular image yet (providers that mark offline record in "
        "batches); which of its systems made it is not known until then."
    ),
    "unrecorded_key_revoked": "The key this mark was made with has been revoked.",
    "mark_copied": (
        "The mark is a recorded one, but the register's secret fingerprint of the picture it was recorded with "
        "does not match this picture: the mark was copied onto it (or the picture was changed beyond "
        "recognition). A copied mark says nothing about who made this picture."
    ),
    "mark_copied_unrecorded": (
        "The watermark's own binding to the picture it was made on is missing from this one: the mark was lifted "
        "from another image (or this one was changed beyond recognition). A copied mark says nothing about who "
        "made this picture."
    ),
    "signer_not_owner": (
        "The Content Credentials name an Assay mark, but they are not signed with a certificate of the provider "
        "that mark belongs to: the claim is not counted."
    ),
    "legacy_mark": (
        "This mark was made with the register's former shared watermark key, which every offline marking kit "
        "held: anyone with such a kit could copy it onto a look-alike picture, and only the public perceptual "
        "hash compares the pictures. The exact file, or its intact Content Credentials, proves more."
    ),
    "unresolved": (
        "The watermark does not match any mark the register issued: it may be forged, or come from another "
        "register using the same algorithm."
    ),
}


def note(code: str, **params: Any) -> str:
    return NOTES[code].format(**params)


def headline(status: str, facts: dict[str, Any]) -> str:
    """The verdict in one sentence. ``facts`` holds what the sentence names (system, provider, dates...)."""
    if status == "marked":
        if facts.get("legacy"):
            return (
                f"AI-generated by {facts['system']} ({facts['provider']}), version {facts['version']}, "
                f"made on {facts['made']}, according to a legacy mark (weaker evidence: see the notes)."
            )
        return (
            f"AI-generated by {facts['system']} ({facts['provider']}), version {facts['version']}, "
            f"made on {facts['made']}."
        )
    if status == "marked_unrecorded":
        return f"AI-generated by a system of {facts['provider']}; this image is not recorded in the register yet."
    if status == "mark_copied":
        return (
            "An Assay mark was found, but it was copied from another picture: this image cannot be attributed "
            "to any registered system."
        )
    if status == "mark_unresolved":
        return "An Assay watermark was found, but it does not resolve to any registered system."
    if status == "credentials_only":
        state = facts["manifest_state"]
        if facts.get("claim_refused"):
            return (
                f"Its Content Credentials (signed by {facts['signer'] or 'an unknown signer'}) claim the Assay mark "
                "of another provider, which they cannot: the claim is not counted, and no Assay mark was found."
            )
        if state == "trusted" and facts["says_ai"]:
            return (
                f"AI-generated according to its Content Credentials (made with {facts['agent']}, signed by "
                f"{facts['signer']}); no Assay mark was found."
            )
        if state in ("tampered", "invalid", "unreadable"):
            return "The file's Content Credentials are damaged or were changed after signing; no Assay mark was found."
        if facts["says_ai"]:
            return (
                "Its Content Credentials say it is AI-generated, but they are signed by someone this register does "
                "not trust; no Assay mark was found."
            )
        return "No Assay mark found. The file carries Content Credentials from another tool."
    return "No Assay mark found in this image."
