"""The verdict statuses are spelled once (assay.provenance.verdict.STATUSES): the API's schema and every table
keyed by status follow it, so a new status cannot reach one shell and not another."""

from __future__ import annotations

from typing import get_args

from assay.provenance.sharepage import shared_statement
from assay.provenance.verdict import EXIT_CODES, STATUSES
from assay.web.routes.provenance_models import VerdictOut


def test_the_apis_statuses_are_the_verdicts() -> None:
    assert get_args(VerdictOut.model_fields["status"].annotation) == STATUSES


def test_every_status_has_its_shared_statement_and_exit_codes_name_only_statuses() -> None:
    for status in STATUSES:
        assert shared_statement(status, who="X", provider="Y")
    assert set(EXIT_CODES) <= set(STATUSES)
