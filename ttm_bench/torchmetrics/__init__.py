"""ttm-bench's metrics as `torchmetrics.Metric`s, for validation inside training loops.

Same preset, same number as `ttm-bench evaluate`; see docs/metrics.md, "Use in training".
Needs the `metrics` extra (torch, torchmetrics).
"""

from ttm_bench.torchmetrics.metrics import (
    AverageDisplacement,
    CLIPFrameConsistency,
    FrechetVideoDistance,
    ObjectMotion,
    ViCLIPScore,
)

__all__ = ["AverageDisplacement", "CLIPFrameConsistency", "FrechetVideoDistance", "ObjectMotion",
           "ViCLIPScore"]
