"""The exact null distribution of the detection score: Gamma(n, 1) for a sum of n independent Exp(1) terms.

Written with numpy alone (the core takes no scipy): for a whole number n, the upper tail of Gamma(n, 1) at x
is the chance that a Poisson(x) variable is at most n - 1, a finite sum evaluated here in log space, so it is
exact to floating-point rounding down to p = 1e-300 and beyond (reported as log10).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gamma_log_sf"]

_LOG_FACT = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, 4097, dtype=np.float64)))])


def _log_factorials(n: int) -> np.ndarray:
    global _LOG_FACT
    if n > _LOG_FACT.size:
        size = max(n, 2 * _LOG_FACT.size)
        _LOG_FACT = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, size, dtype=np.float64)))])
    return _LOG_FACT[:n]


def gamma_log_sf(n: int, x: float) -> float:
    """Natural log of P(Gamma(n, 1) >= x) for a whole number ``n`` >= 0 (1.0 when n == 0 or x <= 0)."""
    if n <= 0 or x <= 0.0:
        return 0.0
    k = np.arange(n, dtype=np.float64)
    terms = k * math.log(x) - _log_factorials(n) - x
    top = float(terms.max())
    return min(0.0, top + math.log(float(np.exp(terms - top).sum())))
