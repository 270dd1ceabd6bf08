"""The whole API against its own OpenAPI schema (schemathesis): every operation, generated requests, checked
answers.

Schemathesis reads ``/openapi.json`` from the app itself (in process, through ASGI), generates requests from
each operation's parameters and bodies, sends them with a token (an admin's, or a provider's where a provider
is the usual caller, so writes get past authentication and reach validation), and checks each answer with every
check it has: no server error, a documented status code and content type, a body that matches the documented
response schema, an ``Allow`` header naming every method of the path, schema-valid requests accepted. No
operation is left out. A small example budget per operation keeps the run well under a minute and a half on two
cores; the seed is fixed so a failure reproduces.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from assay.complaints import crypto
from assay.complaints import service as complaints
from assay.config import Config
from assay.db import Database
from assay.register import service
from assay.register.access import Principal, create_token
from assay.register.demo import EXAMPLES
from assay.register.search import SEARCH_WINDOW
from assay.transparency import integrate, record_many
from assay.web.app import create_app

pytestmark = pytest.mark.slow

_DATA = Path(tempfile.mkdtemp(prefix="assay-schemathesis-"))
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)


def _app():  # type: ignore[no-untyped-def]
    """A register with a provider, a system, the oversight body's key and a log of a few hundred entries."""
    config = Config(data_dir=_DATA, public_url="http://testserver")
    db = Database(f"sqlite:///{_DATA / 'assay.db'}")
    app = create_app(config, db)
    operator = Principal.local_operator()
    when = datetime(2026, 11, 29, tzinfo=UTC)
    with db.write() as session:
        service.add_provider(session, id="acme", name="Acme Imaging B.V.", principal=operator)
        admin = create_token(session, admin=True, actor=operator).secret
        provider = create_token(session, provider_id="acme", actor=operator).secret
        service.publish(session, (EXAMPLES / "acme-imagegen.yaml").read_bytes(), principal=operator)
        complaints.publish_key(session, crypto.generate_body_key()[1], today=when.date())
        record_many(session, [("mark.recorded", {"mark": i}) for i in range(300)], time=when)
    integrate(db, config)
    return app, admin, provider


APP, ADMIN_TOKEN, PROVIDER_TOKEN = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

# Operations a provider calls with its own token (admins may too; the provider's path is the usual one).
PROVIDER_OPERATIONS = {("POST", "/api/v1/marks"), ("POST", "/api/v1/marks/batch")}

# Bodies no generator can make valid blindly, so that a generated one is rightly refused. Each is described by
# its schema as far as a schema can; what is left is checked by code, with a message that says how to fix it.
UNGUESSABLE_BODIES = {
    # Disclosures: OpenAPI says "an object" and links the real JSON Schema (cross-field rules).
    ("POST", "/api/v1/systems"),
    ("PUT", "/api/v1/systems/{system_id}"),
    ("POST", "/api/v1/validate"),
    # Images at least 64 pixels a side, in a format Assay reads.
    ("POST", "/api/v1/check"),
    ("POST", "/api/v1/marks"),
    ("POST", "/matches/byContent"),
    # Entries written and authenticated by a marking kit.
    ("POST", "/api/v1/marks/batch"),
    # Boxes sealed to the oversight body's key, with a solved proof of work.
    ("POST", "/api/v1/complaints"),
    ("POST", "/api/v1/complaints/information"),
    # A receipt's access key with a solved look-up challenge (priced by load).
    ("POST", "/api/v1/complaints/lookup"),
    # A signed checkpoint with a consistency proof (refused with the specification's 400).
    ("POST", "/witness/add-checkpoint"),
}


# The register's search: see the test below.
SEARCH = ("GET", "/api/v1/systems")


@schemathesis.auth(retry_on=[])
class Token:
    """An admin token, or the provider's for its own operations (tokens never expire)."""

    def get(self, case, ctx):  # type: ignore[no-untyped-def]
        if (case.method.upper(), case.operation.path) in PROVIDER_OPERATIONS:
            return PROVIDER_TOKEN
        return ADMIN_TOKEN

    def set(self, case, data, ctx):  # type: ignore[no-untyped-def]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_api_conforms_to_its_openapi_schema(case) -> None:  # type: ignore[no-untyped-def]
    operation = (case.method.upper(), case.operation.path)
    if operation == SEARCH:
        # A search pages through its first SEARCH_WINDOW matches only (as GitHub's search API does): a page past
        # them is refused, a rule across q, page and per_page that no schema states. That one refusal is let
        # through; any other refusal of schema-valid data still fails.
        response = case.call()
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        if response.status_code == 422 and case.meta is not None and case.meta.generation.mode.is_positive:
            problems = response.json()["error"]["problems"]
            assert [p["path"] for p in problems] == ["page"], problems
            assert f"first {SEARCH_WINDOW:,} matches" in problems[0]["message"]
        return
    excluded = []
    if operation in UNGUESSABLE_BODIES:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(excluded_checks=excluded)


def test_every_operation_is_tested() -> None:
    # Nothing is filtered out of the schema above; this pins that it still covers the whole API.
    documented = {(m.upper(), p) for p, ops in APP.openapi()["paths"].items() for m in ops}
    tested = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert tested == documented and len(tested) > 50
    assert {op for op in UNGUESSABLE_BODIES | PROVIDER_OPERATIONS} <= documented
