"""Regression tests for the hostile-traffic cases of issue 10 (python -m bench.hostile measures them on a real
server): the part bomb, the memory flood, the PNG bomb and other files built to be slow to decode, and one
client taking every decode slot."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pytest
from PIL import Image

from assay.errors import InvalidInput, TooLarge
from assay.provenance.media import decode_image
from assay.web.app import BodyLimit
from assay.web.uploads import FormLimits, MediaSlots, UploadBudget, read_form

T = TypeVar("T")
PART = b'--B\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n'


def _run(coro: Awaitable[T]) -> T:
    # On a thread of its own: the browser tests' Playwright keeps an event loop running on the main thread.
    async def main() -> T:
        return await coro

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


# ---------------------------------------------------------------------------------------------- the part bomb


def test_the_part_bomb_is_refused_after_reading_one_chunk_of_it() -> None:
    # The body: 960,000 empty parts, 49 MB. Streamed in 64 KB chunks, lazily, counting what is read.
    chunk = PART * (65536 // len(PART))
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        for _ in range(49_000_000 // len(chunk)):
            read += 1
            yield chunk

    limits = FormLimits(max_total=50_000_000, max_files=1, max_parts=8, file_fields=frozenset({"file"}))
    with pytest.raises(InvalidInput, match="more than 8 parts"):
        _run(read_form("multipart/form-data; boundary=B", body(), limits))
    assert read == 1


def test_the_part_bomb_over_http_is_a_422(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post(
        "/api/v1/check",
        content=PART * 20_000 + b"--B--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert answer.status_code == 422 and "more than 8 parts" in answer.json()["error"]["message"]


def test_part_headers_are_bounded_for_the_whole_form() -> None:
    header = b"X-Pad: " + b"a" * 4000 + b"\r\n"
    one = b'--B\r\nContent-Disposition: form-data; name="x"\r\n' + header * 4 + b"\r\nv\r\n"

    async def body() -> AsyncIterator[bytes]:
        yield one * 6 + b"--B--\r\n"

    limits = FormLimits(max_total=1_000_000, max_files=1, max_parts=8)
    with pytest.raises(InvalidInput, match="part headers are longer than 16,384 bytes"):
        _run(read_form("multipart/form-data; boundary=B", body(), limits))


def test_only_the_wanted_fields_are_kept() -> None:  # type: ignore[no-untyped-def]
    from assay.web.uploads import read_media_upload

    form = (
        b'--B\r\nContent-Disposition: form-data; name="junk"; filename="a.bin"\r\n\r\n' + b"j" * 100_000 + b"\r\n"
        b'--B\r\nContent-Disposition: form-data; name="system_id"\r\n\r\nacme-imagegen\r\n'
        b'--B\r\nContent-Disposition: form-data; name="note"\r\n\r\nnot kept\r\n'
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="i.png"\r\n\r\nPIXELS\r\n--B--\r\n'
    )
    request = _request(form, b"multipart/form-data; boundary=B")
    # The file's own name and declared type come along (they tell a text file from an image), nothing else.
    assert _run(read_media_upload(request, max_bytes=1_000_000)) == (
        b"PIXELS",
        {"system_id": "acme-imagegen", "file.name": "i.png", "file.type": "application/octet-stream"},
    )


def _request(body: bytes, content_type: bytes) -> Any:
    from starlette.requests import Request

    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]

    async def receive() -> dict[str, Any]:
        data = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": data, "more_body": bool(chunks)}

    return Request({"type": "http", "method": "POST", "headers": [(b"content-type", content_type)]}, receive)


# ---------------------------------------------------------------------------------------------- the memory flood


def test_an_upload_waits_for_room_before_its_body_is_read_and_is_told_to_come_back() -> None:
    budget = UploadBudget(1_000_000, wait=0.2)
    received = 0
    ran = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal ran
        ran += 1
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 600_000, "more_body": False}

    async def scenario() -> list[int]:
        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        middleware = BodyLimit(app, default_limit=1000, upload_limit=1_000_000, budget=budget)
        scope = {"type": "http", "path": "/api/v1/check", "headers": [(b"content-length", b"600000")]}
        held = await budget.reserve(600_000)  # another upload of 600 KB is in memory
        await middleware(scope, receive, send)  # 600 KB more would pass the 1 MB budget: waits, then 429
        assert received == 0 and ran == 0 and budget.used == 600_000
        await budget.release(held)
        await middleware(scope, receive, send)  # room again: read and answered, its reservation returned
        assert budget.used == 0
        return statuses

    assert _run(scenario()) == [429, 200]
    assert received == 1 and ran == 1


def test_one_client_flooding_uploads_never_keeps_another_waiting_for_room() -> None:
    async def scenario() -> tuple[bool, int]:
        import anyio

        budget = UploadBudget(1000, wait=0.3)
        await budget.reserve(400, b"A")  # the flood holds 400 of 1000
        second_a: list[int] = []

        async def more_a() -> None:
            try:
                second_a.append(await budget.reserve(400, b"A"))  # would pass its half: waits in its own line
            except TimeoutError:
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(more_a)
            await anyio.sleep(0.05)
            with anyio.fail_after(0.1):
                got_b = await budget.reserve(400, b"B")  # another client gets room at once
        return not second_a, got_b

    assert _run(scenario()) == (True, 400)


def test_the_budget_cannot_be_configured_below_one_upload() -> None:
    from assay.config import Config
    from assay.errors import ConfigError

    with pytest.raises(ConfigError, match="ASSAY_UPLOAD_MEMORY_BYTES"):
        Config(max_upload_bytes=50_000_000, upload_memory_bytes=10_000_000).validated()


# ---------------------------------------------------------------------------------------------- the PNG bomb


def _png(w: int, h: int, depth: int, colour: int, idat: bytes, extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + extra + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _zeros(rows: int, row_bytes: int) -> bytes:
    co = zlib.compressobj(9)
    return b"".join(co.compress(b"\0" * (row_bytes + 1)) for _ in range(rows)) + co.flush()


def _decode(data: bytes) -> Any:
    return decode_image(data, max_bytes=50_000_000, max_pixels=80_000_000)


def test_the_16_bit_png_bomb_is_refused_from_its_header() -> None:
    # The file: 8900 x 8900, 16-bit RGB (475 MB of samples). Only the first rows are compressed here:
    # the header alone is refused, before any pixel is decoded.
    with pytest.raises(TooLarge, match="475,268,900 bytes of pixel data"):
        _decode(_png(8900, 8900, 16, 2, _zeros(10, 8900 * 6)))


def test_a_png_that_expands_a_thousand_fold_is_a_decompression_bomb() -> None:
    with pytest.raises(TooLarge, match="decompression bomb"):
        _decode(_png(8900, 8900, 16, 0, _zeros(8900, 8900 * 2)))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("png-chunks", "PNG chunks"),
        ("jpeg-segments", "JPEG segments"),
        ("jpeg-scans", "progressive JPEG scans"),
        ("gif-blocks", "GIF blocks"),
        ("tiff-strips", "TIFF strips"),
    ],
)
def test_files_built_to_be_slow_to_parse_are_refused_before_pillow_walks_them(kind: str, message: str) -> None:
    img = Image.fromarray(np.zeros((64, 64, 3), np.uint8))

    def saved(fmt: str, **kw: Any) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    if kind == "png-chunks":
        empty = struct.pack(">I", 0) + b"zzZz" + struct.pack(">I", zlib.crc32(b"zzZz"))
        data = _png(64, 64, 8, 2, _zeros(64, 64 * 3), extra=empty * 40_000)
    elif kind == "jpeg-segments":
        jpg = saved("JPEG")
        data = jpg[:2] + b"\xff\xfe\x00\x02" * 2_000 + jpg[2:]
    elif kind == "jpeg-scans":
        jpg = saved("JPEG", progressive=True)
        at = jpg.index(b"\xff\xda")
        data = jpg[:at] + jpg[at:-2] + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" * 100 + b"\xff\xd9"
    elif kind == "gif-blocks":
        gif = saved("GIF")
        at = 13 + (3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0)
        data = gif[:at] + b"\x21\xfe\x01x\x00" * 5_000 + gif[at:]
    else:  # a TIFF whose first IFD declares 100,000 strips
        n = 100_000
        entries = [(256, 4, 1, 64), (257, 4, 1, n), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1)]
        entries += [(273, 4, n, 200), (277, 3, 1, 1), (278, 4, 1, 1), (279, 4, n, 200)]
        ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0" * 4
        data = b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0" * 64
    with pytest.raises(InvalidInput, match=message):
        _decode(data)


def test_the_png_bomb_over_http_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/api/v1/check", content=_png(8900, 8900, 16, 2, _zeros(10, 8900 * 6)))
    assert answer.status_code == 413 and "pixel data" in answer.json()["error"]["message"]


def test_16_bit_pictures_still_decode_and_keep_their_tones() -> None:
    grey = (np.arange(256 * 256, dtype=np.uint32).reshape(256, 256) % 65536).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG")
    img = _decode(buf.getvalue())
    assert img.pixels.shape == (256, 256, 3) and int(img.pixels[255, 255, 0]) == 255 and int(img.pixels[0, 0, 0]) == 0


def test_a_picture_larger_than_the_work_side_is_decoded_smaller_and_keeps_its_own_size() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (9000, 600), (10, 20, 30)).save(buf, "JPEG")
    img = decode_image(buf.getvalue(), max_bytes=50_000_000, max_pixels=80_000_000, work_side=8192)
    assert (img.width, img.height) == (9000, 600) and max(img.pixels.shape[:2]) <= 8192


# ---------------------------------------------------------------------------------------------- decode slots


def test_one_client_never_holds_every_slot() -> None:
    release = threading.Event()
    started: list[str] = []

    def work(who: str) -> str:
        started.append(who)
        release.wait(10)
        return who

    async def scenario() -> list[str]:
        import anyio

        slots = MediaSlots(2, wait=5)
        done: list[str] = []

        async def run(who: str, client: bytes) -> None:
            done.append(await slots.run(work, who, client=client))

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(run, f"a{i}", b"A")  # one client sends three
            await anyio.sleep(0.2)
            tg.start_soon(run, "b", b"B")  # another client arrives later
            await anyio.sleep(0.2)
            assert sorted(started) == ["a0", "b"]  # A holds one slot, B got the other at once
            release.set()
        return done

    assert sorted(_run(scenario())) == ["a0", "a1", "a2", "b"]
