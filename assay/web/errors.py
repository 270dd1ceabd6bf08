"""The one error shape of the whole API, and HTML error pages for the public pages.

Every error under ``/api/``, the log and the C2PA resolution endpoints answers with::

    {"error": {"code": "invalid_input", "message": "...", "hint": "...", "problems": [{"path", "message", "fix"}]}}

``tests/test_error_shape.py`` pins it. No traceback ever reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.errors import AssayError, FieldProblem

log = logging.getLogger("assay.web")

_HTTP_CODES = {
    400: ("bad_request", "check the request against /openapi.json"),
    401: ("unauthorized", "send 'Authorization: Bearer <token>' with a token made by 'assay tokens create'"),
    403: ("forbidden", "use a token of the provider that owns this resource"),
    404: ("not_found", "check the address; lists are under /api/v1"),
    405: ("method_not_allowed", "see /openapi.json for the methods this path accepts"),
    406: ("not_acceptable", "ask for application/json"),
    413: ("too_large", "send a smaller body"),
    415: ("unsupported_media", "send the content type this endpoint documents"),
    422: ("invalid_input", "fix the fields listed in problems"),
    429: ("rate_limited", "wait a moment and try again"),
}


def error_body(
    code: str, message: str, hint: str = "", problems: list[dict[str, str]] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "hint": hint, "problems": problems or []}
    body.update(extra)
    return {"error": body}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/log/", "/matches/", "/manifests/", "/services/", "/.well-known/")):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render_error(request: Request, status: int, body: dict[str, Any]) -> Response:
    if wants_json(request):
        return JSONResponse(body, status_code=status)
    templates = getattr(request.app.state, "templates", None)
    if templates is None:
        return JSONResponse(body, status_code=status)
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "error": body["error"]}, status_code=status
    )


def _pydantic_problems(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    problems = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header", "form"):
            where, loc = loc[0], loc[1:]
        else:
            where = ""
        path = ".".join(loc) or where or "(request)"
        if where and where != "body":
            path = f"{where}.{path}" if loc else where
        problems.append(FieldProblem(path, e.get("msg", "invalid value"), _fix_for(e)).as_dict())
    return problems


def _fix_for(e: dict[str, Any]) -> str:
    kind = e.get("type", "")
    if kind == "missing":
        return "add this field"
    if kind.startswith("int") or kind.startswith("float"):
        return "give a number"
    if kind == "extra_forbidden":
        return "remove this field; it is not part of the format"
    if kind == "json_invalid":
        return "send valid UTF-8 JSON"
    return "see the schema at /openapi.json"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AssayError)
    async def _assay_error(request: Request, exc: AssayError) -> Response:
        return render_error(request, exc.http_status, {"error": exc.as_dict()})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = _pydantic_problems(list(exc.errors()))
        body = error_body(
            "invalid_input",
            "the request is malformed or incomplete",
            "fix the fields listed in problems",
            problems,
        )
        return render_error(request, 422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code, hint = _HTTP_CODES.get(exc.status_code, ("error", ""))
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        response = render_error(request, exc.status_code, error_body(code, detail, hint))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Logged without the request's client address or body (privacy by design).
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        body = error_body(
            "internal_error",
            "something went wrong on our side",
            "try again; if it persists, report it to the register's operator",
        )
        return render_error(request, 500, body)
