"""Metric registry: each name is a metric class plus preset parameters, as data.

Targets are `module:Class` strings imported only when the metric is chosen, so model-based
metrics import torch on demand. Aliases map a family name to its default member
(`ad` → `ad_dis`).
"""

from __future__ import annotations

import importlib
from typing import Any

from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.metrics.base import Metric, MetricSpec

METRICS: dict[str, MetricSpec] = {
    "ad_dis": MetricSpec("ttm_bench.metrics.motion:AverageDisplacement", {"backend": "dis"}),
    "ad_raft": MetricSpec("ttm_bench.metrics.motion:AverageDisplacement", {"backend": "raft"}),
    "ad_cotracker": MetricSpec("ttm_bench.metrics.motion:AverageDisplacement",
                               {"backend": "cotracker"}),
    "clipframe": MetricSpec("ttm_bench.metrics.clipframe:CLIPFrame", {"pairs": "all"}),
    "clipframe_consecutive": MetricSpec("ttm_bench.metrics.clipframe:CLIPFrame",
                                        {"pairs": "consecutive"}),
    "fvd16": MetricSpec("ttm_bench.metrics.fvd:FrechetVideoDistance", {"num_frames": 16}),
    "fvd128": MetricSpec("ttm_bench.metrics.fvd:FrechetVideoDistance", {"num_frames": 128}),
    "viclip_t": MetricSpec("ttm_bench.metrics.viclip.metric:ViCLIPText"),
    "viclip_v": MetricSpec("ttm_bench.metrics.viclip.metric:ViCLIPVideo"),
    "viclip_v_static": MetricSpec("ttm_bench.metrics.viclip.metric:ViCLIPVideoStatic"),
}

ALIASES: dict[str, str] = {"ad": "ad_dis"}


def register_metric(name: str, target: str, **params: Any) -> None:
    """Add a metric name (e.g. a new preset of an existing class)."""
    METRICS[name] = MetricSpec(target, dict(params))


def list_metrics() -> list[str]:
    return sorted(METRICS)


def canonical_name(name: str) -> str:
    """Resolve aliases; raise `UnknownNameError` for unknown names."""
    name = ALIASES.get(name, name)
    if name not in METRICS:
        raise UnknownNameError("metric", name, sorted(set(METRICS) | set(ALIASES)))
    return name


def metric_class(name: str) -> type[Metric]:
    target = METRICS[canonical_name(name)].target
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise TTMBenchError(f"metric target {target!r} is not a Metric subclass")
    return cls


def create_metric(name: str, **params: Any) -> Metric:
    """Build the metric registered as `name` (aliases allowed) with optional overrides."""
    canonical = canonical_name(name)
    cls = metric_class(canonical)
    metric = cls(**{**METRICS[canonical].params, **params})
    metric.preset = type(metric.preset)(canonical, metric.preset.params, metric.preset.version)
    return metric
