"""The one error shape of the whole API, and HTML error pages for the public pages.

Every error under ``/api/``, the log and the C2PA resolution endpoints answers with::

    {"error": {"code": "invalid_input", "message": "...", "hint": "...", "problems": [{"path", "message", "fix"}]}}

``tests/test_error_shape.py`` pins it. No traceback ever reaches a client. Routes document their error answers
with :func:`error_responses`, so ``/openapi.json`` names every status an operation can answer with.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from assay.errors import AssayError, FieldProblem
from assay.web.headers import SecurityHeaders

log = logging.getLogger("assay.web")

_HTTP_CODES = {
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


class ProblemOut(BaseModel):
    path: str
    message: str
    fix: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str = Field(description="Stable machine-readable name, e.g. 'invalid_input', 'conflict'.")
    message: str
    hint: str = Field(description="How to fix it, in plain words.")
    problems: list[ProblemOut] = Field(description="Each wrong field: its path, what is wrong, the fix.")


class ErrorOut(BaseModel):
    """The one error shape of the whole API."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS = {
    401: "No token, or an unknown or revoked one",
    403: "The token may not do this",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The body is too large",
    415: "Unsupported content type",
    422: "Invalid input (each wrong field is listed in problems)",
    429: "Too many requests; try again later",
}


def error_responses(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, each in the one error shape (JSON): ``error_responses(401,
    (404, "No such mark"), 422)``; a bare status gets a generic description."""
    out: dict[int | str, dict[str, Any]] = {}
    for item in statuses:
        status, text = item if isinstance(item, tuple) else (item, _ERROR_DESCRIPTIONS.get(item, "Error"))
        out[status] = {"model": ErrorOut, "description": text}
    return out


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


def _malformed_body(request: Request, reason: str) -> Response:
    body = error_body(
        "invalid_input",
        "the request body is not valid JSON",
        "send a UTF-8 JSON body as /openapi.json describes for this operation",
        [FieldProblem("body", reason, "send valid UTF-8 JSON").as_dict()],
    )
    return render_error(request, 422, body)


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this path (Starlette's 405 names only the first route's).

    The routes are ``app.state.routes`` (all of them, flat; see ``create_app``), else the app router's own."""
    methods: set[str] = set()
    for route in getattr(request.app.state, "routes", request.app.router.routes):
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")  # answered like GET, without the body (see assay.web.app.HeadAsGet)
    return sorted(methods, key=lambda m: (_METHOD_ORDER.index(m) if m in _METHOD_ORDER else len(_METHOD_ORDER), m))


def _validation_errors_in_the_error_shape(schema: dict[str, Any]) -> None:
    """FastAPI documents a 422 of its own shape (``{"detail": [...]}``) on every operation that has parameters
    and does not document one itself; this app answers 422 in the one error shape, so say so."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorOut" not in components:
        error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error_schema.pop("$defs", {}))
        components["ErrorOut"] = error_schema
    frameworks = {"$ref": "#/components/schemas/HTTPValidationError"}
    ours = {
        "description": _ERROR_DESCRIPTIONS[422],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema") == frameworks:
                responses["422"] = copy.deepcopy(ours)
    if frameworks["$ref"] not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)


def install_error_handlers(app: FastAPI) -> None:
    framework_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _validation_errors_in_the_error_shape(framework_openapi())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(AssayError)
    async def _assay_error(request: Request, exc: AssayError) -> Response:
        return render_error(request, exc.http_status, {"error": exc.as_dict()})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        invalid_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if invalid_json is not None:
            # FastAPI puts the character offset where the field's name belongs; the problem is the body.
            where = invalid_json.get("loc", ("body",))[-1]
            reason = str((invalid_json.get("ctx") or {}).get("error") or "JSON decode error")
            return _malformed_body(request, f"not valid JSON: {reason} (at character {where})")
        problems = _pydantic_problems(errors)
        body = error_body(
            "invalid_input",
            "the request is malformed or incomplete",
            "fix the fields listed in problems",
            problems,
        )
        return render_error(request, 422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:
            # Only FastAPI raises a bare 400, when a JSON body cannot be decoded at all (not UTF-8, nested too
            # deep). A malformed body is invalid input like any other: 422, with a problem naming the body.
            return _malformed_body(request, "not JSON that can be read (is it UTF-8?)")
        code, hint = _HTTP_CODES.get(exc.status_code, ("error", ""))
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        response = render_error(request, exc.status_code, error_body(code, detail, hint))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request))
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
        response = render_error(request, 500, body)
        # Starlette answers this from its outermost layer, outside the SecurityHeaders middleware.
        for name, value in SecurityHeaders.HEADERS:
            response.headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        return response
