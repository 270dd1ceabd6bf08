from assay.cli import main

if __name__ == "__main__":  # spawned worker processes (a process pool, a local Dask cluster) import this module
    main()
