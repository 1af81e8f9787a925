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

