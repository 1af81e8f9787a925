"""How a reported number is written: fixed decimals per metric family, and the sample count
beside every value whose expectation depends on it (FVD).

One place for leaderboards, comparisons and LaTeX tables, so a number reads the same everywhere:
``format_value(45.123, 2, n=64)`` → ``"45.12 [n=64]"``.
"""

from __future__ import annotations

import re

from ttm_bench.metrics.registry import depends_on_n

#: Decimals by metric family (the name's leading letters: `fvd16` → `fvd`); others get 3.
DECIMALS = {"fvd": 2, "kvd": 3, "ad": 2}
DEFAULT_DECIMALS = 3


def decimals_for(metric: str) -> int:
    family = re.match(r"[a-z]*", metric.lower()).group(0)
    return DECIMALS.get(family, DEFAULT_DECIMALS)


def format_value(value: float, decimals: int, n: int | None = None) -> str:
    """`value` with `decimals` places, followed by `` [n=N]`` when `n` is given."""
    text = f"{value:.{decimals}f}"
    return text if n is None else f"{text} [n={n}]"


def format_metric_value(metric: str, value: float, n: int) -> str:
    """`value` of `metric` with its family's decimals and, for metrics whose expectation moves
    with the number of samples (`registry.depends_on_n`: FVD), its n."""
    return format_value(value, decimals_for(metric), n if depends_on_n(metric) else None)
