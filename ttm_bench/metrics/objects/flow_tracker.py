"""The `flow` tracker: first-frame masks carried by the AD metric's pinned DIS flow.

Forward (t → t+1) and backward (t+1 → t) DIS flow between consecutive frames; each object is a
layer with its own similarity motion, visible and amodal masks, depth order and revealed parts,
and a colour model from frame 0 that decides whose a revealed part is and where an edge is
(`layered_propagation.track_layers`, which gives the conventions and known limits). An
object's displacement is the flow on its interior and its fitted motion on its edge band
(`layered_propagation.displacement_field`). No weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ttm_bench.metrics.objects.layered_propagation import track_layers
from ttm_bench.metrics.objects.tracker import Checkpoint
from ttm_bench.metrics.objects.tracks import ObjectTracks, tracks_from_flow
from ttm_bench.metrics.optical_flow import dis_flow


def forward_backward_flow(video: np.ndarray, preset: str) -> tuple[np.ndarray, np.ndarray]:
    """DIS flow between consecutive frames both ways: float32 [T-1, H, W, 2] each; `forward[t]`
    maps frame t to t+1 (at pixels of t), `backward[t]` frame t+1 to t (at pixels of t+1)."""
    forward = dis_flow(video, preset=preset)
    backward = np.ascontiguousarray(dis_flow(video[::-1], preset=preset)[::-1])
    return forward, backward


@dataclass(frozen=True)
class FlowTracker:
    dis_preset: str = "medium"

    def track(self, video: np.ndarray, first_masks: np.ndarray) -> ObjectTracks:
        forward, backward = forward_backward_flow(video, self.dis_preset)
        layers = track_layers(first_masks, forward, backward, frames=video)
        return tracks_from_flow(layers.visible, layers.displacement, layers.carried)


def build(params: Mapping[str, Any], device: str, checkpoint: Checkpoint) -> FlowTracker:
    return FlowTracker(params["dis_preset"])
