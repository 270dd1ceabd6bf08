"""Where the log's tiles, entry bundles and checkpoint file live: a small interface with a written contract,
its POSIX implementation, and a fault-injecting fake for crash tests.

Paths are tlog-tiles paths relative to the log's root: ``checkpoint``, ``tile/<L>/<N>[.p/<W>]``,
``tile/entries/<N>[.p/<W>]``. A second implementation, on S3-API object storage for registers served by
several machines, is in :mod:`assay.transparency.s3`; the same contract tests and crash tests run on both.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from assay.errors import StorageError
from assay.files import fsync_dir, write_new
from assay.tlog import TileID

__all__ = ["FaultInjectingStorage", "LogStorage", "PosixStorage", "SimulatedCrash"]


class LogStorage(Protocol):
    """The contract every storage of the log keeps.

    - ``write_many(files)``: when it returns, every file is durable (survives a crash or power cut) and
      each one was replaced atomically (a reader sees the old bytes or the new bytes, never a mix). Writing
      the same bytes again is harmless: the integrator rewrites tiles after a crash. On failure it raises
      :class:`StorageError`; some of the files may then be written (each whole), none half-written. Nothing
      is retried inside: the integrator retries the whole batch.
    - ``read(path)``: the bytes of the file, or ``None`` if absent; :class:`StorageError` if unreadable.
    - ``remove_partials(tile)``: deletes every partial version of a *full* tile (``<path>.p/*``) that is
      already stored; idempotent; only ever called after the full tile is durable (tlog-tiles allows it, and
      readers fall back to the full tile).
    """

    def write_many(self, files: Mapping[str, bytes]) -> None: ...

    def read(self, path: str) -> bytes | None: ...

    def remove_partials(self, tile: TileID) -> None: ...


def _check_path(path: str) -> None:
    # Paths come from the integrator, never from a client; this guards against a bug writing outside the root.
    if path != "checkpoint":
        TileID.parse(path)


class PosixStorage:
    """Files in a folder of the data directory, written durably: temp file, fsync, rename, fsync the folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # Folders whose own entry in their parent this process has made durable. A folder found on disk is not
        # trusted to be durable: a process that crashed between creating it and syncing its parent may have
        # left it only in the page cache. So each folder's parent is synced once per process, then never again.
        self._durable_folders: set[Path] = set()

    def __repr__(self) -> str:
        return f"PosixStorage({str(self.root)!r})"

    def remove_stale_temporaries(self, *, older_than: float = 60.0) -> int:
        """Delete the ``.tmp-*`` files a killed process left (``write_many`` writes each file under such a name,
        then renames it). Only files untouched for ``older_than`` seconds go: another process may be writing
        one right now, and its rename takes milliseconds. Should it stall longer, its rename fails and the
        integrator retries the batch; a stored file is never touched. Returns how many were removed."""
        removed = 0
        limit = time.time() - older_than
        folders = [self.root]
        while folders:
            folder = folders.pop()
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageError(
                    f"could not list {folder}: {exc.strerror or exc}", hint="check the data folder's permissions"
                ) from exc
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                elif entry.name.startswith(".tmp-") and entry.is_file(follow_symlinks=False):
                    try:
                        if entry.stat(follow_symlinks=False).st_mtime < limit:
                            os.unlink(entry.path)
                            removed += 1
                    except FileNotFoundError:
                        pass
        return removed

    def write_many(self, files: Mapping[str, bytes]) -> None:
        dirs: set[Path] = set()
        jobs: list[tuple[Path, Path, bytes]] = []
        written: list[Path] = []
        folders: set[Path] = set()
        try:
            for path, data in files.items():
                _check_path(path)
                target = self.root / path
                self._makedirs(target.parent)
                folder = target.parent
                while folder not in self._durable_folders and folder not in folders:
                    folders.add(folder)
                    dirs.add(folder.parent)  # a folder's entry is durable once its parent is synced
                    if folder == self.root:
                        break
                    folder = folder.parent
                jobs.append((target.parent / f".tmp-{target.name}-{secrets.token_hex(6)}", target, data))
            # fsync waits on the disk, not the CPU, and releases the GIL: overlapping the waits of a batch's
            # files (and folders) makes a batch cost about one fsync's latency instead of one per file.
            for tmp in _in_parallel(_write_durably, [(tmp, data) for tmp, _, data in jobs]):
                written.append(tmp)
            if len(written) != len(jobs):
                raise OSError("a temporary file was not written")
            # Rename only after every file's data is on disk, then make the renames themselves durable.
            for tmp, target, _ in jobs:
                os.replace(tmp, target)
                written.remove(tmp)
                dirs.add(target.parent)
            list(_in_parallel(fsync_dir, [(d,) for d in dirs]))
            self._durable_folders |= folders
        except OSError as exc:
            raise StorageError(
                f"could not write the log's tiles under {self.root}: {exc.strerror or exc}",
                hint="check that the data folder is writable and has free space",
            ) from exc
        finally:
            for tmp, _, _ in jobs:
                if tmp in written or tmp.exists():
                    try:
                        tmp.unlink()
                    except OSError:
                        pass

    def _makedirs(self, folder: Path) -> list[Path]:
        created: list[Path] = []
        missing = []
        p = folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            try:
                d.mkdir()
                created.append(d)
            except FileExistsError:
                pass
        return created

    def read(self, path: str) -> bytes | None:
        _check_path(path)
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except OSError as exc:
            raise StorageError(
                f"could not read {path} under {self.root}: {exc.strerror or exc}",
                hint="check the data folder's permissions",
            ) from exc

    def remove_partials(self, tile: TileID) -> None:
        folder = self.root / (tile.full.path + ".p")
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(
                f"could not remove {folder}: {exc.strerror or exc}",
                hint="check the log folder's permissions; the next integration tries again",
            ) from exc
        fsync_dir(folder.parent)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _in_parallel(fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> Iterator[Any]:
    """Run ``fn(*a)`` for every ``a`` on a small shared pool; results in order; the first error is raised
    after every call has finished (so no temporary file is still being written when we clean up)."""
    global _POOL
    if len(args) <= 1:
        return iter([fn(*a) for a in args])
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="assay-log-fsync")
    futures = [_POOL.submit(fn, *a) for a in args]
    wait(futures)
    for f in futures:
        exc = f.exception()
        if exc is not None:
            raise exc
    return iter([f.result() for f in futures])


def _write_durably(tmp: Path, data: bytes) -> Path:
    return write_new(tmp, data, mode=0o644)


class SimulatedCrash(StorageError):
    """Raised by :class:`FaultInjectingStorage` at its fault point, as if the process had died there."""

    code = "simulated_crash"


class FaultInjectingStorage:
    """A storage that fails before or after a chosen persistence step (for crash tests): in memory, or in
    front of a real storage (``inner``, e.g. S3), which then persists each step.

    Every single file write and every partial-tile removal is one step, counted from 1. With
    ``fail_at=(n, "before")`` the n-th step raises :class:`SimulatedCrash` without persisting it; with
    ``(n, "after")`` it persists it, then raises. After the crash every call fails (the process is dead)
    until :meth:`restart` returns a healthy storage over the same files (what survives on disk).
    """

    def __init__(
        self,
        files: dict[str, bytes] | None = None,
        *,
        fail_at: tuple[int, str] | None = None,
        inner: LogStorage | None = None,
    ) -> None:
        if fail_at is not None and fail_at[1] not in ("before", "after"):
            raise ValueError("fail_at is (step, 'before' | 'after')")
        self.files: dict[str, bytes] = files if files is not None else {}  # unused with an inner storage
        self.inner = inner
        self.fail_at = fail_at
        self.steps = 0
        self.crashed = False
        self._lock = threading.Lock()

    def restart(self, *, fail_at: tuple[int, str] | None = None) -> FaultInjectingStorage:
        return FaultInjectingStorage(self.files, fail_at=fail_at, inner=self.inner)

    def _step(self, persist: Callable[[], object]) -> None:
        if self.crashed:
            raise SimulatedCrash("the storage crashed earlier", hint="restart it")
        self.steps += 1
        if self.fail_at == (self.steps, "before"):
            self.crashed = True
            raise SimulatedCrash(f"simulated crash before step {self.steps}", hint="")
        persist()
        if self.fail_at == (self.steps, "after"):
            self.crashed = True
            raise SimulatedCrash(f"simulated crash after step {self.steps}", hint="")

    def write_many(self, files: Mapping[str, bytes]) -> None:
        inner = self.inner
        with self._lock:
            for path, data in files.items():
                _check_path(path)
                if inner is not None:
                    self._step(partial(inner.write_many, {path: bytes(data)}))
                else:
                    self._step(partial(self.files.__setitem__, path, bytes(data)))

    def read(self, path: str) -> bytes | None:
        with self._lock:
            if self.crashed:
                raise SimulatedCrash("the storage crashed earlier", hint="restart it")
            _check_path(path)
            return self.inner.read(path) if self.inner is not None else self.files.get(path)

    def remove_partials(self, tile: TileID) -> None:
        prefix = tile.full.path + ".p/"

        def remove() -> None:
            if self.inner is not None:
                self.inner.remove_partials(tile)
                return
            for path in [p for p in self.files if p.startswith(prefix)]:
                del self.files[path]

        with self._lock:
            self._step(remove)
