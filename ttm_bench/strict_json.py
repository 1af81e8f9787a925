"""Strict JSON reading for the files whose numbers feed results.

Python's `json` accepts the non-standard constants `NaN`, `Infinity` and `-Infinity`, and reads
`1e999` as infinity. `loads` parses like `json.loads` and then reports every non-finite number
with the path of its field (`meta.scene.speed`, `objects[1].id`), so a parser can say which field
to fix instead of letting a NaN reach a metric.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from ttm_bench.errors import Problem


def non_finite_fields(value: Any, path: str = "") -> Iterator[str]:
    """Field paths of every NaN or ±infinity float inside `value` (nested dicts and lists)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path or "(the value)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from non_finite_fields(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from non_finite_fields(item, f"{path}[{i}]")


def loads(text: str, file: str, problems: list[Problem], line: int | None = None,
          fix: str = "fix the file so it is valid JSON") -> Any | None:
    """The JSON value of `text`, or None with problems appended (invalid JSON, non-finite
    numbers). `file`/`line` locate `text` in messages; `fix` is the fix of a syntax error."""
    non_finite = False

    def constant(name: str) -> float:  # NaN, Infinity, -Infinity
        nonlocal non_finite
        non_finite = True
        return float(name)

    def number(literal: str) -> float:  # 1e999 reads as infinity
        nonlocal non_finite
        value = float(literal)
        non_finite = non_finite or not math.isfinite(value)
        return value

    try:
        value = json.loads(text, parse_constant=constant, parse_float=number)
    except json.JSONDecodeError as exc:
        problems.append(Problem(file, f"not valid JSON ({exc})", fix, line))
        return None
    if not non_finite:  # the common case: no walk over the value
        return value
    bad = list(non_finite_fields(value))
    for field in bad:
        problems.append(Problem(file, "NaN or infinity is not a number JSON can hold",
                                "write a finite number", line, field))
    return None


def dumps_canonical(value: Any) -> str:
    """One fixed text for a JSON value (sorted keys, no spaces, ASCII), for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
