"""Reading uploaded bodies: the one streaming form reader, for media checks and for complaints.

Every body a client uploads (an image to check or mark, a complaint sent without JavaScript) is read here, in
memory only (never spooled to disk, never logged), as its chunks arrive, and refused as soon as a limit is
passed:

- **parts**: at most ``max_parts`` parts (a form of 960,000 empty parts is refused at part ``max_parts + 1``,
  after a few kilobytes, instead of being parsed whole);
- **headers**: at most ``max_header_bytes`` of part headers in the whole form (python-multipart reads headers
  byte by byte in Python; this bounds that work per request), and python-multipart's own per-part limits;
- **sizes**: each text field, each file and the whole form have their own limits;
- **what is kept**: only the wanted fields. A media upload keeps its one file field and two small text fields;
  every other part is counted and dropped.

The parser is python-multipart's streaming parser (the one Starlette uses). It runs on the event loop, chunk by
chunk, and yields to other requests between chunks: the work it does per chunk is a boundary search in C for
file data and a bounded amount of Python for headers, so no request can hold the loop for long. Starlette's own
form reader is not used because it spools files over 1 MB to a temporary file on disk, which the complaint
channel promises never to do, and keeps every part.

Example::

    data, fields = await read_media_upload(request, max_bytes=config.max_upload_bytes)
    form = await read_form_in_memory(request.headers.get("content-type", ""), request.stream(),
                                     max_total=20_000_000, max_files=5)
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import anyio
import anyio.lowlevel
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from assay.errors import FieldProblem, InvalidInput, RateLimited, TooLarge, UnsupportedMedia

__all__ = [
    "FormFile",
    "FormLimits",
    "InMemoryForm",
    "MediaSlots",
    "UploadBudget",
    "read_form",
    "read_form_in_memory",
    "read_media_upload",
]

# RFC 2046 allows boundaries of 1-70 characters.
_MAX_BOUNDARY = 70
# Chunks are fed to the parser in pieces of at most this size, so the bounded Python work of one piece is short.
_PIECE = 64 * 1024


@dataclass
class FormFile:
    name: str
    content_type: str
    data: bytes = field(repr=False)
    form_field: str = ""  # the form field it came in


@dataclass
class InMemoryForm:
    fields: dict[str, str]
    files: list[FormFile]


@dataclass(frozen=True)
class FormLimits:
    """What a form may hold. ``file_fields``/``text_fields`` name the parts kept (``None``: every file part,
    i.e. every part with a filename, and every text part); parts not kept are read past and dropped."""

    max_total: int
    max_files: int
    max_file_bytes: int | None = None  # each file; None means max_total
    max_field_bytes: int = 100_000
    max_parts: int = 40
    max_header_bytes: int = 16_384
    file_fields: frozenset[str] | None = None
    text_fields: frozenset[str] | None = None
    hint: str = "send the form as the page provides it"
    # Whole-body slack over max_total for the form's own framing (boundaries, headers, text fields).
    overhead: int = 1_000_000


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    kind: str = "text"  # "file", "text" or "skip"
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


class _FormReader:
    """The state of one multipart form being read. Each callback enforces its limit at once, by raising: the
    parser passes the error out of ``write`` so the rest of the chunk is never parsed."""

    def __init__(self, boundary: bytes, limits: FormLimits) -> None:
        self.limits = limits
        self.parts = 0
        self.header_bytes = 0
        self.file_bytes = 0
        self.fields: dict[str, str] = {}
        self.files: list[FormFile] = []
        self.part = _Part()
        self.headers: dict[bytes, bytes] = {}
        self.header_field: list[bytes] = []
        self.header_value: list[bytes] = []
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self.on_part_begin,
                "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value,
                "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
            },
        )

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise InvalidInput(f"the form has more than {self.limits.max_parts} parts", hint=self.limits.hint)
        self.headers.clear()
        self.part = _Part()

    def _count_header(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > self.limits.max_header_bytes:
            raise InvalidInput(
                f"the form's part headers are longer than {self.limits.max_header_bytes:,} bytes",
                hint=self.limits.hint,
            )

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_field.append(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_value.append(data[start:end])

    def on_header_end(self) -> None:
        self.headers[b"".join(self.header_field).lower()] = b"".join(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        part, limits = self.part, self.limits
        _, disp = parse_options_header(self.headers.get(b"content-disposition", b""))
        part.name = disp.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disp:
            part.filename = disp[b"filename"].decode("utf-8", "replace")
        part.content_type = self.headers.get(b"content-type", b"").decode("latin-1")[:200]
        if limits.file_fields is None:
            part.kind = "file" if part.filename is not None else "text"
        elif part.name in limits.file_fields:
            part.kind = "file"
        else:
            part.kind = "text" if part.filename is None else "skip"
        if part.kind == "text" and limits.text_fields is not None and part.name not in limits.text_fields:
            part.kind = "skip"

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part, limits = self.part, self.limits
        part.size += end - start
        if part.kind == "skip":
            return  # counted against the whole body's limit by the caller, never kept
        if part.kind == "file":
            limit = limits.max_file_bytes if limits.max_file_bytes is not None else limits.max_total
        else:
            limit = limits.max_field_bytes
        if part.size > limit:
            raise TooLarge(
                f"the form field {part.name!r} is larger than {limit:,} bytes",
                hint="attach fewer or smaller files" if part.kind == "file" else "shorten the text",
                problems=[FieldProblem(part.name or "(form)", "too large", "send less")],
            )
        part.chunks.append(data[start:end])

    def on_part_end(self) -> None:
        part, limits = self.part, self.limits
        if part.kind == "skip":
            return
        data = b"".join(part.chunks)
        part.chunks.clear()
        if part.kind == "file":
            if not part.filename and not data and limits.file_fields is None:
                return  # an empty file input
            self.file_bytes += len(data)
            if len(self.files) >= limits.max_files and limits.file_fields is not None:
                raise InvalidInput(
                    f"the form has more than {limits.max_files} {part.name!r} field(s)",
                    hint="send one file per request",
                    problems=[FieldProblem(part.name, "repeated", "send the file once")],
                )
            if len(self.files) >= limits.max_files:
                raise InvalidInput(
                    f"more than {limits.max_files} attachments",
                    hint="combine files into fewer attachments",
                    problems=[FieldProblem("attachments", "too many files", f"attach at most {limits.max_files}")],
                )
            if self.file_bytes > limits.max_total:
                raise TooLarge(
                    f"the attachments add up to more than {limits.max_total:,} bytes",
                    hint="attach fewer or smaller files",
                )
            self.files.append(
                FormFile(part.filename or "", part.content_type or "application/octet-stream", data, part.name)
            )
            return
        try:
            self.fields[part.name] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(
                f"the form field {part.name!r} is not UTF-8 text",
                problems=[FieldProblem(part.name, "not UTF-8", "send text")],
            ) from None


async def read_form(content_type: str, body: AsyncIterator[bytes], limits: FormLimits) -> InMemoryForm:
    """Read a ``multipart/form-data`` body (or ``application/x-www-form-urlencoded`` when ``limits`` allow
    text only) as it streams in, keeping only the wanted parts, in memory. Raises :class:`InvalidInput`,
    :class:`TooLarge` or :class:`UnsupportedMedia`, never anything else, and names no content in messages."""
    kind, params = parse_options_header(content_type)
    if kind == b"application/x-www-form-urlencoded":
        return await _read_urlencoded(body, limits)
    boundary = params.get(b"boundary", b"")
    if kind != b"multipart/form-data":
        raise UnsupportedMedia("the form must be sent as multipart/form-data", hint=limits.hint)
    if not boundary or len(boundary) > _MAX_BOUNDARY:
        raise InvalidInput("the multipart form has no valid boundary (1-70 characters)", hint=limits.hint)
    reader = _FormReader(boundary, limits)
    total = 0
    try:
        async for chunk in body:
            total += len(chunk)
            if total > limits.max_total + limits.overhead:
                raise TooLarge(
                    f"the form is larger than {limits.max_total:,} bytes", hint="attach fewer or smaller files"
                )
            for i in range(0, len(chunk), _PIECE):
                reader.parser.write(chunk[i : i + _PIECE])
            await anyio.lowlevel.checkpoint()  # let other requests run between chunks
        reader.parser.finalize()
    except (TooLarge, InvalidInput, UnsupportedMedia):
        raise
    except Exception:  # noqa: BLE001 - any parser failure is a malformed form, reported without its content
        raise InvalidInput("the form is malformed", hint=limits.hint) from None
    return InMemoryForm(fields=reader.fields, files=reader.files)


async def _read_urlencoded(body: AsyncIterator[bytes], limits: FormLimits) -> InMemoryForm:
    if limits.file_fields is not None:
        raise UnsupportedMedia("the form must be sent as multipart/form-data", hint=limits.hint)
    chunks, total = [], 0
    async for chunk in body:
        total += len(chunk)
        if total > limits.max_total:
            raise TooLarge(f"the form is larger than {limits.max_total:,} bytes", hint="shorten the text")
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the form is not UTF-8 text", hint=limits.hint) from None
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=limits.max_parts)
    return InMemoryForm(fields=dict(pairs), files=[])


async def read_form_in_memory(
    content_type: str,
    body: AsyncIterator[bytes],
    *,
    max_total: int,
    max_files: int,
    max_field_bytes: int = 100_000,
    max_parts: int = 40,
) -> InMemoryForm:
    """A complaint form: every text field and every attached file (up to the limits), nothing on disk."""
    limits = FormLimits(
        max_total=max_total,
        max_files=max_files,
        max_field_bytes=max_field_bytes,
        max_parts=max_parts,
        hint="send the complaint form as the page provides it",
    )
    try:
        return await read_form(content_type, body, limits)
    except ValueError:  # parse_qsl's max_num_fields
        raise InvalidInput("the form has too many fields", hint=limits.hint) from None


# Text fields a media upload may carry beside its file (see the /api/v1/marks form); all others are dropped.
MEDIA_TEXT_FIELDS = frozenset({"system_id", "visible_label"})
_TEXT_TYPES = ("application/x-www-form-urlencoded", "application/json", "text/")


async def read_media_upload(request: Request, *, max_bytes: int, field: str = "file") -> tuple[bytes, dict[str, str]]:
    """The uploaded image (the raw body, or multipart field ``field``) and the small text fields, in memory.

    Only the file and the fields in ``MEDIA_TEXT_FIELDS`` (each at most 1,000 bytes) are kept; a form may have
    at most 8 parts and 16 KB of part headers. The whole body is also bounded by the app's BodyLimit middleware.
    """
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        if ctype.lower().startswith(_TEXT_TYPES):
            raise UnsupportedMedia(
                f"send the image itself, or a multipart form with a '{field}' field, not {ctype[:100]}",
                hint="e.g. curl --data-binary @image.jpg -H 'Content-Type: image/jpeg'",
            )
        return await _read_raw(request.stream(), max_bytes), {}
    limits = FormLimits(
        max_total=max_bytes,
        max_files=1,
        max_field_bytes=1000,
        max_parts=8,
        max_header_bytes=16_384,
        file_fields=frozenset({field}),
        text_fields=MEDIA_TEXT_FIELDS,
        hint="let your HTTP client build the form",
        overhead=64 * 1024,
    )
    form = await read_form(ctype, request.stream(), limits)
    if not form.files:
        raise InvalidInput(
            f"the form has no '{field}' field",
            hint="choose a file to check",
            problems=[FieldProblem(field, "missing", "attach the image")],
        )
    upload = form.files[0]
    # The file's name and declared type tell a text file (.txt, .md, .html, .docx) from an image.
    return upload.data, form.fields | {"file.name": upload.name[:300], "file.type": upload.content_type[:100]}


async def read_text_box(request: Request, *, max_bytes: int, field: str) -> str:
    """The one field ``field`` of a URL-encoded form (a page's text box), read with the body bounded by
    ``max_bytes`` and parsed off the event loop with a bound on the number of fields (a body of a million
    empty fields is refused, not walked on the loop)."""
    body = await _read_raw(request.stream(), max_bytes)

    def parse() -> str:
        try:
            values = parse_qs(body.decode("ascii"), max_num_fields=16, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput(
                "the form is malformed (more than 16 fields, or not URL-encoded)",
                hint="send the page's own form",
                problems=[FieldProblem(field, "unreadable", "type or paste the text into the box")],
            ) from None
        return (values.get(field) or [""])[0]

    return await run_in_threadpool(parse)


async def _read_raw(body: AsyncIterator[bytes], max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    async for chunk in body:
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(
                f"the file is larger than the limit of {max_bytes:,} bytes",
                hint="send a smaller file, or raise ASSAY_MAX_UPLOAD_BYTES",
            )
        chunks.append(chunk)
    return b"".join(chunks)


class UploadBudget:
    """Bounds the bytes of request bodies held in memory at once, across every upload path.

    A request reserves its declared size (its Content-Length, or the path's whole upload limit when it streams
    without one) *before* its body is read, and keeps the reservation until its answer is sent, so bodies
    waiting for a decode slot count too. Memory held by bodies in flight is thus at most ``capacity`` (plus,
    briefly, one more copy of a body while its chunks are joined). A request that cannot get room within
    ``wait`` seconds is told to come back (429).

    One client (its address, held only as a keyed hash while its requests run) holds at most half the
    capacity, unless it holds nothing, and its requests wait in a line of their own: a flood of large uploads
    from one client never keeps another client's upload waiting for more than the room it needs.
    """

    def __init__(self, capacity: int, *, wait: float = 30.0) -> None:
        self.capacity = capacity
        self.per_client = capacity // 2
        self.wait = wait
        self.used = 0  # owned by the event loop; changed only under _changed
        self._held: dict[bytes, int] = {}  # client -> bytes it holds
        self._lines: dict[bytes, tuple[anyio.Lock, int]] = {}  # client -> (its line, requests in it)
        self._changed = anyio.Condition()
        self._secret = secrets.token_bytes(32)

    def client_key(self, host: str) -> bytes:
        return hmac.digest(self._secret, host.encode(), "sha256")[:16]

    def _fits(self, client: bytes, n: int) -> bool:
        held = self._held.get(client, 0)
        return self.used + n <= self.capacity and (held == 0 or held + n <= self.per_client)

    async def reserve(self, n: int, client: bytes = b"") -> int:
        """Wait for ``n`` bytes (at most the capacity) of room; return what was reserved. Raises TimeoutError."""
        n = max(0, min(n, self.capacity))
        line, users = self._lines.get(client) or (anyio.Lock(), 0)
        self._lines[client] = (line, users + 1)
        try:
            with anyio.fail_after(self.wait):
                async with line, self._changed:  # first in this client's line, then wait for room
                    while not self._fits(client, n):
                        await self._changed.wait()
                    self.used += n
                    self._held[client] = self._held.get(client, 0) + n
        finally:
            line, users = self._lines[client]
            if users <= 1:
                del self._lines[client]
            else:
                self._lines[client] = (line, users - 1)
        return n

    async def release(self, n: int, client: bytes = b"") -> None:
        with anyio.CancelScope(shield=True):
            async with self._changed:
                self.used -= n
                left = self._held.get(client, 0) - n
                if left > 0:
                    self._held[client] = left
                else:
                    self._held.pop(client, None)
                self._changed.notify_all()


class MediaSlots:
    """Bounds how many uploaded images are decoded and examined at once, and how many of those one client holds.

    One image of ``ASSAY_MAX_PIXELS`` takes several hundred megabytes and about a second of CPU while it is
    examined (the decoders' limits make that the most any image costs, see ``assay.provenance.media``), and a
    small file can declare that many pixels; without a bound, a burst of such uploads would exhaust the
    server's memory. A request waits its turn for up to ``wait`` seconds, then is told to come back (429).

    One client (its address, kept only in memory as a keyed hash while its requests run, never logged) holds at
    most ``per_client`` slots (all but one, by default), so one client alone can never take every slot: the
    others' checks keep moving while its own queue up behind each other.
    """

    def __init__(self, slots: int, *, wait: float = 30.0, per_client: int | None = None) -> None:
        self.semaphore = anyio.Semaphore(slots)  # owned by the app's event loop (see _media_slots)
        self.wait = wait
        self.per_client = per_client if per_client is not None else max(1, slots - 1)
        self._clients: dict[bytes, tuple[anyio.Semaphore, int]] = {}  # key -> (its gate, requests using it)
        self._secret = secrets.token_bytes(32)

    def for_request(self, request: Request) -> _ClientSlots:
        host = request.client.host if request.client else ""
        return _ClientSlots(self, hmac.digest(self._secret, host.encode(), "sha256")[:16])

    async def run(self, fn: Any, *args: Any, client: bytes = b"", **kwargs: Any) -> Any:
        """Run ``fn`` on a worker thread once this client's turn and a slot come (both FIFO)."""
        gate, users = self._clients.get(client) or (anyio.Semaphore(self.per_client), 0)
        self._clients[client] = (gate, users + 1)
        has_gate = has_slot = False
        try:
            try:
                with anyio.fail_after(self.wait):
                    await gate.acquire()
                    has_gate = True
                    await self.semaphore.acquire()
                    has_slot = True
            except TimeoutError:
                raise RateLimited(
                    "the register is busy examining other images", hint="try again in a few seconds"
                ) from None
            return await run_in_threadpool(fn, *args, **kwargs)
        finally:
            if has_slot:
                self.semaphore.release()
            if has_gate:
                gate.release()
            gate, users = self._clients[client]
            if users <= 1:
                del self._clients[client]
            else:
                self._clients[client] = (gate, users - 1)


@dataclass(frozen=True)
class _ClientSlots:
    slots: MediaSlots
    client: bytes

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.slots.run(fn, *args, client=self.client, **kwargs)
