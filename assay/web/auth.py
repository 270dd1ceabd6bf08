"""FastAPI dependencies for API tokens: ``Authorization: Bearer ast_...``.

``require_principal`` answers 401 in the one error shape when the header
is missing, malformed, unknown or revoked; ``optional_principal`` gives ``None`` when there is no header at
all but still refuses a bad one (a wrong token is never silently treated as anonymous)::

    @router.post("/api/v1/things")
    def make(principal: Principal = Depends(require_principal)) -> ...:
        principal.require_admin(action="make things")
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assay.db import Database
from assay.errors import Unauthorized
from assay.register.access import Principal, authenticate
from assay.web.deps import get_db

__all__ = ["optional_principal", "require_principal"]

# auto_error=False: we answer missing credentials ourselves, in the one error shape.
_bearer = HTTPBearer(auto_error=False, description="An API token made by 'assay tokens create'.")


def _principal_for(db: Database, token: str) -> Principal:
    with db.read() as session:
        return authenticate(session, token)


def optional_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    db: Database = Depends(get_db),
) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "the Authorization header is not a bearer token",
            hint="send 'Authorization: Bearer ast_...' with a token made by 'assay tokens create'",
        )
    return _principal_for(db, credentials.credentials)


def require_principal(principal: Principal | None = Depends(optional_principal)) -> Principal:
    if principal is None:
        raise Unauthorized(
            "this action needs an API token",
            hint="send 'Authorization: Bearer ast_...' with a token made by 'assay tokens create'",
        )
    return principal
