"""AD, average displacement: how much a video moves, in pixels per frame.

Per video: resize every frame so its shorter side is `eval_short_side` (aspect kept, `resize`
interpolation), then measure the motion between each pair of consecutive frames with the chosen
backend and average it. Reported in pixels at the evaluation size, so videos of different
resolutions are comparable. No direction is better: a static video scores ≈ 0, and too much
motion is as wrong as too little.

Backends: `dis` (OpenCV DIS flow, no weights) and `raft` (torchvision RAFT-large, the paper's
estimator) average the flow magnitude over all pixels and pairs; `cotracker` (CoTracker3
offline) averages the displacement of grid points over the steps where they are visible.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem, PerSampleMetric, pop_own_params

#: video uint8 [T, H, W, 3] at the evaluation size → mean displacement in pixels per frame.
Displacement = Callable[[np.ndarray], float]
Checkpoint = str | os.PathLike[str] | None


def _dis_backend(params: Mapping[str, Any], device: str, checkpoint: Checkpoint) -> Displacement:
    from ttm_bench.metrics.optical_flow import dis_flow, flow_magnitude_mean

    return lambda video: flow_magnitude_mean(dis_flow(video, preset=params["dis_preset"]))


def _raft_backend(params: Mapping[str, Any], device: str, checkpoint: Checkpoint) -> Displacement:
    from ttm_bench import weights
    from ttm_bench.metrics.optical_flow import flow_magnitude_mean
    from ttm_bench.metrics.raft_flow import load_raft, raft_flow

    model = load_raft(weights.locate("raft_large", checkpoint), device)
    return lambda video: flow_magnitude_mean(raft_flow(
        model, video, device=device, num_flow_updates=params["raft_iterations"]))


def _cotracker_backend(params: Mapping[str, Any], device: str,
                       checkpoint: Checkpoint) -> Displacement:
    from ttm_bench import weights
    from ttm_bench.metrics.track_motion import cotracker_displacement, load_cotracker

    predictor = load_cotracker(weights.locate("cotracker3_offline", checkpoint), device)
    return lambda video: cotracker_displacement(predictor, video, grid_size=params["grid_size"],
                                                device=device)


#: Backends: name → factory(params, device, checkpoint) → displacement function.
MOTION_BACKENDS: dict[str, Callable[[Mapping[str, Any], str, Checkpoint], Displacement]] = {
    "dis": _dis_backend,
    "raft": _raft_backend,
    "cotracker": _cotracker_backend,
}


class AverageDisplacement(PerSampleMetric):
    """Mean displacement between consecutive frames (pixels per frame at the evaluation size)."""

    name = "ad"
    higher_is_better = None
    default_params: ClassVar[Mapping[str, Any]] = {
        "backend": "dis",
        "eval_short_side": 256,
        "resize": "bilinear",
        "dis_preset": "medium",
    }
    #: Parameters only one backend reads; they enter the preset of that backend only.
    backend_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "raft": {"raft_iterations": 12},
        "cotracker": {"grid_size": 30},
    }

    def __init__(self, *, checkpoint: Checkpoint = None, **params: Any) -> None:
        self._checkpoint = checkpoint  # where the backend's weights are; not part of the preset
        self._displacement: Displacement | None = None
        backend = params.get("backend", self.default_params["backend"])
        if backend not in MOTION_BACKENDS:
            raise TTMBenchError(f"AD backend {backend!r} unknown; known: "
                                f"{sorted(MOTION_BACKENDS)}")
        own = pop_own_params(params, self.backend_params.get(backend, {}))
        super().__init__(**params)
        self.preset = self.preset.extended(own)

    def setup(self, device: str) -> None:
        """Build the backend (loading its weights), so a missing one fails before decoding."""
        factory = MOTION_BACKENDS[self.params["backend"]]
        self._displacement = factory(self.params, device, self._checkpoint)

    def __getstate__(self) -> dict[str, Any]:
        """The metric without its backend (and the network that holds): a process that
        receives it (a Ray worker) builds the backend again with `setup`."""
        return {**self.__dict__, "_displacement": None}

    def score(self, item: EvalItem) -> float:
        from ttm_bench.video import resize_short_side

        if self._displacement is None:
            self.setup("cpu")
        if item.video.shape[0] < 2:
            raise TTMBenchError(f"AD needs at least 2 frames; video {item.sample_id!r} has "
                                f"{item.video.shape[0]}")
        video = resize_short_side(item.video, self.params["eval_short_side"],
                                  method=self.params["resize"])
        return self._displacement(video)
