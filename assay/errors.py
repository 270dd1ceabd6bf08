"""One error base class for all of Assay.

Every error a user can meet is an :class:`AssayError` that carries a message saying what went wrong and a
hint saying how to fix it. The CLI catches it once and prints both; the web API turns it into the one JSON
error shape (see ``assay.web.errors``). Nothing here imports from the rest of the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One wrong field of an input: where it is, what is wrong, and how to fix it."""

    path: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "fix": self.fix}


class AssayError(Exception):
    """Base class of every error Assay reports to a user.

    ``code`` is a stable machine-readable name, ``http_status`` the status the API answers with, ``hint``
    the fix in plain words, and ``problems`` the individual wrong fields of an input, if any.
    """

    code = "error"
    http_status = 400
    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        problems: list[FieldProblem] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or ""
        self.problems = list(problems or [])
        self.extra = dict(extra or {})

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        body["problems"] = [p.as_dict() for p in self.problems]
        if self.extra:
            body.update(self.extra)
        return body


class InvalidInput(AssayError):
    """The input (a document, a form, a file, an option) is malformed or incomplete."""

    code = "invalid_input"
    http_status = 422


class TooLarge(AssayError):
    code = "too_large"
    http_status = 413


class UnsupportedMedia(AssayError):
    code = "unsupported_media"
    http_status = 415


class NotFound(AssayError):
    code = "not_found"
    http_status = 404


class Unauthorized(AssayError):
    """No credentials, or credentials that are unknown, revoked or expired."""

    code = "unauthorized"
    http_status = 401


class Forbidden(AssayError):
    """Valid credentials that do not allow this action (e.g. a token for another provider's system)."""

    code = "forbidden"
    http_status = 403


class Conflict(AssayError):
    """The action contradicts the current state (a duplicate name, a stale version)."""

    code = "conflict"
    http_status = 409


class RateLimited(AssayError):
    code = "rate_limited"
    http_status = 429


class ConfigError(AssayError):
    """Contradictory or missing configuration; Assay refuses to start rather than guess."""

    code = "config_error"
    http_status = 500


class StorageError(AssayError):
    """The database or data folder could not be read or written."""

    code = "storage_error"
    http_status = 503


class VerificationError(AssayError):
    """A signature, proof, checkpoint or manifest did not verify. Verifiers fail closed with this."""

    code = "verification_failed"
    http_status = 422
