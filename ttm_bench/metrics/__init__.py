"""Metrics: one module per family, each a small class with `update`/`compute`.

`frechet.py` and `stats.py` are pure math; presets pin every convention (see the README).
"""

from ttm_bench.metrics.base import EvalItem, Metric, MissingWeightsError, PerSampleMetric, Preset
from ttm_bench.metrics.registry import create_metric, list_metrics, register_metric

__all__ = [
    "EvalItem",
    "Metric",
    "MissingWeightsError",
    "PerSampleMetric",
    "Preset",
    "create_metric",
    "list_metrics",
    "register_metric",
]
