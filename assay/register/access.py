"""Who may write to the register: API tokens, principals and their permissions.

Anyone reads. Writes need a token made by the operator with the CLI::

    $ assay tokens create --provider acme      # a provider's token: publishes and updates acme's systems
    $ assay tokens create --admin              # the oversight body: suspends, reinstates, reviews

A token is ``ast_`` followed by 43 characters of URL-safe base64 (256 random bits). Only its SHA-256 is
stored, with a short prefix to recognise it in lists; the secret is shown once, when it is made. A revoked
token stops working at once. In code::

    with db.read() as session:
        principal = authenticate(session, "ast_...")   # raises Unauthorized if unknown or revoked
    principal.require_provider("acme", action="update this system")   # raises Forbidden otherwise
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.db.types import aware as _aware
from assay.db.types import iso_z
from assay.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, Unauthorized
from assay.register.models import ApiToken, Provider

__all__ = [
    "IssuedToken",
    "Principal",
    "TokenInfo",
    "authenticate",
    "create_token",
    "list_tokens",
    "revoke_token",
]

TOKEN_PREFIX = "ast_"
_TOKEN_RE = re.compile(r"^ast_[A-Za-z0-9_-]{43}$")
_SHOWN_PREFIX_LEN = 12  # "ast_" plus 8 characters: enough to tell tokens apart, ~208 secret bits remain


@dataclass(frozen=True)
class Principal:
    """Who is acting: a provider's token, an admin token, or the local operator at the CLI (``token_id`` 0)."""

    provider_id: str | None
    is_admin: bool
    token_id: int

    @classmethod
    def local_operator(cls) -> Principal:
        """The person running the CLI on the server: they hold the database, so they act as admin."""
        return cls(provider_id=None, is_admin=True, token_id=0)

    @property
    def actor(self) -> str:
        """How writes record this principal: ``token:<id>`` or ``operator`` (never the secret)."""
        return "operator" if self.token_id == 0 else f"token:{self.token_id}"

    @property
    def actor_token_id(self) -> int | None:
        return self.token_id or None

    def require_admin(self, *, action: str) -> None:
        if not self.is_admin:
            raise Forbidden(
                f"only the oversight body may {action}",
                hint="use an admin token (made with 'assay tokens create --admin')",
            )

    def require_provider(self, provider_id: str, *, action: str) -> None:
        """Admins and the provider itself may act for ``provider_id``; anyone else gets :class:`Forbidden`."""
        if self.is_admin or self.provider_id == provider_id:
            return
        raise Forbidden(
            f"this token belongs to provider {self.provider_id!r} and may not {action} of provider {provider_id!r}",
            hint=f"use a token of provider {provider_id!r} (made with 'assay tokens create --provider {provider_id}')",
        )


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the secret, never its hash."""

    id: int
    prefix: str
    provider_id: str | None
    is_admin: bool
    label: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    log_index: int | None

    @property
    def role(self) -> str:
        return "admin" if self.is_admin else "provider"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "role": self.role,
            "provider_id": self.provider_id,
            "label": self.label,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "revoked_at": _iso(self.revoked_at) if self.revoked_at else None,
            "revoked_by": self.revoked_by,
            "active": self.active,
            "log_index": self.log_index,
        }


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``secret`` is shown to its owner once and never stored."""

    secret: str
    info: TokenInfo


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def authenticate(session: Session, token: str) -> Principal:
    """The principal a token stands for, or :class:`Unauthorized` (malformed, unknown or revoked)."""
    token = (token or "").strip()
    if not _TOKEN_RE.match(token):
        raise Unauthorized(
            "the API token is malformed",
            hint="send 'Authorization: Bearer ast_...' with a token made by 'assay tokens create'",
        )
    # Looked up by the hash of the presented token, so the comparison never touches the secret itself.
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == hash_token(token))).first()
    if row is None:
        raise Unauthorized("the API token is unknown", hint="check the token, or ask the operator for a new one")
    if row.revoked_at is not None:
        raise Unauthorized(
            f"the API token {row.prefix}… was revoked on {_iso(row.revoked_at)}",
            hint="ask the register's operator for a new token",
        )
    return Principal(provider_id=row.provider_id, is_admin=row.is_admin, token_id=row.id)


