"""Paired comparisons of two runs on the same samples: Δ = run − baseline, its interval, its test.

Pure functions of numbers (no I/O), used by `ttm-bench compare`.

Pairing: both runs are scored on the same n sample ids, so every bootstrap resample draws the
ids once and evaluates both runs on those ids. Variation shared by the two runs (hard and easy
samples) then cancels in Δ, which makes the paired interval narrower than one built from two
independent intervals whenever per-sample values are positively correlated.

- Per-sample metrics (a mean over samples): Δ = mean(d) with d = run − baseline per sample;
  the interval is the percentile bootstrap of mean(d) (`stats.bootstrap_mean_ci`, so the same
  seed gives the same resamples as the evaluation's intervals; resampling d is resampling ids);
  the p-value is the two-sided paired sign-flip permutation test of mean(d) = 0.
- Set-level metrics (e.g. FVD): Δ = statistic(run, ids) − statistic(baseline, ids); the interval
  is the centred bootstrap interval of Δ over paired resamples (`stats.centred_interval`: FVD
  is biased in n and resamples hold fewer distinct samples, see `stats`), and the p-value the
  two-sided paired bootstrap p-value (`bootstrap_p_value`), which is below 1 − level exactly
  when that interval excludes 0 (up to the +1 correction).

Multiple comparisons: `holm_adjust` controls the family-wise error rate over the p-values of
one table (Holm–Bonferroni); `verdict` reads an adjusted p-value with the metric's direction.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.stats import bootstrap_mean_ci, bootstrap_replicates, centred_interval

#: Rows of sign vectors drawn (or enumerated) at a time, bounding memory to rows × n.
_BLOCK_ELEMENTS = 1 << 20

#: Relative slack so that permuted statistics equal to the observed one up to rounding count
#: as "as extreme" (otherwise the identity permutation could fail to count itself).
_TIE_RELATIVE_SLACK = 1e-9


@dataclass(frozen=True)
class PairedDifference:
    """Δ = run − baseline on paired samples: its value, interval at `level`, two-sided p-value
    and the test that gave it ("sign-flip permutation" or "paired bootstrap"). NaN when
    undefined (no paired sample, or a statistic undefined on some resample)."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str


SIGN_FLIP = "sign-flip permutation"
PAIRED_BOOTSTRAP = "paired bootstrap"


