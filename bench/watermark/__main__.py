"""``python -m bench.watermark``: see run.py. Threads are pinned to one before numpy loads (per-core figures)."""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
    os.environ[_var] = "1"

from .run import main  # noqa: E402

raise SystemExit(main())
