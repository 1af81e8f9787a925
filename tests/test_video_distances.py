"""KVD and FVD∞ on Gaussian features with a known population distance; centred intervals and
the paired ΔFVD interval."""

from __future__ import annotations

import numpy as np
import pytest

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.bias_extrapolation import extrapolate_to_infinity
from ttm_bench.metrics.fvd import frechet_distance_of_samples
from ttm_bench.metrics.kernel_distance import kernel_distance, polynomial_kernel
from ttm_bench.metrics.stats import bootstrap_ci, centred_bootstrap_ci, paired_difference_ci


def expected_kernel(mu_a: np.ndarray, var_a: float, mu_b: np.ndarray, var_b: float) -> float:
    """E (xᵀy/D + 1)³ for independent x ~ N(mu_a, var_a·I), y ~ N(mu_b, var_b·I), from the
    Gaussian moments E z = m, E z² = m² + v, E z³ = m³ + 3mv of z = xᵀy given y."""
    dim = len(mu_a)
    m, aa, bb = float(mu_a @ mu_b), float(mu_a @ mu_a), float(mu_b @ mu_b)
    first = m
    second = m * m + var_b * aa + var_a * (bb + var_b * dim)
    third = (m ** 3 + 3 * m * var_b * aa) + 3 * var_a * (m * (bb + var_b * dim) + 2 * var_b * m)
    return third / dim ** 3 + 3 * second / dim ** 2 + 3 * first / dim + 1


def test_polynomial_kernel_closed_form_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.normal(size=4), rng.normal(size=4)
    x = mu_a + 0.7 * rng.normal(size=(200_000, 4))
    y = mu_b + 1.3 * rng.normal(size=(200_000, 4))
    mc = float(np.mean((np.sum(x * y, axis=1) / 4 + 1) ** 3))
    assert mc == pytest.approx(expected_kernel(mu_a, 0.49, mu_b, 1.69), rel=2e-2)


def test_kvd_is_unbiased_for_the_population_mmd() -> None:
    rng = np.random.default_rng(1)
    dim, n = 6, 25
    mu_x, mu_y, var_x, var_y = np.full(dim, 0.4), np.zeros(dim), 1.5, 1.0
    population = (expected_kernel(mu_x, var_x, mu_x, var_x)
                  + expected_kernel(mu_y, var_y, mu_y, var_y)
                  - 2 * expected_kernel(mu_x, var_x, mu_y, var_y))
    draws = np.array([kernel_distance(mu_x + np.sqrt(var_x) * rng.normal(size=(n, dim)),
                                      mu_y + np.sqrt(var_y) * rng.normal(size=(n + 5, dim)))
                      for _ in range(1500)])
    standard_error = draws.std() / np.sqrt(len(draws))
    assert abs(draws.mean() - population) < 4 * standard_error
    assert standard_error < 0.05 * population  # the test can tell a biased estimator apart
    same = mu_x + rng.normal(size=(40, dim))
    assert kernel_distance(same, same) < 0  # unbiased: no floor at 0, one self-term less
    assert polynomial_kernel(same, same).shape == (40, 40)


def test_kernel_distance_refuses_bad_shapes() -> None:
    with pytest.raises(TTMBenchError, match="at least 2"):
        kernel_distance(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(TTMBenchError, match=r"\[m, D\] and \[n, D\]"):
        kernel_distance(np.zeros((3, 3)), np.zeros((4, 2)))


def test_fvd_inf_is_unbiased_and_its_interval_contains_the_population_distance() -> None:
    rng = np.random.default_rng(2)
    dim, n, shift, scale = 20, 240, 0.25, 1.3
    truth = dim * shift ** 2 + dim * (1 - scale) ** 2  # |Δμ|² + tr(Σ1 + Σ2 - 2(Σ1Σ2)^½)

    def benchmark() -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(size=(n, dim)) * scale + shift, rng.normal(size=(n, dim))

    values, plain = [], []
    for seed in range(16):
        x, y = benchmark()
        values.append(extrapolate_to_infinity(frechet_distance_of_samples, x, y, seed=seed))
        plain.append(frechet_distance_of_samples(x, y))
    standard_error = np.std(values) / np.sqrt(len(values))
    assert abs(np.mean(values) - truth) < 3 * standard_error
    assert np.mean(plain) - truth > 8 * standard_error  # FVD at n = 240 is biased; FVD∞ is not
    x, y = benchmark()

    def fvd_inf(rows: np.ndarray) -> float:
        return extrapolate_to_infinity(frechet_distance_of_samples, x[rows], y[rows], seed=3)

    low, high = centred_bootstrap_ci(fvd_inf, n, n_boot=60, seed=4)
    assert low <= truth <= high and low <= fvd_inf(np.arange(n)) <= high


def test_extrapolation_is_exact_for_a_1_over_n_law_and_refuses_too_few_samples() -> None:
    x = np.arange(100, dtype=np.float64)[:, None]

    def law(a: np.ndarray, _b: np.ndarray) -> float:
        return 3.0 + 50.0 / len(a)

    assert extrapolate_to_infinity(law, x, x) == pytest.approx(3.0, rel=1e-12)
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    shuffled = rng.permutation(50)  # the order of the pairs does not matter, their pairing does
    value = extrapolate_to_infinity(frechet_distance_of_samples, a, b)
    assert extrapolate_to_infinity(frechet_distance_of_samples, a[shuffled], b[shuffled]) == value
    with pytest.raises(TTMBenchError, match="subset sizes"):
        extrapolate_to_infinity(law, x[:2], x[:2])


def test_centred_interval_surrounds_the_estimate_where_percentile_does_not() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 120)), rng.normal(size=(40, 120)) + 0.1

    def fvd(rows: np.ndarray) -> float:
        return frechet_distance_of_samples(x[rows], y[rows])

    value = fvd(np.arange(40))
    low, high = centred_bootstrap_ci(fvd, 40, n_boot=200, seed=0)
    assert low < value < high
    percentile_low, _ = bootstrap_ci(fvd, 40, n_boot=200, seed=0)
    assert percentile_low > value  # resamples with repeats inflate FVD: the defect fixed here
    assert centred_bootstrap_ci(fvd, 40, n_boot=200, seed=0) == (low, high)


def test_paired_difference_interval() -> None:
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(60, 30))
    near = ref + 0.3 * rng.normal(size=(60, 30))
    far = ref + 0.3 * rng.normal(size=(60, 30)) + 0.5
    delta, low, high = paired_difference_ci(frechet_distance_of_samples, near, far, ref,
                                            n_boot=100, seed=0)
    assert delta == pytest.approx(frechet_distance_of_samples(near, ref)
                                  - frechet_distance_of_samples(far, ref), rel=1e-12)
    assert low < delta < high < 0  # `near` is closer to the reference, clearly
    same = paired_difference_ci(frechet_distance_of_samples, near, near, ref, n_boot=20)
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(TTMBenchError, match="one row per sample"):
        paired_difference_ci(frechet_distance_of_samples, near[:5], far, ref)
