"""The output folder of a batch check, and how a rerun resumes from it.

Contract of ``--out FOLDER``:

- ``results.jsonl``: one JSON object per checked file (its verdict, or its error), appended in groups as they
  are resolved, each group flushed and fsynced before anything else records it. This file is the truth.
  A kill -9 can leave a torn last line; opening the folder cuts it off (those files are checked again).
- ``parquet/part-<start>-<end>.parquet``: the same records as flat columns (pyarrow), each part holding the
  lines of ``results.jsonl`` between those two byte offsets. Parts are written after the lines they hold, so
  a part never has a record the JSON lines lack; the lines a crash left without a part are put into one when
  the folder is opened again.
- ``state.json``, replaced atomically after each group: the *low-water mark* (every input before position
  ``done_below`` in the input stream has a result), a SHA-256 over those inputs' names in order, the
  positions and names of inputs after the mark that have a result, the running counts and the offset of
  ``results.jsonl`` it covers.

Resume therefore needs memory for the window of unfinished work, not for the whole run: a rerun streams the
inputs again, hashes the first ``done_below`` names (they must be the same inputs, else it refuses), skips
them without a lookup, and skips after them the few inputs done out of order. Inputs must come in the same
order, which :func:`assay.batch.inputs.iter_inputs` guarantees for unchanged folders, lists and prefixes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput, StorageError
from assay.files import install_durably, replace_durably

__all__ = ["ResultStore", "Tally", "flat_row"]

_PART = re.compile(r"^part-(\d{16})-(\d{16})\.parquet$")
_STATE_VERSION = 1


@dataclass
class Tally:
    """Counts over a set of results: by verdict, system, provider and error kind."""

    checked: int = 0
    found: int = 0
    attributed: int = 0
    ai_generated: int = 0
    errors: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_system: Counter[str] = field(default_factory=Counter)
    by_provider: Counter[str] = field(default_factory=Counter)
    errors_by_kind: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any]) -> None:
        self.checked += 1
        status = str(record.get("status"))
        self.by_status[status] += 1
        if status == "error":
            self.errors += 1
            self.errors_by_kind[str((record.get("error") or {}).get("kind") or "internal_error")] += 1
            return
        self.found += bool(record.get("found"))
        self.attributed += bool(record.get("attributed"))
        self.ai_generated += bool(record.get("ai_generated"))
        if record.get("system"):
            self.by_system[str(record["system"].get("id"))] += 1
        if record.get("provider"):
            self.by_provider[str(record["provider"].get("id"))] += 1

    def merge(self, other: Tally) -> None:
        for name in ("checked", "found", "attributed", "ai_generated", "errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("by_status", "by_system", "by_provider", "errors_by_kind"):
            getattr(self, name).update(getattr(other, name))

    @property
    def exit_code(self) -> int:
        """``assay check``'s exit code for these results: 2 errors, 1 attributed, 3 a mark not attributable
        (copied or unknown), 0 otherwise (as :data:`assay.provenance.verdict.EXIT_CODES`)."""
        if self.errors:
            return 2
        if self.attributed:
            return 1
        return 3 if self.by_status["mark_copied"] + self.by_status["mark_unresolved"] else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "found": self.found,
            "attributed": self.attributed,
            "ai_generated": self.ai_generated,
            "errors": self.errors,
            "by_status": dict(self.by_status.most_common()),
            "by_system": dict(self.by_system.most_common()),
            "by_provider": dict(self.by_provider.most_common()),
            "errors_by_kind": dict(self.errors_by_kind.most_common()),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tally:
        t = cls()
        for name in ("checked", "found", "attributed", "ai_generated", "errors"):
            setattr(t, name, int(d.get(name, 0)))
        for name in ("by_status", "by_system", "by_provider", "errors_by_kind"):
            getattr(t, name).update({str(k): int(v) for k, v in (d.get(name) or {}).items()})
        return t


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """One result as the Parquet table's columns (the full record stays in the ``record`` column)."""
    err = record.get("error") or {}
    ev = record.get("evidence") or {}
    manifest, wm, match = ev.get("manifest") or {}, ev.get("watermark") or {}, ev.get("match") or {}
    system, provider, log = record.get("system") or {}, record.get("provider") or {}, record.get("log") or {}
    return {
        "seq": record.get("seq"),
        "file": record.get("file"),
        "status": record.get("status"),
        "found": record.get("found"),
        "ai_generated": record.get("ai_generated"),
        "mark_id": record.get("mark_id"),
        "mark_source": record.get("mark_source"),
        "system_id": system.get("id"),
        "system_name": system.get("name"),
        "provider_id": provider.get("id"),
        "provider_name": provider.get("name"),
        "credentials": manifest.get("state"),
        "watermark_p_value": wm.get("p_value"),
        "match": match.get("assessment"),
        "phash_distance": match.get("phash_distance"),
        "log_index": log.get("index"),
        "log_verified": log.get("verified"),
        "media_type": record.get("media_type"),
        "width": record.get("width"),
        "height": record.get("height"),
        "headline": record.get("headline"),
        "error_kind": err.get("kind"),
        "error_message": err.get("message"),
        "record": json.dumps(record, ensure_ascii=False, default=str),
    }


