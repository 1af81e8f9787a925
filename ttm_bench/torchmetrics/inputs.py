"""The video tensors the torchmetrics classes accept, checked at the edge.

`update` takes a batch of videos in either layout common in training code:

- uint8 `[B, T, H, W, 3]`, RGB 0..255 (what decoders and `ttm-bench evaluate` produce);
- float `[B, T, 3, H, W]` in [0, 1] (what models usually output).

Float videos are quantised to uint8 by round(x·255), as writing them to a lossless video file
would; the suite's metrics then see exactly what `ttm-bench evaluate` would decode from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError

LAYOUTS = "uint8 [B, T, H, W, 3] (RGB 0..255) or float [B, T, 3, H, W] in [0, 1]"


def videos_as_uint8(videos: torch.Tensor, argument: str = "videos") -> list[np.ndarray]:
    """A batch in either layout → B uint8 numpy arrays [T, H, W, 3]; raises `TTMBenchError`
    naming `argument`, what it got and the layouts accepted."""
    if not isinstance(videos, torch.Tensor):
        raise TTMBenchError(f"{argument}: expected a torch.Tensor, {LAYOUTS}; got "
                            f"{type(videos).__name__}")
    if videos.ndim != 5:
        raise TTMBenchError(f"{argument}: expected 5 dimensions, {LAYOUTS}; got shape "
                            f"{list(videos.shape)} (add a batch dimension for one video)")
    if videos.dtype == torch.uint8:
        if videos.shape[-1] != 3:
            raise TTMBenchError(f"{argument}: uint8 videos are [B, T, H, W, 3] RGB; got shape "
                                f"{list(videos.shape)} (float videos are [B, T, 3, H, W])")
        frames = videos
    elif videos.is_floating_point():
        if videos.shape[2] != 3:
            raise TTMBenchError(f"{argument}: float videos are [B, T, 3, H, W]; got shape "
                                f"{list(videos.shape)} (uint8 videos are [B, T, H, W, 3])")
        if not bool(torch.isfinite(videos).all()):
            raise TTMBenchError(f"{argument}: contains NaN or inf")
        low, high = float(videos.min()), float(videos.max())
        if low < 0.0 or high > 1.0:
            raise TTMBenchError(f"{argument}: float videos must lie in [0, 1], got values in "
                                f"[{low:.4g}, {high:.4g}]; map [-1, 1] outputs with (x + 1) / 2")
        frames = (videos.detach().float() * 255.0).round().to(torch.uint8).permute(0, 1, 3, 4, 2)
    else:
        raise TTMBenchError(f"{argument}: dtype {videos.dtype} is not supported; {LAYOUTS}")
    if min(frames.shape[1:4]) < 1:
        raise TTMBenchError(f"{argument}: empty videos of shape {list(videos.shape)}")
    return list(frames.detach().cpu().contiguous().numpy())


def check_batch(name: str, values: Sequence[object], batch: int) -> None:
    """Raise unless `values` (captions, reference videos, ids) has one entry per video."""
    if len(values) != batch:
        raise TTMBenchError(f"{name}: {len(values)} given for {batch} videos; pass one per video")
