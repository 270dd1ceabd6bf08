"""How a batch check runs: :class:`BatchOptions` (every field has a CLI flag and an ``ASSAY_CHECK_*`` variable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.errors import InvalidInput

__all__ = ["ENGINES", "BatchOptions"]

ENGINES = ("auto", "dask", "pool")


@dataclass(frozen=True)
class BatchOptions:
    """How a batch check runs. Every field has a CLI flag and an ``ASSAY_CHECK_*`` variable."""

    scheduler: str | None = None  # tcp://host:8786: use that Dask cluster
    engine: str = "auto"  # auto: the scheduler if given, a process pool for small inputs, else a local cluster
    workers: int = 0  # local engines: processes (0 = one per CPU core)
    chunk_size: int = 32  # files per task (8: 4-5 % slower in bench/batch run 7, more round trips a file)
    in_flight: int = 0  # tasks out at once (0 = two per worker thread)
    resolve_batch: int = 500  # marks resolved with one query (a batch also closes at 2x as many files)
    flush_seconds: float = 120.0  # ...or after this long (results not yet written are lost to a kill)
    send_bytes: bool = False  # the client reads the files and ships the bytes (workers cannot reach them)
    storage_options: dict[str, Any] = field(default_factory=dict)  # fsspec options (e.g. endpoint_url)
    small_input: int = 200  # auto: fewer files than this run in a local process pool
    max_span: int = 100_000  # at most this many inputs between the oldest unfinished one and the newest

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InvalidInput(f"unknown engine {self.engine!r}", hint=f"choose one of {', '.join(ENGINES)}")
        for name in ("chunk_size", "resolve_batch", "max_span"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"{name.replace('_', '-')} must be at least 1", hint="leave it at its default")
        if self.workers < 0 or self.in_flight < 0:
            raise InvalidInput("workers and in-flight must be 0 (automatic) or more", hint="leave them at 0")
