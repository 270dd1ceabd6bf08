"""What a Dask worker runs: the verifier material installed by a worker plugin, and the per-file step.

A plugin rather than scattered data: the scheduler gives plugins to every worker that joins or restarts, while
scattered data dies with the worker holding it (and with it every task that needs it).
"""

from __future__ import annotations

import pickle
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from assay.batch._work import Item, Outcome, examine_chunk

# On a worker: plugin name -> verifier material. Several runs (other registers) may share a cluster.
_materials: dict[str, Any] = {}


class MaterialPlugin(WorkerPlugin):
    def __init__(self, token: str, material: bytes) -> None:
        self.token, self.material = token, material  # pickled: unpickled only where it is used

    def setup(self, worker: Any) -> None:
        _materials[self.token] = pickle.loads(self.material)

    def teardown(self, worker: Any) -> None:
        _materials.pop(self.token, None)


def examine_on_worker(items: list[Item], token: str, storage_options: dict[str, Any]) -> list[Outcome]:
    return examine_chunk(items, _materials[token], storage_options)


def tidy_scheduler(dask_scheduler: Any) -> None:
    """What a long run leaves on the scheduler, per task and forever, cut back (run on a local cluster's scheduler,
    which lives in the client's process).

    Each ``client.submit`` appends ``{"type": "Future"}`` to its span's metadata, which spans keep for their whole
    life (dask/distributed#7977), and each task key stays in ``dask.utils.key_split``'s cache (up to 100,000
    keys): a few hundred bytes per task, a third of the client's growth with the input (bench/batch/RESULTS.md).
    """
    from dask.utils import key_split

    spans = getattr(dask_scheduler, "extensions", {}).get("spans")
    for span in getattr(spans, "spans", {}).values():
        metadata = getattr(span, "_metadata", None)
        if metadata and len(metadata.get("collections", ())) > 10:
            del metadata["collections"][10:]  # what the run submits is known from its first few entries
    key_split.cache_clear()  # a cache: emptied, it refills with the keys in flight
