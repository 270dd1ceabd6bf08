"""Checking whole archives: folders, file lists and object-storage prefixes, on a Dask cluster, resumable.

The per-file work (decoding, C2PA, watermark detection, hashes) runs on workers that hold only the verifier
material (detection keys, trust anchors, revoked serials), never a signing key; they open the files
themselves and return evidence. The client resolves evidence in batches (one query per batch of marks) and
writes each result to an output folder as it comes, so a rerun with the same folder skips what is done::

    from assay.batch import BatchOptions, ResultStore, iter_inputs, run_batch

    names = iter_inputs(["s3://archive/2026/"], from_list=None)
    summary = run_batch(
        names, db=db, config=config,
        options=BatchOptions(scheduler="tcp://scheduler:8786"),
        store=ResultStore(Path("check-2026")),
    )
    print(summary.as_dict()["total"]["by_status"])

See docs/batch-checking.md for the output folder, resume, the engines and the scaling model.
"""

from __future__ import annotations

from assay.batch.inputs import iter_inputs
from assay.batch.results import ResultStore, Tally
from assay.batch.runner import BatchOptions, Summary, run_batch

__all__ = ["BatchOptions", "ResultStore", "Summary", "Tally", "iter_inputs", "run_batch"]
