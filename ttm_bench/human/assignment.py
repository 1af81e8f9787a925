"""Balanced, randomised rating queues: which rater sees which item, in which order, on which side.

Pure and deterministic for a given seed. Each item is laid out as many times in a row as it
needs raters, and slot j goes to rater ``j mod R``; since the copies of an item occupy
consecutive slots and no item needs more than R raters, they go to distinct raters, and every
rater gets ⌊S/R⌋ or ⌈S/R⌉ of the S slots. Items and raters are shuffled first,
each queue is shuffled after, and left/right is a fair coin per (rater, item).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ttm_bench.errors import TTMBenchError


@dataclass(frozen=True)
class Slot:
    """One entry of a rater's queue. `a_on_left`: the pair's first run is shown on the left."""

    rater: str
    position: int
    item: str
    a_on_left: bool


def checks_per_rater(n_items: int, n_raters: int, per_item: int, rate: float) -> int:
    """How many attention checks each rater gets: ⌈rate × longest regular queue⌉ (0 if no rate)."""
    if rate <= 0.0 or n_items == 0:
        return 0
    return math.ceil(rate * math.ceil(n_items * per_item / n_raters))


def assign(items: Sequence[str], raters: Sequence[str], per_item: int | Mapping[str, int],
           seed: int, checks: Sequence[str] = ()) -> list[Slot]:
    """Queues for every rater: each item reaches `per_item` distinct raters (one number for all,
    or item → number, e.g. the shortfall when topping a study up); every rater also gets every
    item of `checks` (attention checks) at random positions.

    Returns the slots sorted by (rater, position); positions count from 0 per rater.
    """
    if len(set(items)) != len(items) or set(items) & set(checks):
        raise TTMBenchError("item ids must be unique (regular items and checks together)")
    counts = ({i: per_item for i in items} if isinstance(per_item, int)
              else {i: per_item[i] for i in items})
    most = max(counts.values(), default=0)
    if most > len(raters) or any(c < 0 for c in counts.values()) or not raters:
        raise TTMBenchError(f"cannot give an item {most} distinct raters with {len(raters)} "
                            f"raters; invite at least {max(most, 1)} raters")
    rng = np.random.default_rng(seed)
    item_order = [items[i] for i in rng.permutation(len(items))]
    rater_order = [raters[i] for i in rng.permutation(len(raters))]
    queues: dict[str, list[str]] = {r: list(checks) for r in raters}
    j = 0  # the copies of an item take consecutive slots, hence distinct raters
    for item in item_order:
        for _ in range(counts[item]):
            queues[rater_order[j % len(raters)]].append(item)
            j += 1
    slots: list[Slot] = []
    for rater in raters:
        queue = queues[rater]
        shuffled = [queue[i] for i in rng.permutation(len(queue))]
        sides = rng.random(len(shuffled)) < 0.5
        slots.extend(Slot(rater, pos, item, bool(side))
                     for pos, (item, side) in enumerate(zip(shuffled, sides, strict=True)))
    return slots
