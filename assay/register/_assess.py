"""Reading a disclosure into what the register stores: parse, screen, assess, and the facts kept for search.

No database here: each write in ``publishing`` and ``oversight`` assesses a document with these first, so
that nothing is written for a document that is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assay.errors import FieldProblem, InvalidInput

# The disclosure format, screening and impact are imported inside the functions that use them: a process that
# only reads the register (a check) should not pay about 0.2 s to build the disclosure model.
__all__ = [
    "disclosure_sha256",
    "name_key",
    "slugify",
    "validate",
]


_MAX_REASON = 2000


def validate(document: Any, *, source: str = "the disclosure") -> dict[str, Any]:
    """Validate, screen and assess a disclosure without writing anything: what publishing it would record."""
    a = _assess(document, source=source)
    return {
        "valid": True,
        "name": a.name,
        "version": a.version_label,
        "status": a.status,
        "capabilities": a.capabilities,
        "contexts": a.contexts,
        "outcome": a.screening["outcome"],
        "legal_outcome": a.screening["legal_outcome"],
        "outcome_basis": a.screening["outcome_basis"],
        "needs_review": a.screening["needs_review"],
        "findings": a.screening["findings"],
        "impact_level": a.impact["level"],
        "impact": a.impact,
        "training_data_headline": a.headline,
        "disclosure_sha256": a.sha256,
    }


def disclosure_sha256(document: Any) -> str:
    """The SHA-256 of a disclosure's canonical JSON: what a version records and the log carries."""
    from assay.register.disclosure import canonical_json

    return hashlib.sha256(canonical_json(_parse(document, source="the disclosure"))).hexdigest()


@dataclass(frozen=True)
class _Assessed:
    """A validated disclosure with everything derived from it, computed before anything is written."""

    document: dict[str, Any]
    canonical: str
    sha256: str
    name: str
    name_key: str
    version_label: str
    status: str
    summary: str
    capabilities: list[str]
    contexts: list[str]
    headline: str
    preferred_id: str | None
    provider_id: str | None
    screening: dict[str, Any]
    impact: dict[str, Any]

    def system_columns(self, now: datetime) -> dict[str, Any]:
        return {
            "name": self.name,
            "name_key": self.name_key,
            "version_label": self.version_label,
            "status": self.status,
            "summary": self.summary,
            "outcome": self.screening["outcome"],
            "outcome_basis": self.screening["outcome_basis"],
            "impact_level": self.impact["level"],
            "needs_review": self.screening["needs_review"],
            "training_data_headline": self.headline,
            "updated_at": now,
        }


def _assess(document: Any, *, source: str) -> _Assessed:
    disclosure = _parse(document, source=source)
    from assay.register.disclosure import canonical_json, training_data_headline

    canonical = canonical_json(disclosure)
    data = json.loads(canonical)
    facts = _facts(disclosure)
    screening = _screen(disclosure, None)
    from assay.register.impact import assess_impact

    impact = _plain(assess_impact(disclosure))
    impact["level"] = int(impact["level"])
    return _Assessed(
        document=data,
        canonical=canonical.decode("utf-8"),
        sha256=hashlib.sha256(canonical).hexdigest(),
        name=facts["name"],
        name_key=name_key(facts["name"]),
        version_label=facts["version"],
        status=facts["status"],
        summary=facts["summary"],
        capabilities=facts["capabilities"],
        contexts=facts["contexts"],
        headline=training_data_headline(disclosure),
        preferred_id=facts["preferred_id"],
        provider_id=facts["provider_id"],
        screening=screening,
        impact=impact,
    )


def _parse(document: Any, *, source: str) -> Any:
    from assay.register.disclosure import Disclosure, parse_disclosure

    if isinstance(document, Disclosure):
        return document
    return parse_disclosure(document, source=source)


def _screen(disclosure: Any, reviews: Any) -> dict[str, Any]:
    from assay.register.screening import KIND_LABELS, screen

    result = screen(disclosure, reviews=reviews)
    findings = []
    for f in result.findings:
        plain = _plain(f)
        plain["needs_review"] = bool(f.needs_review)
        plain["kind_label"] = KIND_LABELS[f.kind]
        findings.append(plain)
    return {
        "outcome": str(result.outcome),
        "legal_outcome": str(result.legal_outcome),
        "outcome_basis": str(result.outcome_basis),
        "needs_review": bool(result.needs_review),
        "findings": findings,
        "rules_version": str(result.rules_version),
    }


def _facts(disclosure: Any) -> dict[str, Any]:
    """The facts the register lists and filters by, read off a validated disclosure."""
    system = disclosure.system
    return {
        "name": system.name.strip(),
        "version": system.version,
        "status": str(system.status),
        "summary": _shorten(system.summary, 350),
        "capabilities": sorted({str(c) for c in disclosure.capabilities}),
        "contexts": sorted({str(c) for c in system.deployment_contexts}),
        "preferred_id": system.id,
        "provider_id": disclosure.provider.id,
    }


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a domain result (pydantic model, dataclass, enum, tuple...)."""
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(mode="json"))
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return round(value, 6)
    return value


def _legal_outcome(findings: list[dict[str, Any]], outcome: str) -> str:
    from assay.register.screening import outcome_basis

    return outcome_basis(findings, outcome)[0]


def _check_reason(reason: str | None, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInput(
            "give a reason: it is shown publicly next to the decision",
            hint="say in one or two sentences why",
            problems=[FieldProblem("reason", "missing", "add a reason")],
        )
    if len(reason) > _MAX_REASON:
        raise InvalidInput(
            f"the reason is longer than {_MAX_REASON} characters",
            hint="shorten it",
            problems=[FieldProblem("reason", f"longer than {_MAX_REASON} characters", "shorten it")],
        )
    return reason


def name_key(name: str) -> str:
    """The form of a name that must be unique per provider: case, accents-as-typed and spacing ignored."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def slugify(text: str, *, max_len: int = 60) -> str:
    """A URL-safe slug: ASCII letters, digits and '-' ("Émotion Scan 2" -> "emotion-scan-2")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    return slug[:max_len].strip("-")


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"
