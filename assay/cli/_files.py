"""Reading the files a command is given and naming the files it writes: shared by the local and remote commands.

A path that cannot be read is an :class:`~assay.errors.AssayError` naming the path and the fix, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

from assay.errors import InvalidInput, NotFound

__all__ = [
    "IMAGE_SUFFIXES",
    "content_type",
    "expand",
    "is_text_name",
    "marked_path",
    "plan_marked_paths",
    "read_file",
    "read_input",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".avif", ".heic", ".heif"}
_TEXT_TYPES = {".html": "text/html", ".htm": "text/html", ".md": "text/markdown", ".markdown": "text/markdown"}
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


def read_file(path: Path, *, what: str = "a file", give: str = "give a file", stdin: bool = False) -> bytes:
    """The bytes of ``path`` (``-`` is standard input when ``stdin``); a missing file, a folder or an unreadable
    file is a clear error. ``what`` names the expected kind in the folder error (``a disclosure file``), ``give``
    is its hint (``give a .yaml or .json file``)."""
    if stdin and str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"there is no file {str(path)!r}", hint="check the path") from None
    except IsADirectoryError:
        raise InvalidInput(f"{str(path)!r} is a folder, not {what}", hint=give) from None
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {str(path)!r}: {exc.strerror}", hint="check the path and permissions"
        ) from None


def is_text_name(name: str) -> bool:
    """``name`` is checked as a text (by its suffix; ``-``, standard input, always is)."""
    from assay.provenance.textfiles import is_text_name as text_name

    return name == "-" or text_name(name)


def content_type(path: str) -> str:
    """The type a file is sent to ``POST /api/v1/check`` as: a text by its name, any other file as bytes."""
    if not is_text_name(Path(path).name):
        return "application/octet-stream"
    suffix = Path(path).suffix.lower()
    return _DOCX if suffix == ".docx" else _TEXT_TYPES.get(suffix, "text/plain") + "; charset=utf-8"


def read_input(path: str) -> bytes:
    """A file's bytes; ``-`` is standard input."""
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def expand(paths: list[Path]) -> Iterator[Path]:
    """The files to check: each file given, and the images and texts inside each folder (sorted, recursive)."""
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    fp = Path(root) / f
                    if fp.suffix.lower() in IMAGE_SUFFIXES or is_text_name(fp.name):
                        yield fp
        else:
            yield p


def marked_path(path: Path, out: Path | None, media_type: str) -> Path:
    """Where the marked copy of ``path`` is written: ``NAME.marked.EXT`` beside it, or ``out/NAME.EXT``."""
    suffix = _SUFFIX.get(media_type, path.suffix)
    if out is None:
        return path.with_name(f"{path.stem}.marked{suffix}")
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{path.stem}{suffix}"


def plan_marked_paths(images: list[Path], out: Path | None) -> None:
    """Before anything is marked: the output folder exists and every input gets its own writable output file,
    so a run never records marks whose files it then cannot write (or writes over each other)."""
    from assay.provenance.media import MARKABLE_TYPES, sniff_media_type

    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "it is a file" if out.exists() and not out.is_dir() else exc.strerror
            raise InvalidInput(
                f"cannot use {str(out)!r} as the folder for the marked files: {reason}",
                hint="give --out a folder (it is created if missing), or leave it out to write NAME.marked.EXT",
            ) from None
    seen: dict[Path, Path] = {}
    for path in images:
        try:
            with open(path, "rb") as fh:
                media_type = sniff_media_type(fh.read(32))
        except OSError:
            continue  # reported when the file is read
        if media_type is None:
            continue  # reported when the file is decoded
        target = marked_path(path, out, media_type if media_type in MARKABLE_TYPES else "image/png")
        if target in seen:
            raise InvalidInput(
                f"{str(seen[target])!r} and {str(path)!r} would both be written to {str(target)!r}",
                hint="rename one of them, or mark them in separate runs with different --out folders",
            )
        seen[target] = path
        if target.is_dir() or not os.access(target.parent, os.W_OK):
            raise InvalidInput(
                f"cannot write the marked file {str(target)!r}",
                hint="check the folder's permissions, or choose another with --out",
            )
