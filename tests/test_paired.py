"""Paired statistics: known answers, calibration of intervals and p-values, Holm, verdicts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.fvd import frechet_distance_of_samples
from ttm_bench.metrics.paired import (
    PAIRED_BOOTSTRAP,
    SIGN_FLIP,
    Verdict,
    bootstrap_p_value,
    holm_adjust,
    paired_mean_difference,
    paired_statistic_difference,
    sign_flip_p_value,
    verdict,
)
from ttm_bench.metrics.stats import bootstrap_mean_ci, bootstrap_replicates, centred_interval


def correlated_pair(seed: int, n: int = 40, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample values of two runs sharing a large per-sample difficulty (corr ≈ 0.99)."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 1.0, n)
    baseline = difficulty + rng.normal(0.0, 0.1, n)
    return difficulty + shift + rng.normal(0.0, 0.1, n), baseline


def test_planted_shift_gives_its_delta_and_an_interval_around_it() -> None:
    run, baseline = correlated_pair(0, n=200, shift=0.5)
    result = paired_mean_difference(run, baseline, n_boot=2000, seed=1)
    assert result.delta == pytest.approx(np.mean(run - baseline))
    assert result.ci_low < 0.5 < result.ci_high
    assert result.ci_high - result.ci_low < 0.1  # the noise of d is 0.14/√200 ≈ 0.01 per sd
    assert result.p_value == pytest.approx(1 / 2001)  # no random sign vector is as extreme
    assert result.test == SIGN_FLIP


def test_paired_interval_resamples_sample_ids_once_for_both_runs() -> None:
    run, baseline = correlated_pair(3, n=30, shift=0.2)
    by_ids = paired_statistic_difference(lambda idx: run[idx].mean(),
                                         lambda idx: baseline[idx].mean(), 30, n_boot=300, seed=5)
    by_means = paired_mean_difference(run, baseline, n_boot=300, seed=5)
    d = run - baseline
    replicates = bootstrap_replicates(lambda idx: d[idx].mean(), 30, 300, 5)
    assert (by_ids.ci_low, by_ids.ci_high) == pytest.approx(  # centred, same resamples
        centred_interval(d.mean(), replicates, 0.95))
    assert (by_means.ci_low, by_means.ci_high) == pytest.approx(
        tuple(np.quantile(replicates, [0.025, 0.975])))  # percentile, same resamples
    assert by_ids.delta == pytest.approx(by_means.delta)
    assert by_ids.test == PAIRED_BOOTSTRAP


def test_paired_interval_is_narrower_than_the_unpaired_one_for_correlated_values() -> None:
    run, baseline = correlated_pair(1, shift=0.1)
    paired = paired_mean_difference(run, baseline, n_boot=1000, seed=0)
    rng = np.random.default_rng(0)  # unpaired: each run resampled on its own ids
    unpaired = [run[rng.integers(0, 40, 40)].mean() - baseline[rng.integers(0, 40, 40)].mean()
                for _ in range(1000)]
    low, high = np.quantile(unpaired, [0.025, 0.975])
    assert (paired.ci_high - paired.ci_low) < 0.25 * (high - low)
    assert paired.ci_low > 0.0 > low  # only the paired analysis sees the shift


@pytest.mark.slow
def test_paired_interval_covers_a_planted_shift_at_its_level() -> None:
    covered = 0
    for seed in range(400):
        run, baseline = correlated_pair(seed, n=50, shift=0.3)
        result = paired_mean_difference(run, baseline, n_boot=500, seed=seed)
        covered += result.ci_low <= 0.3 <= result.ci_high
    # percentile bootstrap of a mean at n = 50 undercovers slightly; 95% nominal
    assert 0.90 <= covered / 400 <= 0.98


def test_p_values_are_uniform_under_no_shift() -> None:
    p_values = []
    for seed in range(300):
        run, baseline = correlated_pair(seed, n=20)
        p_values.append(sign_flip_p_value(run - baseline, n_perm=199, seed=seed))
    assert scipy_stats.kstest(p_values, "uniform").pvalue > 0.01
    assert 0.02 <= np.mean(np.array(p_values) < 0.05) <= 0.09


def test_exact_sign_flip_enumerates_every_sign_vector() -> None:
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.4])
    means = [abs(np.dot(s, d)) / 5 for s in itertools.product([1, -1], repeat=5)]
    expected = np.mean(np.array(means) >= abs(d.mean()) - 1e-12)
    assert sign_flip_p_value(d, n_perm=32) == pytest.approx(expected)
    assert sign_flip_p_value(d, n_perm=32) == pytest.approx(4 / 32)  # ±all-positive, 2 others


def test_sign_flip_edge_cases() -> None:
    assert math.isnan(sign_flip_p_value(np.array([])))
    assert sign_flip_p_value(np.zeros(50)) == 1.0
    assert math.isnan(sign_flip_p_value(np.array([1.0, np.nan])))
    with pytest.raises(TTMBenchError, match="1-D"):
        sign_flip_p_value(np.zeros((2, 2)))


def test_bootstrap_p_value_is_twice_the_smaller_tail_of_the_centred_replicates() -> None:
    replicates = np.array([1.0, 2.0, -1.0, 3.0])
    centred = replicates - replicates.mean()  # [-0.25, 0.75, -2.25, 1.75]
    assert bootstrap_p_value(1.0, replicates) == pytest.approx(
        2 * (1 + np.count_nonzero(centred >= 1.0)) / 5)
    assert bootstrap_p_value(0.0, np.zeros(10)) == 1.0
    assert bootstrap_p_value(2.0, np.full(999, 2.0)) == pytest.approx(2 / 1000)
    assert math.isnan(bootstrap_p_value(1.0, np.array([1.0, np.inf])))


def test_frechet_delta_of_a_run_with_itself_is_exactly_zero() -> None:
    rng = np.random.default_rng(0)
    generated, reference = rng.normal(size=(12, 6)), rng.normal(size=(12, 6))

    def fvd(idx: np.ndarray) -> float:
        return frechet_distance_of_samples(generated[idx], reference[idx])

    result = paired_statistic_difference(fvd, fvd, 12, n_boot=200, seed=0)
    assert (result.delta, result.ci_low, result.ci_high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_set_level_statistic_undefined_on_a_resample_gives_nan() -> None:
    values = np.arange(3.0)
    result = paired_statistic_difference(lambda idx: np.var(values[idx], ddof=1) if len(
        set(idx.tolist())) > 1 else math.nan, lambda idx: 0.0, 3, n_boot=200)
    assert math.isnan(result.ci_low) and math.isnan(result.p_value)
    empty = paired_statistic_difference(lambda idx: 0.0, lambda idx: 0.0, 0)
    assert math.isnan(empty.delta)


def test_holm_adjustment_known_answer() -> None:
    # sorted 0.01, 0.02, 0.03, 0.5 with m = 4: 0.04, max(0.04, 0.06), max(0.06, 0.06), 0.5
    adjusted = holm_adjust([0.03, 0.01, math.nan, 0.5, 0.02])
    assert adjusted[:2] == pytest.approx([0.06, 0.04])
    assert math.isnan(adjusted[2])
    assert adjusted[3:] == pytest.approx([0.5, 0.06])
    assert holm_adjust([0.4, 0.9]) == pytest.approx([0.8, 0.9])
    assert holm_adjust([]) == []


def test_verdict_follows_the_metric_direction() -> None:
    assert verdict(0.1, 0.01, True) is Verdict.BETTER
    assert verdict(0.1, 0.01, False) is Verdict.WORSE
    assert verdict(-0.1, 0.01, False) is Verdict.BETTER
    assert verdict(0.1, 0.01, None) is Verdict.HIGHER
    assert verdict(-0.1, 0.01, None) is Verdict.LOWER
    assert verdict(0.1, 0.05, True) is Verdict.NO_DIFFERENCE
    assert verdict(0.1, math.nan, True) is Verdict.NO_DIFFERENCE


def test_mean_difference_checks_shapes_and_handles_one_sample() -> None:
    with pytest.raises(TTMBenchError, match="one length"):
        paired_mean_difference(np.zeros(3), np.zeros(4))
    one = paired_mean_difference(np.array([2.0]), np.array([1.5]))
    assert (one.delta, one.ci_low, one.ci_high, one.p_value) == (0.5, 0.5, 0.5, 1.0)
    assert bootstrap_mean_ci(np.array([0.5])) == (0.5, 0.5)
