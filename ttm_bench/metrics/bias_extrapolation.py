"""Extrapolating a biased set distance to infinitely many samples (FID∞, Chong & Forsyth 2020).

The expected Fréchet distance over n samples is, to first order, d∞ + k/n. `extrapolate_to_infinity`
evaluates the distance on random subsets (without replacement) at `sizes` evenly spaced
between `min_fraction`·n and n, averages `draws` subsets per size, fits d = d∞ + k/size by
least squares and returns the intercept d∞: an estimate of the population distance that does
not depend on n to first order. Subsets are drawn from `numpy.random.default_rng(seed)` over
the pairs sorted by their values, so a value is a function of the set of pairs and the seed, not
of their order (a distributed or batched evaluation gives the same number). Rows of `x` and `y`
are paired (the same subset indexes both), as in FVD's (generated, ground-truth) pairs.

The 1/n model holds when n is well above the feature dimension; below it (e.g. 128 videos, 400-d
I3D features) the extrapolation removes part of the bias only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ttm_bench.errors import TTMBenchError


def extrapolate_to_infinity(
    distance: Callable[[np.ndarray, np.ndarray], float],
    x: np.ndarray,
    y: np.ndarray,
    *,
    sizes: int = 8,
    min_fraction: float = 0.5,
    draws: int = 4,
    seed: int = 0,
) -> float:
    """d∞ from `distance` on paired float [n, D] features `x`, `y` (see the module docstring)."""
    n = len(x)
    if len(y) != n:
        raise TTMBenchError(f"paired features need as many rows: {len(x)} and {len(y)}")
    smallest = max(2, int(np.ceil(min_fraction * n)))
    if sizes < 2 or not 0.0 < min_fraction < 1.0 or smallest >= n:
        raise TTMBenchError(f"extrapolation needs >= 2 subset sizes between {min_fraction}·n and "
                            f"n = {n}; use more samples or a smaller min_fraction")
    pairs = np.concatenate([np.asarray(x).reshape(n, -1), np.asarray(y).reshape(n, -1)], axis=1)
    order = np.lexsort(pairs.T[::-1])
    x, y = np.asarray(x)[order], np.asarray(y)[order]
    subset_sizes = np.unique(np.linspace(smallest, n, sizes).round().astype(int))
    rng = np.random.default_rng(seed)
    means = []
    for size in subset_sizes:
        repeats = 1 if size == n else draws
        values = []
        for _ in range(repeats):
            rows = rng.choice(n, size=size, replace=False) if size < n else np.arange(n)
            values.append(distance(x[rows], y[rows]))
        means.append(np.mean(values))
    design = np.stack([np.ones(len(subset_sizes)), 1.0 / subset_sizes], axis=1)
    intercept, _slope = np.linalg.lstsq(design, np.asarray(means), rcond=None)[0]
    return float(intercept)
