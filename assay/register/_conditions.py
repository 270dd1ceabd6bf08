"""The conditions of red-line rules: which facts of a disclosure a rule can test, and how a condition is read.

A condition is ``all``/``any``/``not`` over conditions, or one fact field with the values that make it hold
(``capabilities: [emotion_recognition]``); :func:`compile_condition` reads one from a rule file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from assay.errors import FieldProblem
from assay.register.vocabulary import (
    AffectedGroup,
    Capability,
    DeploymentContext,
    Modality,
    OrganisationKind,
    Purpose,
    RegulatedProduct,
    closest,
)

__all__ = ["FIELDS", "FLAGS", "Condition", "closest_name", "compile_condition"]

# --- Facts: what a rule can look at ------------------------------------------------------------------------

# Derived yes/no facts rules may test with ``flags: [...]``; each with the words used in explanations.
FLAGS: dict[str, str] = {
    "profiling": "the system profiles people",
    "fully_automated": "the system decides without a person reviewing each case",
    "vulnerable_groups": "the system affects groups in a vulnerable situation",
    "biometric_input": "the system processes biometric data",
    "personal_training_data": "personal data was used for training",
    "biometric_training_data": "biometric data was used for training",
    "public_body": "a public body provides or uses the system",
    "general_purpose_model": "the system uses a general-purpose AI model",
    "fria": "the disclosure includes a fundamental-rights impact assessment (due_diligence.fria)",
}

# Each condition field, the vocabulary it takes, and how explanations name its values.
FIELDS: dict[str, tuple[Any, str]] = {
    "capabilities": (Capability, "capability"),
    "contexts": (DeploymentContext, "deployment context"),
    "purposes": (Purpose, "purpose"),
    "affected_groups": (AffectedGroup, "affected group"),
    "input_modalities": (Modality, "input"),
    "output_modalities": (Modality, "output"),
    "organisation_kinds": (OrganisationKind, "organisation kind"),
    "safety_component_of": (RegulatedProduct, "regulated product"),
    "flags": (None, "fact"),
}


# --- Conditions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A node of a rule's condition: ``all``/``any``/``not`` over children, or ``has`` a field value."""

    op: Literal["all", "any", "not", "has"]
    children: tuple[Condition, ...] = ()
    field: str = ""
    values: frozenset[str] | None = None  # None means "any value at all" ("*")

    def evaluate(self, facts: Mapping[str, frozenset[str]]) -> tuple[bool, list[tuple[str, str]]]:
        """Whether the condition holds, and the (field, value) pairs that made it hold."""
        if self.op == "has":
            present = facts.get(self.field, frozenset())
            hits = sorted(present if self.values is None else present & self.values)
            return bool(hits), [(self.field, v) for v in hits]
        if self.op == "not":
            held, _ = self.children[0].evaluate(facts)
            return not held, []
        results = [c.evaluate(facts) for c in self.children]
        held = all(r[0] for r in results) if self.op == "all" else any(r[0] for r in results)
        evidence: list[tuple[str, str]] = []
        if held:
            for ok, ev in results:
                if ok:
                    evidence.extend(e for e in ev if e not in evidence)
        return held, evidence


def compile_condition(raw: Any, path: str, problems: list[FieldProblem]) -> Condition | None:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        problems.append(
            FieldProblem(
                path,
                "a condition must be a mapping with exactly one key",
                "use all:, any:, not:, or one field such as capabilities: [...]",
            )
        )
        return None
    ((key, value),) = raw.items()
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            problems.append(
                FieldProblem(
                    f"{path}.{key}", "must be a non-empty list of conditions", "list the conditions, one '- ' each"
                )
            )
            return None
        children = [compile_condition(v, f"{path}.{key}[{i}]", problems) for i, v in enumerate(value)]
        if any(c is None for c in children):
            return None
        return Condition(op=key, children=tuple(c for c in children if c is not None))
    if key == "not":
        child = compile_condition(value, f"{path}.not", problems)
        return Condition(op="not", children=(child,)) if child else None
    if key not in FIELDS:
        guess = closest_name(str(key), list(FIELDS) + ["all", "any", "not"])
        problems.append(
            FieldProblem(
                f"{path}.{key}",
                f"unknown condition field '{key}'",
                (f"did you mean '{guess}'? " if guess else "") + "use one of: all, any, not, " + ", ".join(FIELDS),
            )
        )
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append(
            FieldProblem(
                f"{path}.{key}",
                "must be a non-empty list of values",
                "give the values as a list, e.g. [emotion_recognition]",
            )
        )
        return None
    if value == ["*"]:
        return Condition(op="has", field=key, values=None)
    vocab, _ = FIELDS[key]
    allowed = list(FLAGS) if vocab is None else [m.value for m in vocab]
    ok = True
    for i, v in enumerate(value):
        if v not in allowed:
            ok = False
            guess = closest(vocab, v) if vocab is not None else closest_name(v, allowed)
            problems.append(
                FieldProblem(
                    f"{path}.{key}[{i}]",
                    f"unknown value '{v}' for {key}",
                    (f"did you mean '{guess}'? " if guess else "") + "allowed: " + ", ".join(allowed),
                )
            )
    return Condition(op="has", field=key, values=frozenset(value)) if ok else None


def closest_name(value: str, names: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    return found[0] if found else None
