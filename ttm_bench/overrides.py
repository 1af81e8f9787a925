"""Overrides of a default configuration (`--set`, `--metric-option`), checked against it.

A value must have the type of the key's default, so a mistyped value is refused before anything
is written (e.g. before `run.json` records the config, which a corrected command would then be
refused for): booleans for booleans, integers for integers, numbers for floats (integers are
converted), strings for strings, lists and objects for lists and objects. A key whose default
is None accepts any value.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from ttm_bench.errors import TTMBenchError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: (accepts, converts, name) by the type of the default.
_RULES: tuple[tuple[type, Any, Any, str], ...] = (
    (bool, lambda v: isinstance(v, bool), bool, "a boolean (true or false)"),
    (int, _is_int, int, "an integer"),
    (float, lambda v: _is_int(v) or isinstance(v, float), float, "a number"),
    (str, lambda v: isinstance(v, str), str, "a string"),
    (list, lambda v: isinstance(v, list | tuple), list, "a list"),
    (tuple, lambda v: isinstance(v, list | tuple), tuple, "a list"),
    (dict, lambda v: isinstance(v, Mapping), dict, "an object"),
)


def check_overrides(defaults: Mapping[str, Any], overrides: Mapping[str, Any], owner: str,
                    option: str) -> dict[str, Any]:
    """`overrides` with each value checked against (and converted like) its key's default.

    owner: what the keys configure, e.g. "model 'ken-burns'"; option: how the command line sets
    a key, written before it in messages (`"--set "`, `"--metric-option ad_dis."`). Unknown keys
    are the caller's to refuse.
    """
    checked = dict(overrides)
    for key, value in overrides.items():
        default = defaults.get(key)
        if default is None:
            continue
        for kind, accepts, convert, name in _RULES:
            if isinstance(default, kind):
                if not accepts(value):
                    hint = (f", or quote it to pass text: {option}{key}='\"{value}\"'"
                            if kind is str else "")
                    raise TTMBenchError(
                        f"{option}{key}={value}: {owner} expects {name} for {key!r} (its "
                        f"default is {default!r}), got {type(value).__name__} "
                        f"{reprlib.repr(value)}; pass {name}, e.g. {option}{key}={default}{hint}")
                checked[key] = convert(value)
                break
    return checked
