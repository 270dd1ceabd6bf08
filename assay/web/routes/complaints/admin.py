"""The oversight body's JSON API (admin token): keys, inbox, cases, sealed replies and statuses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from assay.complaints import crypto, service
from assay.complaints.stats import STATUSES
from assay.errors import NotFound
from assay.register.access import Principal
from assay.web.auth import require_principal
from assay.web.errors import error_responses
from assay.web.routes.complaints._channel import (
    _B64URL,
    _KEY_32,
    _channel,
    _db,
    _today,
)

router = APIRouter()

# ---------------------------------------------------------------------------------------------------------
# API: the oversight body (admin token)


_ADMIN = error_responses(401, (403, "Not an admin token (the oversight body's)"))
_NO_COMPLAINT = (404, "No complaint with this id")


def _admin(principal: Principal = Depends(require_principal)) -> Principal:
    principal.require_admin(action="read or answer complaints")
    return principal


class PublishKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(
        max_length=64,
        description="base64url X25519 public key from 'assay complaints keygen'",
        json_schema_extra=_KEY_32,
    )


class SealedReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ciphertext: str = Field(
        description="The reply sealed to the complaint's reply public key.", json_schema_extra=_B64URL
    )
    body_copy: str = Field(
        description="The same reply sealed to the oversight body's own key.", json_schema_extra=_B64URL
    )
    body_copy_key_id: str = Field(max_length=16)

    def sealed(self) -> service.SealedReply:
        return service.SealedReply(
            crypto.b64decode(self.ciphertext, path="ciphertext"),
            crypto.b64decode(self.body_copy, path="body_copy"),
            self.body_copy_key_id,
        )


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(
        max_length=32, description=f"One of: {', '.join(STATUSES[1:])}", json_schema_extra={"enum": list(STATUSES[1:])}
    )
    reason: SealedReplyBody | None = Field(None, description="Required for 'rejected': the reason, sealed.")


@router.get("/api/v1/complaints/keys", tags=["complaints"], summary="Every key the oversight body published")
def keys(request: Request) -> dict[str, Any]:
    with _db(request).read() as session:
        return {"keys": [k.as_dict() for k in service.list_keys(session)]}


@router.post(
    "/api/v1/complaints/keys",
    status_code=201,
    tags=["complaints"],
    summary="Publish (or rotate to) a new key of the oversight body (admin)",
    responses=_ADMIN | error_responses((409, "This key was retired; it cannot be published again"), 413, 422),
)
def publish_key(request: Request, body: PublishKey, _: Principal = Depends(_admin)) -> dict[str, Any]:
    public = crypto.decode_public_key(body.public_key)
    with _db(request).write() as session:
        view = service.publish_key(session, public, today=_today(request))
    return view.as_dict()


@router.get(
    "/api/v1/complaints/inbox",
    tags=["complaints"],
    summary="Sealed messages after a cursor (admin)",
    responses=_ADMIN | error_responses(422),
)
def inbox(
    request: Request,
    after: int = Query(0, ge=0, le=2**62),
    limit: int = Query(50, ge=1, le=500),
    _: Principal = Depends(_admin),
) -> dict[str, Any]:
    with _db(request).read() as session:
        messages = service.inbox(session, after=after, limit=limit)
    return {"messages": [m.as_dict() for m in messages], "next_after": messages[-1].id if messages else after}


@router.get(
    "/api/v1/complaints/cases",
    tags=["complaints"],
    summary="Complaints with status, days and deadline flags, without content (admin)",
    responses=_ADMIN | error_responses(422),
)
def cases(
    request: Request,
    status: str | None = Query(None, max_length=32),
    system_id: str | None = Query(None, max_length=64),
    _: Principal = Depends(_admin),
) -> dict[str, Any]:
    today = _today(request)
    with _db(request).read() as session:
        views = service.list_complaints(session, status=status, system_id=system_id)
    return {"as_of": today.isoformat(), "complaints": [v.as_dict(today, with_messages=False) for v in views]}


@router.get(
    "/api/v1/complaints/cases/{complaint_id}",
    tags=["complaints"],
    summary="One complaint with its sealed messages (admin)",
    responses=_ADMIN | error_responses(_NO_COMPLAINT),
)
def case(request: Request, complaint_id: str, _: Principal = Depends(_admin)) -> dict[str, Any]:
    with _db(request).read() as session:
        view = service.get_complaint(session, complaint_id)
    if view is None:
        raise NotFound(f"no complaint with id {complaint_id!r}", hint="list them at /api/v1/complaints/cases")
    return view.as_dict(_today(request))


@router.post(
    "/api/v1/complaints/cases/{complaint_id}/replies",
    status_code=201,
    tags=["complaints"],
    summary="Add a sealed reply (admin)",
    responses=_ADMIN | error_responses(_NO_COMPLAINT, (409, "The complaint is closed"), 413, 422),
)
def reply(request: Request, complaint_id: str, body: SealedReplyBody, _: Principal = Depends(_admin)) -> dict[str, Any]:
    ch = _channel(request)
    with _db(request).write() as session:
        m = service.add_reply(
            session, complaint_id, body.sealed(), today=_today(request), max_bytes=ch.config.complaints_max_bytes
        )
    return m.as_dict()


@router.post(
    "/api/v1/complaints/cases/{complaint_id}/status",
    tags=["complaints"],
    summary="Move a complaint to a later status (admin)",
    responses=_ADMIN
    | error_responses(_NO_COMPLAINT, (409, "The complaint is closed, or already past this status"), 413, 422),
)
def set_status(request: Request, complaint_id: str, body: StatusBody, _: Principal = Depends(_admin)) -> dict[str, Any]:
    ch = _channel(request)
    today = _today(request)
    with _db(request).write() as session:
        view = service.change_status(
            session,
            complaint_id,
            body.status,
            today=today,
            reason=body.reason.sealed() if body.reason else None,
            max_bytes=ch.config.complaints_max_bytes,
        )
    return view.as_dict(today, with_messages=False)
