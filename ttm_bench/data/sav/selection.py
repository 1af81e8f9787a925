"""The SA-V-128 selection protocol (paper, supplementary §11), as pure functions.

1. Every candidate has a category (one of `CATEGORIES`), an aesthetic score and a motion score.
2. The combined score is the sum of the two scores standardised over all candidates
   (z-scores), so that neither scale dominates; the paper does not say how it combined them.
3. A category loop keeps videos: in each round, every category (in `CATEGORIES` order) gives
   its best remaining candidate by combined score, until `keep` (500) are kept. Categories run
   out independently; the loop continues over the others.
4. From the kept pool, `n_single` (64) single-object and `n_multi` (64) multi-object videos are
   drawn uniformly without replacement with `numpy.random.default_rng(seed)`, each from its
   group sorted by video id, so the same inputs and seed give the same draw.

Single vs multi is not defined in the paper: here a video is single-object when exactly one
manual masklet covers at least the minimum area in frame 0, multi-object when two or more do;
videos with none are excluded before selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ttm_bench.data.sampling import seeded_draw
from ttm_bench.errors import Problem

CATEGORIES = ("Animal", "Architecture", "Digital Art", "Food", "Landscape", "Lifestyle", "Plant",
              "Vehicles", "Visual Art", "Other")
SINGLE, MULTI = "single", "multi"


@dataclass(frozen=True)
class Candidate:
    """A scored, categorised candidate video. `num_objects` counts first-frame objects."""

    id: str
    category: str
    aesthetic: float
    motion: float
    num_objects: int

    @property
    def split(self) -> str:
        return SINGLE if self.num_objects == 1 else MULTI


@dataclass(frozen=True)
class SelectionProtocol:
    """The protocol's sizes and seed."""

    keep: int = 500
    n_single: int = 64
    n_multi: int = 64
    seed: int = 0


@dataclass(frozen=True)
class Selection:
    """The outcome: combined scores, the kept pool in keeping order, the draw per split."""

    combined: dict[str, float]
    kept: list[str]
    single: list[str]
    multi: list[str]
    problems: list[Problem]

    def to_dict(self) -> dict[str, Any]:
        return {"combined": self.combined, "kept": self.kept, "single": self.single,
                "multi": self.multi, "problems": [asdict(p) for p in self.problems]}


def combined_scores(candidates: Sequence[Candidate]) -> dict[str, float]:
    """z(aesthetic) + z(motion) per candidate id; a constant score contributes 0.

    Computed over the candidates sorted by id, so the input order cannot change a bit.
    """
    candidates = sorted(candidates, key=lambda c: c.id)
    aesthetic = _standardise(np.array([c.aesthetic for c in candidates], dtype=np.float64))
    motion = _standardise(np.array([c.motion for c in candidates], dtype=np.float64))
    return {c.id: float(a + m) for c, a, m in zip(candidates, aesthetic, motion, strict=True)}


def _standardise(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return np.zeros_like(values) if std == 0 else (values - values.mean()) / std


def category_loop(candidates: Sequence[Candidate], combined: dict[str, float], keep: int
                  ) -> list[str]:
    """Ids kept by the round-robin over `CATEGORIES`, best combined score first (ties by id)."""
    queues = {cat: sorted((c for c in candidates if c.category == cat),
                          key=lambda c: (-combined[c.id], c.id)) for cat in CATEGORIES}
    kept: list[str] = []
    depth = 0
    while len(kept) < keep and any(depth < len(q) for q in queues.values()):
        for cat in CATEGORIES:
            if depth < len(queues[cat]) and len(kept) < keep:
                kept.append(queues[cat][depth].id)
        depth += 1
    return kept


def select(candidates: Sequence[Candidate], protocol: SelectionProtocol, file: str) -> Selection:
    """Run the protocol. When the pool is too small, the draw is empty and `problems` says why.

    `file` names the stage output the problems refer to.
    """
    unknown = [c.id for c in candidates if c.category not in CATEGORIES]
    if unknown:
        raise ValueError(f"candidates with unknown categories: {unknown}")
    combined = combined_scores(candidates) if candidates else {}
    kept = category_loop(candidates, combined, protocol.keep)
    by_id = {c.id: c for c in candidates}
    groups = {split: [i for i in kept if by_id[i].split == split] for split in (SINGLE, MULTI)}
    problems: list[Problem] = []
    if len(kept) < protocol.keep:
        problems.append(Problem(file, f"only {len(kept)} valid candidates, the protocol keeps "
                                f"{protocol.keep}", "add SA-V videos (more archives) or lower "
                                "--keep (recorded as a deviation from the paper)"))
    for split, n in ((SINGLE, protocol.n_single), (MULTI, protocol.n_multi)):
        if len(groups[split]) < n:
            problems.append(Problem(file, f"the kept pool has {len(groups[split])} {split}-object "
                                    f"videos, the draw needs {n}", "add SA-V videos or raise "
                                    "--keep, or lower --n-single/--n-multi"))
    if problems:
        return Selection(combined, kept, [], [], problems)
    rng = np.random.default_rng(protocol.seed)
    single = seeded_draw(groups[SINGLE], protocol.n_single, rng)
    multi = seeded_draw(groups[MULTI], protocol.n_multi, rng)
    return Selection(combined, kept, single, multi, [])