def sign_flip_p_value(differences: np.ndarray, *, n_perm: int = 1000, seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip permutation test of mean(differences) = 0.

    differences: float [n], run − baseline per sample. Under the null hypothesis each
    difference is symmetric about 0, so its sign is exchangeable. The statistic is
    |mean(s · d)| over sign vectors s. When 2ⁿ <= n_perm every sign vector is enumerated and the
    p-value is exact (the fraction at least as extreme); otherwise n_perm random sign vectors
    from `numpy.random.default_rng(seed)` give the Monte-Carlo p-value (1 + #{as extreme}) /
    (1 + n_perm), which is never 0 and keeps the test's size. n = 0 gives NaN; all-zero
    differences give 1.
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1:
        raise TTMBenchError(f"sign_flip_p_value expects a 1-D array, got shape {d.shape}")
    if n_perm < 1:
        raise TTMBenchError(f"n_perm must be >= 1, got {n_perm}")
    n = d.shape[0]
    if n == 0 or not np.all(np.isfinite(d)):
        return math.nan
    observed = abs(float(d.mean()))
    threshold = observed - _TIE_RELATIVE_SLACK * max(float(np.abs(d).mean()), 1e-300)
    rows_per_block = max(1, _BLOCK_ELEMENTS // n)
    if n < 63 and 2**n <= n_perm:  # exact: every sign vector, as bits of 0..2ⁿ-1
        total, extreme = 2**n, 0
        bits = np.arange(n, dtype=np.int64)
        for start in range(0, total, rows_per_block):
            codes = np.arange(start, min(total, start + rows_per_block), dtype=np.int64)
            signs = 1.0 - 2.0 * ((codes[:, None] >> bits) & 1)
            extreme += int(np.count_nonzero(np.abs(signs @ d) / n >= threshold))
        return extreme / total
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, n_perm, rows_per_block):
        rows = min(rows_per_block, n_perm - start)
        signs = rng.integers(0, 2, size=(rows, n), dtype=np.int8) * 2.0 - 1.0
        extreme += int(np.count_nonzero(np.abs(signs @ d) / n >= threshold))
    return (1 + extreme) / (1 + n_perm)


def bootstrap_p_value(estimate: float, replicates: np.ndarray) -> float:
    """Two-sided paired bootstrap p-value of Δ = 0, the test `stats.centred_interval` inverts.

    The replicates centred on their mean (float [B]) are the null distribution of Δ̂:
    p = min(1, 2 · (1 + min(#{Δ* - mean ≥ Δ̂}, #{Δ* - mean ≤ Δ̂})) / (1 + B)), so p < 1 - level
    exactly when the centred interval excludes 0 (up to the +1 correction). NaN when the
    estimate or a replicate is not finite.
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    if replicates.size == 0 or not (math.isfinite(estimate)
                                    and np.all(np.isfinite(replicates))):
        return math.nan
    null = replicates - replicates.mean()
    slack = _TIE_RELATIVE_SLACK * max(float(np.abs(null).max()), abs(estimate), 1e-300)
    above = int(np.count_nonzero(null >= estimate - slack))
    below = int(np.count_nonzero(null <= estimate + slack))
    return min(1.0, 2.0 * (1 + min(above, below)) / (1 + replicates.size))


def paired_mean_difference(run: np.ndarray, baseline: np.ndarray, *, n_boot: int = 1000,
                           level: float = 0.95, seed: int = 0) -> PairedDifference:
    """Δ of the means of two runs' per-sample values (float [n] each, the same samples in the
    same order): percentile bootstrap interval and sign-flip p-value (n_boot sign vectors)."""
    run = np.asarray(run, dtype=np.float64)
    baseline = np.asarray(baseline, dtype=np.float64)
    if run.ndim != 1 or run.shape != baseline.shape:
        raise TTMBenchError(f"paired values need two 1-D arrays of one length, got shapes "
                            f"{run.shape} and {baseline.shape}")
    d = run - baseline
    delta = float(d.mean()) if d.size else math.nan
    low, high = bootstrap_mean_ci(d, n_boot=n_boot, level=level, seed=seed)
    return PairedDifference(delta, low, high, sign_flip_p_value(d, n_perm=n_boot, seed=seed),
                            SIGN_FLIP)


def paired_statistic_difference(run: Callable[[np.ndarray], float],
                                baseline: Callable[[np.ndarray], float], n: int, *,
                                n_boot: int = 1000, level: float = 0.95,
                                seed: int = 0) -> PairedDifference:
    """Δ of a set-level statistic over n paired samples, by the paired bootstrap.

    run, baseline: map int64 indices [n] into the paired samples (repeats allowed) to the
    statistic of that run on those samples. Each resample evaluates both on the same indices.
    """
    if n < 2:
        return PairedDifference(math.nan, math.nan, math.nan, math.nan, PAIRED_BOOTSTRAP)
    everything = np.arange(n, dtype=np.int64)
    delta = float(run(everything)) - float(baseline(everything))
    replicates = bootstrap_replicates(lambda idx: float(run(idx)) - float(baseline(idx)), n,
                                      n_boot=n_boot, seed=seed)
    low, high = centred_interval(delta, replicates, level)
    return PairedDifference(delta, low, high, bootstrap_p_value(delta, replicates),
                            PAIRED_BOOTSTRAP)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order.

    The family is the finite p-values (m of them); NaN stays NaN. Sorted ascending, the k-th
    (from 1) becomes max over j <= k of min(1, (m − j + 1) · p_(j)). Rejecting where the
    adjusted p-value is below α controls the family-wise error rate at α.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for k, index in enumerate(order):
        running = max(running, min(1.0, (m - k) * float(p[index])))
        adjusted[index] = running
    return [float(x) for x in adjusted]


class Verdict(enum.Enum):
    """What a paired comparison says about the run against the baseline."""

    BETTER = "better"
    WORSE = "worse"
    HIGHER = "higher"  # significant, for a metric with no better direction
    LOWER = "lower"
    NO_DIFFERENCE = "no significant difference"


def verdict(delta: float, p_adjusted: float, higher_is_better: bool | None,
            alpha: float = 0.05) -> Verdict:
    """The verdict of Δ = run − baseline at family-wise level `alpha` (adjusted p < alpha)."""
    if not (math.isfinite(p_adjusted) and p_adjusted < alpha and math.isfinite(delta)) or (
            delta == 0.0):
        return Verdict.NO_DIFFERENCE
    if higher_is_better is None:
        return Verdict.HIGHER if delta > 0 else Verdict.LOWER
    return Verdict.BETTER if (delta > 0) == higher_is_better else Verdict.WORSE
