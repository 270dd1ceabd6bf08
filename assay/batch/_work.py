"""The per-file step, as it runs on a worker: open the file, read it under the size limit, examine it.

No database and no private key here: the worker gets a name (or, with ``--send-bytes``, the bytes), the
verifier material and the storage options, and returns evidence or an error record. Every failure is one
file's error, with a kind a report can count:

- ``not_found``, ``unreadable``: the file could not be opened or read (missing, permissions, a folder, the
  object store refused or failed);
- ``too_large``: over the byte limit (refused before reading) or the pixel limit (refused before decoding);
- ``unsupported``: not an image type Assay reads;
- ``undecodable``: truncated, damaged or otherwise not decodable;
- ``internal_error``: a bug in Assay (the traceback stays in the worker's log, never the file);
- ``worker_died``: the worker process died on it (out of memory, a crash in a decoder); set by the runner.
"""

from __future__ import annotations

import logging
from typing import Any

from assay.batch import _seam
from assay.batch.inputs import NotARegularFile, open_input
from assay.errors import AssayError, InvalidInput, TooLarge, UnsupportedMedia

log = logging.getLogger("assay.batch")

# One work item: (position in the input stream, name[, bytes sent by the client]).
Item = tuple[Any, ...]
# One outcome: (position, name, evidence or None, error record or None).
Outcome = tuple[int, str, Any, dict[str, Any] | None]


def error_record(name: str, kind: str, message: str, hint: str, code: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "code": code or kind, "message": message, "hint": hint}


def examine_chunk(items: list[Item], material: Any, storage_options: dict[str, Any] | None = None) -> list[Outcome]:
    """Examine a few files in a row (one task for several files keeps the scheduler's work per file small)."""
    return [examine_item(item, material, storage_options) for item in items]


def examine_item(item: Item, material: Any, storage_options: dict[str, Any] | None) -> Outcome:
    seq, name = int(item[0]), str(item[1])
    data = item[2] if len(item) > 2 else None
    try:
        if data is None:
            data = read_limited(name, _seam.max_bytes(material), storage_options)
        return seq, name, _seam.examine(data, material, name=name), None
    except _ReadError as exc:
        return seq, name, None, exc.record
    except TooLarge as exc:
        return seq, name, None, _assay_error(name, "too_large", exc)
    except UnsupportedMedia as exc:
        return seq, name, None, _assay_error(name, "unsupported", exc)
    except InvalidInput as exc:
        return seq, name, None, _assay_error(name, "undecodable", exc)
    except AssayError as exc:
        return seq, name, None, _assay_error(name, exc.code, exc)
    except Exception:  # noqa: BLE001 - a bug must cost one file's verdict, not the run
        log.exception("examining one file failed")  # the name stays out of logs: it can say who checks what
        return (
            seq,
            name,
            None,
            error_record(
                name,
                "internal_error",
                f"checking {name} failed inside Assay",
                "run 'assay check' on this file alone with --verbose and report the traceback",
            ),
        )
    finally:
        del data  # checked media is dropped at once


def _assay_error(name: str, kind: str, exc: AssayError) -> dict[str, Any]:
    return error_record(name, kind, exc.message, exc.hint, code=exc.code)


class _ReadError(Exception):
    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record


def read_limited(name: str, max_bytes: int, storage_options: dict[str, Any] | None = None) -> bytes:
    """The file's bytes, refusing one over ``max_bytes`` before reading it (or as soon as the limit is passed,
    when the storage does not say the size), so a worker never holds more than the limit for one file."""
    try:
        fh, size = open_input(name, storage_options)
    except FileNotFoundError:
        raise _ReadError(error_record(name, "not_found", f"there is no file {name}", "check the path or key")) from None
    except IsADirectoryError:
        raise _ReadError(error_record(name, "unreadable", f"{name} is a folder", "give image files")) from None
    except NotARegularFile:
        raise _ReadError(
            error_record(name, "unreadable", f"{name} is not a regular file (a pipe or a device)", "give image files")
        ) from None
    except PermissionError:
        raise _ReadError(
            error_record(name, "unreadable", f"cannot read {name}: permission denied", "check the permissions")
        ) from None
    except Exception as exc:  # noqa: BLE001 - fsspec back ends raise many kinds (botocore, aiohttp, OSError)
        raise _ReadError(
            error_record(
                name,
                "unreadable",
                f"cannot open {name}: {_short(exc)}",
                "check the path, the credentials and the network",
            )
        ) from None
    with fh:
        if size is not None and size > max_bytes:
            raise _ReadError(_too_large(name, size, max_bytes))
        try:
            data = fh.read(max_bytes + 1)
        except Exception as exc:  # noqa: BLE001 - as above
            raise _ReadError(
                error_record(name, "unreadable", f"reading {name} failed: {_short(exc)}", "check the storage and retry")
            ) from None
    if len(data) > max_bytes:
        raise _ReadError(_too_large(name, None, max_bytes))
    return bytes(data)


def _too_large(name: str, size: int | None, max_bytes: int) -> dict[str, Any]:
    what = f"{size:,} bytes" if size is not None else "larger than that"
    return error_record(
        name,
        "too_large",
        f"{name} is {what}, over the limit of {max_bytes:,}",
        "raise ASSAY_MAX_UPLOAD_BYTES to check larger files",
    )


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:160]
