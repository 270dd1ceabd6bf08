"""API tokens: made by the operator, stored as SHA-256 only, revocable, one role each."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from assay.db import Database
from assay.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from assay.register.access import Principal, authenticate, create_token, list_tokens, revoke_token
from assay.register.models import ApiToken

from .conftest import OPERATOR


def test_token_is_stored_only_as_its_hash_and_authenticates_to_its_provider(db: Database, add_provider) -> None:
    add_provider("acme")
    with db.write() as session:
        issued = create_token(session, provider_id="acme", label="CI", actor=OPERATOR)
    secret = issued.secret
    assert secret.startswith("ast_") and len(secret) == 47
    with db.read() as session:
        rows = session.execute(select(ApiToken.token_sha256, ApiToken.prefix, ApiToken.created_by)).all()
        principal = authenticate(session, secret)
    assert rows == [(hashlib.sha256(secret.encode()).hexdigest(), secret[:12], "operator")]
    assert principal == Principal(provider_id="acme", is_admin=False, token_id=issued.info.id)
    assert issued.info.log_index is not None  # "token.issued" is on the transparency log


def test_revoked_unknown_and_malformed_tokens_are_unauthorized(db: Database, add_provider) -> None:
    add_provider("acme")
    with db.write() as session:
        issued = create_token(session, provider_id="acme", actor=OPERATOR)
        other = create_token(session, admin=True, actor=OPERATOR)
    with db.write() as session:
        info = revoke_token(session, issued.info.prefix, actor=OPERATOR)
    assert not info.active and info.revoked_by == "operator"
    with db.read() as session:
        with pytest.raises(Unauthorized, match="revoked"):
            authenticate(session, issued.secret)
        with pytest.raises(Unauthorized, match="unknown"):
            authenticate(session, "ast_" + "A" * 43)
        for bad in ("", "Bearer x", "ast_short", issued.secret + "x", "ast_" + "é" * 43):
            with pytest.raises(Unauthorized, match="malformed"):
                authenticate(session, bad)
        assert authenticate(session, other.secret).is_admin
        assert [t.active for t in list_tokens(session)] == [False, True]
        assert [t.id for t in list_tokens(session, include_revoked=False)] == [other.info.id]
    with pytest.raises(Conflict), db.write() as session:
        revoke_token(session, issued.info.id, actor=OPERATOR)


def test_token_roles_are_exclusive_and_only_admins_manage_tokens(db: Database, add_provider) -> None:
    add_provider("acme")
    provider = Principal(provider_id="acme", is_admin=False, token_id=7)
    with db.write() as session:
        with pytest.raises(InvalidInput):
            create_token(session, actor=OPERATOR)
        with pytest.raises(InvalidInput):
            create_token(session, provider_id="acme", admin=True, actor=OPERATOR)
        with pytest.raises(NotFound):
            create_token(session, provider_id="nobody", actor=OPERATOR)
        with pytest.raises(Forbidden):
            create_token(session, provider_id="acme", actor=provider)
        with pytest.raises(NotFound):
            revoke_token(session, "999", actor=OPERATOR)


def test_principal_permissions() -> None:
    acme = Principal(provider_id="acme", is_admin=False, token_id=3)
    acme.require_provider("acme", action="update")
    with pytest.raises(Forbidden, match="globex"):
        acme.require_provider("globex", action="update systems")
    with pytest.raises(Forbidden):
        acme.require_admin(action="suspend")
    OPERATOR.require_admin(action="suspend")
    OPERATOR.require_provider("anyone", action="publish")
    assert acme.actor == "token:3" and OPERATOR.actor == "operator" and OPERATOR.actor_token_id is None
