"""Start-up of the no-op paths: ``assay --help``, an unchanged ``assay demo load``, a second ``make run``.

``python -m bench.startup [--runs N]``: each command run N times, interleaved with its peers (the bare
interpreter, the full idempotent demo load that the fingerprint skips), medians and ratios written to
``bench/startup/RESULTS.md``. Goals (issue 11): ``assay --help`` < 0.3 s, a second ``make run`` serving < 5 s.
"""
