"""Metric registry: each name is a metric class plus preset parameters, as data.

Targets are `module:Class` strings imported only when the metric is chosen, so model-based
metrics import torch on demand. Aliases map a family name to its default member
(`ad` → `ad_dis`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from ttm_bench.errors import TTMBenchError, UnknownNameError, optional_dependency
from ttm_bench.metrics.base import Metric, MetricSpec

_FVD = "ttm_bench.metrics.fvd:FrechetVideoDistance"
_KVD = "ttm_bench.metrics.fvd:KernelVideoDistance"
_FVD_INF = "ttm_bench.metrics.fvd:FrechetVideoDistanceInf"
#: StyleGAN-V's conventions (src/metrics/frechet_video_distance.py): N covariances, the uint8
#: clip scaled and resized inside the TorchScript, ground-truth clips from a random start
#: (seeded here). common_metrics_on_video_quality's (fvd/styleganv/fvd.py): shorter side to
#: 224 and a centre crop, every frame passed, np.cov (N-1).
_STYLEGANV = {"num_frames": 16, "resize": "in_module", "reference_offset_seed": 0,
              "covariance_ddof": 0}
_COMMON_METRICS = {"frames": "all", "resize": "short_side_crop"}
_CLIPFRAME = "ttm_bench.metrics.clipframe:CLIPFrame"
_VICLIP = "ttm_bench.metrics.viclip.metric"
_AD = "ttm_bench.metrics.motion:AverageDisplacement"
_OBJECTS = "ttm_bench.metrics.objects.metrics"

#: In the paper's column order (Table 1): FVD, CLIPFrame, ViCLIP-T, ViCLIP-V, AD.
METRICS: dict[str, MetricSpec] = {
    "fvd16": MetricSpec(_FVD, "FVD16", {"num_frames": 16}, depends_on_n=True),
    "fvd128": MetricSpec(_FVD, "FVD128", {"num_frames": 128}, depends_on_n=True),
    "kvd16": MetricSpec(_KVD, "KVD16", {"num_frames": 16}),
    "fvd16_inf": MetricSpec(_FVD_INF, "FVD16∞", {"num_frames": 16}, in_default_set=False),
    "fvd16_styleganv": MetricSpec(_FVD, "FVD16 (StyleGAN-V)", _STYLEGANV, in_default_set=False,
                                  depends_on_n=True),
    "fvd_cm": MetricSpec(_FVD, "FVD (common_metrics)", _COMMON_METRICS, in_default_set=False,
                         depends_on_n=True),
    "clipframe": MetricSpec(_CLIPFRAME, "CLIPFrame", {"pairs": "all"}),
    "clipframe_consecutive": MetricSpec(_CLIPFRAME, "CLIPFrame (consec.)",
                                        {"pairs": "consecutive"}),
    "viclip_t": MetricSpec(f"{_VICLIP}:ViCLIPText", "ViCLIP-T"),
    "viclip_v": MetricSpec(f"{_VICLIP}:ViCLIPVideo", "ViCLIP-V"),
    "viclip_v_static": MetricSpec(f"{_VICLIP}:ViCLIPVideoStatic", "ViCLIP-V (static)"),
    "ad_dis": MetricSpec(_AD, "AD", {"backend": "dis"}),
    "ad_raft": MetricSpec(_AD, "AD (RAFT)", {"backend": "raft"}),
    "ad_cotracker": MetricSpec(_AD, "AD (CoTracker)", {"backend": "cotracker"}),
    # Object-level motion (ttm_bench.metrics.objects): s(0) masks tracked through the video.
    "ad_object": MetricSpec(f"{_OBJECTS}:ObjectDisplacement", "AD object"),
    "ad_background": MetricSpec(f"{_OBJECTS}:BackgroundDisplacement", "AD background"),
    "motion_locality": MetricSpec(f"{_OBJECTS}:MotionLocality", "Motion locality"),
    "object_persistence": MetricSpec(f"{_OBJECTS}:ObjectPersistence", "Persistence"),
    "trajectory_miou": MetricSpec(f"{_OBJECTS}:TrajectoryIoU", "Trajectory mIoU"),
}

#: The paper's Table 1 columns. Reports show these even when not computed (with the reason),
#: and other metrics only when some run has them.
PAPER_METRICS = ("fvd16", "clipframe", "viclip_t", "viclip_v", "ad_dis")

ALIASES: dict[str, str] = {"ad": "ad_dis"}

#: Names that stand for several metrics (`--metrics objects`); reports group these columns.
GROUPS: dict[str, tuple[str, ...]] = {
    "objects": ("ad_object", "ad_background", "motion_locality", "object_persistence",
                "trajectory_miou"),
}


def register_metric(name: str, target: str, label: str, **params: Any) -> None:
    """Add a metric name (e.g. a new preset of an existing class)."""
    METRICS[name] = MetricSpec(target, label, dict(params))


def list_metrics(default_set_only: bool = False) -> list[str]:
    """Registered metric names, in registration (paper column) order; with `default_set_only`,
    those evaluated when no metric is named (opt-in presets left out)."""
    return [name for name, spec in METRICS.items() if spec.in_default_set or not default_set_only]


def depends_on_n(metric: str) -> bool:
    """Whether the metric's expected value moves with the number of samples (FVD)."""
    spec = METRICS.get(ALIASES.get(metric, metric))
    return spec is not None and spec.depends_on_n


def canonical_name(name: str) -> str:
    """Resolve aliases; raise `UnknownNameError` for unknown names."""
    name = ALIASES.get(name, name)
    if name not in METRICS:
        raise UnknownNameError("metric", name, sorted(set(METRICS) | set(ALIASES) | set(GROUPS)))
    return name


def expand_names(names: Sequence[str]) -> list[str]:
    """Canonical metric names for `names`, groups expanded in place, duplicates dropped."""
    expanded = (member for n in names for member in GROUPS.get(n, (n,)))
    return list(dict.fromkeys(canonical_name(n) for n in expanded))


def metric_class(name: str) -> type[Metric]:
    target = METRICS[canonical_name(name)].target
    module_name, _, attr = target.partition(":")
    with optional_dependency(f"metric {name!r}", "metrics"):
        module = importlib.import_module(module_name)
    cls = getattr(module, attr)
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise TTMBenchError(f"metric target {target!r} is not a Metric subclass")
    return cls


def create_metric(name: str, **params: Any) -> Metric:
    """Build the metric registered as `name` (aliases allowed) with optional overrides."""
    canonical = canonical_name(name)
    cls = metric_class(canonical)
    metric = cls(**{**METRICS[canonical].params, **params})
    metric.preset = type(metric.preset)(canonical, metric.preset.params, metric.preset.version)
    metric.label = METRICS[canonical].label
    return metric
