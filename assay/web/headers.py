"""The security headers every response carries (and the no-store rule for the complaint channel).

A module of its own so that both the app (the middleware) and the error handlers (Starlette answers a 500
from its outermost layer, outside the middleware, so the handler adds them itself) use it without importing
each other.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders"]


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
