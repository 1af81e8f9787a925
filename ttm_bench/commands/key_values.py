"""`KEY=VALUE` command-line options (`--set`, `--metric-option`)."""

from __future__ import annotations

from typing import Any

import yaml

from ttm_bench.errors import TTMBenchError


def parse_overrides(items: list[str], option: str = "--set") -> dict[str, Any]:
    """Parse `key=value` pairs; values are read as YAML scalars (numbers, booleans, strings)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TTMBenchError(f"{option} {item!r}: expected key=value")
        overrides[key] = yaml.safe_load(value) if value else ""
    return overrides



def parse_names(text: str, option: str) -> list[str]:
    """Comma-separated names (`--metrics ad,clipframe`); refuses a list that names nothing."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise TTMBenchError(f"{option} {text!r} names nothing; give comma-separated names, "
                            f"e.g. {option} ad_dis,clipframe")
    return names
