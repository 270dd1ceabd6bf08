"""Site-wide pages: the home page, about, and the health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, "home.html", {})


@router.get("/api/v1/health", tags=["site"], summary="Is the service up?")
def health() -> dict[str, str]:
    return {"status": "ok"}
