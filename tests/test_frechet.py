"""Fréchet distance against closed forms and a scipy.linalg.sqrtm reference; streaming stats."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import linalg

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.frechet import (
    GaussianStats,
    frechet_distance,
    frechet_distance_from_features,
)


def sqrtm_reference(mu1, sigma1, mu2, sigma2, product: str) -> float:
    """The textbook formula with scipy's general matrix square root, of Σ1 Σ2 (as in
    pytorch-fid) or of √Σ1 Σ2 √Σ1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm warns on singular input
        if product == "s1 s2":
            covmean = linalg.sqrtm(sigma1 @ sigma2).real
        else:
            root1 = linalg.sqrtm(sigma1).real
            covmean = linalg.sqrtm(root1 @ sigma2 @ root1).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def random_gaussian(rng: np.random.Generator, dim: int, n_samples: int):
    features = rng.normal(size=(n_samples, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(
        size=dim)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def test_identical_gaussians_have_zero_distance() -> None:
    mu, sigma = random_gaussian(np.random.default_rng(0), 32, 100)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-10)


def test_diagonal_covariances_closed_form() -> None:
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    var1, var2 = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    var1[2] = 0.0  # a degenerate direction is allowed
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(
        expected, rel=1e-12)


def test_one_dimensional_closed_form() -> None:
    # d = (m1 - m2)² + (s1 - s2)² for standard deviations s1, s2.
    d = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]]))
    assert d == pytest.approx(9.0 + 1.0, rel=1e-12)


@pytest.mark.parametrize("product", ["s1 s2", "root1 s2 root1"])
@pytest.mark.parametrize(("dim", "n_samples"), [(8, 50), (64, 500), (400, 64), (50, 10)])
def test_agrees_with_sqrtm_reference(dim: int, n_samples: int, product: str) -> None:
    rng = np.random.default_rng(dim + n_samples)
    mu1, sigma1 = random_gaussian(rng, dim, n_samples)
    mu2, sigma2 = random_gaussian(rng, dim, n_samples)
    ours = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert ours == pytest.approx(sqrtm_reference(mu1, sigma1, mu2, sigma2, product),
                                 rel=1e-6)


def test_is_symmetric_in_its_arguments() -> None:
    rng = np.random.default_rng(7)
    a = random_gaussian(rng, 400, 64)
    b = random_gaussian(rng, 400, 64)
    assert frechet_distance(*a, *b) == pytest.approx(frechet_distance(*b, *a), rel=1e-9)


def test_from_features_matches_numpy_moments() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(40, 5)), rng.normal(loc=0.5, size=(30, 5))
    expected = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0),
                                np.cov(b, rowvar=False))
    assert frechet_distance_from_features(a, b) == pytest.approx(expected, rel=1e-12)


def test_streaming_statistics_equal_batch_statistics() -> None:
    rng = np.random.default_rng(9)
    features = rng.normal(loc=3.0, size=(103, 12)).astype(np.float32)
    streamed = GaussianStats(12)
    for chunk in np.array_split(features, 7):
        streamed.update(chunk)
    shard_a = GaussianStats.from_features(features[:40])
    shard_b = GaussianStats.from_features(features[40:])
    shard_a.merge(shard_b)
    reference = features.astype(np.float64)
    for stats in (streamed, shard_a):
        assert stats.n == 103
        np.testing.assert_allclose(stats.mean, reference.mean(0), rtol=1e-12)
        np.testing.assert_allclose(stats.covariance, np.cov(reference, rowvar=False),
                                   rtol=1e-9, atol=1e-12)


def test_near_constant_features_give_a_psd_covariance() -> None:
    # Raw sums (Σxxᵀ - nμμᵀ) leave cancellation noise here that is indefinite.
    rng = np.random.default_rng(11)
    vector = rng.normal(scale=100.0, size=400)
    constant = GaussianStats(400)
    for _ in range(4):
        constant.update(np.tile(vector, (16, 1)))
    assert np.linalg.eigvalsh(constant.covariance).min() >= -1e-12
    assert frechet_distance(constant.mean, constant.covariance, constant.mean,
                            constant.covariance) == pytest.approx(0.0, abs=1e-10)
    other = GaussianStats.from_features(rng.normal(size=(64, 400)))
    expected = np.sum((constant.mean - other.mean) ** 2) + np.trace(other.covariance)
    assert frechet_distance(constant.mean, constant.covariance, other.mean,
                            other.covariance) == pytest.approx(expected, rel=1e-9)


def test_save_load_round_trip(tmp_path: Path) -> None:
    stats = GaussianStats.from_features(np.random.default_rng(10).normal(size=(20, 4)))
    path = tmp_path / "cache" / "ref.npz"
    stats.save(path)
    loaded = GaussianStats.load(path, dim=4)
    assert loaded.n == stats.n
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.covariance, stats.covariance)
    assert [p.name for p in path.parent.iterdir()] == ["ref.npz"]  # no temporaries left


def test_load_errors(tmp_path: Path) -> None:
    path = tmp_path / "ref.npz"
    GaussianStats.from_features(np.ones((3, 4))).save(path)
    with pytest.raises(TTMBenchError, match=r"holds 4-d.*expected 400-d"):
        GaussianStats.load(path, dim=400)
    with pytest.raises(TTMBenchError, match="does not exist"):
        GaussianStats.load(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(TTMBenchError, match="delete it to recompute"):
        GaussianStats.load(garbage)
    with pytest.raises(TTMBenchError, match=r"\.npz"):
        GaussianStats(4).save(tmp_path / "ref.npy")


def test_statistics_errors() -> None:
    stats = GaussianStats(3)
    with pytest.raises(TTMBenchError, match="zero feature vectors"):
        _ = stats.mean
    stats.update(np.ones((1, 3)))
    with pytest.raises(TTMBenchError, match="at least 2"):
        _ = stats.covariance
    with pytest.raises(TTMBenchError, match=r"shape \[N, 3\]"):
        stats.update(np.ones((2, 4)))
    with pytest.raises(TTMBenchError, match="NaN or inf"):
        stats.update(np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(TTMBenchError, match="dimension 5 into dimension 3"):
        stats.merge(GaussianStats(5))


def test_distance_input_errors() -> None:
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(TTMBenchError, match="NaN or inf"):
        frechet_distance(np.array([0.0, np.inf, 0.0]), sigma, mu, sigma)
    with pytest.raises(TTMBenchError, match="shapes"):
        frechet_distance(mu, np.eye(4), mu, sigma)
    with pytest.raises(TTMBenchError, match="dimensions differ"):
        frechet_distance(mu, sigma, np.zeros(2), np.eye(2))
    asymmetric = np.eye(3)
    asymmetric[0, 1] = 0.5
    with pytest.raises(TTMBenchError, match="not symmetric"):
        frechet_distance(mu, asymmetric, mu, sigma)
    indefinite = np.diag([1.0, -0.5, 1.0])
    with pytest.raises(TTMBenchError, match=r"second Gaussian.*positive semi-definite"):
        frechet_distance(mu, sigma, mu, indefinite)


def test_rounding_level_negative_eigenvalues_are_tolerated() -> None:
    sigma = np.diag([1.0, -1e-12, 2.0])
    assert frechet_distance(np.zeros(3), sigma, np.zeros(3), np.diag([1.0, 0.0, 2.0])) == (
        pytest.approx(0.0, abs=1e-10))
