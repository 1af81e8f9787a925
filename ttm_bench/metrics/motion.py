"""AD, average displacement: how much a video moves, in pixels per frame.

Per video: resize every frame so its shorter side is `eval_short_side` (aspect kept, `resize`
interpolation), estimate optical flow between each pair of consecutive frames with the chosen
backend, and average the flow vectors' magnitude over all pixels and all pairs. Reported in
pixels at the evaluation size, so videos of different resolutions are comparable. No direction
is better: a static video scores ≈ 0, and too much motion is as wrong as too little.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem, PerSampleMetric


def _dis_backend(params: dict) -> Callable[[np.ndarray], np.ndarray]:
    from ttm_bench.metrics.optical_flow import dis_flow

    return lambda video: dis_flow(video, preset=params["dis_preset"])


#: Flow backends: name → factory(params) → flow(video uint8 [T, H, W, 3]) -> float [T-1, H, W, 2].
FLOW_BACKENDS: dict[str, Callable[[dict], Callable[[np.ndarray], np.ndarray]]] = {
    "dis": _dis_backend,
}


class AverageDisplacement(PerSampleMetric):
    """Mean optical-flow magnitude between consecutive frames (pixels at the evaluation size)."""

    name = "ad"
    label = "AD"
    higher_is_better = None
    default_params: ClassVar[Mapping[str, Any]] = {
        "backend": "dis",
        "eval_short_side": 256,
        "resize": "bilinear",
        "dis_preset": "medium",
    }

    @cached_property
    def _flow(self) -> Callable[[np.ndarray], np.ndarray]:
        backend = self.params["backend"]
        if backend not in FLOW_BACKENDS:
            raise TTMBenchError(f"AD backend {backend!r} unknown; known: {sorted(FLOW_BACKENDS)}")
        return FLOW_BACKENDS[backend](dict(self.params))

    def setup(self, device: str) -> None:
        self._flow  # noqa: B018 - build the backend now, so a missing one fails before decoding

    def score(self, item: EvalItem) -> float:
        from ttm_bench.metrics.optical_flow import flow_magnitude_mean
        from ttm_bench.video import resize_short_side

        if item.video.shape[0] < 2:
            raise TTMBenchError(f"AD needs at least 2 frames; video {item.sample_id!r} has "
                                f"{item.video.shape[0]}")
        video = resize_short_side(item.video, self.params["eval_short_side"],
                                  method=self.params["resize"])
        return flow_magnitude_mean(self._flow(video))
