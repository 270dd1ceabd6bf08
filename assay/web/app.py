"""The web app: public pages, the JSON API under /api/v1, the log under /log/, C2PA resolution endpoints.

Build it with :func:`create_app`; ``assay serve`` runs it with uvicorn, with access logs off (no client
addresses are ever logged).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assay import __version__
from assay.config import Config
from assay.db import Database
from assay.web.errors import error_body, install_error_handlers
from assay.web.headers import SecurityHeaders
from assay.web.uploads import UploadBudget

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
    from assay.provenance.ca import check_ready

    check_ready(config.data_dir)  # a root kept offline and no intermediate: refuse to start, saying how to fix it
    if db is None:
        db = Database(config.resolved_database_url)
    if migrate:
        from assay.provenance.fieldindex import migration_steps

        db.upgrade(migration_steps(config.data_dir))
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
    app.state.routes = list(_flat([*app.router.routes, *(route for router in ROUTERS for route in router.routes)]))

    # The last added is the outermost: the headers wrap every answer, the BodyLimit's 413 too. (Answers to an
    # unexpected error come from outside all middleware; the error handler adds the headers itself.)
    app.state.upload_budget = UploadBudget(config.upload_memory_bytes)
    app.add_middleware(
        BodyLimit,
        default_limit=config.max_body_bytes,
        upload_limit=config.max_upload_bytes,
        budget=app.state.upload_budget,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    return app


def create_app_for_worker() -> FastAPI:
    """The app of one web worker (``assay serve --workers N``; or ``uvicorn --factory --workers N
    assay.web.app:create_app_for_worker``), configured from the ``ASSAY_*`` environment.

    It migrates like every process does, under the migration lock: ``assay serve`` has already done it, so a
    worker finds the schema current; workers started another way migrate once between them.
    """
    return create_app(Config.from_env())


class HeadAsGet:
    """Answers HEAD like GET without the body, everywhere GET is served (RFC 9110 9.3.2).

    FastAPI's routes answer only the methods they declare, so HEAD got 405 on every page. The request goes to
    the app as a GET; the answer's status and headers (Content-Length included) are sent, its body is not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the rest of a streamed body: nothing to send yet
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(dict(scope, method="GET"), receive, send_without_body)


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

    def __init__(
        self, app: ASGIApp, *, default_limit: int, upload_limit: int, budget: UploadBudget | None = None
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.upload_limit = upload_limit
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        upload = path.startswith(UPLOAD_PATHS)
        limit = self.upload_limit if upload else self.default_limit
        declared: int | None = None
        chunked = False
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                if declared is not None and declared > limit:
                    await _send_too_large(scope, send, limit)
                    return
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        # An upload's body is held in memory until its answer is sent: reserve room for it before reading it.
        reserved = 0
        client = b""
        if upload and self.budget is not None and (chunked or (declared or 0) > 0):
            client = self.budget.client_key((scope.get("client") or ("", 0))[0])
            try:
                reserved = await self.budget.reserve(limit if chunked or declared is None else declared, client)
            except TimeoutError:
                await _send_refusal(
                    scope,
                    send,
                    429,
                    "rate_limited",
                    "the register is busy receiving other uploads",
                    "try again in a few seconds",
                )
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
        finally:
            if reserved:
                await self.budget.release(reserved, client)  # type: ignore[union-attr]


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
    message = message or f"the request body is larger than the limit of {limit:,} bytes"
    await _send_refusal(scope, send, 413, "too_large", message, "send a smaller body or file")


async def _send_refusal(scope: Scope, send: Send, status: int, code: str, message: str, hint: str) -> None:
    """An answer from the middleware, before the app ran: a page for a person submitting a form, else JSON."""
    import html
    import json

    headers = dict(scope.get("headers", []))
    accept = headers.get(b"accept", b"").decode("latin-1")
    path = scope.get("path", "")
    # A person submitting a form gets a page (with a way back), a program the one JSON error shape.
    if "text/html" in accept and not path.startswith(("/api/", "/log/", "/matches/", "/manifests/")):
        content_type = b"text/html; charset=utf-8"
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{'Too large' if status == 413 else 'Busy'} · Assay</title>"
            '<link rel="stylesheet" href="/static/assay.css"></head>'
            f'<body><main id="main"><h1>{html.escape(message.capitalize())}</h1>'
            + (
                f'<p class="hint">Please {html.escape(hint)}: use your browser\'s Back button, remove or shrink an '
                "attachment, and try again. Nothing was stored.</p>"
                if status == 413
                else f'<p class="hint">Nothing was stored: please {html.escape(hint)} (your browser\'s Back button '
                "returns to the form).</p>"
            )
            + '<p><a href="/">Start page</a></p></main></body></html>'
        ).encode()
    else:
        content_type = b"application/json"
        body = json.dumps(error_body(code, message, hint)).encode()
    out = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if status == 429:
        out.append((b"retry-after", b"5"))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


def _flat(routes: Any) -> Any:
    """Routes with the routers included in routers (a part's routes package) opened up, recursively: FastAPI
    keeps an included router as one object holding the ``original_router``."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield route