def _schema() -> Any:
    import pyarrow as pa

    s, b, i, f = pa.string(), pa.bool_(), pa.int64(), pa.float64()
    cols = [
        ("seq", i), ("file", s), ("status", s), ("found", b), ("ai_generated", b), ("mark_id", s),
        ("mark_source", s), ("system_id", s), ("system_name", s), ("provider_id", s), ("provider_name", s),
        ("credentials", s), ("watermark_p_value", f), ("match", s), ("phash_distance", i), ("log_index", i),
        ("log_verified", b), ("media_type", s), ("width", i), ("height", i), ("headline", s),
        ("error_kind", s), ("error_message", s), ("record", s),
    ]  # fmt: skip
    return pa.schema(cols)


@dataclass
class Resume:
    """What a rerun needs from the folder: skip the first ``done_below`` inputs (after checking their digest),
    then those in ``done`` (position -> name, when the name there is still the same); ``tally`` counts every
    result already in the folder."""

    done_below: int = 0
    prefix_sha256: str = hashlib.sha256().hexdigest()
    done: dict[int, str] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)


class ResultStore:
    """An output folder (see the module's contract). One writer at a time: opening takes an exclusive lock."""

    def __init__(
        self, folder: Path, *, parquet_rows: int = 200_000, group_rows: int = 1000, group_bytes: int = 2 << 20
    ) -> None:
        self.folder = Path(folder)
        self.jsonl = self.folder / "results.jsonl"
        self.parquet_dir = self.folder / "parquet"
        self.state_path = self.folder / "state.json"
        # Rows wait in memory only until a row group is full (``group_rows`` rows or ``group_bytes`` bytes of
        # JSON lines, whichever comes first); the group then goes into the part being written, which is
        # installed under its final name once it holds ``parquet_rows`` rows. The rows (each keeps its whole
        # record) are the client's largest growing buffer: these caps are what keep its memory flat however
        # long the run, while parts stay large enough to be few.
        self.parquet_rows = parquet_rows
        self.group_rows = group_rows
        self.group_bytes = group_bytes
        self._fh: Any = None
        self._lock_fd: int | None = None
        self._part: _Part | None = None

    # -- opening and resuming ------------------------------------------------------------------------------

    def open(self) -> Resume:
        """Create or reopen the folder: cut a torn last line, rebuild missing Parquet, read what is done."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.parquet_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise InvalidInput(
                f"cannot use {str(self.folder)!r} as the output folder: {exc.strerror}",
                hint="give --out a folder you can write to (it is created if missing)",
            ) from None
        # Parquet is written from the first full row group on: its library is loaded now, so that a missing
        # one is said before any file is checked (not after thousands), and its memory is there from the start.
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise InvalidInput(
                "writing results to --out needs pyarrow (the 'batch' extra)", hint="pip install 'assay[batch]'"
            ) from None
        self._lock()
        size = self._repair_tail()
        state = self._read_state()
        resume = Resume()
        covered = 0
        if state is not None:
            resume.done_below = int(state["done_below"])
            resume.prefix_sha256 = str(state["prefix_sha256"])
            resume.done = {int(seq): str(name) for seq, name in state.get("done_after", [])}
            resume.tally = Tally.from_dict(state.get("tally", {}))
            covered = min(int(state.get("jsonl_bytes", 0)), size)
        # Lines written after the last state: their names are done, and they count.
        for _, record in self._records(covered, size):
            if int(record.get("seq", -1)) >= resume.done_below:
                resume.done[int(record["seq"])] = str(record.get("file"))
            resume.tally.add(record)
        self._rebuild_parquet(size)
        self._fh = open(self.jsonl, "ab")  # noqa: SIM115 - closed by close()
        self._part = self._new_part(size)
        return resume

    def _lock(self) -> None:
        import fcntl

        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InvalidInput(
                f"another 'assay check' is writing to {str(self.folder)!r}",
                hint="wait for it to finish, or give a different --out",
            ) from None
        self._lock_fd = fd

    def _repair_tail(self) -> int:
        """Cut everything after the last complete line (a torn write from a kill); return the new size."""
        if not self.jsonl.exists():
            return 0
        with open(self.jsonl, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            end = size
            step = 1 << 16
            while end > 0:
                start = max(0, end - step)
                fh.seek(start)
                chunk = fh.read(end - start)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    end = start + nl + 1
                    break
                end = start
            if end != size:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
            return end

    def _read_state(self) -> dict[str, Any] | None:
        if not self.state_path.exists():
            if self.jsonl.exists() and self.jsonl.stat().st_size:
                raise StorageError(
                    f"{self.state_path} is missing but {self.jsonl} has results",
                    hint="give a new --out folder (results.jsonl there is kept as it is)",
                )
            return None
        try:
            state = json.loads(self.state_path.read_text())
            if state.get("version") != _STATE_VERSION:
                raise ValueError("unknown version")
            return state
        except (OSError, ValueError) as exc:
            raise StorageError(
                f"{self.state_path} is unreadable ({exc})", hint="give a new --out folder to check from the start"
            ) from None

    def _records(self, start: int, end: int) -> Any:
        """(offset after the line, record) for the complete lines between two byte offsets, streamed."""
        if end <= start:
            return
        with open(self.jsonl, "rb") as fh:
            fh.seek(start)
            pos = start
            while pos < end:
                line = fh.readline()
                if not line:
                    break
                pos += len(line)
                try:
                    yield pos, json.loads(line)
                except ValueError:
                    raise StorageError(
                        f"{self.jsonl} has a damaged line ending at byte {pos}",
                        hint="remove that line (its file is checked again), or give a new --out folder",
                    ) from None

    def _parts(self) -> list[tuple[int, int, Path]]:
        parts = []
        for p in self.parquet_dir.iterdir():
            m = _PART.match(p.name)
            if m:
                parts.append((int(m.group(1)), int(m.group(2)), p))
        return sorted(parts)

    def _rebuild_parquet(self, size: int) -> None:
        """Parts past the repaired end go (they cannot exist, but a damaged folder may have them), and so do
        parts a crash left half written; the lines no part holds yet get parts now."""
        for p in self.parquet_dir.iterdir():
            if p.name.startswith(".part-") and p.name.endswith(".tmp"):
                p.unlink()
        covered = 0
        for _start, end, path in self._parts():
            if end > size:
                path.unlink()
            else:
                covered = max(covered, end)
        part = self._new_part(covered)
        for pos, record in self._records(covered, size):
            part = self._add(part, [flat_row(record)], pos)
        part.finish(size)

    def _new_part(self, start: int) -> _Part:
        return _Part(self.parquet_dir, start, self.group_rows, self.group_bytes)

    def _add(self, part: _Part, rows: list[dict[str, Any]], end: int) -> _Part:
        """Add rows whose lines end at byte ``end``; a full part is installed and a new one begun."""
        part.add(rows, end)
        if part.rows >= self.parquet_rows:
            part.finish(end)
            return self._new_part(end)
        return part

    # -- writing -------------------------------------------------------------------------------------------

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append results durably (one write and one fsync for the group)."""
        if not records:
            return
        data = b"".join(
            json.dumps(r, ensure_ascii=False, default=str, separators=(",", ":")).encode() + b"\n" for r in records
        )
        self._fh.write(data)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        assert self._part is not None
        self._part = self._add(self._part, [flat_row(r) for r in records], self._fh.tell())

    def checkpoint(self, *, done_below: int, prefix_sha256: str, done_after: dict[int, str], tally: Tally) -> None:
        """Record the low-water mark, atomically (after the lines it covers are durable)."""
        state = {
            "version": _STATE_VERSION,
            "done_below": done_below,
            "prefix_sha256": prefix_sha256,
            "done_after": sorted(done_after.items()),
            "tally": tally.as_dict(),
            "jsonl_bytes": self._fh.tell(),
        }
        replace_durably(self.state_path, json.dumps(state).encode(), mode=0o644)

    def close(self) -> None:
        if self._fh is not None:
            if self._part is not None:
                self._part.finish(self._fh.tell())
                self._part = None
            self._fh.close()
            self._fh = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Part:
    """One Parquet part being written: row groups go into a hidden file as they fill, and the part is installed
    under its final name (``part-<start>-<end>.parquet``) only when finished, so a crash leaves either a whole
    part or a hidden file that the next open deletes (its lines are then put into a part again)."""

    def __init__(self, folder: Path, start: int, group_rows: int, group_bytes: int) -> None:
        self.folder, self.start = folder, start
        self.group_rows, self.group_bytes = group_rows, group_bytes
        self.rows = 0  # in the part, written or waiting
        self._waiting: list[dict[str, Any]] = []
        self._group_start = start
        self._end = start
        self._tmp: Path | None = None
        self._writer: Any = None

    def add(self, rows: list[dict[str, Any]], end: int) -> None:
        self._waiting.extend(rows)
        self.rows += len(rows)
        self._end = end
        if len(self._waiting) >= self.group_rows or end - self._group_start >= self.group_bytes:
            self._write_group()

    def _write_group(self) -> None:
        if not self._waiting:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(self._waiting, schema=_schema())
        if self._writer is None:
            self._tmp = self.folder / f".part-{self.start:016d}.{secrets.token_hex(4)}.tmp"
            self._writer = pq.ParquetWriter(self._tmp, _schema(), compression="zstd")
        self._writer.write_table(table)
        del table
        pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed groups' memory otherwise
        self._waiting, self._group_start = [], self._end

    def finish(self, end: int) -> None:
        """Write what waits and install the part as holding the lines up to byte ``end`` (nothing if empty)."""
        self._end = max(self._end, end)
        self._write_group()
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        assert self._tmp is not None
        install_durably(self._tmp, self.folder / f"part-{self.start:016d}-{self._end:016d}.parquet")
