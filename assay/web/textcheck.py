"""Text on the check paths of the web app: telling a text from an image, reading it, and the API's text shapes.

Used by ``assay.web.routes.provenance`` (``/check`` and ``POST /api/v1/check``); the check itself is
:mod:`assay.provenance.textcheck`. The text is read in memory and dropped; it is never stored or logged.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assay.errors import FieldProblem, InvalidInput

__all__ = [
    "DOCX_TYPE",
    "TEXT_BODIES",
    "TextVerdictOut",
    "check_text_body",
    "is_text_request",
    "is_text_upload",
    "looks_like_text",
]

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_TEXT_TYPES = ("text/plain", "text/markdown", "text/html", "application/json", DOCX_TYPE)

TEXT_BODIES: dict[str, Any] = {
    # Any bytes are a text body (UTF-8 is checked, with a 415 when it is not): declared as binary, like images.
    "text/plain": {"schema": {"type": "string", "format": "binary"}},
    "text/markdown": {"schema": {"type": "string", "format": "binary"}},
    "text/html": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["text"],
            "properties": {"text": {"type": "string", "minLength": 1, "description": "The text to check."}},
        }
    },
    DOCX_TYPE: {"schema": {"type": "string", "format": "binary"}},
}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextWatermarkOut(_Open):
    found: bool
    key_id: str | None = Field(description="The id of the system's text key that found the mark.")
    tokens: int = Field(description="The text's length in the system's tokens.")
    scored_tokens: int = Field(description="Token positions scored: one per distinct context (repeats count once).")
    keys_screened: int = Field(description="Text keys of registered systems the text was screened against.")
    passage: dict[str, int] | None = Field(description="Character offsets of the marked stretch, when found.")
    whole_text: bool | None


class TextVerdictOut(_Open):
    kind: Literal["text"]
    status: Literal["marked", "recorded", "no_mark"] = Field(
        description="marked: a registered system's text watermark; recorded: the exact text is in a provider's "
        "records (no watermark found); no_mark: neither."
    )
    found: bool
    attributed: bool
    ai_generated: bool
    headline: str = Field(description="The verdict in one sentence.")
    confidence: str = Field(description="How strong the evidence is, in plain words ('' when nothing is found).")
    system: dict[str, Any] | None = Field(description="The system: its model(s) and training-data summary.")
    provider: dict[str, Any] | None
    key: dict[str, Any] | None = Field(description="The text key's public facts (issued, revoked, log entry).")
    record: dict[str, Any] | None
    evidence: dict[str, Any] = Field(description="The text's size and hash, and the watermark detector's result.")
    log: dict[str, Any] | None = Field(description="The key's (or the record's) transparency-log entry and proof.")
    notes: list[str] = Field(description="What the check cannot know: what a text mark cannot show.")


def is_text_request(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in _TEXT_TYPES


def is_text_upload(fields: dict[str, str], data: bytes) -> bool:
    """A form's file that is a text: named .txt/.md/.html/.docx or sent with a text type, and reading as one
    (bytes that are not text still go to the image check, which says what it accepts)."""
    from assay.provenance.textfiles import is_text_name

    named = is_text_name(fields.get("file.name", "")) or is_text_request(fields.get("file.type", ""))
    return named and looks_like_text(data)


def looks_like_text(data: bytes) -> bool:
    """A Word document or UTF-8 text, not an image (every image format Assay reads has NUL or non-UTF-8 bytes
    in its first few bytes)."""
    if data[:4] == b"PK\x03\x04":
        return True
    head = data[:8192]
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the 8 KiB boundary
    return True


def check_text_body(body: bytes, content_type: str, name: str) -> str:
    """The text of a request body of one of the text types (JSON: its ``text`` field)."""
    from assay.provenance.textfiles import extract_text

    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            doc = json.loads(body)
        except ValueError:
            raise InvalidInput("the body is not JSON", hint='send {"text": "..."}') from None
        text = doc.get("text") if isinstance(doc, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(
                "the JSON body has no text to check",
                hint='send {"text": "..."}',
                problems=[FieldProblem("text", "missing or empty", "the text to check, as a string")],
            )
        return extract_text(text.encode(), name)
    return extract_text(body, name, kind={"text/html": "html", DOCX_TYPE: "docx"}.get(ctype, "text"))
