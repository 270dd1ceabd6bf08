"""Disclosures built from code for the register-domain tests (no opaque fixtures)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from assay.register.disclosure import Disclosure, parse_disclosure

EXAMPLES = Path(__file__).parents[2] / "assay" / "register" / "examples"

_SYNTHETIC_OUTPUT = {
    "synthetic_image": "image",
    "synthetic_audio": "audio",
    "synthetic_video": "video",
    "synthetic_text": "text",
}


def minimal() -> dict[str, Any]:
    """The smallest complete disclosure: a system that triggers no rule."""
    return {
        "schema_version": "1",
        "provider": {
            "legal_name": "Example Systems Ltd",
            "kind": "company",
            "jurisdiction": "IE",
            "address": "1 Example Street, Dublin",
            "contact": {"email": "team@example.org"},
            "responsible": {"role": "Chief Executive"},
        },
        "system": {
            "name": "Example",
            "version": "1.0",
            "status": "in_use",
            "summary": "Sorts incoming paper mail into departments.",
            "intended_purpose": "Routing scanned letters to the right department of the organisation.",
            "purposes": ["other"],
            "how_it_works": "A text classifier reads the first page of each letter and picks a department.",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "deployment_contexts": ["public_administration"],
            "countries": ["IE"],
            "affected_groups": ["general_public"],
            "affected_people": "People who write letters to the organisation.",
            "human_oversight": {
                "decision_role": "no_decisions_about_people",
                "description": "Clerks move misrouted letters by hand.",
            },
            "contest": {"how": "Write to the organisation."},
        },
    }


def make(
    *,
    capabilities: list[str] = (),  # type: ignore[assignment]
    purposes: list[str] | None = None,
    contexts: list[str] | None = None,
    groups: list[str] | None = None,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    safety: list[str] | None = None,
    profiling: bool | None = None,
    claims: list[dict[str, Any]] | None = None,
    answers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A minimal disclosure with the given facts (outputs for synthetic capabilities are added)."""
    d = minimal()
    s = d["system"]
    d["capabilities"] = list(capabilities)
    if purposes is not None:
        s["purposes"] = purposes
    if contexts is not None:
        s["deployment_contexts"] = contexts
    if groups is not None:
        s["affected_groups"] = groups
    if inputs is not None:
        s["input_modalities"] = inputs
    out = list(outputs if outputs is not None else s["output_modalities"])
    for cap in capabilities:
        needed = _SYNTHETIC_OUTPUT.get(cap)
        if needed and needed not in out:
            out.append(needed)
    s["output_modalities"] = out
    if safety is not None:
        s["safety_component_of"] = safety
    if profiling is not None:
        s["profiling"] = profiling
    if claims is not None:
        d["exception_claims"] = claims
    if answers is not None:
        d["impact_answers"] = answers
    return d


def parsed(data: dict[str, Any]) -> Disclosure:
    return parse_disclosure(copy.deepcopy(data))


def example(name: str) -> Disclosure:
    return parse_disclosure((EXAMPLES / f"{name}.yaml").read_bytes(), source=f"{name}.yaml")


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


LONG_JUSTIFICATION = (
    "The system is installed only to protect the physical safety of the operators and the public. Each alert "
    "goes to a medical officer bound by secrecy, who speaks with the person before anything happens. The data "
    "is deleted after every shift, nobody in management can see it, and it is never used to evaluate, appraise, "
    "promote or discipline anyone. The works council approved these limits in writing, an external auditor "
    "checks them every year, and staff may switch the sensor off at any moment without any record being kept."
)
