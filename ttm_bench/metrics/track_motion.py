"""AD from point tracks: CoTracker3 (offline) on a regular grid.

Convention: a `grid_size` × `grid_size` grid of query points on the first frame is tracked
through the whole clip by CoTracker3's offline model (the upstream `cotracker` package,
CC BY-NC, imported and never vendored; its predictor resizes frames to its own working
resolution and maps tracks back to input pixels). The displacement of a point between frames t
and t+1 counts when the point is visible in both; AD is the mean over all such (point, t) pairs,
in pixels of the input frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.model_metric import load_state_dict, load_strict


def mean_visible_displacement(tracks: np.ndarray, visible: np.ndarray) -> float:
    """tracks: float [T, N, 2] (x, y); visible: bool [T, N] → mean |p(t+1) - p(t)| in pixels.

    Only steps where the point is visible at both ends count; NaN when there are none.
    """
    steps = np.linalg.norm(np.diff(tracks, axis=0), axis=-1)  # [T-1, N]
    both = visible[:-1] & visible[1:]
    return float(steps[both].mean()) if both.any() else float("nan")


def load_cotracker(path: Path, device: str = "cpu") -> Any:
    """CoTracker3 offline predictor with the weights in `path` ({'model': state_dict} or bare)."""
    try:
        from cotracker.predictor import CoTrackerPredictor
    except ImportError as exc:
        raise TTMBenchError(
            "the `cotracker` package is not installed; install CoTracker3 from "
            "https://github.com/facebookresearch/co-tracker (licence CC BY-NC 4.0) or, as CI does, "
            "`pip install --no-deps --ignore-requires-python napari-cotrack==0.1.7`") from exc
    predictor = CoTrackerPredictor(checkpoint=None, offline=True, window_len=60)
    load_strict(predictor.model, load_state_dict(path, key="model"), path)
    return predictor.eval().to(device)


def cotracker_displacement(predictor: Any, video: np.ndarray, *, grid_size: int,
                           device: str = "cpu") -> float:
    """AD of uint8 [T, H, W, 3] from CoTracker3 tracks of a grid_size² grid on frame 0."""
    frames = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        tracks, visible = predictor(frames[None].to(device), grid_size=grid_size)
    return mean_visible_displacement(tracks[0].double().cpu().numpy(),
                                     visible[0].bool().cpu().numpy())
