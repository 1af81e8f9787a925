"""The object-tracker interface and its backends, imported only when a preset chooses one.

A tracker follows the benchmark's first-frame masks s(0) through a generated video:

    tracker.track(video uint8 [T, H, W, 3], first_masks float32 [L, H, W]) -> ObjectTracks

both at the evaluation size. Backends: `flow` (DIS optical flow, no weights), `sam2` (the SAM2
video predictor prompted with the masks), `cotracker` (CoTracker3 points sampled in each mask).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from ttm_bench.errors import UnknownNameError
from ttm_bench.metrics.objects.tracks import ObjectTracks

Checkpoint = str | os.PathLike[str] | None


class ObjectTracker(Protocol):
    def track(self, video: np.ndarray, first_masks: np.ndarray) -> ObjectTracks:
        """Track each first-frame mask through `video` (see the module doc)."""
        ...


#: name → "module:factory"; factory(params, device, checkpoint) -> ObjectTracker.
TRACKERS: dict[str, str] = {
    "flow": "ttm_bench.metrics.objects.flow_tracker:build",
    "sam2": "ttm_bench.metrics.objects.sam2_tracker:build",
    "cotracker": "ttm_bench.metrics.objects.cotracker_tracker:build",
}

#: Trackers that follow points and give no masks.
POINT_TRACKERS = frozenset({"cotracker"})


def build_tracker(name: str, params: Mapping[str, Any], device: str,
                  checkpoint: Checkpoint = None) -> ObjectTracker:
    """The tracker `name`, built with the preset `params` (and weights, for model backends)."""
    if name not in TRACKERS:
        raise UnknownNameError("object tracker", name, list(TRACKERS))
    module_name, _, attr = TRACKERS[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(params, device, checkpoint)
