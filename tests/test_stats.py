"""Bootstrap, Wilson interval and exact binomial test against closed forms and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics import stats
from ttm_bench.metrics.stats import (
    binomial_test_two_sided,
    bootstrap_ci,
    bootstrap_mean_ci,
    wilson_interval,
)


def test_bootstrap_mean_ci_identical_to_generic_bootstrap() -> None:
    values = np.random.default_rng(1).normal(size=37)
    generic = bootstrap_ci(lambda idx: float(np.mean(values[idx])), len(values), seed=5)
    assert bootstrap_mean_ci(values, seed=5) == generic


def test_bootstrap_blocks_do_not_change_the_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(2).normal(size=50)
    whole = bootstrap_mean_ci(values, n_boot=300, seed=3)
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 7 * 50)  # 7 resamples per block
    assert bootstrap_mean_ci(values, n_boot=300, seed=3) == whole
    generic = bootstrap_ci(lambda idx: float(np.mean(values[idx])), 50, n_boot=300, seed=3)
    assert generic == whole


def test_bootstrap_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    values = np.random.default_rng(3).normal(size=40)
    assert bootstrap_mean_ci(values, seed=11) == bootstrap_mean_ci(values, seed=11)
    assert bootstrap_mean_ci(values, seed=11) != bootstrap_mean_ci(values, seed=12)


def test_bootstrap_mean_ci_matches_normal_theory_for_large_samples() -> None:
    values = np.random.default_rng(4).normal(loc=3.0, scale=2.0, size=2000)
    low, high = bootstrap_mean_ci(values, n_boot=2000, seed=0)
    half_width = 1.959964 * values.std(ddof=1) / math.sqrt(values.size)
    assert low < values.mean() < high
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)


def test_bootstrap_is_the_percentile_interval_of_the_resampled_statistic() -> None:
    values = np.array([0.0, 1.0])  # every resample mean is 0, 0.5 or 1
    low, high = bootstrap_mean_ci(values, n_boot=4000, level=0.9, seed=0)
    assert (low, high) == (0.0, 1.0)
    low, high = bootstrap_mean_ci(values, n_boot=4000, level=0.4, seed=0)
    assert (low, high) == (0.5, 0.5)


def test_bootstrap_degenerate_sizes() -> None:
    assert all(math.isnan(v) for v in bootstrap_mean_ci(np.array([])))
    assert all(math.isnan(v) for v in bootstrap_ci(lambda idx: 0.0, 0))
    assert bootstrap_mean_ci(np.array([2.5])) == (2.5, 2.5)
    assert bootstrap_ci(lambda idx: float(idx.size * 7), 1) == (7.0, 7.0)


def test_bootstrap_nan_statistic_gives_nan_interval() -> None:
    values = np.array([1.0, np.nan, 2.0, 3.0])
    assert all(math.isnan(v) for v in bootstrap_mean_ci(values))
    assert all(math.isnan(v) for v in bootstrap_ci(lambda idx: float(np.mean(values[idx])), 4))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"level": 1.0}, "level"), ({"level": 0.0}, "level"), ({"n_boot": 0}, "n_boot")],
)
def test_bootstrap_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(TTMBenchError, match=match):
        bootstrap_mean_ci(np.ones(3), **kwargs)
    with pytest.raises(TTMBenchError, match=match):
        bootstrap_ci(lambda idx: 0.0, 3, **kwargs)


def test_bootstrap_mean_ci_rejects_2d_values() -> None:
    with pytest.raises(TTMBenchError, match="1-D"):
        bootstrap_mean_ci(np.ones((2, 2)))


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (64, 128), (1, 1), (97, 100)])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_interval_matches_scipy(k: int, n: int, level: float) -> None:
    expected = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    low, high = wilson_interval(k, n, level)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_closed_form_and_edges() -> None:
    # k = n/2: symmetric around 1/2 with half width z·√(n/4 + z²/4) / (n + z²).
    z = 1.959963984540054
    low, high = wilson_interval(50, 100)
    assert (low + high) / 2 == pytest.approx(0.5)
    assert (high - low) / 2 == pytest.approx(z * math.sqrt(25 + z * z / 4) / (100 + z * z))
    assert wilson_interval(0, 20)[0] == 0.0
    assert wilson_interval(20, 20)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_interval_rejects_bad_counts(k: int, n: int) -> None:
    with pytest.raises(TTMBenchError, match="successes"):
        wilson_interval(k, n)


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [(0, 10, 0.5), (5, 10, 0.5), (9, 10, 0.5), (54, 64, 0.5), (3, 20, 0.3), (13, 20, 0.3),
     (1, 200, 0.02), (100, 128, 0.5), (7, 7, 0.9), (40, 1000, 0.05)],
)
def test_binomial_test_matches_scipy(k: int, n: int, p: float) -> None:
    expected = scipy_stats.binomtest(k, n, p, alternative="two-sided").pvalue
    assert binomial_test_two_sided(k, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_binomial_test_closed_forms() -> None:
    # Symmetric p = 1/2: all-heads in n trials has p-value 2 / 2^n.
    assert binomial_test_two_sided(10, 10) == pytest.approx(2 / 2**10, rel=1e-12)
    assert binomial_test_two_sided(5, 10) == pytest.approx(1.0)
    assert binomial_test_two_sided(0, 0) == 1.0


def test_binomial_test_rejects_bad_input() -> None:
    with pytest.raises(TTMBenchError, match="0 < p < 1"):
        binomial_test_two_sided(1, 2, p=1.0)
    with pytest.raises(TTMBenchError, match="successes"):
        binomial_test_two_sided(3, 2)
