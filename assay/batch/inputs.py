"""Where the files of a batch check come from, as one stream of names in a stable order.

Three sources, all streamed (never listed into memory whole) and all in an order that is the same on every
run over unchanged inputs, which is what makes resume possible (:mod:`assay.batch.results`):

- a local folder, walked depth first with each folder's entries sorted (one folder's listing at a time);
- a file list (``--from-list FILE``, or ``-`` for standard input): one path or URL a line, in the list's order;
- an object-storage prefix (``s3://bucket/prefix``) through fsspec: S3 is listed page by page (1,000 keys a
  page, in the key order S3 guarantees); other fsspec file systems one folder at a time.

Only names travel: workers open the files themselves (:func:`open_input`), so the client never moves the bytes.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from assay.errors import InvalidInput
from assay.provenance.textfiles import TEXT_SUFFIXES

__all__ = ["IMAGE_SUFFIXES", "is_url", "iter_inputs", "open_input"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".avif"})
# What a folder or prefix is searched for: images and texts.
CHECKED_SUFFIXES = IMAGE_SUFFIXES | frozenset(TEXT_SUFFIXES)
_PAGE = 1000  # keys fetched from the object store per call: one S3 ListObjectsV2 page


def is_url(name: str) -> bool:
    """``s3://...``, ``gs://...``, ``memory://...``: anything fsspec opens, as opposed to a local path."""
    head, sep, _ = name.partition("://")
    return bool(sep) and head.isidentifier() and head.lower() != "file"


def iter_inputs(
    paths: Iterable[str], *, from_list: str | None = None, storage_options: dict[str, Any] | None = None
) -> Iterator[str]:
    """Every file to check, in a stable order: ``paths`` (files, folders, prefixes), then the list's lines."""
    for p in paths:
        if is_url(p):
            yield from _iter_prefix(p, storage_options or {})
        else:
            yield from _iter_local(p)
    if from_list is not None:
        yield from _iter_list(from_list)


def _iter_local(path: str) -> Iterator[str]:
    if not os.path.isdir(path):
        yield path  # a missing or unreadable file is that file's error, reported with its result
        return
    # os.walk lists one folder at a time; sorting it makes the order stable for resume.
    for root, dirs, files in os.walk(path, onerror=None):
        dirs.sort()
        for f in sorted(files):
            if os.path.splitext(f)[1].lower() in CHECKED_SUFFIXES:
                yield os.path.join(root, f)


def _iter_list(source: str) -> Iterator[str]:
    if source == "-":
        yield from _lines(sys.stdin)
        return
    try:
        fh = open(source, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the file list {source!r}: {exc.strerror}",
            hint="give --from-list a text file with one path or URL a line, or - for standard input",
        ) from None
    with fh:
        yield from _lines(fh)


def _lines(fh: IO[str]) -> Iterator[str]:
    for line in fh:
        name = line.rstrip("\r\n")
        if name.strip() and not name.lstrip().startswith("#"):
            yield name.strip()


def _iter_prefix(url: str, storage_options: dict[str, Any]) -> Iterator[str]:
    if not url.endswith("/") and os.path.splitext(url)[1].lower() in CHECKED_SUFFIXES:
        yield url  # one object, not a prefix (a missing one is that input's error)
        return
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
    except (ImportError, ValueError) as exc:
        raise InvalidInput(
            f"cannot open {url!r}: {exc}",
            hint="for s3:// install s3fs ('pip install assay[batch]'); check the URL's scheme",
        ) from None
    protocol = url.split("://", 1)[0]
    if getattr(fs, "_iterdir", None) is not None and protocol in ("s3", "s3a"):
        names: Iterator[str] = _iter_s3(fs, root)
    else:
        names = _iter_walk(fs, root)
    for name in names:
        if os.path.splitext(name)[1].lower() in CHECKED_SUFFIXES:
            yield f"{protocol}://{name}"


def _iter_s3(fs: Any, root: str) -> Iterator[str]:
    """Keys under ``root``, one ListObjectsV2 page per round trip (s3fs's ``find`` would list them all first)."""
    from fsspec.asyn import sync

    bucket, _, key = root.partition("/")
    prefix = key.rstrip("/") + "/" if key else ""
    pages = fs._iterdir(bucket, delimiter="", prefix=prefix)

    async def take() -> list[str]:
        out: list[str] = []
        async for item in pages:
            out.append(item["name"])
            if len(out) >= _PAGE:
                break
        return out

    while True:
        batch = _storage_call(url=f"s3://{root}", fn=lambda: sync(fs.loop, take))
        yield from batch
        if len(batch) < _PAGE:
            return


def _iter_walk(fs: Any, root: str) -> Iterator[str]:
    for folder, dirs, files in _storage_call(url=root, fn=lambda: fs.walk(root)):
        dirs.sort()
        for f in sorted(files):
            yield f"{folder.rstrip('/')}/{f}"


def _storage_call(*, url: str, fn: Any) -> Any:
    try:
        return fn()
    except FileNotFoundError:
        raise InvalidInput(f"there is nothing at {url!r}", hint="check the bucket and prefix") from None
    except PermissionError:
        raise InvalidInput(
            f"access to {url!r} was refused", hint="check the credentials (AWS_* variables) and the bucket policy"
        ) from None
    except OSError as exc:
        raise InvalidInput(
            f"cannot list {url!r}: {exc}", hint="check the endpoint (AWS_ENDPOINT_URL) and your network"
        ) from None


def open_input(name: str, storage_options: dict[str, Any] | None = None) -> tuple[IO[bytes], int | None]:
    """Open one input for reading, with its size when the storage says it cheaply (local stat, S3 HEAD)."""
    if is_url(name):
        import fsspec

        of = fsspec.open(name, "rb", **(storage_options or {}))
        fh = of.open()
        size = getattr(fh, "size", None)
        return fh, size if isinstance(size, int) else None
    # Non-blocking open, then only regular files: a FIFO named photo.jpg in an archive would otherwise hang the
    # worker that opens it for ever (and a device would stream without end).
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(name)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(name)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


class NotARegularFile(OSError):
    """A pipe, socket or device where a file was expected."""
