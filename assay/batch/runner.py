"""The batch runner: stream inputs to workers with a bounded number of tasks in flight, resolve the evidence
they return in batches, write the results as they come, and count them.

Engines (both run the same per-file step, :func:`assay.batch._work.examine_chunk`; see :mod:`assay.batch.engines`):

- ``dask``: a dask.distributed cluster, given by its scheduler's address (``tcp://...``) or started here as a
  local cluster of worker processes. The verifier material is scattered to every worker once; tasks carry the
  files' names (or, with ``send_bytes``, the bytes) and return evidence.
- ``pool``: a local process pool (or this process for one worker): no cluster to start, for small inputs.

Memory stays flat whatever the input size: inputs are pulled from their stream only when a task slot frees,
at most ``in_flight`` tasks of ``chunk_size`` files are out at once, at most ``2 x resolve_batch`` evidences
wait for resolution, and the resume window never spans more than ``max_span`` inputs.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from assay.batch import _seam
from assay.batch._work import Item, error_record, read_limited
from assay.batch.engines import start_engine
from assay.batch.options import BatchOptions
from assay.batch.results import ResultStore, Resume, Tally
from assay.config import Config
from assay.db import Database
from assay.errors import InvalidInput

__all__ = ["BatchOptions", "Summary", "run_batch"]

log = logging.getLogger("assay.batch")
_FILES_PER_MARK = 2  # a batch closes at resolve_batch marks or this many times as many files
_TRANSACTION = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@dataclass
class Summary:
    """What a run did (``run``) and what the output folder now holds (``total``, the same without --out)."""

    run: Tally
    total: Tally
    skipped: int  # done in an earlier run of the same --out
    seconds: float
    engine: str
    workers: int
    database_queries: int

    @property
    def files_per_second(self) -> float:
        return self.run.checked / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.as_dict(),
            "total": self.total.as_dict(),
            "skipped_already_done": self.skipped,
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.files_per_second, 2),
            "engine": self.engine,
            "workers": self.workers,
            "database_queries": self.database_queries,
            "database_queries_per_file": round(self.database_queries / self.run.checked, 5) if self.run.checked else 0,
        }


def run_batch(
    names: Iterable[str],
    *,
    db: Database,
    config: Config,
    options: BatchOptions | None = None,
    store: ResultStore | None = None,
    finish: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    on_results: Callable[[list[dict[str, Any]]], None] | None = None,
    on_progress: Callable[[int, Tally], None] | None = None,
) -> Summary:
    """Check every named file; results go to ``store`` (resumable) and/or ``on_results`` as they are resolved.

    ``finish`` runs on the client for each resolved verdict (the CLI verifies log proofs there)."""
    opts = options or BatchOptions()
    started = time.monotonic()
    queries = _QueryCounter(db)
    resume = store.open() if store is not None else Resume()
    try:
        window = _Window(resume)
        todo = window.stream(iter(names))
        # Enough of the stream to choose an engine (and to start none when a resumed run has nothing left).
        peek = opts.small_input if opts.engine == "auto" and not opts.scheduler else 1
        peeked = list(itertools.islice(todo, peek))
        engine_name = "none" if not peeked else _choose(opts, small=len(peeked) < opts.small_input)
        todo = itertools.chain(peeked, todo)
        material = _seam.material(db, config)
        engine = start_engine(engine_name, opts, material)
        try:
            run = _Loop(engine, opts, window, db, config, material, store, finish, on_results, on_progress).run(todo)
            engine_label, workers = engine.describe(), engine.workers
        finally:
            engine.close()
        total = Tally()
        total.merge(resume.tally)
        total.merge(run)
        return Summary(
            run=run,
            total=total,
            skipped=window.skipped,
            seconds=time.monotonic() - started,
            engine=engine_label,
            workers=workers,
            database_queries=queries.count,
        )
    finally:
        queries.close()
        if store is not None:
            store.close()


def _choose(opts: BatchOptions, *, small: bool) -> str:
    if opts.scheduler or opts.engine == "dask":
        return "dask"
    if opts.engine == "pool" or small:
        return "pool"
    return "dask"


# ---------------------------------------------------------------------------------------------- the resume window


class _Window:
    """Positions in the input stream: the low-water mark (all before it have results), the digest of the names
    before it, and the names at or after it that are submitted or done (bounded by ``max_span``)."""

    def __init__(self, resume: Resume) -> None:
        self.resume = resume
        self.low = resume.done_below
        self.hasher = hashlib.sha256()
        self.names: dict[int, str] = {}  # seq -> name, for seq >= low
        self.done: set[int] = set()  # seqs >= low with a result
        self.skipped = 0
        self.next_seq = 0

    def stream(self, names: Iterator[str]) -> Iterator[tuple[int, str]]:
        """The inputs still to do, numbered; verifies that the ones a previous run did are the same."""
        r = self.resume
        for seq, name in enumerate(names):
            self.next_seq = seq + 1
            if seq < r.done_below:
                self.hasher.update(_name_bytes(name))
                self.skipped += 1
                continue
            if seq == r.done_below:
                self._verify_prefix()
            self.names[seq] = name
            if r.done.get(seq) == name:
                self.skipped += 1
                self.complete([seq])
                continue
            yield seq, name
        if self.next_seq <= r.done_below:
            self._verify_prefix()

    def _verify_prefix(self) -> None:
        if self.hasher.hexdigest() != self.resume.prefix_sha256:
            raise InvalidInput(
                "the inputs are not the ones the interrupted run in this --out folder was checking "
                f"(its first {self.resume.done_below:,} files differ)",
                hint="give the same folder, list or prefix again, or a new --out folder to start afresh",
            )

    def complete(self, seqs: Iterable[int]) -> None:
        self.done.update(seqs)
        while self.low in self.done:
            self.done.discard(self.low)
            self.hasher.update(_name_bytes(self.names.pop(self.low)))
            self.low += 1

    def span(self, seq: int) -> int:
        return seq - self.low

    def done_after(self) -> dict[int, str]:
        return {s: self.names[s] for s in self.done}


def _name_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape") + b"\n"


# ---------------------------------------------------------------------------------------------- the loop


class _Loop:
    def __init__(
        self,
        engine: Any,
        opts: BatchOptions,
        window: _Window,
        db: Database,
        config: Config,
        material: Any,
        store: ResultStore | None,
        finish: Callable[[dict[str, Any]], dict[str, Any]] | None,
        on_results: Callable[[list[dict[str, Any]]], None] | None,
        on_progress: Callable[[int, Tally], None] | None,
    ) -> None:
        self.engine, self.opts, self.window = engine, opts, window
        self.db, self.config, self.material = db, config, material
        self.store, self.finish, self.on_results, self.on_progress = store, finish, on_results, on_progress
        self.tally = Tally()
        self.in_flight: dict[Any, tuple[list[Item], bool]] = {}  # future -> (its items, already a retry)
        self.retry: deque[tuple[list[Item], bool]] = deque()
        self.evidence: list[tuple[int, str, Any]] = []
        self.errors: list[tuple[int, str, dict[str, Any]]] = []
        self.first_pending: float | None = None
        self.marks = 0  # pending evidences that carry a mark (what a resolution query looks up)
        self.examined = 0

    def run(self, todo: Iterator[tuple[int, str]]) -> Tally:
        exhausted = False
        stalled: tuple[int, str] | None = None
        while True:
            # 1. fill the free task slots (retries first), never past the resume window's span
            limit = self.opts.in_flight or 2 * self.engine.threads
            while len(self.in_flight) < limit and (self.retry or not exhausted):
                if self.retry:
                    # Retries after a worker died go one at a time: in a process pool one death breaks every
                    # task in flight, so a poisonous file retried beside innocent ones would take them along.
                    if not self.in_flight:
                        items, retried = self.retry.popleft()
                        self._submit(items, retried=retried)
                    break
                chunk: list[Item] = []
                while len(chunk) < self.opts.chunk_size:
                    nxt = stalled or next(todo, None)
                    stalled = None
                    if nxt is None:
                        exhausted = True
                        break
                    if self.window.span(nxt[0]) >= self.opts.max_span:
                        stalled = nxt  # wait for the oldest unfinished input before going further
                        break
                    chunk.append(self._item(*nxt))
                if chunk:
                    self._submit(chunk, retried=False)
                if stalled is not None or not chunk:
                    break
            if not self.in_flight and not self.retry:
                if exhausted:
                    break
                self._flush()  # stalled with nothing out: what is done but unwritten holds the window back
                continue
            # 2. collect what finished
            done = self.engine.wait(set(self.in_flight), timeout=self._wait_timeout()) if self.in_flight else set()
            for fut in done:
                self._collect(fut)
            # 3. resolve and write when a batch is full, old enough, or the work is done
            # A query resolves up to resolve_batch marks; unmarked files cost none, so they close a batch only
            # when twice as many have gathered: at most one query per 2 x resolve_batch files (1,000 by default,
            # one row group of the output). What the client holds, and loses to a kill, is what a batch holds:
            # at 10 x (5,000 files) that was the client's largest buffer, bench/batch/RESULTS.md.
            pending = len(self.evidence) + len(self.errors)
            old = self.first_pending is not None and time.monotonic() - self.first_pending >= self.opts.flush_seconds
            full = self.marks >= self.opts.resolve_batch or pending >= _FILES_PER_MARK * self.opts.resolve_batch
            if pending and (full or old or not self.in_flight or stalled is not None):
                self._flush()
            if self.on_progress is not None:
                self.on_progress(self.examined, self.tally)
        self._flush()
        return self.tally

    def _item(self, seq: int, name: str) -> Item:
        if not self.opts.send_bytes:
            return (seq, name)
        try:
            return (seq, name, read_limited(name, _seam.max_bytes(self.material), self.opts.storage_options))
        except Exception as exc:  # noqa: BLE001 - the read error is that file's result, as on a worker
            record = getattr(exc, "record", None)
            if record is None:
                raise
            return (seq, name, None, record)

    def _submit(self, items: list[Item], *, retried: bool) -> None:
        # Files the client already failed to read (--send-bytes) are results without a task.
        ready = [it for it in items if len(it) > 3]
        for seq, name, _, record in ready:
            self._error(seq, name, record)
        items = [it for it in items if len(it) <= 3]
        if items:
            self.in_flight[self.engine.submit(items)] = (items, retried)

    def _wait_timeout(self) -> float | None:
        if self.first_pending is None:
            return None
        return max(0.05, self.opts.flush_seconds - (time.monotonic() - self.first_pending))

    def _collect(self, fut: Any) -> None:
        items, retried = self.in_flight.pop(fut)
        try:
            outcomes = self.engine.outcome(fut)
        except Exception as exc:  # noqa: BLE001 - a worker died or the task failed: those files' errors
            if len(items) > 1 and not retried:
                # Each file once more on its own, so a file that kills its worker costs only itself.
                self.retry.extend(([it], True) for it in items)
                return
            kind = "worker_died" if _worker_died(exc) else "internal_error"
            for it in items:
                self._error(
                    int(it[0]),
                    str(it[1]),
                    error_record(
                        str(it[1]),
                        kind,
                        f"checking {it[1]} failed: the worker {'died' if kind == 'worker_died' else 'failed'} "
                        f"({type(exc).__name__})",
                        "the file may need more memory than a worker has; check it alone to see",
                    ),
                )
            return
        for seq, name, evidence, error in outcomes:
            self.examined += 1
            if error is not None:
                self._error(seq, name, error)
            else:
                self.evidence.append((seq, name, evidence))
                self.marks += _seam.has_mark(evidence)
                self._mark_pending()

    def _error(self, seq: int, name: str, error: dict[str, Any]) -> None:
        self.errors.append((seq, name, error))
        self._mark_pending()

    def _mark_pending(self) -> None:
        if self.first_pending is None:
            self.first_pending = time.monotonic()

    def _flush(self) -> None:
        if not self.evidence and not self.errors:
            return
        records: list[dict[str, Any]] = []
        if self.evidence:
            verdicts = _seam.resolve([ev for _, _, ev in self.evidence], self.db, self.config)
            for (seq, name, _), verdict in zip(self.evidence, verdicts, strict=True):
                record = dict(verdict, seq=seq, file=name)
                records.append(self.finish(record) if self.finish is not None else record)
        records.extend({"seq": seq, "file": name, "status": "error", "error": err} for seq, name, err in self.errors)
        records.sort(key=lambda r: r["seq"])
        if self.store is not None:
            self.store.append(records)
        for r in records:
            self.tally.add(r)
        self.window.complete(r["seq"] for r in records)
        if self.store is not None:
            self.store.checkpoint(
                done_below=self.window.low,
                prefix_sha256=self.window.hasher.hexdigest(),
                done_after=self.window.done_after(),
                tally=self._folder_tally(),
            )
        if self.on_results is not None:
            self.on_results(records)
        self.evidence, self.errors, self.first_pending, self.marks = [], [], None, 0

    def _folder_tally(self) -> Tally:
        t = Tally()
        t.merge(self.window.resume.tally)
        t.merge(self.tally)
        return t


def _worker_died(exc: BaseException) -> bool:
    if isinstance(exc, cf.process.BrokenProcessPool):
        return True
    return type(exc).__name__ in ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError")


class _QueryCounter:
    """Counts the SQL statements the run sends to the database (reported, and checked by the benchmark).
    Transaction control is not counted: on SQLite Assay sends its BEGIN as a statement, PostgreSQL's driver
    folds it into the query."""

    def __init__(self, db: Database) -> None:
        from sqlalchemy import event

        self.count = 0
        self._engine = db.engine
        event.listen(self._engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self.count += not _TRANSACTION.match(statement)

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self._engine, "before_cursor_execute", self._on)
