"""The log's operations against the app's own OpenAPI schema (schemathesis): generated requests, checked
answers (no server error, documented status codes and content types, bodies matching their schema)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance

from assay.config import Config
from assay.db import Database
from assay.transparency import integrate, record_many
from assay.web.app import create_app

pytestmark = pytest.mark.slow

_DATA = Path(tempfile.mkdtemp(prefix="assay-schemathesis-log-"))
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)


def _app():  # type: ignore[no-untyped-def]
    config = Config(data_dir=_DATA, public_url="http://testserver")
    db = Database(f"sqlite:///{_DATA / 'assay.db'}")
    app = create_app(config, db)
    with db.write() as s:
        record_many(s, [("mark.recorded", {"mark": i}) for i in range(300)], time=datetime(2026, 11, 29, tzinfo=UTC))
    integrate(db, config)
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _app()).include(path_regex=r"^/(log|api/v1/log|witness)")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_log_api_conforms_to_its_openapi_schema(case) -> None:  # type: ignore[no-untyped-def]
    # Excluded for the reason tests/test_api_schema.py gives (Starlette's OPTIONS answer, an app-wide matter).
    excluded = [allow_header_conformance]
    if case.operation.path == "/witness/add-checkpoint":
        # The body is a signed checkpoint with a consistency proof: a generator cannot produce a valid one
        # blindly, so a random text is rightly refused (with the specification's 400).
        excluded.append(positive_data_acceptance)
    case.call_and_validate(excluded_checks=excluded)
