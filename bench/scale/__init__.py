"""Scale: one worker against four on PostgreSQL, two machines serving one log, and the receipt lock-out attack.

Run ``python -m bench.scale`` (see its ``--help``); results go to ``bench/scale/RESULTS.md``.
"""
