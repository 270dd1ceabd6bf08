"""Derived answers of the impact questionnaire: read off the disclosure itself, never taken from the provider.

Each derivation maps a disclosure to ``(choice id, why)``; :data:`DERIVED_FROM` names the disclosure fields
each one reads, for pages and error messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay.register.vocabulary import (
    ANNEX_III_PURPOSES,
    SENSITIVE_TRAIT_CATEGORISATION,
    VULNERABLE_GROUPS,
    Capability,
    DecisionRole,
    DeploymentContext,
    Modality,
    OrganisationKind,
)

__all__ = ["DERIVATIONS", "DERIVED_FROM"]

# --- Derived answers: read off the disclosure, never taken from the provider ------------------------------

_VERY_SENSITIVE = {
    DeploymentContext.LAW_ENFORCEMENT,
    DeploymentContext.MIGRATION_BORDER,
    DeploymentContext.JUSTICE_DEMOCRACY,
    DeploymentContext.HUMANITARIAN_AID,
}
_SENSITIVE = {
    DeploymentContext.WORKPLACE,
    DeploymentContext.EDUCATION,
    DeploymentContext.ESSENTIAL_SERVICES,
    DeploymentContext.HEALTH,
    DeploymentContext.CRITICAL_INFRASTRUCTURE,
    DeploymentContext.PUBLIC_SPACES,
}
_RED_LINE_CAPABILITIES = {
    Capability.EMOTION_RECOGNITION,
    Capability.GENDER_INFERENCE,
    Capability.BIOMETRIC_CATEGORISATION_OTHER,
    Capability.REMOTE_BIOMETRIC_IDENTIFICATION_REALTIME,
    Capability.REMOTE_BIOMETRIC_IDENTIFICATION_POST,
    Capability.FACIAL_IMAGE_SCRAPING,
    Capability.SOCIAL_SCORING,
    Capability.CRIME_RISK_PREDICTION_PROFILING,
    Capability.MANIPULATIVE_TECHNIQUES,
    Capability.EXPLOITATION_OF_VULNERABILITIES,
    Capability.HUMANITARIAN_BIOMETRIC_COLLECTION,
    Capability.DECEPTION_DETECTION,
    *SENSITIVE_TRAIT_CATEGORISATION,
}
_BIOMETRIC_CAPABILITIES = _RED_LINE_CAPABILITIES - {
    Capability.SOCIAL_SCORING,
    Capability.CRIME_RISK_PREDICTION_PROFILING,
    Capability.MANIPULATIVE_TECHNIQUES,
    Capability.EXPLOITATION_OF_VULNERABILITIES,
    Capability.GENDER_INFERENCE,  # may be inferred from names or text; biometric only with biometric input
} | {Capability.BIOMETRIC_VERIFICATION}


def _labels(values: Any) -> str:
    return ", ".join(f"\u201c{v.label}\u201d" for v in values)


def _context_sensitivity(d: Any) -> tuple[str, str]:
    contexts = set(d.system.deployment_contexts)
    if contexts & _VERY_SENSITIVE:
        return "very_sensitive", f"deployment contexts include {_labels(sorted(contexts & _VERY_SENSITIVE))}"
    if contexts & _SENSITIVE:
        return "sensitive", f"deployment contexts include {_labels(sorted(contexts & _SENSITIVE))}"
    return "ordinary", f"deployment contexts are {_labels(sorted(contexts))}"


def _vulnerable_groups(d: Any) -> tuple[str, str]:
    found = sorted(VULNERABLE_GROUPS & set(d.system.affected_groups))
    if found:
        return "yes", f"affected groups include {_labels(found)}"
    return "no", "no affected group listed is in a vulnerable situation"


def _biometric_data(d: Any) -> tuple[str, str]:
    reasons = []
    if Modality.BIOMETRIC in d.system.input_modalities:
        reasons.append("its inputs include biometric data")
    caps = sorted(_BIOMETRIC_CAPABILITIES & set(d.capabilities))
    if caps:
        reasons.append(f"it declares {_labels(caps)}")
    if d.training_data and d.training_data.biometric_data_used:
        reasons.append("biometric data was used for training")
    if reasons:
        return "yes", "; ".join(reasons)
    return "no", "no biometric input, capability or training data is declared"


def _decision_autonomy(d: Any) -> tuple[str, str]:
    role = d.system.human_oversight.decision_role
    return role.value, f"human oversight: {role.label.lower()}"


def _profiling(d: Any) -> tuple[str, str]:
    if d.system.profiling:
        return "yes", "the system profiles people (system.profiling)"
    return "no", "the system does not profile people (system.profiling)"


def _red_line_capabilities(d: Any) -> tuple[str, str]:
    caps = sorted(_RED_LINE_CAPABILITIES & set(d.capabilities))
    if caps:
        return "yes", f"it declares {_labels(caps)}"
    return "no", "no such capability is declared"


def _high_risk_purpose(d: Any) -> tuple[str, str]:
    purposes = sorted(set(ANNEX_III_PURPOSES) & set(d.system.purposes))
    reasons = [f"purposes include {_labels(purposes)}"] if purposes else []
    if d.system.safety_component_of:
        reasons.append(f"it is a safety component of: {_labels(d.system.safety_component_of)}")
    if reasons:
        return "yes", "; ".join(reasons)
    return "no", "no Annex III purpose or regulated product is declared"


def _public_authority_decisions(d: Any) -> tuple[str, str]:
    public = [o.legal_name for o in [d.provider, *d.deployers] if o.kind == OrganisationKind.PUBLIC_BODY]
    decides = d.system.human_oversight.decision_role != DecisionRole.NO_DECISIONS_ABOUT_PEOPLE
    if public and decides:
        return "yes", f"{public[0]} is a public body and the output is used in decisions about people"
    if public:
        return "no", "a public body uses it, but not for decisions about people"
    return "no", "no public body provides or uses it"


def _fria_done(d: Any) -> tuple[str, str]:
    if d.due_diligence.fria is not None:
        return "yes", "the disclosure contains an Art. 27 assessment covering points (a) to (f)"
    return "no", "the disclosure contains no fundamental-rights impact assessment"


def _affected_groups_consulted(d: Any) -> tuple[str, str]:
    c = d.due_diligence.consultation
    if c is None:
        return "none", "the disclosure describes no consultation"
    overlap = sorted(set(c.groups) & set(d.system.affected_groups))
    if overlap:
        return "affected_groups", f"consulted: {_labels(overlap)}"
    return "other_groups", f"consulted {_labels(c.groups)}, none of them listed as affected"


def _dpia_done(d: Any) -> tuple[str, str]:
    if d.due_diligence.dpia is not None:
        return "yes", f"DPIA referenced: {d.due_diligence.dpia.reference}"
    return "no", "no DPIA is referenced"


def _human_review(d: Any) -> tuple[str, str]:
    role = d.system.human_oversight.decision_role
    if role == DecisionRole.FULLY_AUTOMATED:
        return "no", "the output takes effect without a person reviewing each case"
    return "yes", f"human oversight: {role.label.lower()}"


def _group_evaluation(d: Any) -> tuple[str, str]:
    per_group = [(m.name, e.group) for m in d.models for e in m.evaluation if e.group]
    if per_group:
        return "yes", f"{len(per_group)} evaluation result(s) are reported per group"
    if not d.models:
        return "no", "no model and no evaluation results are disclosed"
    return "no", "no evaluation result is reported per group of people"


def _training_data_published(d: Any) -> tuple[str, str]:
    if d.training_data is not None:
        return "yes", "the disclosure summarises the training data"
    if not d.models:
        return "yes", "the system uses no trained model"
    return "no", "the disclosure has no training-data summary"


def _contest_channel(d: Any) -> tuple[str, str]:
    if d.system.contest.contact or d.system.contest.url:
        return "yes", "a contact or page for contesting is given"
    return "no", "only a description, no contact or page, is given"


DERIVATIONS: dict[str, Callable[[Any], tuple[str, str]]] = {
    "context_sensitivity": _context_sensitivity,
    "vulnerable_groups": _vulnerable_groups,
    "biometric_data": _biometric_data,
    "decision_autonomy": _decision_autonomy,
    "profiling": _profiling,
    "red_line_capabilities": _red_line_capabilities,
    "high_risk_purpose": _high_risk_purpose,
    "public_authority_decisions": _public_authority_decisions,
    "fria_done": _fria_done,
    "affected_groups_consulted": _affected_groups_consulted,
    "dpia_done": _dpia_done,
    "human_review": _human_review,
    "group_evaluation": _group_evaluation,
    "training_data_published": _training_data_published,
    "contest_channel": _contest_channel,
}

# Which part of the disclosure a derived question is read from, for error messages.
DERIVED_FROM = {
    "context_sensitivity": "system.deployment_contexts",
    "vulnerable_groups": "system.affected_groups",
    "biometric_data": "system.input_modalities, capabilities and training_data.biometric_data_used",
    "decision_autonomy": "system.human_oversight.decision_role",
    "profiling": "system.profiling",
    "red_line_capabilities": "capabilities",
    "high_risk_purpose": "system.purposes and system.safety_component_of",
    "public_authority_decisions": "provider/deployers kind and system.human_oversight.decision_role",
    "fria_done": "due_diligence.fria",
    "affected_groups_consulted": "due_diligence.consultation",
    "dpia_done": "due_diligence.dpia",
    "human_review": "system.human_oversight.decision_role",
    "group_evaluation": "models[].evaluation[].group",
    "training_data_published": "training_data",
    "contest_channel": "system.contest",
}
