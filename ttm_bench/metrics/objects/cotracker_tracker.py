"""The `cotracker` tracker: CoTracker3 (offline) points sampled inside each first-frame mask.

Convention: each object gets about `points_per_object` query points on frame 0, on a square
lattice inside its mask (binarised at 0.5; spacing sqrt(area / points_per_object) px, offset
by half a step); the background gets the points of a `background_grid`² lattice over the frame
that fall outside every object. Each point stands for the area of its group divided by the
group's point count, so `frame_displacement` weighs objects and background by area.
CoTracker3 (the `ad_cotracker` loader and weights) tracks them; a step counts when the point
is visible at both ends. A point tracker gives no masks: `object_persistence` and
`trajectory_miou` need `flow` or `sam2`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ttm_bench.metrics.objects.tracker import Checkpoint
from ttm_bench.metrics.objects.tracks import MASK_THRESHOLD, ObjectTracks, tracks_from_points


def lattice(mask: np.ndarray, step: float) -> np.ndarray:
    """Points (x, y) of the lattice {(step/2 + i step, step/2 + j step)} whose nearest pixel is
    in `mask` (bool [H, W]): float [N, 2]."""
    height, width = mask.shape
    xs = np.arange(step / 2, width, step)
    ys = np.arange(step / 2, height, step)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    cols = np.minimum(np.round(grid[:, 0]).astype(int), width - 1)
    rows = np.minimum(np.round(grid[:, 1]).astype(int), height - 1)
    return grid[mask[rows, cols]]


def query_points(first_masks: np.ndarray, points_per_object: int,
                 background_grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points float [N, 2] (x, y), owner int [N], weights float [N]) on frame 0, as described
    in the module doc. first_masks: float [L, H, W]."""
    binary = first_masks >= MASK_THRESHOLD
    height, width = binary.shape[1:]
    groups = []
    for k, mask in enumerate(binary):
        area = int(mask.sum())
        if area == 0:
            continue
        points = lattice(mask, max(1.0, float(np.sqrt(area / points_per_object))))
        groups.append((points, k, area))
    outside = ~binary.any(axis=0)
    background = lattice(outside, max(height, width) / background_grid)
    if len(background):
        groups.append((background, -1, int(outside.sum())))
    points = np.concatenate([g[0] for g in groups])
    owner = np.concatenate([np.full(len(g[0]), g[1]) for g in groups])
    weights = np.concatenate([np.full(len(g[0]), g[2] / len(g[0])) for g in groups])
    return points, owner, weights


@dataclass
class CoTrackerTracker:
    predictor: Any
    points_per_object: int
    background_grid: int
    device: str = "cpu"

    def track(self, video: np.ndarray, first_masks: np.ndarray) -> ObjectTracks:
        import torch

        points, owner, weights = query_points(first_masks, self.points_per_object,
                                              self.background_grid)
        queries = np.concatenate([np.zeros((len(points), 1)), points], axis=1)  # (t, x, y)
        frames = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
        with torch.inference_mode():
            tracks, visible = self.predictor(
                frames[None].to(self.device),
                queries=torch.from_numpy(queries).float()[None].to(self.device))
        return tracks_from_points(tracks[0].double().cpu().numpy(),
                                  visible[0].bool().cpu().numpy(), owner, len(first_masks),
                                  weights)


def weights_name(params: Mapping[str, Any]) -> str:
    """The weights registry name of the tracker (one checkpoint whatever the parameters)."""
    return "cotracker3_offline"


def build(params: Mapping[str, Any], device: str, checkpoint: Checkpoint) -> CoTrackerTracker:
    from ttm_bench import weights
    from ttm_bench.metrics.track_motion import load_cotracker

    predictor = load_cotracker(weights.locate(weights_name(params), checkpoint), device)
    return CoTrackerTracker(predictor, params["points_per_object"], params["background_grid"],
                            device)
