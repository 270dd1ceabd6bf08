"""Reading a multipart form entirely in memory, for complaints sent without JavaScript.

Starlette's form parser spools any file over 1 MB to a temporary file on disk; for a complaint that would
write plaintext to the disk, which the channel promises never to do. This reader feeds the request's body
chunks into ``python-multipart``'s streaming parser (the same parser Starlette uses) and keeps every part in
memory, refusing the request as soon as a limit is passed. The caller seals the result and drops it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from assay.errors import FieldProblem, InvalidInput, TooLarge, UnsupportedMedia

__all__ = ["FormFile", "InMemoryForm", "read_form_in_memory"]


@dataclass
class FormFile:
    name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class InMemoryForm:
    fields: dict[str, str]
    files: list[FormFile]


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


async def read_form_in_memory(
    content_type: str,
    body: AsyncIterator[bytes],
    *,
    max_total: int,
    max_files: int,
    max_field_bytes: int = 100_000,
    max_parts: int = 40,
) -> InMemoryForm:
    """Parse ``multipart/form-data`` (or ``application/x-www-form-urlencoded``) without touching the disk."""
    kind, params = parse_options_header(content_type)
    if kind == b"application/x-www-form-urlencoded":
        return await _read_urlencoded(body, max_total=max_total)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise UnsupportedMedia(
            "the form must be sent as multipart/form-data", hint="send the complaint form as the page provides it"
        )
    parts: list[_Part] = []
    current: list[_Part] = []
    header_field: list[bytes] = []
    header_value: list[bytes] = []
    headers: dict[bytes, bytes] = {}
    total = 0
    problem: Exception | None = None

    def on_part_begin() -> None:
        headers.clear()
        current[:] = [_Part()]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.append(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.append(data[start:end])

    def on_header_end() -> None:
        headers[b"".join(header_field).lower()] = b"".join(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        part = current[0]
        _, disp = parse_options_header(headers.get(b"content-disposition", b""))
        part.name = disp.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disp:
            part.filename = disp[b"filename"].decode("utf-8", "replace")
        part.content_type = headers.get(b"content-type", b"").decode("latin-1")[:200]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal problem
        part = current[0]
        part.size += end - start
        limit = max_total if part.filename is not None else max_field_bytes
        if part.size > limit and problem is None:
            problem = TooLarge(
                f"the form field {part.name!r} is larger than {limit} bytes",
                hint="attach fewer or smaller files" if part.filename is not None else "shorten the text",
                problems=[FieldProblem(part.name or "(form)", "too large", "send less")],
            )
        if problem is None:
            part.chunks.append(data[start:end])

    def on_part_end() -> None:
        parts.append(current[0])

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in body:
            total += len(chunk)
            if total > max_total + 1_000_000:
                raise TooLarge(f"the form is larger than {max_total} bytes", hint="attach fewer or smaller files")
            parser.write(chunk)
            if problem is not None:
                raise problem
            if len(parts) > max_parts:
                raise InvalidInput(
                    "the form has too many parts", hint="send the complaint form as the page provides it"
                )
        parser.finalize()
    except (TooLarge, InvalidInput):
        raise
    except Exception:  # noqa: BLE001 - any parser failure is a malformed form, reported without its content
        raise InvalidInput("the form is malformed", hint="send the complaint form as the page provides it") from None
    fields: dict[str, str] = {}
    files: list[FormFile] = []
    for part in parts:
        data = b"".join(part.chunks)
        if part.filename is not None:
            if not part.filename and not data:
                continue  # an empty file input
            files.append(FormFile(part.filename, part.content_type or "application/octet-stream", data))
        else:
            try:
                fields[part.name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(
                    f"the form field {part.name!r} is not UTF-8 text",
                    problems=[FieldProblem(part.name, "not UTF-8", "send text")],
                ) from None
    if len(files) > max_files:
        raise InvalidInput(
            f"more than {max_files} attachments",
            hint="combine files into fewer attachments",
            problems=[FieldProblem("attachments", "too many files", f"attach at most {max_files}")],
        )
    if sum(len(f.data) for f in files) > max_total:
        raise TooLarge(f"the attachments add up to more than {max_total} bytes", hint="attach fewer or smaller files")
    return InMemoryForm(fields=fields, files=files)


async def _read_urlencoded(body: AsyncIterator[bytes], *, max_total: int) -> InMemoryForm:
    from urllib.parse import parse_qsl

    chunks, total = [], 0
    async for chunk in body:
        total += len(chunk)
        if total > max_total:
            raise TooLarge(f"the form is larger than {max_total} bytes", hint="shorten the text")
        chunks.append(chunk)
    try:
        pairs = parse_qsl(b"".join(chunks).decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidInput("the form is not UTF-8 text", hint="send the form as the page provides it") from None
    return InMemoryForm(fields=dict(pairs), files=[])
