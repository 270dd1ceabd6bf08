"""The web app: public pages, the JSON API under /api/v1, the log under /log/, C2PA resolution endpoints.

Build it with :func:`create_app`; ``assay serve`` runs it with uvicorn, with access logs off (no client
addresses are ever logged).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay import __version__
from assay.config import Config
from assay.db import Database
from assay.web.errors import error_body, install_error_handlers

HERE = Path(__file__).parent


def _mount_api_docs(app: FastAPI) -> None:
    """/api/docs: Swagger UI over /openapi.json. FastAPI's own page loads Swagger UI from a CDN and starts it
    with an inline script, both of which the CSP refuses; fastapi-offline packages Swagger UI 5's files (the
    first version that reads OpenAPI 3.1), which are served here, with a page that loads only files."""
    import fastapi_offline
    from fastapi.responses import HTMLResponse

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/api/docs/assets", StaticFiles(directory=str(assets)), name="swagger-ui")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Assay API</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml"></head>'
        '<body><div id="swagger-ui"></div>'
        '<script src="/api/docs/assets/swagger-ui-bundle.js"></script>'
        '<script src="/static/api-docs.js"></script></body></html>'
    )

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)


def create_app(config: Config | None = None, db: Database | None = None, *, migrate: bool = True) -> FastAPI:
    config = config or Config.from_env()
    if db is None:
        db = Database(config.resolved_database_url)
    if migrate:
        db.upgrade()
    app = FastAPI(
        title="Assay",
        version=__version__,
        summary="The public register of AI systems, provenance checks, complaints and the transparency log.",
        docs_url=None,  # served below from the installed Swagger UI files: no CDN, no inline script
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.config = config
    app.state.db = db
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(site_name="Assay", version=__version__, base_url=config.base_url)
    from assay.web.routes.complaints import complaints_key

    templates.env.globals["complaints_key"] = complaints_key  # pages offer complaints only once a key is published
    app.state.templates = templates
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _mount_api_docs(app)

    from assay.web.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    # Every route, flat, for the Allow header of 405 answers (FastAPI keeps included routers nested). The routers
    # are included without a prefix, so each route's own path is its path in the app.
    app.state.routes = [*app.router.routes, *(route for router in ROUTERS for route in router.routes)]

    # The last added is the outermost: the headers wrap every answer, the BodyLimit's 413 too. (Answers to an
    # unexpected error come from outside all middleware; the error handler adds the headers itself.)
    app.add_middleware(BodyLimit, default_limit=config.max_body_bytes, upload_limit=config.max_upload_bytes)
    app.add_middleware(SecurityHeaders)
    return app


# Paths whose bodies are media or encrypted attachments, allowed up to max_upload_bytes.
UPLOAD_PATHS = (
    "/check",
    "/api/v1/check",
    "/api/v1/marks",
    "/matches/byContent",
    "/complaints",
    "/api/v1/complaints",
)


# Paths whose body is the media itself (read raw, never parsed as JSON, whatever its content type says).
MEDIA_PATHS = frozenset({"/check", "/api/v1/check", "/api/v1/marks", "/matches/byContent"})
# JSON parsed in Python takes about 20 times its size when it is all tiny values ("[[],[],...]"), and FastAPI
# parses a body before any dependency (a token check) runs. A JSON body may hold at most this many structural
# characters ([ { , :), counted as it streams in: a batch of 10,000 marks has about 350,000; a complaint a few.
MAX_JSON_STRUCTURE = 1_000_000
_STRUCTURE = (b"[", b"{", b",", b":")


class BodyLimit:
    """Refuses bodies over the limit before the app reads them (by Content-Length, and while streaming), and
    JSON bodies with more values than any request needs (a memory bomb for the parser)."""

    def __init__(self, app: ASGIApp, *, default_limit: int, upload_limit: int) -> None:
        self.app = app
        self.default_limit = default_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.upload_limit if path.startswith(UPLOAD_PATHS) else self.default_limit
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_too_large(scope, send, limit)
                    return
        seen = 0
        structure = 0
        count_structure = path not in MEDIA_PATHS and _parsed_as_json(scope)

        async def limited_receive() -> Message:
            nonlocal seen, structure
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    raise _BodyTooLarge(limit)
                if count_structure:
                    structure += sum(chunk.count(c) for c in _STRUCTURE)
                    if structure > MAX_JSON_STRUCTURE:
                        raise _BodyTooLarge(limit, f"the JSON body holds more than {MAX_JSON_STRUCTURE:,} values")
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge as exc:
            await _send_too_large(scope, send, limit, exc.detail)


def _parsed_as_json(scope: Scope) -> bool:
    """Whether FastAPI would parse this body as JSON: a JSON content type, or none at all."""
    ctype = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
    kind = ctype.split(b";", 1)[0].strip().lower()
    return not kind or kind == b"application/json" or kind.endswith(b"+json")


class _BodyTooLarge(HTTPException):
    """Raised while the body streams in. An HTTPException, so that FastAPI's body parsing passes it on (it turns
    any other error into a 400, which would then read as "not valid JSON") and the error handlers answer 413."""

    def __init__(self, limit: int, message: str = "") -> None:
        super().__init__(413, message or f"the request body is larger than the limit of {limit:,} bytes")


async def _send_too_large(scope: Scope, send: Send, limit: int, message: str = "") -> None:
    import html
    import json

    message = message or f"the request body is larger than the limit of {limit:,} bytes"
    hint = "send a smaller body or file"
    headers = dict(scope.get("headers", []))
    accept = headers.get(b"accept", b"").decode("latin-1")
    path = scope.get("path", "")
    # A person submitting a form gets a page (with a way back), a program the one JSON error shape.
    if "text/html" in accept and not path.startswith(("/api/", "/log/", "/matches/", "/manifests/")):
        content_type = b"text/html; charset=utf-8"
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>Too large · Assay</title><link rel="stylesheet" href="/static/assay.css"></head>'
            f'<body><main id="main"><h1>{html.escape(message.capitalize())}</h1>'
            f'<p class="hint">Please {html.escape(hint)}: use your browser\'s Back button, remove or shrink an '
            "attachment, and try again. Nothing was stored.</p>"
            '<p><a href="/">Start page</a></p></main></body></html>'
        ).encode()
    else:
        content_type = b"application/json"
        body = json.dumps(error_body("too_large", message, hint)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _relative(location: bytes) -> bytes:
    """A redirect within the site as a path: Starlette builds absolute ones from the request's Host header, which
    a client chooses (and a shared cache could then serve "Location: https://evil.example/..." to everyone)."""
    if location.startswith((b"http://", b"https://")):
        rest = location.split(b"//", 1)[1]
        slash = rest.find(b"/")
        return rest[slash:] if slash >= 0 else b"/"
    return location


def _is_complaint_path(path: str) -> bool:
    """The complaint channel's own pages and API (not the public statistics): nothing there may be cached."""
    return path.startswith(("/complaints", "/api/v1/complaints")) or (
        path.startswith("/systems/") and path.endswith("/complaints/new")
    )


class SecurityHeaders:
    """Strict headers on every response: no framing, no referrer, no third-party resources."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
            b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        private = _is_complaint_path(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in present]
                if private and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))  # errors too: they may echo what was typed
                if 300 <= message["status"] < 400:
                    headers = [(k, _relative(v) if k.lower() == b"location" else v) for k, v in headers]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
