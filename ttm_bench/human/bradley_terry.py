"""Bradley–Terry strengths from pairwise comparisons, fitted by Newton's method.

Model: P(i beats j) = π_i / (π_i + π_j) = σ(θ_i − θ_j) with θ = log π. A tie counts as half a
win for each side. `prior` adds that many virtual ties to every compared pair (half a win each
way): a penalty that keeps the estimate finite when a model won (or lost) all its comparisons
and pulls sparse designs' strengths towards each other; prior = 0 gives the maximum-likelihood
estimate, which exists only when every model beat, directly or through others, every other
model (the "beats" graph is strongly connected) — otherwise a `BradleyTerryError` says so.

Strengths are reported as θ centred to mean 0, in natural-log units: a difference d means
P(win) = 1 / (1 + e^(−d)); on the Elo scale (400 points = 10× odds) it is d · 400 / ln 10.

The fit maximises the (penalised) log-likelihood, which is concave in θ, by Newton steps with
a backtracking line search, and stops when the largest gradient component falls below
`GRADIENT_TOLERANCE` (in wins); it raises rather than return a fit that did not converge.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse.csgraph import connected_components

from ttm_bench.errors import TTMBenchError

MAX_ITERATIONS = 100
GRADIENT_TOLERANCE = 1e-9
ELO_PER_NAT = 400 / math.log(10)


class BradleyTerryError(TTMBenchError):
    """The design does not determine the strengths (disconnected, or no MLE with prior 0)."""


def win_matrix(winners: np.ndarray, losers: np.ndarray, ties: np.ndarray, n_models: int
               ) -> np.ndarray:
    """float64 [n_models, n_models] wins[i, j] = times i beat j (ties add ½ to both sides).

    winners, losers: int [n] model indices per comparison; ties: bool [n].
    """
    wins = np.zeros((n_models, n_models), dtype=np.float64)
    weight = np.where(ties, 0.5, 1.0)
    np.add.at(wins, (winners, losers), weight)
    np.add.at(wins, (losers[ties], winners[ties]), 0.5)
    return wins


def _log_likelihood(theta: np.ndarray, wins: np.ndarray) -> float:
    diff = theta[:, None] - theta[None, :]
    return float(-(wins * np.logaddexp(0.0, -diff)).sum())


def fit_log_strengths(wins: np.ndarray, prior: float = 0.0) -> np.ndarray:
    """float64 [m] centred log-strengths from float [m, m] win counts (see module docstring).

    Raises `BradleyTerryError` when the models are not all connected by comparisons, when
    prior = 0 and the maximum-likelihood estimate does not exist, or (never seen in practice)
    when Newton's method does not converge.
    """
    wins = np.asarray(wins, dtype=np.float64)
    m = wins.shape[0]
    games = wins + wins.T
    if prior > 0:
        wins = wins + prior / 2 * (games > 0)
        games = wins + wins.T
    n_parts, _ = connected_components(games > 0, directed=False)
    if n_parts > 1:
        raise BradleyTerryError(f"the models form {n_parts} groups never compared with each "
                                "other; Bradley–Terry strengths are only comparable within a "
                                "connected design: add pairs linking the groups")
    n_strong, _ = connected_components(wins > 0, directed=True, connection="strong")
    if n_strong > 1:
        raise BradleyTerryError("some models never beat (or never lost to) the rest, so the "
                                "maximum-likelihood strengths do not exist (they diverge); use "
                                "prior > 0")
    theta = np.zeros(m)
    total_wins = wins.sum(axis=1)
    value = _log_likelihood(theta, wins)
    for _ in range(MAX_ITERATIONS):
        p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))  # P(i beats j)
        gradient = total_wins - (games * p).sum(axis=1)
        if np.max(np.abs(gradient)) < GRADIENT_TOLERANCE:
            return theta - theta.mean()
        weights = games * p * p.T
        laplacian = np.diag(weights.sum(axis=1)) - weights  # = −Hessian, null space 1
        step = np.linalg.solve(laplacian + 1.0 / m, gradient)  # + 11ᵀ/m fixes the mean
        scale = 1.0
        while True:  # backtracking: the likelihood never decreases
            candidate = theta + scale * step
            new_value = _log_likelihood(candidate, wins)
            if new_value >= value - 1e-12 * abs(value) or scale < 1e-8:
                break
            scale /= 2
        theta, value = candidate - candidate.mean(), new_value
    raise BradleyTerryError(f"Bradley–Terry fit did not converge in {MAX_ITERATIONS} Newton "
                            f"steps (largest gradient {np.max(np.abs(gradient)):.3g} wins)")
