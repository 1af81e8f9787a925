"""Confidence intervals and tests on numbers: bootstrap, Wilson interval, exact binomial test.

Pure functions of numbers (no I/O), used for the per-split confidence intervals of the
evaluation and for the human-study analysis.

Bootstrap convention: `n_boot` resamples of the indices 0..n-1, drawn with replacement from
`numpy.random.default_rng(seed)` in blocks of rows (so memory stays bounded for large n); the
interval is the percentile interval, i.e. the (1-level)/2 and (1+level)/2 quantiles of the
resampled statistics with numpy's default linear interpolation. The same seed gives the same
resamples in `bootstrap_ci` and `bootstrap_mean_ci`, so both give identical intervals for a mean.

Set-level statistics (FVD, KVD) use `centred_bootstrap_ci` instead. Its estimand is the
statistic's expectation at this n (e.g. the FVD of this protocol over n videos), not a
population value: FVD is biased in n, and a resample with replacement holds ~0.63·n distinct
samples, so percentile intervals of FVD sit above their own point estimate. The centred
interval keeps only the spread of the replicates: (θ̂ - q(1-α/2), θ̂ - q(α/2)) with q the
quantiles of θ*ᵦ - mean(θ*), i.e. the basic bootstrap with the resampling bias removed.
Its coverage is measured in tests/test_interval_coverage.py (slow): 100/100 on simulated
benchmarks where the percentile interval covers 0/100.

NaN handling: n = 0 gives (nan, nan); n = 1 gives the degenerate interval (v, v) with v the
statistic on the single sample; a statistic that is NaN (or ±inf) on any resample makes the
interval (nan, nan) — an undefined statistic is reported as undefined, never silently averaged
over the resamples where it happened to be defined.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from statistics import NormalDist

import numpy as np
from scipy.special import gammaln

from ttm_bench.errors import TTMBenchError

#: Index matrices are drawn at most this many elements at a time (rows × n).
_BLOCK_ELEMENTS = 1 << 20

#: Relative slack when comparing binomial probabilities, so that outcomes exactly as likely as
#: the observed one count as "as extreme" despite rounding (the convention of R's binom.test).
_PMF_RELATIVE_SLACK = 1e-7


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise TTMBenchError(f"confidence level must be in (0, 1), got {level} (e.g. use 0.95)")


def _resample_blocks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yield int64 [rows, n] blocks of bootstrap indices, `n_boot` rows in total, in draw order."""
    rng = np.random.default_rng(seed)
    rows_per_block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n_boot, rows_per_block):
        rows = min(rows_per_block, n_boot - start)
        yield rng.integers(0, n, size=(rows, n), dtype=np.int64)


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (float [B]); (nan, nan) if one is not finite."""
    if not np.all(np.isfinite(replicates)):
        return (math.nan, math.nan)
    alpha = 1.0 - level
    low, high = np.quantile(replicates, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (float(low), float(high))


def _check_bootstrap_args(n: int, n_boot: int, level: float) -> None:
    _check_level(level)
    if n < 0:
        raise TTMBenchError(f"bootstrap sample size must be >= 0, got {n}")
    if n_boot < 1:
        raise TTMBenchError(f"n_boot must be >= 1, got {n_boot} (the default is 1000)")


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over `n` samples.

    statistic: maps int64 indices [n] into the samples (values in 0..n-1, repeats allowed) to
    the statistic on those samples, e.g. ``lambda idx: float(np.mean(values[idx]))``.
    Returns (low, high); see the module docstring for the convention and NaN handling.
    """
    return _resampled_interval(statistic, n, n_boot, seed, level,
                               lambda replicates: percentile_interval(replicates, level))


def _resampled_interval(statistic: Callable[[np.ndarray], float], n: int, n_boot: int,
                        seed: int, level: float,
                        interval: Callable[[np.ndarray], tuple[float, float]]
                        ) -> tuple[float, float]:
    """Checks the arguments, handles n < 2, else `interval` of the bootstrap replicates."""
    _check_bootstrap_args(n, n_boot, level)
    if n < 2:
        return _interval_without_resamples(statistic, n)
    return interval(bootstrap_replicates(statistic, n, n_boot, seed))


def _interval_without_resamples(statistic: Callable[[np.ndarray], float],
                                n: int) -> tuple[float, float]:
    """(nan, nan) for n = 0; (v, v) for n = 1, v the statistic on the single sample."""
    if n == 0:
        return (math.nan, math.nan)
    value = float(statistic(np.zeros(1, dtype=np.int64)))
    return (value, value)


