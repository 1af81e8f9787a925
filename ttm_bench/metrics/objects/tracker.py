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
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from ttm_bench.errors import UnknownNameError
from ttm_bench.metrics.objects.tracks import ObjectTracks

Checkpoint = str | os.PathLike[str] | None


class ObjectTracker(Protocol):
    def track(self, video: np.ndarray, first_masks: np.ndarray) -> ObjectTracks:
        """Track each first-frame mask through `video` (see the module doc)."""
        ...


#: name → "module:factory"; factory(params, device, checkpoint) -> ObjectTracker. A backend
#: module that loads weights also has `weights_name(params)`, its weights registry name.
TRACKERS: dict[str, str] = {
    "flow": "ttm_bench.metrics.objects.flow_tracker:build",
    "sam2": "ttm_bench.metrics.objects.sam2_tracker:build",
    "cotracker": "ttm_bench.metrics.objects.cotracker_tracker:build",
}

#: Trackers that follow points and give no masks.
POINT_TRACKERS = frozenset({"cotracker"})


def _backend(name: str) -> tuple[ModuleType, str]:
    """The backend module of tracker `name` and its factory's name."""
    if name not in TRACKERS:
        raise UnknownNameError("object tracker", name, list(TRACKERS))
    module_name, _, attr = TRACKERS[name].partition(":")
    return importlib.import_module(module_name), attr


def build_tracker(name: str, params: Mapping[str, Any], device: str,
                  checkpoint: Checkpoint = None) -> ObjectTracker:
    """The tracker `name`, built with the preset `params` (and weights, for model backends)."""
    module, factory = _backend(name)
    return getattr(module, factory)(params, device, checkpoint)


def tracker_weights_sha256(name: str, params: Mapping[str, Any],
                           checkpoint: Checkpoint = None) -> str | None:
    """sha256 of the weights tracker `name` loads with `params` (None: it loads none), so that
    cached tracks of one checkpoint are never read for another."""
    from ttm_bench import weights

    module, _ = _backend(name)
    if not hasattr(module, "weights_name"):
        return None
    return weights.cached_sha256(weights.locate(module.weights_name(params), checkpoint))
