"""Seeded subsets of sample ids, reproducible across machines and input orders."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def seeded_draw(ids: Sequence[str], n: int, rng: np.random.Generator) -> list[str]:
    """`n` of `ids` drawn uniformly without replacement from the sorted ids; returned sorted.

    Sorting first makes the draw independent of the order the ids were found in.
    """
    pool = sorted(ids)
    if n > len(pool):
        raise ValueError(f"cannot draw {n} from {len(pool)} ids")
    chosen = rng.choice(len(pool), size=n, replace=False)
    return sorted(pool[i] for i in chosen)
