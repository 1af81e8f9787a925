"""Bradley–Terry strengths from pairwise comparisons, fitted by minorise–maximise (Hunter 2004).

Model: P(i beats j) = π_i / (π_i + π_j). A tie counts as half a win for each side. `prior`
adds that many virtual ties to every compared pair, which keeps the estimate finite when a
model won (or lost) all its comparisons; prior = 0 gives the maximum-likelihood estimate.
Strengths are reported as log π centred to mean 0 (natural-log units: a difference of d means
P(win) = 1 / (1 + e^(−d))).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import connected_components

from ttm_bench.errors import TTMBenchError

MAX_ITERATIONS = 10_000
TOLERANCE = 1e-10


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


def fit_log_strengths(wins: np.ndarray, prior: float = 0.0) -> np.ndarray:
    """float64 [m] centred log-strengths from float [m, m] win counts (see module docstring)."""
    wins = np.asarray(wins, dtype=np.float64)
    m = wins.shape[0]
    games = wins + wins.T
    if prior > 0:
        compared = games > 0
        wins = wins + prior / 2 * compared
        games = wins + wins.T
    n_parts, _ = connected_components(games > 0, directed=False)
    if n_parts > 1:
        raise TTMBenchError(f"the models form {n_parts} groups never compared with each other; "
                            "Bradley–Terry strengths are only comparable within a connected "
                            "design: add pairs linking the groups")
    total_wins = wins.sum(axis=1)
    if np.any(total_wins <= 0):
        raise TTMBenchError("a model with no wins has strength 0 and the Bradley–Terry fit "
                            "diverges; use prior > 0")
    strength = np.ones(m)
    for _ in range(MAX_ITERATIONS):
        denom = (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        updated = total_wins / denom
        updated /= np.exp(np.log(updated).mean())
        converged = np.max(np.abs(np.log(updated) - np.log(strength))) < TOLERANCE
        strength = updated
        if converged:
            break
    return np.log(strength)
