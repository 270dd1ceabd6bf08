"""The words for a system's screening outcome and impact level: one table for every place that shows them.

The register's pages, the check's verdicts (page, CLI, API wording), the CLI's system views and the exports all
say an outcome and a level with these words, so a reader never meets "High risk" in one place and "High-risk" in
another. Values (``high_risk``, ``3``) are what programs read; these are what people read::

    >>> outcome_label("high_risk"), impact_label(3)
    ('High-risk', 'Impact level III of IV')
"""

from __future__ import annotations

__all__ = ["LEVEL_NUMERALS", "OUTCOME_LABELS", "impact_label", "level_name", "level_numeral", "outcome_label"]

# Most severe first, as assay.register._rules.OUTCOMES orders them.
OUTCOME_LABELS: dict[str, str] = {
    "prohibited": "Prohibited by law",
    "high_risk": "High-risk",
    "transparency": "Transparency obligations",
    "minimal": "Minimal risk",
}
LEVEL_NUMERALS: dict[int, str] = {1: "I", 2: "II", 3: "III", 4: "IV"}


def outcome_label(outcome: str) -> str:
    """``Prohibited by law``, ``High-risk``, ``Transparency obligations`` or ``Minimal risk`` (else the value)."""
    return OUTCOME_LABELS.get(outcome, outcome)


def level_numeral(level: object) -> str:
    """``III`` for level 3 (else the value as given)."""
    return LEVEL_NUMERALS.get(level, str(level)) if isinstance(level, int) else str(level)


def level_name(level: int) -> str:
    """``Level III``: the name of a level in the impact assessment."""
    return f"Level {level_numeral(level)}"


def impact_label(level: int | None) -> str:
    """``Impact level III of IV``, as pages and verdicts say it (levels are numbers 1-4 in the API)."""
    numeral = LEVEL_NUMERALS.get(level or 0)
    return f"Impact level {numeral} of IV" if numeral else "Impact level not assessed"
