# Both peers run as `assay check` runs them: the CLI's package sets one BLAS thread per process before numpy
# loads (assay/cli/__init__.py), and the pool's workers are forks of this process, so it must be imported
# before bench.batch.run imports numpy. (Without it the pool's workers each ran OpenBLAS with a thread per
# core: 40 ms of CPU a file instead of 23, bench/batch/RESULTS.md, run 7.)
import assay.cli  # noqa: F401  (for its side effect: OPENBLAS/OMP/MKL_NUM_THREADS=1 unless set)
from bench.batch.run import main

if __name__ == "__main__":  # not when a spawned worker process imports this module
    main()
