"""Kernel distance (KID/KVD): the unbiased squared MMD with a polynomial kernel, pure numpy.

    k(x, y) = (xᵀy / D + 1)³            (degree 3, γ = 1/D, c = 1: KID's kernel)
    MMD²_u = Σ_{i≠j} k(xi, xj) / (m(m-1)) + Σ_{i≠j} k(yi, yj) / (n(n-1)) - 2 Σ_ij k(xi, yj) / (mn)

An unbiased estimate of the population MMD² at every set size (so, unlike FVD, its mean does
not move with n; a single value may be negative). Computed on all samples at once, not
averaged over subsets as KID's reference code does: the same expectation, lower variance.
"""

from __future__ import annotations

import numpy as np

from ttm_bench.errors import TTMBenchError


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (xᵀy / D + 1)³ for float [m, D] and [n, D] → float64 [m, n]."""
    return (np.asarray(x, np.float64) @ np.asarray(y, np.float64).T / x.shape[1] + 1.0) ** 3


def kernel_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between float [m, D] and [n, D] feature sets (m, n >= 2)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise TTMBenchError(f"kernel distance needs [m, D] and [n, D] features, got {x.shape} "
                            f"and {y.shape}")
    m, n = len(x), len(y)
    if min(m, n) < 2:
        raise TTMBenchError(f"the unbiased kernel distance needs at least 2 feature vectors per "
                            f"set, got {m} and {n}")
    kxx, kyy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * polynomial_kernel(x, y).mean())
