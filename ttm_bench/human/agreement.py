"""Inter-rater agreement on nominal answers: Fleiss' κ and Krippendorff's α.

Both take a count matrix `counts`: int [units, categories], counts[u, c] = how many raters put
unit u in category c. Fleiss' κ (Fleiss 1971) needs the same number of raters on every unit;
Krippendorff's α (nominal metric, Krippendorff 2011) allows any number and ignores units with
fewer than two ratings. Both are 1 for perfect agreement and about 0 for chance agreement;
NaN when undefined (no pairable ratings, or a single category used throughout).
"""

from __future__ import annotations

import math

import numpy as np

from ttm_bench.errors import TTMBenchError


def _as_counts(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or np.any(counts < 0):
        raise TTMBenchError(f"agreement needs non-negative counts [units, categories], got "
                            f"shape {counts.shape}")
    return counts


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' κ of int [units, categories] counts with the same number of raters per unit."""
    counts = _as_counts(counts)
    if counts.shape[0] == 0:
        return math.nan
    raters = counts.sum(axis=1)
    if np.any(raters != raters[0]) or raters[0] < 2:
        raise TTMBenchError("Fleiss' kappa needs the same number (>= 2) of raters on every "
                            "unit; use krippendorff_alpha for unequal numbers")
    m = raters[0]
    p_unit = ((counts * (counts - 1)).sum(axis=1)) / (m * (m - 1))
    p_cat = counts.sum(axis=0) / counts.sum()
    p_bar, p_e = p_unit.mean(), float((p_cat**2).sum())
    if p_e == 1.0:
        return math.nan
    return float((p_bar - p_e) / (1.0 - p_e))


def krippendorff_alpha(counts: np.ndarray) -> float:
    """Krippendorff's α (nominal) of int [units, categories] counts; units may differ in size."""
    counts = _as_counts(counts)
    m = counts.sum(axis=1)
    pairable = counts[m >= 2]
    m = m[m >= 2]
    if pairable.shape[0] == 0:
        return math.nan
    # coincidences o[c, k] = Σ_u n_uc (n_uk − [c = k]) / (m_u − 1)
    weighted = pairable / (m - 1)[:, None]
    coincidence = weighted.T @ pairable - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    observed = coincidence.sum() - np.trace(coincidence)
    expected = (n_c.sum() ** 2 - (n_c**2).sum()) / (n - 1)
    if expected == 0.0:
        return math.nan
    return float(1.0 - observed / expected)
