"""Fréchet distance between Gaussians fitted to feature sets (the maths behind FVD).

`GaussianStats` accumulates float64 statistics (n, mean, centred scatter) so features can be
streamed in chunks, merged across shards and cached as `.npz` in constant memory.
`frechet_distance` is a pure function of two means and covariances:

    d² = ||μ1 - μ2||² + tr(Σ1) + tr(Σ2) - 2 tr((√Σ1 Σ2 √Σ1)^½)

The trace term is computed from symmetric eigendecompositions only: √Σ1 = V diag(√λ) Vᵀ from
`eigh(Σ1)`, then the eigenvalues of the symmetric PSD matrix √Σ1 Σ2 √Σ1, whose square roots sum
to the trace. Unlike `scipy.linalg.sqrtm(Σ1 Σ2)` (a non-symmetric product) this stays real and
well defined for rank-deficient covariances, e.g. 400-d features from fewer than 400 videos.

Tolerance: covariances must be symmetric and positive semi-definite up to rounding. A matrix is
rejected when max|Σ - Σᵀ| > `RELATIVE_TOLERANCE`·max|Σ| or when its smallest eigenvalue is
below -`RELATIVE_TOLERANCE`·(largest |eigenvalue|); negative eigenvalues within that tolerance
are rounding noise and are clipped to zero. A result below zero by rounding is returned as 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ttm_bench.atomic import atomic_path
from ttm_bench.errors import TTMBenchError

#: Relative tolerance for the symmetry and PSD checks (see the module docstring).
RELATIVE_TOLERANCE = 1e-6


class GaussianStats:
    """Streaming sufficient statistics of D-dimensional features, in float64.

    Holds n, the mean (float64 [D]) and the centred scatter Σ(x-μ)(x-μ)ᵀ (float64 [D, D]).
    Chunks and shards are combined with the pairwise update of Chan, Golub & LeVeque:
    constant memory and exact merging like raw sums (n, Σx, Σxxᵀ), but without the
    cancellation in Σxxᵀ - nμμᵀ, which makes the covariance of near-constant features (e.g.
    every video of a degenerate model alike) indefinite.
    """

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise TTMBenchError(f"feature dimension must be >= 1, got {dim}")
        self.n = 0
        self._mean = np.zeros(dim, dtype=np.float64)
        self._scatter = np.zeros((dim, dim), dtype=np.float64)

    @property
    def dim(self) -> int:
        return self._mean.shape[0]

    @classmethod
    def from_features(cls, features: np.ndarray) -> GaussianStats:
        """Statistics of float [N, D] features."""
        features = np.asarray(features)
        if features.ndim != 2:
            raise TTMBenchError(f"features must be a 2-D array [N, D], got shape {features.shape}")
        stats = cls(features.shape[1])
        stats.update(features)
        return stats

    def update(self, features: np.ndarray) -> None:
        """Add float [N, D] features (any float dtype; accumulated in float64)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise TTMBenchError(f"features must have shape [N, {self.dim}], got {x.shape}; check "
                                "that every chunk comes from the same feature extractor")
        if not np.all(np.isfinite(x)):
            raise TTMBenchError("features contain NaN or inf; check the feature extractor's "
                                "input (decoded video range and dtype)")
        if x.shape[0] == 0:
            return
        mean = x.mean(axis=0)
        centred = x - mean
        self._combine(x.shape[0], mean, centred.T @ centred)

    def merge(self, other: GaussianStats) -> None:
        """Add another accumulator's features to this one (e.g. from another shard)."""
        if other.dim != self.dim:
            raise TTMBenchError(f"cannot merge feature statistics of dimension {other.dim} into "
                                f"dimension {self.dim}; were they made by the same extractor?")
        if other.n > 0:
            self._combine(other.n, other._mean, other._scatter)

    def _combine(self, n: int, mean: np.ndarray, scatter: np.ndarray) -> None:
        total = self.n + n
        delta = mean - self._mean
        self._scatter = self._scatter + scatter + np.outer(delta, delta) * (self.n * n / total)
        self._mean = self._mean + delta * (n / total)
        self.n = total

    @property
    def mean(self) -> np.ndarray:
        """float64 [D]."""
        if self.n < 1:
            raise TTMBenchError("the mean of zero feature vectors is undefined; add features first")
        return self._mean.copy()

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased (N-1) covariance, float64 [D, D]."""
        if self.n < 2:
            raise TTMBenchError(f"a covariance needs at least 2 feature vectors, got {self.n}")
        cov = self._scatter / (self.n - 1)
        return (cov + cov.T) / 2.0

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to `path` (.npz: n, mean, scatter) atomically."""
        if Path(path).suffix != ".npz":
            raise TTMBenchError(f"feature statistics are saved as .npz, got {path!s}")
        with atomic_path(path) as tmp:
            np.savez(tmp, n=np.int64(self.n), mean=self._mean, scatter=self._scatter)

    @classmethod
    def load(cls, path: str | os.PathLike[str], dim: int | None = None) -> GaussianStats:
        """Read statistics written by `save`; `dim`, when given, must match the stored one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                n, mean, scatter = int(data["n"]), data["mean"], data["scatter"]
        except FileNotFoundError:
            raise TTMBenchError(f"feature statistics file {path!s} does not exist") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TTMBenchError(f"{path!s} is not a feature statistics file written by "
                                f"GaussianStats.save ({exc}); delete it to recompute") from None
        stored = mean.shape[0] if mean.ndim == 1 else -1
        if stored < 1 or scatter.shape != (stored, stored) or n < 0:
            raise TTMBenchError(f"{path!s} has inconsistent shapes (mean {mean.shape}, scatter "
                                f"{scatter.shape}, n {n}); delete it to recompute")
        if dim is not None and stored != dim:
            raise TTMBenchError(f"{path!s} holds {stored}-d feature statistics, expected {dim}-d; "
                                "it was made by another feature extractor: delete it to recompute")
        stats = cls(stored)
        stats.n = n
        stats._mean = mean.astype(np.float64)
        stats._scatter = scatter.astype(np.float64)
        return stats


def _checked_gaussian(mu: np.ndarray, sigma: np.ndarray, name: str) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise TTMBenchError(f"{name}: need a mean [D] and a covariance [D, D], got shapes "
                            f"{mu.shape} and {sigma.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise TTMBenchError(f"{name}: mean or covariance contains NaN or inf; check the features "
                            "they were computed from")
    scale = float(np.max(np.abs(sigma), initial=0.0))
    if float(np.max(np.abs(sigma - sigma.T), initial=0.0)) > RELATIVE_TOLERANCE * scale:
        raise TTMBenchError(f"{name}: covariance is not symmetric; check that it is a covariance "
                            "matrix and not, e.g., a matrix of raw sums or its transpose product")
    return mu, (sigma + sigma.T) / 2.0


def _psd_eigh(sigma: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped to >= 0) and eigenvectors of a symmetric PSD matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh(sigma)
    largest = float(np.max(np.abs(eigenvalues), initial=0.0))
    if eigenvalues.size and eigenvalues[0] < -RELATIVE_TOLERANCE * largest:
        raise TTMBenchError(f"{name}: covariance is not positive semi-definite (eigenvalue "
                            f"{eigenvalues[0]:.3g}, largest {largest:.3g}); check that it is a "
                            "covariance of real features")
    return np.clip(eigenvalues, 0.0, None), eigenvectors


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    mu: float [D]; sigma: float [D, D] symmetric PSD. Raises `TTMBenchError` for non-finite
    input, mismatched shapes or covariances that are not symmetric PSD within tolerance.
    """
    mu1, sigma1 = _checked_gaussian(mu1, sigma1, "first Gaussian")
    mu2, sigma2 = _checked_gaussian(mu2, sigma2, "second Gaussian")
    if mu1.shape != mu2.shape:
        raise TTMBenchError(f"feature dimensions differ: {mu1.shape[0]} vs {mu2.shape[0]}; both "
                            "statistics must come from the same feature extractor")
    eigenvalues1, eigenvectors1 = _psd_eigh(sigma1, "first Gaussian")
    _psd_eigh(sigma2, "second Gaussian")
    sqrt_sigma1 = (eigenvectors1 * np.sqrt(eigenvalues1)) @ eigenvectors1.T
    product = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    product_eigenvalues = np.linalg.eigvalsh((product + product.T) / 2.0)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(product_eigenvalues, 0.0, None))))
    diff = mu1 - mu2
    distance = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return max(distance, 0.0)


def frechet_distance_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to float [N, D] and [M, D] features."""
    stats_a = GaussianStats.from_features(a)
    stats_b = GaussianStats.from_features(b)
    return frechet_distance(stats_a.mean, stats_a.covariance, stats_b.mean, stats_b.covariance)