def bootstrap_replicates(statistic: Callable[[np.ndarray], float], n: int, n_boot: int,
                         seed: int) -> np.ndarray:
    """float64 [n_boot] values of `statistic` on the resamples every interval here draws."""
    return np.array(
        [float(statistic(row)) for block in _resample_blocks(n, n_boot, seed) for row in block],
        dtype=np.float64,
    )


def centred_interval(estimate: float, replicates: np.ndarray,
                     level: float) -> tuple[float, float]:
    """(estimate - q(1-α/2), estimate - q(α/2)), q the quantiles of replicates - their mean."""
    if not (math.isfinite(estimate) and np.all(np.isfinite(replicates))):
        return (math.nan, math.nan)
    alpha = 1.0 - level
    deviations = replicates - replicates.mean()
    low, high = np.quantile(deviations, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (estimate - float(high), estimate - float(low))


def centred_bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Centred bootstrap interval of a set-level `statistic` over `n` samples around its value
    on all of them (see the module docstring for the estimand). Same resamples, arguments and
    NaN handling as `bootstrap_ci`."""
    return _resampled_interval(
        statistic, n, n_boot, seed, level,
        lambda replicates: centred_interval(float(statistic(np.arange(n, dtype=np.int64))),
                                            replicates, level))


def paired_difference_ci(
    distance: Callable[[np.ndarray, np.ndarray], float],
    features_a: np.ndarray,
    features_b: np.ndarray,
    features_ref: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(Δ, low, high) for Δ = distance(a, ref) - distance(b, ref), with the centred bootstrap.

    features_*: float [n, D], row i of each the same sample (e.g. two runs' I3D features and
    the ground truth, aligned by sample id). Each resample draws rows once and applies them to
    all three sets, so the interval accounts for the runs sharing samples and reference.
    `distance` is e.g. `fvd.frechet_distance_of_samples`.
    """
    n = len(features_ref)
    if not len(features_a) == len(features_b) == n:
        raise TTMBenchError(f"paired features need one row per sample in each set, got "
                            f"{len(features_a)}, {len(features_b)} and {n} rows")

    def delta(rows: np.ndarray) -> float:
        ref = features_ref[rows]
        return distance(features_a[rows], ref) - distance(features_b[rows], ref)

    _check_bootstrap_args(n, n_boot, level)
    if n < 2:
        return (math.nan, math.nan, math.nan)
    estimate = delta(np.arange(n, dtype=np.int64))
    replicates = bootstrap_replicates(delta, n, n_boot, seed)
    return (estimate, *centred_interval(estimate, replicates, level))


def bootstrap_mean_ci(
    values: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (float [n]), vectorised.

    Identical to ``bootstrap_ci(lambda idx: np.mean(values[idx]), len(values), ...)`` with the
    same `n_boot`, `level` and `seed`.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise TTMBenchError(f"bootstrap_mean_ci expects a 1-D array of values, got shape "
                            f"{values.shape}")
    n = values.shape[0]
    _check_bootstrap_args(n, n_boot, level)
    if n == 0:
        return (math.nan, math.nan)
    if n == 1:
        return (float(values[0]), float(values[0]))
    replicates = np.concatenate(
        [values[block].mean(axis=1) for block in _resample_blocks(n, n_boot, seed)]
    )
    return percentile_interval(replicates, level)


def _check_counts(successes: int, n: int) -> None:
    if not 0 <= successes <= n:
        raise TTMBenchError(f"need 0 <= successes <= n, got successes={successes}, n={n}")


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion successes/n; (nan, nan) when n = 0."""
    _check_level(level)
    _check_counts(successes, n)
    if n == 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p = successes / n
    z2_n = z * z / n
    centre = (p + z2_n / 2.0) / (1.0 + z2_n)
    half = z / (1.0 + z2_n) * math.sqrt(p * (1.0 - p) / n + z2_n / (4.0 * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def binomial_test_two_sided(k: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test p-value for k successes in n trials with success rate p.

    The p-value sums the probabilities of every outcome no more likely than k (the
    "minimum likelihood" convention of R's binom.test and scipy.stats.binomtest).
    0 < p < 1 is required; n = 0 gives 1.0.
    """
    _check_counts(k, n)
    if not 0.0 < p < 1.0:
        raise TTMBenchError(f"binomial test needs 0 < p < 1, got p={p}")
    outcomes = np.arange(n + 1, dtype=np.float64)
    log_pmf = (
        gammaln(n + 1.0)
        - gammaln(outcomes + 1.0)
        - gammaln(n - outcomes + 1.0)
        + outcomes * math.log(p)
        + (n - outcomes) * math.log1p(-p)
    )
    pmf = np.exp(log_pmf)
    as_extreme = pmf <= pmf[k] * (1.0 + _PMF_RELATIVE_SLACK)
    return float(min(1.0, pmf[as_extreme].sum()))
