"""How a reported number is written: fixed decimals per metric family, and the sample count
beside every value whose expectation depends on it (FVD) or that left undefined samples out
(motion locality of static videos).

One place for leaderboards, comparisons and LaTeX tables, so a number reads the same everywhere:
``format_value(45.123, 2, n=64)`` → ``"45.12 [n=64]"``; ``format_value(0.4215, 3, n=14,
undefined=2)`` → ``"0.421 [n=14, 2 undefined]"``.
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


def format_value(value: float, decimals: int, n: int | None = None, undefined: int = 0) -> str:
    """`value` with `decimals` places, followed by `` [n=N]`` when `n` is given, or by
    `` [n=N, K undefined]`` when `undefined` = K > 0 samples were left out (N: those used)."""
    text = f"{value:.{decimals}f}"
    if undefined:
        return f"{text} [n={n}, {undefined} undefined]"
    return text if n is None else f"{text} [n={n}]"


def format_metric_value(metric: str, value: float, n: int, n_undefined: int = 0) -> str:
    """`value` of `metric` with its family's decimals and, for metrics whose expectation moves
    with the number of samples (`registry.depends_on_n`: FVD), its n; when `n_undefined` of the
    `n` samples were undefined (left out of the value), the n used and that count."""
    if n_undefined:
        return format_value(value, decimals_for(metric), n - n_undefined, n_undefined)
    return format_value(value, decimals_for(metric), n if depends_on_n(metric) else None)
