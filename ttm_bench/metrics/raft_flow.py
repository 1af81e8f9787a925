"""RAFT-large optical flow (torchvision), the paper's flow estimator for AD.

Convention: frames scaled to [-1, 1] (torchvision's `Raft_Large_Weights.C_T_SKHT_V2`
transform), padded on the bottom and right by edge replication to multiples of 8 (RAFT's
stride), `num_flow_updates` refinement iterations (12, torchvision's default), the last
prediction kept and cropped back to the frame size. Flow is in pixels of the input frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ttm_bench.metrics.model_metric import load_state_dict, load_strict

STRIDE = 8
MIN_SIDE = 128  # RAFT's correlation pyramid needs feature maps of at least 16 × 16


def load_raft(path: Path, device: str = "cpu") -> torch.nn.Module:
    """torchvision's RAFT-large with the weights in `path`, loaded strictly."""
    from torchvision.models.optical_flow import raft_large

    model = raft_large(weights=None, progress=False)
    load_strict(model, load_state_dict(path), path)
    return model.eval().to(device)


def raft_input(video: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] → float32 [T, 3, H', W'] in [-1, 1], H', W' padded to multiples of 8."""
    frames = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
    frames = frames / 127.5 - 1.0
    height, width = frames.shape[-2:]
    pad_h, pad_w = -height % STRIDE, -width % STRIDE
    return F.pad(frames, (0, pad_w, 0, pad_h), mode="replicate")


def raft_flow(model: torch.nn.Module, video: np.ndarray, *, device: str = "cpu",
              num_flow_updates: int = 12, batch_size: int = 4) -> np.ndarray:
    """Flow between consecutive frames: uint8 [T, H, W, 3] → float32 [T-1, H, W, 2] (dx, dy).

    Frames must have both sides >= 128 px (RAFT's pyramid); AD evaluates at shorter side 256.
    """
    height, width = video.shape[1:3]
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"RAFT needs frames of at least {MIN_SIDE} px, got {height}×{width}")
    frames = raft_input(video)
    flows = []
    with torch.inference_mode():
        for start in range(0, len(frames) - 1, batch_size):
            stop = min(start + batch_size, len(frames) - 1)
            first = frames[start:stop].to(device)
            second = frames[start + 1:stop + 1].to(device)
            predicted = model(first, second, num_flow_updates=num_flow_updates)[-1]
            flows.append(predicted[:, :, :height, :width].permute(0, 2, 3, 1).cpu())
    return torch.cat(flows).numpy()
