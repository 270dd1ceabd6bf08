"""The batch engines: where the per-file step (:func:`assay.batch._work.examine_chunk`) runs.

- :class:`DaskEngine`: a dask.distributed cluster (given, or a local one started here); the verifier material
  reaches every worker once, through a worker plugin.
- :class:`PoolEngine`: a local process pool (spawned), or this process for one worker.

Each engine has the same small surface the runner's loop uses: ``submit(items)``, ``wait(futures, timeout)``,
``outcome(future)``, ``describe()``, ``workers``, ``threads`` and ``close()``.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import time
from dataclasses import replace
from typing import Any

from assay.batch._work import Item, Outcome, examine_chunk
from assay.batch.options import BatchOptions
from assay.errors import InvalidInput

__all__ = ["DaskEngine", "PoolEngine", "start_engine"]

log = logging.getLogger("assay.batch")

_SCHEDULER_HISTORY = {
    "distributed.admin.log-length": 1000,
    # Developers' logs, 1,000 entries each by default: every batched comm's last messages (task submissions,
    # compute and result messages, with their pickled payloads), the scheduler's transition and event logs,
    # the workers' stimulus logs. Filling them (with tasks of 8 files then: the first ~16,000 files) was most of the
    # client's growth with the input (bench/batch/RESULTS.md); 100 still tells a developer the recent story.
    "distributed.admin.low-level-log-length": 100,
    "distributed.scheduler.dashboard.status.task-stream-length": 1000,
    "distributed.scheduler.dashboard.tasks.task-stream-length": 1000,
    "distributed.diagnostics.computations.max-history": 10,
    # Each worker's statistical profiler samples the running task's stack every 10 ms for the dashboard; off for
    # a local cluster (3-4 % of a batch's throughput in bench/batch, and nobody looks at its dashboard).
    "distributed.worker.profile.enabled": False,
}

# What a local cluster's worker processes are started with, beside the above. Dask's nanny sets glibc's
# MALLOC_TRIM_THRESHOLD_=65536 in every worker (and in this process's environment) to hand freed memory back to
# the system sooner. Setting it also switches off glibc's adaptive mmap threshold, so every array above 128 kB
# is a fresh mmap: the watermark detector's arrays then page-fault on every file. Measured on a 2-core machine
# (bench/batch/RESULTS.md, run 7): detect() 2.3x dearer in CPU (36,000 page faults a file instead of 3,800),
# the batch 0.66x the process pool. None unsets it (dask's documented way); the one-thread limits stay.
# The event loops' tick (every 20 ms by default) only measures how late the loop runs, for a warning after 3 s
# and a metric; at that rate it cost an idle worker 26 ms of CPU a second and this process (client and local
# scheduler) 43: about 5 % of a 2-core machine. Once a second, 8 and 14.
_LOCAL_CLUSTER = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.admin.tick.interval": "1s",
}


_TIDY_EVERY = 1000  # tasks between two tidyings of a local scheduler (a round trip of a few ms)


class DaskEngine:
    def __init__(self, opts: BatchOptions, material: Any) -> None:
        import dask
        from distributed import Client, LocalCluster

        self.cluster = None
        if opts.scheduler:
            try:
                # The client's own comm keeps its last messages (low-level-log-length) in this process too.
                with dask.config.set(_SCHEDULER_HISTORY):
                    self.client = Client(opts.scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise InvalidInput(
                    f"cannot reach the Dask scheduler at {opts.scheduler}: {exc}",
                    hint="check --scheduler (ASSAY_DASK_SCHEDULER), e.g. tcp://scheduler:8786",
                ) from None
        else:
            # The cluster's own chatter (INFO on every worker start and stop) is not the user's business.
            logging.getLogger("distributed").setLevel(logging.WARNING)

            # The scheduler of a local cluster lives in this process: its histories (task stream, logs, developers'
            # logs, computations) are capped here so that the client's memory stays flat however many files a run
            # checks (the defaults keep 1,000 to 100,000 entries each); so is the client's (its comm's last
            # messages: with the default, the last 1,000 tasks' submissions stayed in memory).
            with dask.config.set({**_SCHEDULER_HISTORY, **_LOCAL_CLUSTER}):
                self.cluster = LocalCluster(
                    n_workers=opts.workers or (os.cpu_count() or 1),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: never a clash with another cluster on 8787
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster)
        self._threads: dict[str, int] = {}
        self._asked = float("-inf")
        # Once per worker, never per task: a worker plugin, which the scheduler also gives to workers that join
        # or restart later. (Scattered data would die with the worker holding it: every task needing it would
        # then be cancelled, and one file that kills its worker would end the run.)
        import pickle
        import secrets

        self.token = f"assay-verifier-material-{secrets.token_hex(8)}"
        from assay.batch._dask import MaterialPlugin

        self.client.register_plugin(MaterialPlugin(self.token, pickle.dumps(material)), name=self.token)
        self.storage_options = opts.storage_options
        self._submitted = 0

    def _nthreads(self) -> dict[str, int]:
        # A round trip to the scheduler: asked at most every few seconds, so workers joining or leaving the
        # cluster change how many tasks are kept in flight without costing a call per task.
        now = time.monotonic()
        if now - self._asked >= 5.0:
            self._threads, self._asked = dict(self.client.nthreads()), now
        return self._threads

    @property
    def workers(self) -> int:
        return len(self._nthreads())

    @property
    def threads(self) -> int:
        return max(1, sum(self._nthreads().values()))

    def describe(self) -> str:
        return "dask" + ("" if self.cluster is not None else f" ({self.client.scheduler.address})")

    def submit(self, items: list[Item]) -> Any:
        from assay.batch._dask import examine_on_worker, tidy_scheduler

        self._submitted += 1
        if self.cluster is not None and self._submitted % _TIDY_EVERY == 0:
            self.client.run_on_scheduler(tidy_scheduler)  # on the scheduler's event loop: no race with it
        return self.client.submit(examine_on_worker, items, self.token, self.storage_options, pure=False)

    def wait(self, futures: set[Any], timeout: float | None) -> set[Any]:
        from distributed import wait

        try:
            return set(wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED").done)
        except TimeoutError:
            return set()
        except Exception:  # noqa: BLE001 - FuturesCancelledError: those futures are over, their outcome says how
            return {f for f in futures if f.status != "pending"}

    @staticmethod
    def outcome(future: Any) -> list[Outcome]:
        try:
            return future.result()
        finally:
            future.release()

    def close(self) -> None:
        try:
            self.client.unregister_worker_plugin(self.token)
        except Exception:  # noqa: BLE001 - a cluster already gone has no plugin to remove
            pass
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


_pool_state: dict[str, Any] = {}


# One thread per worker process for the numerical libraries, as Dask sets for its workers: numpy's OpenBLAS
# otherwise starts a thread per core in every process, and N processes x N threads fight over N cores.
_ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")}


def pool_init(material: Any, storage_options: dict[str, Any]) -> None:
    if isinstance(material, bytes):  # a fresh (spawned) process: limit threads before numpy is imported
        import pickle

        for name, value in _ONE_THREAD.items():
            os.environ.setdefault(name, value)
        material = pickle.loads(material)
    _pool_state["material"], _pool_state["storage_options"] = material, storage_options


def pool_chunk(items: list[Item]) -> list[Outcome]:
    return examine_chunk(items, _pool_state["material"], _pool_state["storage_options"])


class PoolEngine:
    def __init__(self, opts: BatchOptions, material: Any) -> None:
        self.workers = opts.workers or (os.cpu_count() or 1)
        self.threads = self.workers
        self.material, self.storage_options = material, opts.storage_options
        self.pool: cf.Executor | None = None

    def describe(self) -> str:
        return "pool" if self.workers > 1 else "in-process"

    def _pool(self) -> cf.Executor:
        if self.pool is None:
            if self.workers == 1:
                self.pool = _InlineExecutor()
                pool_init(self.material, self.storage_options)
            else:
                import multiprocessing
                import pickle

                # Spawned, not forked: the workers start without this process's numpy (and its thread pool),
                # and get the material pickled so that it is loaded only after the thread limit is set.
                self.pool = cf.ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=pool_init,
                    initargs=(pickle.dumps(self.material), self.storage_options),
                )
        return self.pool

    def submit(self, items: list[Item]) -> Any:
        try:
            return self._pool().submit(pool_chunk, items)
        except cf.process.BrokenProcessPool:
            self.close()  # a worker died: the pool is gone, start another
            return self._pool().submit(pool_chunk, items)

    @staticmethod
    def wait(futures: set[Any], timeout: float | None) -> set[Any]:
        return set(cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED).done)

    @staticmethod
    def outcome(future: Any) -> list[Outcome]:
        return future.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class _InlineExecutor(cf.Executor):
    """Runs each task at once in this process (one worker: no process to start, nothing to pickle)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        fut: cf.Future[Any] = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future, as a pool would
            fut.set_exception(exc)
        return fut


def start_engine(name: str, opts: BatchOptions, material: Any) -> Any:
    if name == "none":
        return PoolEngine(replace(opts, workers=1), material)  # starts nothing until a task comes
    if name == "dask":
        try:
            return DaskEngine(opts, material)
        except ImportError:
            if opts.engine == "auto" and not opts.scheduler:
                log.warning("dask.distributed is not installed: checking in a local process pool")
                return PoolEngine(opts, material)
            raise InvalidInput(
                "batch checking on Dask needs the 'batch' extra", hint="pip install 'assay[batch]'"
            ) from None
    return PoolEngine(opts, material)
