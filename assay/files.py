"""Files that must never be half-written: the keys and secrets Assay makes on first run, and small state files.

Several processes (the web server's workers, a CLI command run beside it) may start at once and find no key;
a crash may strike while one is written. :func:`create_once` guarantees that afterwards the file either does
not exist or holds one whole secret, and that every process reads the same one. :func:`replace_durably`
replaces a file's contents so that after a crash at any point it holds the old bytes or the new ones, never
none or a mix, and the new ones survive a power cut once it returns.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from assay.errors import StorageError

#: The steps of :func:`replace_durably`, in order (a crash test stops it before or after each one).
REPLACE_STEPS = ("write", "rename", "sync-folder")


def create_once(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data``, unless it exists; return whether this call created it.

    The data is written and fsynced under a temporary name, then hard-linked into place: ``link`` fails if the
    file exists, so of racing processes exactly one wins and the others keep the winner's file, and a crash
    leaves either no file or a whole one (never the empty or partial file that writing in place can leave).
    The folder is created (mode 0700) if needed and fsynced, so the new name survives a power cut.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    write_new(tmp, data, mode=mode)
    try:
        os.link(tmp, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return created


def read_or_create_secret(path: Path, size: int, *, what: str, if_damaged: str) -> bytes:
    """The ``size`` random bytes at ``path``, made there on first use (mode 0600; :func:`create_once`, so processes
    starting at once agree on one). ``what`` names the secret in errors (``the complaints pepper``); ``if_damaged``
    is the hint when the file holds anything but ``size`` bytes. A folder that cannot be written or read is a
    StorageError naming the path, never a traceback."""
    try:
        if not path.exists():
            create_once(path, secrets.token_bytes(size))
        data = path.read_bytes()
    except OSError as exc:
        raise StorageError(
            f"cannot read or create {what} at {path}: {exc.strerror}",
            hint="check that the data folder (ASSAY_DATA_DIR) is writable",
        ) from None
    if len(data) != size:
        raise StorageError(f"{what} at {path} is damaged ({len(data)} bytes, not {size})", hint=if_damaged)
    return data


def replace_durably(path: Path, data: bytes, *, mode: int = 0o600, step: Callable[[str], None] | None = None) -> None:
    """Replace ``path``'s contents with ``data``, atomically and durably.

    The data is written and fsynced under a temporary name in the same folder (``write``), renamed over the
    file (``rename``: readers see the old or the new bytes), then the folder is fsynced (``sync-folder``: the
    rename survives a power cut). ``step(name)`` is called before each step, for crash tests only. A crash
    leaves at most a stale ``.<name>.*.tmp`` beside the file, which :func:`remove_stale_temporaries` removes.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        if step:
            step("write")
        write_new(tmp, data, mode=mode)
        if step:
            step("rename")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink(missing_ok=True)
    if step:
        step("sync-folder")
    fsync_dir(path.parent)


def install_durably(tmp: Path, path: Path) -> None:
    """Move a whole temporary file that another library wrote (e.g. pyarrow's Parquet writer) into place at
    ``path``, durably: fsync its data, rename it over ``path`` (readers see no file or the whole one), fsync
    the folder. ``tmp`` must be in ``path``'s folder, named so :func:`remove_stale_temporaries` would find it."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove_stale_temporaries(path: Path) -> int:
    """Remove the temporary files :func:`replace_durably` left for ``path`` when a process died mid-write. Call
    it only while holding the lock that serialises writers of ``path``. Returns how many were removed."""
    removed = 0
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            tmp.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def write_new(path: Path, data: bytes, *, mode: int) -> Path:
    """Write ``data`` to a new file (it must not exist) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (new or renamed files) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a directory; their renames are durable anyway
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)