def create_token(
    session: Session,
    *,
    provider_id: str | None = None,
    admin: bool = False,
    label: str = "",
    actor: Principal,
    now: datetime | None = None,
) -> IssuedToken:
    """Make a token for one provider (``provider_id``) or for the oversight body (``admin=True``)."""
    actor.require_admin(action="create API tokens")
    if admin == (provider_id is not None):
        raise InvalidInput(
            "a token is either a provider's token or an admin token",
            hint="give exactly one of --provider ID or --admin",
            problems=[FieldProblem("provider", "give a provider id, or ask for an admin token", "")],
        )
    label = label.strip()
    if len(label) > 200:
        raise InvalidInput(
            "the token label is longer than 200 characters",
            hint="give a shorter label",
            problems=[FieldProblem("label", "longer than 200 characters", "shorten it")],
        )
    if provider_id is not None and session.get(Provider, provider_id) is None:
        raise NotFound(
            f"there is no provider {provider_id!r}",
            hint="add it first with 'assay providers add', or list them with 'assay providers list'",
        )
    now = now or datetime.now(UTC)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_sha256=hash_token(secret),
        prefix=secret[:_SHOWN_PREFIX_LEN],
        provider_id=provider_id,
        is_admin=admin,
        label=label,
        created_at=now,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    row.log_index = record_event(
        session,
        "token.issued",
        {
            "token_id": row.id,
            "role": "admin" if admin else "provider",
            "provider": provider_id,
        },
    )
    return IssuedToken(secret=secret, info=_info(row))


def list_tokens(session: Session, *, provider_id: str | None = None, include_revoked: bool = True) -> list[TokenInfo]:
    query = select(ApiToken).order_by(ApiToken.id)
    if provider_id is not None:
        query = query.where(ApiToken.provider_id == provider_id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [_info(row) for row in session.scalars(query)]


def revoke_token(session: Session, ref: str | int, *, actor: Principal, now: datetime | None = None) -> TokenInfo:
    """Revoke a token by its id or its shown prefix. Revoking a revoked token is an error (nothing changes)."""
    actor.require_admin(action="revoke API tokens")
    row = _find_token(session, ref)
    if row.revoked_at is not None:
        raise Conflict(f"token {row.id} ({row.prefix}…) is already revoked", hint="nothing to do")
    row.revoked_at = now or datetime.now(UTC)
    row.revoked_by = actor.actor
    row.revoke_log_index = record_event(session, "token.revoked", {"token_id": row.id, "provider": row.provider_id})
    session.flush()
    return _info(row)


def _find_token(session: Session, ref: str | int) -> ApiToken:
    text = str(ref).strip()
    row: ApiToken | None = None
    if text.isdigit():
        row = session.get(ApiToken, int(text))
    elif text.startswith(TOKEN_PREFIX):
        if _TOKEN_RE.match(text):  # the whole secret was pasted: find it by hash
            row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == hash_token(text))).first()
        else:
            matches = list(session.scalars(select(ApiToken).where(ApiToken.prefix == text[:_SHOWN_PREFIX_LEN])))
            if len(matches) > 1:
                raise InvalidInput(f"more than one token starts with {text!r}", hint="give the token's id instead")
            row = matches[0] if matches else None
    if row is None:
        raise NotFound(f"there is no token {text!r}", hint="give a token id or prefix from 'assay tokens list'")
    return row


def record_event(session: Session, kind: str, body: Mapping[str, Any]) -> int:
    """Append an event to the transparency log inside the caller's transaction; returns its log index.

    The log is owned by ``assay.transparency`` (the contract: ``record(session, kind, body) -> int``).
    """
    from assay.transparency import record

    return record(session, kind, {k: v for k, v in body.items() if v is not None})


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        prefix=row.prefix,
        provider_id=row.provider_id,
        is_admin=row.is_admin,
        label=row.label,
        created_at=_aware(row.created_at),
        created_by=row.created_by,
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
        revoked_by=row.revoked_by,
        log_index=row.log_index,
    )


def _iso(dt: datetime | None) -> str:
    return iso_z(dt) if dt else ""
